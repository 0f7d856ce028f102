"""Over generated queries: the price follows the rules, fragments never change it, and the
actual cost never exceeds it."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import strawberry
from graphql import parse, validate
from hypothesis import given, settings
from hypothesis import strategies as st

from cost.actual import actual_cost
from cost.model import CostModel
from cost.operation import Operation
from cost.pricing import requested_cost

DEFAULT_SIZE = 20


@dataclass(frozen=True)
class Field:
    name: str
    alias: str | None = None
    arguments: str = ""
    directive: str = ""
    included: bool = True
    size: int | None = None  # a connection's: what its arguments ask for
    children: tuple[Selection, ...] = ()

    @property
    def key(self) -> str:
        return self.alias or self.name


@dataclass(frozen=True)
class Inline:
    on: str | None
    children: tuple[Selection, ...]
    directive: str = ""
    included: bool = True


@dataclass(frozen=True)
class Spread:
    name: str


Selection = Field | Inline | Spread

LEAVES: dict[str, tuple[str, ...]] = {
    "Query": ("__typename",),
    "User": ("id", "name", "email", "createdAt", "__typename"),
    "Task": ("id", "title", "description", "status", "tags", "__typename"),
    "TaskConnection": ("totalCount", "__typename"),
    "TaskEdge": ("cursor", "__typename"),
    "PageInfo": ("hasNextPage", "endCursor", "__typename"),
    "TaskCounts": ("total", "todo", "__typename"),
    "RateLimit": ("remaining", "limit"),
    "Node": ("id", "__typename"),
}
NULLABLE_LEAVES = frozenset({"email", "description", "endCursor"})
LIST_LEAVES = frozenset({"tags"})

# kind: "nullable" or "object" (one object), "connection" (sized by its arguments), "sized"
# (a list as long as its connection's size).
OBJECTS: dict[str, dict[str, tuple[str, str, str]]] = {
    "Query": {
        "me": ("User", "nullable", ""),
        "task": ("Task", "nullable", '(id: "VGFzazox")'),
        "tasks": ("TaskConnection", "connection", ""),
        "node": ("Node", "nullable", '(id: "VGFzazox")'),
        "rateLimit": ("RateLimit", "object", ""),
    },
    "User": {
        "tasks": ("TaskConnection", "connection", ""),
        "taskCounts": ("TaskCounts", "object", ""),
    },
    "Task": {"owner": ("User", "object", "")},
    "TaskConnection": {
        "nodes": ("Task", "sized", ""),
        "edges": ("TaskEdge", "sized", ""),
        "pageInfo": ("PageInfo", "object", ""),
    },
    "TaskEdge": {"node": ("Task", "object", "")},
    "PageInfo": {},
    "TaskCounts": {},
    "RateLimit": {},
    "Node": {},
}
NODE_TYPES = ("Task", "User")
FREE_FIELDS = frozenset({("Query", "rateLimit"), ("TaskConnection", "pageInfo")})

DIRECTIVES = st.sampled_from(
    [
        ("", True),
        ("", True),
        ("", True),
        ("", True),
        ("", True),
        (" @skip(if: true)", False),
        (" @skip(if: false)", True),
        (" @include(if: true)", True),
        (" @include(if: false)", False),
    ]
)
SIZES = st.sampled_from(
    [
        *((f"(first: {n})", n) for n in range(5)),
        ("(last: 3)", 3),
        ("", DEFAULT_SIZE),
        ("(first: null)", DEFAULT_SIZE),
    ]
)


@st.composite
def selections(
    draw: st.DrawFn,
    type_name: str,
    depth: int,
    aliases: Iterator[int],
    *,
    interface: bool,
    min_objects: int = 0,
) -> tuple[Selection, ...]:
    """A selection set on `type_name` at most `depth` fields deep; aliases are unique, so a
    response key names one field (execution would refuse two different fields under one)."""
    chosen: list[Selection] = []
    leaves = st.lists(st.sampled_from(LEAVES[type_name]), min_size=1, max_size=2, unique=True)
    for name in draw(leaves):
        alias = f"a{next(aliases)}" if draw(st.booleans()) else None
        directive, included = draw(DIRECTIVES)
        chosen.append(Field(name, alias, directive=directive, included=included))
    candidates = [
        name for name in OBJECTS[type_name] if interface or (type_name, name) != ("Query", "node")
    ]
    if depth > 1 and candidates:
        for name in draw(
            st.lists(st.sampled_from(candidates), min_size=min_objects, max_size=2, unique=True)
        ):
            for copy in range(draw(st.integers(1, 2))):
                generated = object_field(
                    type_name, name, depth, aliases=aliases, aliased=copy > 0, interface=interface
                )
                chosen.append(draw(generated))
    if type_name == "Node":
        for on in draw(st.lists(st.sampled_from(NODE_TYPES), max_size=2, unique=True)):
            directive, included = draw(DIRECTIVES)
            children = draw(selections(on, depth, aliases, interface=interface))
            chosen.append(Inline(on, children, directive, included))
    return tuple(chosen)


@st.composite
def object_field(
    draw: st.DrawFn,
    parent: str,
    name: str,
    depth: int,
    *,
    aliases: Iterator[int],
    aliased: bool,
    interface: bool,
) -> Field:
    returned, kind, arguments = OBJECTS[parent][name]
    size = None
    if kind == "connection":
        arguments, size = draw(SIZES)
    directive, included = draw(DIRECTIVES)
    return Field(
        name,
        f"a{next(aliases)}" if aliased else None,
        arguments,
        directive,
        included,
        size,
        draw(selections(returned, depth - 1, aliases, interface=interface)),
    )


@st.composite
def queries(draw: st.DrawFn, *, interface: bool = True) -> tuple[Selection, ...]:
    depth = draw(st.integers(2, 6))
    root = selections("Query", depth, itertools.count(), interface=interface, min_objects=1)
    return draw(root)


def render(selection_set: tuple[Selection, ...]) -> str:
    parts = []
    for selection in selection_set:
        if isinstance(selection, Field):
            alias = f"{selection.alias}: " if selection.alias else ""
            head = f"{alias}{selection.name}{selection.arguments}{selection.directive}"
            parts.append(
                f"{head} {{ {render(selection.children)} }}" if selection.children else head
            )
        elif isinstance(selection, Inline):
            condition = f" on {selection.on}" if selection.on else ""
            parts.append(f"...{condition}{selection.directive} {{ {render(selection.children)} }}")
        else:
            parts.append(f"...{selection.name}")
    return " ".join(parts)


@dataclass
class Fragments:
    definitions: dict[str, tuple[str, tuple[Selection, ...]]] = field(default_factory=dict)

    def document(self, root: tuple[Selection, ...]) -> str:
        fragments = "".join(
            f" fragment {name} on {on} {{ {render(body)} }}"
            for name, (on, body) in self.definitions.items()
        )
        return f"query {{ {render(root)} }}{fragments}"


def child_type(parent: str, selection: Field) -> str | None:
    spec = OBJECTS[parent].get(selection.name)
    return spec[0] if spec is not None else None


@st.composite
def fragmented(
    draw: st.DrawFn, selection_set: tuple[Selection, ...], type_name: str, fragments: Fragments
) -> tuple[Selection, ...]:
    """The same selections with random runs moved into named or untyped inline fragments."""
    rewritten: list[Selection] = []
    for selection in selection_set:
        if isinstance(selection, Field) and selection.children:
            returned = child_type(type_name, selection)
            assert returned is not None
            children = draw(fragmented(selection.children, returned, fragments))
            rewritten.append(
                Field(
                    selection.name,
                    selection.alias,
                    selection.arguments,
                    selection.directive,
                    selection.included,
                    selection.size,
                    children,
                )
            )
        elif isinstance(selection, Inline):
            on = selection.on or type_name
            children = draw(fragmented(selection.children, on, fragments))
            rewritten.append(
                Inline(selection.on, children, selection.directive, selection.included)
            )
        else:
            rewritten.append(selection)
    for _ in range(draw(st.integers(0, 2))):
        start = draw(st.integers(0, len(rewritten) - 1))
        stop = draw(st.integers(start + 1, len(rewritten)))
        run = tuple(rewritten[start:stop])
        wrapper: Selection
        how = draw(st.sampled_from(["named", "inline", "inline-kept", "typed"]))
        if how == "named":
            name = f"F{len(fragments.definitions)}"
            fragments.definitions[name] = (type_name, run)
            wrapper = Spread(name)
        elif how == "inline":
            wrapper = Inline(None, run)
        elif how == "inline-kept":
            wrapper = Inline(
                None, run, draw(st.sampled_from([" @skip(if: false)", " @include(if: true)"]))
            )
        else:
            wrapper = Inline(type_name, run)
        rewritten[start:stop] = [wrapper]
    return tuple(rewritten)


def collect(selection_set: tuple[Selection, ...], runtime: str) -> dict[str, list[Field]]:
    fields: dict[str, list[Field]] = {}
    for selection in selection_set:
        if isinstance(selection, Field) and selection.included:
            fields.setdefault(selection.key, []).append(selection)
        elif (
            isinstance(selection, Inline)
            and selection.included
            and selection.on in (None, runtime, "Node")
        ):
            for key, more in collect(selection.children, runtime).items():
                fields.setdefault(key, []).extend(more)
    return fields


def children_of(fields: list[Field]) -> tuple[Selection, ...]:
    return tuple(itertools.chain.from_iterable(f.children for f in fields))


def weight(parent: str, name: str, returned: str) -> int:
    if (parent, name) in FREE_FIELDS or returned == "TaskEdge":
        return 0
    return 2 if returned == "TaskConnection" else 1


def contract_price(
    selection_set: tuple[Selection, ...], type_name: str, size: int | None = None
) -> int:
    """The contract's rules written out once more, on the generated tree."""
    runtimes = NODE_TYPES if type_name == "Node" else (type_name,)
    return max(_runtime_price(selection_set, runtime, size) for runtime in runtimes)


def _runtime_price(selection_set: tuple[Selection, ...], runtime: str, size: int | None) -> int:
    total = 0
    for fields in collect(selection_set, runtime).values():
        first = fields[0]
        spec = OBJECTS[runtime].get(first.name)
        if spec is None:
            continue
        returned, kind, _ = spec
        one = weight(runtime, first.name, returned)
        if kind == "connection":
            total += one + contract_price(children_of(fields), returned, first.size)
        elif kind == "sized":
            assert size is not None
            total += size * (one + contract_price(children_of(fields), returned))
        else:
            total += one + contract_price(children_of(fields), returned)
    return total


class Filler:
    """Response data shaped by a query: every list at its size and nothing null when `full`,
    else random lengths up to the size and random nulls where the schema allows them."""

    def __init__(self, seed: int, *, full: bool) -> None:
        self.random = random.Random(seed)
        self.full = full

    def count(self, size: int) -> int:
        return size if self.full else self.random.randint(0, size)

    def null(self) -> bool:
        return not self.full and self.random.random() < 0.3

    def runtime(self, type_name: str) -> str:
        return self.random.choice(NODE_TYPES) if type_name == "Node" else type_name

    def object(
        self, selection_set: tuple[Selection, ...], type_name: str, size: int | None = None
    ) -> dict[str, Any]:
        runtime = self.runtime(type_name)
        return {
            key: self.value(fields, runtime, size)
            for key, fields in collect(selection_set, runtime).items()
        }

    def leaf(self, name: str) -> Any:
        if name in LIST_LEAVES:
            return ["tag"] * self.count(3)
        return None if name in NULLABLE_LEAVES and self.null() else "x"

    def value(self, fields: list[Field], parent: str, size: int | None) -> Any:
        first = fields[0]
        if first.name == "__typename":
            return parent
        spec = OBJECTS[parent].get(first.name)
        if spec is None:
            return self.leaf(first.name)
        returned, kind, _ = spec
        children = children_of(fields)
        if kind == "nullable":
            return None if self.null() else self.object(children, returned)
        if kind == "connection":
            return self.object(children, returned, first.size)
        if kind == "sized":
            assert size is not None
            return [self.object(children, returned) for _ in range(self.count(size))]
        return self.object(children, returned)


def operation(schema: strawberry.Schema, document: str) -> Operation:
    parsed = parse(document)
    assert validate(schema._schema, parsed) == [], document
    return Operation(schema._schema, parsed)


@settings(max_examples=80, deadline=None)
@given(data=st.data(), query=queries())
def test_price_follows_the_rules_and_fragments_never_change_it(
    schema: strawberry.Schema, model: CostModel, data: st.DataObject, query: tuple[Selection, ...]
) -> None:
    inlined = Fragments().document(query)
    fragments = Fragments()
    rewritten = data.draw(fragmented(query, "Query", fragments))
    price = requested_cost(operation(schema, inlined), model)
    assert price == contract_price(query, "Query"), inlined
    assert requested_cost(operation(schema, fragments.document(rewritten)), model) == price


@settings(max_examples=80, deadline=None)
@given(query=queries(), seed=st.integers(0, 2**32))
def test_actual_never_exceeds_requested(
    schema: strawberry.Schema, model: CostModel, query: tuple[Selection, ...], seed: int
) -> None:
    op = operation(schema, Fragments().document(query))
    response = Filler(seed, full=False).object(query, "Query")
    assert actual_cost(op, model, data=response) <= requested_cost(op, model)


@settings(max_examples=50, deadline=None)
@given(query=queries(interface=False))
def test_actual_of_the_fullest_response_is_the_requested(
    schema: strawberry.Schema, model: CostModel, query: tuple[Selection, ...]
) -> None:
    op = operation(schema, Fragments().document(query))
    response = Filler(0, full=True).object(query, "Query")
    assert actual_cost(op, model, data=response) == requested_cost(op, model)
