"""The requested cost of an operation follows CONTRACT.md "Query cost", rule by rule."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import pytest
import strawberry
from graphql import parse

from cost.model import CostModel
from cost.operation import FragmentCycleError, Operation
from cost.pricing import requested_cost
from schema.cost_directives import Cost, ListSize, cost_model_of


def price(
    schema: strawberry.Schema,
    model: CostModel,
    query: str,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
) -> int:
    operation = Operation(
        schema._schema, parse(query), operation_name=operation_name, variables=variables
    )
    return requested_cost(operation, model)


CONTRACT_TABLE = [
    ("{ me { id } }", 1),
    ("{ tasks(first: 10) { nodes { id title } } }", 12),
    (
        "{ tasks(first: 10) { edges { cursor node { id } } pageInfo { hasNextPage } totalCount } }",
        12,
    ),
    ("{ tasks(first: 10) { nodes { id } edges { node { id } } } }", 22),
    ("{ tasks { nodes { id } } }", 22),
    ("{ tasks(last: 5) { nodes { id } } }", 7),
    ("{ tasks(first: 10) { nodes { id owner { name } } } }", 22),
    ("{ tasks(first: 5) { nodes { owner { tasks(first: 5) { nodes { id } } } } } }", 47),
    ("{ a: tasks(first: 10) { nodes { id } } b: tasks(first: 10) { nodes { id } } }", 24),
    ("query { ...F } fragment F on Query { tasks(first: 10) { nodes { id } } }", 12),
    ("{ me { id taskCounts { total } } rateLimit { remaining } __typename }", 2),
    ("{ __schema { queryType { name } } }", 20),
    ('mutation { createTask(input: {title: "x"}) { id owner { id } } }', 12),
    (
        "query($id: ID!) { node(id: $id) { id ... on Task { owner { id } } "
        "... on User { tasks(first: 3) { nodes { id } } } } }",
        6,
    ),
]


@pytest.mark.parametrize(("query", "expected"), CONTRACT_TABLE)
def test_contract_example_table(
    schema: strawberry.Schema, model: CostModel, query: str, expected: int
) -> None:
    assert price(schema, model, query, {"id": "VGFzazox"}) == expected


@pytest.mark.parametrize(
    ("query", "variables", "expected"),
    [
        ("query($n: Int) { tasks(first: $n) { nodes { id } } }", {"n": 3}, 5),
        ("query($n: Int) { tasks(last: $n) { nodes { id } } }", {"n": 4}, 6),
        ("query($n: Int = 7) { tasks(first: $n) { nodes { id } } }", {}, 9),
        ("query($n: Int = 7) { tasks(first: $n) { nodes { id } } }", {"n": 2}, 4),
        # An explicit null overrides the variable's default, as in execution: no size given.
        ("query($n: Int = 7) { tasks(first: $n) { nodes { id } } }", {"n": None}, 22),
        ("query($n: Int) { tasks(first: $n) { nodes { id } } }", {}, 22),
        ("{ tasks(first: null) { nodes { id } } }", {}, 22),
        ("{ tasks(first: 0) { nodes { id } } }", {}, 2),
        ("{ tasks(last: 3) { nodes { id } } }", {}, 5),
        ("{ tasks(first: null, last: 3) { nodes { id } } }", {}, 5),
        ("{ tasks(first: 4, last: 3) { nodes { id } } }", {}, 6),
    ],
)
def test_list_size_comes_from_first_last_variables_or_20(
    schema: strawberry.Schema,
    model: CostModel,
    query: str,
    variables: dict[str, Any],
    expected: int,
) -> None:
    assert price(schema, model, query, variables) == expected


def test_connection_without_items_costs_its_2(schema: strawberry.Schema, model: CostModel) -> None:
    query = "{ tasks(first: 50) { totalCount pageInfo { hasNextPage endCursor } __typename } }"
    assert price(schema, model, query) == 2


def test_edges_wrapper_is_free(schema: strawberry.Schema, model: CostModel) -> None:
    assert price(schema, model, "{ tasks(first: 10) { edges { cursor } } }") == 2
    assert price(schema, model, "{ tasks(first: 10) { edges { cursor node { id } } } }") == 12


@pytest.mark.parametrize(
    ("query", "variables", "expected"),
    [
        ("{ me @skip(if: true) { id } tasks(first: 3) { nodes { id } } }", {}, 5),
        ("{ me @skip(if: false) { id } tasks(first: 3) { nodes { id } } }", {}, 6),
        ("{ me @include(if: false) { id } tasks(first: 3) { nodes { id } } }", {}, 5),
        ("{ me @include(if: true) { id } tasks(first: 3) { nodes { id } } }", {}, 6),
        ("query($s: Boolean!) { me @skip(if: $s) { id } }", {"s": True}, 0),
        ("query($s: Boolean!) { me @skip(if: $s) { id } }", {"s": False}, 1),
        ("query($i: Boolean!) { me @include(if: $i) { id } }", {"i": False}, 0),
        ("query($i: Boolean!) { me @include(if: $i) { id } }", {"i": True}, 1),
        ("query($i: Boolean = false) { me @include(if: $i) { id } }", {}, 0),
        ("query($s: Boolean = true) { me @skip(if: $s) { id } }", {"s": False}, 1),
        ("{ me @skip(if: false) @include(if: false) { id } }", {}, 0),
        ("{ tasks(first: 3) { nodes @skip(if: true) { id } edges { node { id } } } }", {}, 5),
        ("{ ... @skip(if: true) { me { id } } }", {}, 0),
        ("{ ...F @include(if: false) } fragment F on Query { me { id } }", {}, 0),
        ("{ ...F @include(if: true) } fragment F on Query { me { id } }", {}, 1),
    ],
)
def test_skip_and_include(
    schema: strawberry.Schema,
    model: CostModel,
    query: str,
    variables: dict[str, Any],
    expected: int,
) -> None:
    assert price(schema, model, query, variables) == expected


FRAGMENT_EQUIVALENTS = [
    (
        "{ tasks(first: 4) { nodes { id owner { tasks(first: 2) { nodes { id } } } } } }",
        "{ tasks(first: 4) { ...C } } fragment C on TaskConnection { nodes { ...T } }"
        " fragment T on Task { id owner { ...U } } fragment U on User"
        " { tasks(first: 2) { nodes { id } } }",
        26,
    ),
    (
        "{ tasks(first: 4) { nodes { id owner { tasks(first: 2) { nodes { id } } } } } }",
        "{ ... { tasks(first: 4) { nodes { ... on Task { id owner { ... { tasks(first: 2)"
        " { nodes { id } } } } } } } } }",
        26,
    ),
    (
        "{ me { id tasks(first: 3) { nodes { title } } } }",
        "query Q { ...Root } fragment Root on Query { me { ... on Node { id } ...Tasks } }"
        " fragment Tasks on User { tasks(first: 3) { nodes { title } } }",
        6,
    ),
]


@pytest.mark.parametrize(("inlined", "fragmented", "expected"), FRAGMENT_EQUIVALENTS)
def test_fragments_cost_what_they_inline(
    schema: strawberry.Schema, model: CostModel, inlined: str, fragmented: str, expected: int
) -> None:
    assert price(schema, model, inlined) == expected
    assert price(schema, model, fragmented) == expected


def test_fragment_spread_twice_at_one_level_counts_once(
    schema: strawberry.Schema, model: CostModel
) -> None:
    query = "{ ...F ...F ... { ...F } } fragment F on Query { tasks(first: 10) { nodes { id } } }"
    assert price(schema, model, query) == 12


def test_fragment_spread_at_two_levels_counts_at_each(
    schema: strawberry.Schema, model: CostModel
) -> None:
    query = (
        "{ me { ...U owner: tasks(first: 2) { nodes { owner { ...U } } } } }"
        " fragment U on User { tasks(first: 3) { nodes { id } } }"
    )
    # me 1 + U 5 + (2 + 2 * (1 task + 1 owner + U 5)) = 22
    assert price(schema, model, query) == 22


def test_same_response_key_is_merged(schema: strawberry.Schema, model: CostModel) -> None:
    query = (
        "{ tasks(first: 10) { nodes { id } } tasks(first: 10) { nodes { title owner { id } } } }"
    )
    assert price(schema, model, query) == 22
    assert price(schema, model, "{ me { id } me { name } ... { me { email } } }") == 1


def test_each_alias_counts(schema: strawberry.Schema, model: CostModel) -> None:
    query = "{ a: me { id } b: me { id } c: me { id } me { id } }"
    assert price(schema, model, query) == 4
    nested = "{ tasks(first: 3) { a: nodes { id } b: nodes { id } c: edges { node { id } } } }"
    assert price(schema, model, nested) == 11


def test_nested_connections_multiply(schema: strawberry.Schema, model: CostModel) -> None:
    query = (
        "{ tasks(first: 3) { nodes { owner { tasks(first: 4) { nodes { owner"
        " { tasks(first: 5) { nodes { id } } } } } } } } }"
    )
    # innermost 2 + 5 = 7; middle 2 + 4 * (1 + 1 + 7) = 38; outer 2 + 3 * (1 + 1 + 38) = 122
    assert price(schema, model, query) == 122


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('{ node(id: "x") { id } }', 1),
        ('{ node(id: "x") { ... on Task { owner { id } } } }', 2),
        ('{ node(id: "x") { ... on User { tasks(first: 3) { nodes { id } } } } }', 6),
        ('{ node(id: "x") { ... on Task { owner { tasks { nodes { id } } } } } }', 24),
        (
            '{ node(id: "x") { ... on Task { owner { tasks { nodes { id } } } } '
            "... on User { tasks(first: 3) { nodes { id } } } } }",
            24,
        ),
        ('{ node(id: "x") { ... on Node { ... on Task { owner { id } } } } }', 2),
        ('{ node(id: "x") { ...T } } fragment T on Task { owner { id } }', 2),
    ],
)
def test_interface_costs_1_plus_its_dearest_type(
    schema: strawberry.Schema, model: CostModel, query: str, expected: int
) -> None:
    assert price(schema, model, query) == expected


def test_introspection_is_20_each_and_typename_free(
    schema: strawberry.Schema, model: CostModel
) -> None:
    assert price(schema, model, '{ __type(name: "Task") { name fields { name } } }') == 20
    assert price(schema, model, "{ __schema { types { name } } __typename }") == 20
    both = '{ __schema { types { name } } t: __type(name: "User") { name } }'
    assert price(schema, model, both) == 40
    assert price(schema, model, "{ __typename me { __typename } }") == 1
    assert price(schema, model, "{ __typename }") == 0


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('mutation { createTask(input: {title: "x"}) { id } }', 11),
        ('mutation { updateTask(input: {id: "x"}) { id owner { id } } }', 12),
        (
            'mutation { createTask(input: {title: "x"}) { owner { tasks(first: 2)'
            " { nodes { id } } } } }",
            16,
        ),
        ('mutation { deleteTask(id: "x") }', 10),
        ("mutation { logoutAll }", 10),
        ('mutation { logout(refreshToken: "r") }', 10),
        (
            'mutation { login(input: {email: "a@b.c", password: "p"}) '
            "{ accessToken user { id } } }",
            12,
        ),
        ('mutation { a: deleteTask(id: "x") b: deleteTask(id: "y") }', 20),
    ],
)
def test_mutation_costs_10_plus_its_selection(
    schema: strawberry.Schema, model: CostModel, query: str, expected: int
) -> None:
    assert price(schema, model, query) == expected


def test_rate_limit_is_free(schema: strawberry.Schema, model: CostModel) -> None:
    query = "{ rateLimit { limit remaining cost restoreRate resetAt } }"
    assert price(schema, model, query) == 0


def test_operation_is_chosen_by_name(schema: strawberry.Schema, model: CostModel) -> None:
    document = "query A { me { id } } query B { tasks(first: 2) { nodes { id } } }"
    assert price(schema, model, document, operation_name="A") == 1
    assert price(schema, model, document, operation_name="B") == 4


def test_scalar_list_is_free(schema: strawberry.Schema, model: CostModel) -> None:
    assert price(schema, model, "{ tasks(first: 2) { nodes { tags } } }") == 4


@strawberry.type
class Chapter:
    title: str


@strawberry.type
class Person:
    name: str


@strawberry.type
class Book:
    @strawberry.field(directives=[ListSize(assumed_size=8, slicing_arguments=["first"])])
    def chapters(self, first: int | None = None) -> list[Chapter]:
        return []


@strawberry.type
class Film:
    @strawberry.field(directives=[Cost(weight=3)])
    def director(self) -> Person:
        return Person(name="x")


@strawberry.type(directives=[Cost(weight=5)])
class Archive:
    name: str


Media = Annotated[Book | Film, strawberry.union("Media")]


@strawberry.type
class MediaQuery:
    @strawberry.field
    def media(self) -> Media | None:
        return None

    @strawberry.field(directives=[ListSize(assumed_size=10, slicing_arguments=["first"])])
    def search(self, first: int | None = None) -> list[Media]:
        return []

    @strawberry.field(directives=[ListSize(slicing_arguments=["first"])])
    def recent(self, first: int = 3) -> list[Media]:
        return []

    @strawberry.field
    def archive(self) -> Archive:
        return Archive(name="x")


@pytest.fixture(scope="module")
def media_schema() -> strawberry.Schema:
    return strawberry.Schema(query=MediaQuery)


@pytest.fixture(scope="module")
def media_model(media_schema: strawberry.Schema) -> CostModel:
    return cost_model_of(media_schema)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("{ media { __typename } }", 1),
        ("{ media { ... on Book { chapters(first: 4) { title } } } }", 5),
        ("{ media { ... on Film { director { name } } } }", 4),
        (
            "{ media { ... on Book { chapters(first: 4) { title } } "
            "... on Film { director { name } } } }",
            5,
        ),
        (
            "{ media { ... on Book { chapters(first: 1) { title } } "
            "... on Film { director { name } } } }",
            4,
        ),
        ("{ media { ... on Book { chapters { title } } } }", 9),
        ("{ search(first: 2) { ... on Film { director { name } } } }", 8),
        ("{ search { ... on Book { chapters(first: 2) { title } } } }", 30),
        ("{ recent { __typename } }", 3),
        ("{ recent(first: 6) { __typename } }", 6),
        ("{ archive { name } }", 5),
    ],
)
def test_union_costs_1_plus_its_dearest_member(
    media_schema: strawberry.Schema, media_model: CostModel, query: str, expected: int
) -> None:
    assert price(media_schema, media_model, query) == expected


def test_a_fragment_cycle_across_levels_is_refused_not_followed(
    schema: strawberry.Schema, model: CostModel
) -> None:
    query = "{ me { ...F } } fragment F on User { tasks { nodes { owner { ...F } } } }"
    with pytest.raises(FragmentCycleError):
        requested_cost(Operation(schema._schema, parse(query)), model)
