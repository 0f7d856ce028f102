"""Page plans: a query for one page of the viewer's tasks, compiled once per document into
functions that build its `data` straight from the object cache's JSON (the cached page and
the owner's profile), with no model objects and no per-field dispatch. The executed lane
(transport/executed_lane.py) runs them in front of Strawberry.

Covered: one root field `tasks` with `first`/`after`/`last`/`before` (literals or variables);
below it `edges { cursor node }`, `nodes`, `pageInfo`, every field of `Task` and of its owner
but the owner's own lists (`tasks`, `taskCounts`), `__typename` anywhere; fragments on the
object type itself and literal `@skip`/`@include`, as plan.py collects them. A `filter`,
an `orderBy`, `totalCount` or any other root field: not covered. At run time a page flag
that needs a boundary probe (`hasPreviousPage` after a cursor, `hasNextPage` before one) is
not answered here either: the full path reads the probe.

Each value is written as the schema's types write it (schema/task.py, schema/user.py): the
test suite runs this lane in verify mode, where every answer is compared with the full path's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from beanie import PydanticObjectId
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_operation_ast,
)
from graphql.execution.values import get_argument_values, get_variable_values

from models.task_query import Keyset, TaskFilterSpec, TaskPageQuery, TaskSort
from schema.compiled.plan import NotCovered, _collect
from schema.node import encode_global_id
from schema.pagination import encode_cursor, page_window
from schema.scalars import serialize_datetime
from schema.task_enums import TaskPriority, TaskStatus

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_STATUS_NAMES = {member.value: member.name for member in TaskStatus}
_PRIORITY_NAMES = {member.value: member.name for member in TaskPriority}
_PAGE_ARGUMENTS = frozenset({"first", "after", "last", "before"})
# The default order (no orderBy): newest first, as TaskSort() says.
_SORT = TaskSort()
assert _SORT.field == "CREATED_AT"


class NeedsRead(Exception):  # noqa: N818 -- a verdict on one request, not a failure
    """The answer needs something the lane did not read (a boundary probe)."""


@dataclass
class PageRun:
    """What one request's builders share: the page's query, the owner, values made once."""

    query: TaskPageQuery
    has_more: bool
    owner: list[Any] | None  # the cached profile: id, email, name, tier, created_at
    viewer: PydanticObjectId
    memo: dict[int, Any]


Getter = Callable[[Any, PageRun], Any]
Sizes = tuple[int | None, int | None]  # the page's `first` and `last` arguments
Fields = tuple[tuple[str, Getter], ...]


def _build(fields: Fields, source: Any, run: PageRun) -> dict[str, Any]:
    return {key: get(source, run) for key, get in fields}


def _one(fields: Fields) -> Getter:
    """The object `fields` build over the value itself."""
    return lambda source, run: _build(fields, source, run)


def _each(fields: Fields) -> Getter:
    """A list: the object `fields` build over each item of the value."""
    return lambda items, run: [_build(fields, item, run) for item in items]


def _datetime(text: str) -> str:
    return serialize_datetime(datetime.fromisoformat(text))


def _optional_datetime(name: str) -> Getter:
    def get(task: dict[str, Any], run: PageRun) -> Any:
        text = task.get(name)
        return None if text is None else _datetime(text)

    return get


def _cursor(task: dict[str, Any]) -> str:
    created = datetime.fromisoformat(task["created_at"])
    return encode_cursor(Keyset(value=created, id=task["_id"]), sort=_SORT)


def _typename(name: str) -> Getter:
    return lambda source, run: name


@dataclass(frozen=True)
class PagePlan:
    """One document's page query: how to read its arguments and build its `data`."""

    document: DocumentNode
    operation: OperationDefinitionNode
    field_node: FieldNode
    root: Fields  # the root's response keys; `tasks` reads the run's connection
    needs: frozenset[str]  # "owner": the owner's profile; "next"/"previous": page flags
    # Costs already walked, by the page's sizes: the requested cost depends on `first` and
    # `last` alone; every object a covered page holds is non-null, so its actual cost is
    # a + b x its tasks (kept as (a, b)).
    requested: dict[Sizes, int] = field(default_factory=dict, compare=False, hash=False)
    actual: dict[Sizes, tuple[int, int]] = field(default_factory=dict, compare=False, hash=False)

    @property
    def needs_owner(self) -> bool:
        return "owner" in self.needs

    def may_probe(self, query: TaskPageQuery) -> bool:
        """Whether a page flag may need a boundary probe (NeedsRead) for this page."""
        return ("previous" in self.needs and query.after is not None) or (
            "next" in self.needs and query.before is not None
        )

    def page_query(
        self, schema: GraphQLSchema, owner: PydanticObjectId, variables: Mapping[str, Any] | None
    ) -> tuple[TaskPageQuery, Sizes] | None:
        """The page asked for, with the `first` and `last` it was asked by; None where the
        variables or arguments are refused (the full path reports why)."""
        coerced = get_variable_values(
            schema, self.operation.variable_definitions or (), dict(variables or {})
        )
        if isinstance(coerced, list):
            return None
        assert schema.query_type is not None
        definition = schema.query_type.fields["tasks"]
        arguments = get_argument_values(definition, self.field_node, coerced)
        try:
            window = page_window(
                first=arguments.get("first"),
                after=arguments.get("after"),
                last=arguments.get("last"),
                before=arguments.get("before"),
                sort=_SORT,
            )
        except Exception:  # noqa: BLE001 -- a refused argument: the full path says which
            return None
        query = TaskPageQuery(
            owner_id=owner,
            filter=TaskFilterSpec(),
            sort=_SORT,
            limit=window.limit,
            backward=window.backward,
            after=window.after,
            before=window.before,
        )
        return query, (arguments.get("first"), arguments.get("last"))

    def data(
        self,
        query: TaskPageQuery,
        page: Mapping[str, Any],
        owner: list[Any] | None,
        *,
        viewer: PydanticObjectId,
    ) -> dict[str, Any]:
        """The response's data; NeedsRead where a flag needs a probe."""
        run = PageRun(query=query, has_more=page["more"], owner=owner, viewer=viewer, memo={})
        return _build(self.root, page["tasks"], run)


def compile_page_plan(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> PagePlan:
    """The plan of a page query, or NotCovered."""
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation is not OperationType.QUERY:
        raise NotCovered("not one query")
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    compiler = _Compiler(schema, fragments)
    grouped = _grouped(schema, "Query", [operation.selection_set], fragments, root=True)
    root: list[tuple[str, Getter]] = []
    field_node: FieldNode | None = None
    for key, nodes in grouped.items():
        name = nodes[0].name.value
        if name == "__typename":
            root.append((key, _typename("Query")))
            continue
        if name != "tasks" or field_node is not None or len(nodes) != 1:
            raise NotCovered(f"the root field {name}")
        field_node = nodes[0]
        if {argument.name.value for argument in field_node.arguments or ()} - _PAGE_ARGUMENTS:
            raise NotCovered("a filter or an order")
        root.append((key, _one(compiler.connection(_sub_sets(nodes)))))
    if field_node is None:
        raise NotCovered("no tasks field")
    return PagePlan(
        document=document,
        operation=operation,
        field_node=field_node,
        root=tuple(root),
        needs=frozenset(compiler.needs),
    )


def _grouped(
    schema: GraphQLSchema,
    type_name: str,
    selection_sets: list[SelectionSetNode],
    fragments: dict[str, FragmentDefinitionNode],
    *,
    root: bool = False,
) -> dict[str, list[FieldNode]]:
    object_type = schema.get_type(type_name)
    grouped: dict[str, list[FieldNode]] = {}
    for selection_set in selection_sets:
        _collect(object_type, selection_set, fragments, grouped, visited=set())  # type: ignore[arg-type]
    for nodes in grouped.values():
        if not root and any(node.arguments for node in nodes):
            raise NotCovered(f"arguments below the root ({nodes[0].name.value})")
    return grouped


def _sub_sets(nodes: list[FieldNode]) -> list[SelectionSetNode]:
    return [node.selection_set for node in nodes if node.selection_set is not None]


def _has_next(tasks: list[Any], run: PageRun) -> bool:
    query = run.query
    if not query.backward and run.has_more:
        return True
    if query.before is not None:
        raise NeedsRead("a probe after the page's before cursor")
    return False


def _has_previous(tasks: list[Any], run: PageRun) -> bool:
    query = run.query
    if query.backward and run.has_more:
        return True
    if query.after is not None:
        raise NeedsRead("a probe before the page's after cursor")
    return False


def _owner_getter(fields: Fields) -> Getter:
    """Every task of the page has the same owner: its object is built once per request."""
    slot = id(fields)

    def get(task: dict[str, Any], run: PageRun) -> Any:
        built = run.memo.get(slot)
        if built is None:
            if run.owner is None or task["owner_id"] != str(run.owner[0]):
                raise NeedsRead("a task of another owner")
            built = run.memo[slot] = _build(fields, run.owner, run)
        return built

    return get


Nested = Callable[[list[SelectionSetNode]], Getter]

# Leaves by type, each as the schema's type writes it (schema/task.py, schema/user.py).
# Task: over one cached task (codecs: the document's fields by alias, None left out).
_TASK_LEAVES: dict[str, Getter] = {
    "id": lambda task, run: encode_global_id("Task", task["owner_id"], task["_id"]),
    "title": lambda task, run: task["title"],
    "description": lambda task, run: task.get("description"),
    "status": lambda task, run: _STATUS_NAMES[task["status"]],
    "priority": lambda task, run: _PRIORITY_NAMES[task["priority"]],
    "tags": lambda task, run: list(task["tags"]),
    "dueAt": _optional_datetime("due_at"),
    "createdAt": lambda task, run: _datetime(task["created_at"]),
    "updatedAt": lambda task, run: _datetime(task["updated_at"]),
    "version": lambda task, run: task["version"],
}
# User: over the cached profile [id, email, name, tier, created_at]; `email` only for the
# viewer.
_USER_LEAVES: dict[str, Getter] = {
    "id": lambda profile, run: encode_global_id("User", profile[0]),
    "name": lambda profile, run: profile[2],
    "email": lambda profile, run: profile[1] if profile[0] == str(run.viewer) else None,
    "createdAt": lambda profile, run: _datetime(profile[4]),
}
# PageInfo as TaskConnection.from_page sets it: the page's own end from its extra task, the
# far side of a cursor only from a probe (NeedsRead).
_PAGE_INFO_LEAVES: dict[str, Getter] = {
    "hasNextPage": _has_next,
    "hasPreviousPage": _has_previous,
    "startCursor": lambda tasks, run: _cursor(tasks[0]) if tasks else None,
    "endCursor": lambda tasks, run: _cursor(tasks[-1]) if tasks else None,
}
_EDGE_LEAVES: dict[str, Getter] = {"cursor": lambda task, run: _cursor(task)}
# Fields whose selection the plan notes (PagePlan.needs).
_NEEDS = {
    ("Task", "owner"): "owner",
    ("PageInfo", "hasNextPage"): "next",
    ("PageInfo", "hasPreviousPage"): "previous",
}


class _Compiler:
    """One document's selections, type by type; `needs` collects what they select."""

    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.schema = schema
        self.fragments = fragments
        self.needs: set[str] = set()

    def fields(
        self,
        type_name: str,
        selection_sets: list[SelectionSetNode],
        leaves: Mapping[str, Getter],
        nested: Mapping[str, Nested] | None = None,
    ) -> Fields:
        """The getters of a selection on `type_name`: NotCovered for any other field."""
        fields: list[tuple[str, Getter]] = []
        grouped = _grouped(self.schema, type_name, selection_sets, self.fragments)
        for key, nodes in grouped.items():
            name = nodes[0].name.value
            if name == "__typename":
                getter = _typename(type_name)
            elif name in leaves:
                getter = leaves[name]
            elif nested is not None and name in nested:
                getter = nested[name](_sub_sets(nodes))
            else:
                raise NotCovered(f"{type_name}.{name}")
            if (type_name, name) in _NEEDS:
                self.needs.add(_NEEDS[type_name, name])
            fields.append((key, getter))
        return tuple(fields)

    def connection(self, selection_sets: list[SelectionSetNode]) -> Fields:
        """TaskConnection over the page's cached tasks (a list of dicts)."""
        nested: dict[str, Nested] = {
            "edges": lambda sets: _each(self.edge(sets)),
            "nodes": lambda sets: _each(self.task(sets)),
            "pageInfo": lambda sets: _one(self.fields("PageInfo", sets, _PAGE_INFO_LEAVES)),
        }
        return self.fields("TaskConnection", selection_sets, {}, nested)

    def edge(self, selection_sets: list[SelectionSetNode]) -> Fields:
        nested: dict[str, Nested] = {"node": lambda sets: _one(self.task(sets))}
        return self.fields("TaskEdge", selection_sets, _EDGE_LEAVES, nested)

    def task(self, selection_sets: list[SelectionSetNode]) -> Fields:
        nested: dict[str, Nested] = {
            "owner": lambda sets: _owner_getter(self.fields("User", sets, _USER_LEAVES))
        }
        return self.fields("Task", selection_sets, _TASK_LEAVES, nested)
