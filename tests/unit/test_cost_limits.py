"""Depth and alias limits hold at their bounds and withstand known attacks on cost limiters."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
import strawberry
from graphql import get_introspection_query, parse

from cost.limits import (
    MAX_ALIASES,
    MAX_DEPTH,
    FragmentCycleError,
    alias_count,
    operation_depth,
    too_complex,
)
from cost.model import CostModel
from cost.operation import Operation
from cost.pricing import requested_cost
from cost.tiers import tiers_from
from settings import Settings

CYCLE = "The query's fragments spread one another in a cycle."


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(jwt_secret=secrets.token_urlsafe(48))


def operation(
    schema: strawberry.Schema, query: str, variables: dict[str, Any] | None = None
) -> Operation:
    return Operation(schema._schema, parse(query), variables=variables)


def deep_query(depth: int, *, first: int | None = None) -> str:
    """`tasks { nodes { owner { tasks ...` down to a leaf, `depth` fields deep."""
    chain = ["tasks", "nodes", "owner"]
    leaves = {"tasks": "totalCount", "nodes": "id", "owner": "id"}
    names = [chain[level % 3] for level in range(depth - 1)]
    sized = f"tasks(first: {first})" if first is not None else "tasks"
    opened = " ".join(f"{sized if name == 'tasks' else name} {{" for name in names)
    return f"{{ {opened} {leaves[names[-1]]} {'}' * len(names)} }}"


def test_deep_query_helper_builds_what_it_says() -> None:
    assert deep_query(4) == "{ tasks { nodes { owner { id }}} }"
    assert deep_query(5) == "{ tasks { nodes { owner { tasks { totalCount }}}} }"


def test_root_field_counts_as_depth_1(schema: strawberry.Schema) -> None:
    assert operation_depth(operation(schema, "{ __typename }")) == 1
    assert operation_depth(operation(schema, "{ me { id } }")) == 2
    assert operation_depth(operation(schema, "{ me { id taskCounts { total } } }")) == 3


@pytest.mark.parametrize("depth", [2, 5, 9, 10, 11, 12])
def test_depth_is_counted_exactly(schema: strawberry.Schema, depth: int) -> None:
    assert operation_depth(operation(schema, deep_query(depth))) == depth


def test_depth_10_passes_and_11_is_refused(schema: strawberry.Schema) -> None:
    assert MAX_DEPTH == 10
    assert too_complex(operation(schema, deep_query(10))) is None
    assert (
        too_complex(operation(schema, deep_query(11)))
        == "The query is 11 levels deep; at most 10 are allowed."
    )


def test_depth_counts_through_fragments(schema: strawberry.Schema) -> None:
    query = (
        "{ ...Q } fragment Q on Query { tasks { ... on TaskConnection { ...C } } }"
        " fragment C on TaskConnection { nodes { ... { owner { ...U } } } }"
        " fragment U on User { tasks { nodes { owner { tasks { nodes { owner { id } } } } } } }"
    )
    assert operation_depth(operation(schema, query)) == 10
    assert too_complex(operation(schema, query)) is None
    deeper = query.replace("owner { id }", "owner { taskCounts { total } }")
    assert operation_depth(operation(schema, deeper)) == 11
    assert too_complex(operation(schema, deeper)) == (
        "The query is 11 levels deep; at most 10 are allowed."
    )


def aliased_me(count: int) -> str:
    return " ".join(f"a{i}: me {{ id }}" for i in range(count))


def test_30_aliases_pass_and_31_are_refused(schema: strawberry.Schema) -> None:
    assert MAX_ALIASES == 30
    at_limit = operation(schema, f"{{ {aliased_me(30)} }}")
    assert alias_count(at_limit) == 30
    assert too_complex(at_limit) is None
    over = operation(schema, f"{{ {aliased_me(31)} }}")
    assert too_complex(over) == "The query uses 31 aliases; at most 30 are allowed."


FIVE_ALIASES = "fragment F on User { a: id b: name c: email d: createdAt e: __typename }"


def spreads_of_f(aliased: int, *, extra: str = "") -> str:
    """`me { ...F }` plus `aliased` aliased copies of it; F holds 5 aliases."""
    copies = " ".join(f"m{i}: me {{ ...F }}" for i in range(aliased))
    return f"{{ me {{ ...F }} {copies} {extra} }} {FIVE_ALIASES}"


def test_aliases_multiply_through_fragment_spreads(schema: strawberry.Schema) -> None:
    assert alias_count(operation(schema, spreads_of_f(4))) == 4 + 5 * 5
    thirty = operation(
        schema, spreads_of_f(4, extra="...H") + " fragment H on Query { v: me { id } }"
    )
    assert alias_count(thirty) == 30
    assert too_complex(thirty) is None
    thirty_one = operation(
        schema,
        spreads_of_f(4, extra="...H") + " fragment H on Query { v: me { id } w: __typename }",
    )
    assert too_complex(thirty_one) == "The query uses 31 aliases; at most 30 are allowed."
    assert too_complex(operation(schema, spreads_of_f(5))) == (
        "The query uses 35 aliases; at most 30 are allowed."
    )


def test_aliases_multiply_through_nested_fragments(schema: strawberry.Schema) -> None:
    query = (
        "{ me { ...G } a: me { ...G } b: me { ...G } } fragment G on User"
        " { t: tasks { nodes { owner { ...F } } } u: tasks { nodes { owner { ...F } } } } "
        + FIVE_ALIASES
    )
    assert alias_count(operation(schema, query)) == 2 + 3 * (2 + 2 * 5)


@pytest.mark.timeout(5)
@pytest.mark.parametrize(
    "query",
    [
        "{ ...F } fragment F on Query { me { id } ...F }",
        "{ ...A } fragment A on Query { me { id } ...B } fragment B on Query { ...A }",
        "{ me { ...F } } fragment F on User { tasks { nodes { owner { ...F } } } }",
        "{ me { ...A } } fragment A on User { id tasks { nodes { owner { ...B } } } }"
        " fragment B on User { name ...A }",
        "{ me { ...F } } fragment F on User { ... { ... on User { ...F } } }",
    ],
    ids=["direct", "mutual", "cross-level", "mutual-cross-level", "through-inline"],
)
def test_fragment_cycles_are_refused(schema: strawberry.Schema, query: str) -> None:
    op = operation(schema, query)
    assert too_complex(op) == CYCLE
    with pytest.raises(FragmentCycleError):
        operation_depth(op)
    with pytest.raises(FragmentCycleError):
        alias_count(op)


@pytest.mark.timeout(5)
def test_fragment_cycles_at_one_level_price_once(
    schema: strawberry.Schema, model: CostModel
) -> None:
    direct = "{ ...F } fragment F on Query { me { id } ...F }"
    assert requested_cost(operation(schema, direct), model) == 1
    mutual = (
        "{ ...A } fragment A on Query { me { id } ...B }"
        " fragment B on Query { tasks(first: 2) { nodes { id } } ...A }"
    )
    assert requested_cost(operation(schema, mutual), model) == 5


def fan_out(levels: int) -> str:
    """Two fragments per level, each spreading both of the next level's: 2**levels
    expansions for a document of linear size."""
    definitions = []
    for level in range(levels):
        spreads = f"...A{level + 1} ...B{level + 1}" if level + 1 < levels else ""
        definitions.extend(
            f"fragment {name}{level} on User {{ x: id {spreads} }}" for name in ("A", "B")
        )
    return "{ me { ...A0 } } " + " ".join(definitions)


@pytest.mark.timeout(5)
def test_exponential_fragment_fan_out_is_counted_fast(
    schema: strawberry.Schema, model: CostModel
) -> None:
    op = operation(schema, fan_out(40))
    expected = 2**40 - 1
    assert alias_count(op) == expected
    assert operation_depth(op) == 2
    assert too_complex(op) == f"The query uses {expected} aliases; at most 30 are allowed."
    assert requested_cost(op, model) == 1


@pytest.mark.parametrize(
    "query",
    [
        get_introspection_query(),
        get_introspection_query(
            descriptions=True,
            specified_by_url=True,
            directive_is_repeatable=True,
            schema_description=True,
            input_value_deprecation=True,
        ),
    ],
    ids=["default", "full"],
)
def test_graphiql_introspection_is_not_too_deep(
    schema: strawberry.Schema, model: CostModel, query: str
) -> None:
    op = operation(schema, query)
    assert operation_depth(op) == 1
    assert too_complex(op) is None
    assert requested_cost(op, model) == 20


@pytest.mark.parametrize("name", ["__schema", "__type"])
def test_fragment_named_like_introspection_is_priced(
    schema: strawberry.Schema, model: CostModel, name: str
) -> None:
    selection = "{ tasks(first: 100) { nodes { id } } }"
    query = f"query {{ ...{name} }} fragment {name} on Query {selection}"
    op = operation(schema, query)
    assert requested_cost(op, model) == 102
    assert operation_depth(op) == 3


def test_fragment_named_like_introspection_counts_depth(schema: strawberry.Schema) -> None:
    deep = deep_query(11)
    query = f"{{ ...__type }} fragment __type on Query {deep}"
    assert too_complex(operation(schema, query)) == (
        "The query is 11 levels deep; at most 10 are allowed."
    )


def test_huge_first_through_variables_is_priced_at_its_size(
    schema: strawberry.Schema, model: CostModel, settings: Settings
) -> None:
    query = "query($n: Int) { tasks(first: $n) { nodes { id } } }"
    price = requested_cost(operation(schema, query, {"n": 10**9}), model)
    assert price == 10**9 + 2
    largest = max(tier.max_query for tier in tiers_from(settings.effective_cost_tiers).values())
    assert price > largest
    nested = "query($n: Int) { me { tasks(last: $n) { edges { node { owner { id } } } } } }"
    assert requested_cost(operation(schema, nested, {"n": 10**9}), model) == 1 + 2 + 2 * 10**9


def test_deeply_nested_lists_price_as_the_product(
    schema: strawberry.Schema, model: CostModel
) -> None:
    query = deep_query(10, first=100)
    op = operation(schema, query)
    assert operation_depth(op) == 10
    assert too_complex(op) is None
    # owner { id } 1; conn3 = 2 + 100 * (1 + 1); conn2 = 2 + 100 * (1 + 1 + conn3); conn1 likewise
    conn3 = 2 + 100 * 2
    conn2 = 2 + 100 * (2 + conn3)
    conn1 = 2 + 100 * (2 + conn2)
    assert conn1 == 2_040_402
    assert requested_cost(op, model) == conn1
