"""The actual cost prices the response data with the contract's rules and the real list sizes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest
import strawberry
from graphql import parse

from cost.actual import actual_cost
from cost.model import CostModel
from cost.operation import Operation
from cost.pricing import requested_cost


def actual(
    schema: strawberry.Schema,
    model: CostModel,
    query: str,
    data: Mapping[str, Any] | None,
    *,
    failed_root_keys: Iterable[str] = (),
    variables: Mapping[str, Any] | None = None,
) -> int:
    operation = Operation(schema._schema, parse(query), variables=variables)
    return actual_cost(operation, model, data=data, failed_root_keys=failed_root_keys)


def requested(schema: strawberry.Schema, model: CostModel, query: str) -> int:
    return requested_cost(Operation(schema._schema, parse(query)), model)


def task(number: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"VGFzazo{number}", "title": f"task {number}", **extra}


SIZES = [0, 1, 3, 10]


@pytest.mark.parametrize("n", SIZES)
def test_nodes_cost_2_plus_n(schema: strawberry.Schema, model: CostModel, n: int) -> None:
    query = "{ tasks(first: 10) { nodes { id title } } }"
    data = {"tasks": {"nodes": [task(i) for i in range(n)]}}
    assert actual(schema, model, query, data) == 2 + n


@pytest.mark.parametrize("n", SIZES)
def test_edges_cost_2_plus_n(schema: strawberry.Schema, model: CostModel, n: int) -> None:
    query = (
        "{ tasks(first: 10) { edges { cursor node { id } } pageInfo { hasNextPage } totalCount } }"
    )
    data = {
        "tasks": {
            "edges": [{"cursor": f"c{i}", "node": {"id": f"t{i}"}} for i in range(n)],
            "pageInfo": {"hasNextPage": False},
            "totalCount": n,
        }
    }
    assert actual(schema, model, query, data) == 2 + n


@pytest.mark.parametrize("n", SIZES)
def test_nodes_and_edges_cost_2_plus_2n(
    schema: strawberry.Schema, model: CostModel, n: int
) -> None:
    query = "{ tasks(first: 10) { nodes { id } edges { node { id } } } }"
    data = {
        "tasks": {
            "nodes": [{"id": f"t{i}"} for i in range(n)],
            "edges": [{"node": {"id": f"t{i}"}} for i in range(n)],
        }
    }
    assert actual(schema, model, query, data) == 2 + 2 * n


@pytest.mark.parametrize("n", [0, 1, 7, 20])
def test_default_size_costs_2_plus_n(schema: strawberry.Schema, model: CostModel, n: int) -> None:
    data = {"tasks": {"nodes": [{"id": f"t{i}"} for i in range(n)]}}
    assert actual(schema, model, "{ tasks { nodes { id } } }", data) == 2 + n


@pytest.mark.parametrize("n", [0, 2, 5])
def test_last_costs_2_plus_n(schema: strawberry.Schema, model: CostModel, n: int) -> None:
    data = {"tasks": {"nodes": [{"id": f"t{i}"} for i in range(n)]}}
    assert actual(schema, model, "{ tasks(last: 5) { nodes { id } } }", data) == 2 + n


@pytest.mark.parametrize("n", SIZES)
def test_owner_per_item_costs_2_plus_2n(
    schema: strawberry.Schema, model: CostModel, n: int
) -> None:
    query = "{ tasks(first: 10) { nodes { id owner { name } } } }"
    data = {"tasks": {"nodes": [{"id": f"t{i}", "owner": {"name": "Ada"}} for i in range(n)]}}
    assert actual(schema, model, query, data) == 2 + 2 * n


def test_free_fields_cost_what_me_costs(schema: strawberry.Schema, model: CostModel) -> None:
    query = "{ me { id taskCounts { total } } rateLimit { remaining } __typename }"
    data = {
        "me": {"id": "VXNlcjox", "taskCounts": {"total": 4}},
        "rateLimit": {"remaining": 990},
        "__typename": "Query",
    }
    assert actual(schema, model, query, data) == 2
    assert actual(schema, model, "{ me { id } }", {"me": {"id": "VXNlcjox"}}) == 1


def test_introspection_costs_20(schema: strawberry.Schema, model: CostModel) -> None:
    data = {"__schema": {"queryType": {"name": "Query"}}}
    assert actual(schema, model, "{ __schema { queryType { name } } }", data) == 20


def test_mutation_costs_10_plus_what_it_returned(
    schema: strawberry.Schema, model: CostModel
) -> None:
    query = 'mutation { createTask(input: {title: "x"}) { id owner { id } } }'
    data = {"createTask": {"id": "VGFzazox", "owner": {"id": "VXNlcjox"}}}
    assert actual(schema, model, query, data) == 12
    assert actual(schema, model, 'mutation { deleteTask(id: "x") }', {"deleteTask": "x"}) == 10


def test_nested_connections_use_the_real_sizes(schema: strawberry.Schema, model: CostModel) -> None:
    query = "{ tasks(first: 5) { nodes { owner { tasks(first: 5) { nodes { id } } } } } }"
    inner = [{"owner": {"tasks": {"nodes": [{"id": "t"}] * k}}} for k in (0, 2, 5)]
    # 2 + (1 + 1 + 2) + (1 + 1 + 2 + 2) + (1 + 1 + 2 + 5)
    assert actual(schema, model, query, {"tasks": {"nodes": inner}}) == 21
    assert requested(schema, model, query) == 47


def test_aliases_each_count(schema: strawberry.Schema, model: CostModel) -> None:
    query = "{ a: tasks(first: 10) { nodes { id } } b: tasks(first: 10) { nodes { id } } }"
    data = {"a": {"nodes": [{"id": "1"}] * 3}, "b": {"nodes": [{"id": "2"}] * 4}}
    assert actual(schema, model, query, data) == 11


def test_fragments_cost_what_they_returned(schema: strawberry.Schema, model: CostModel) -> None:
    query = "query { ...F } fragment F on Query { tasks(first: 10) { nodes { id } } }"
    data = {"tasks": {"nodes": [{"id": "1"}] * 6}}
    assert actual(schema, model, query, data) == 8


def test_skipped_fields_cost_nothing(schema: strawberry.Schema, model: CostModel) -> None:
    query = "query($s: Boolean!) { me @skip(if: $s) { id } tasks(first: 2) { nodes { id } } }"
    data = {"me": {"id": "VXNlcjox"}, "tasks": {"nodes": [{"id": "1"}]}}
    assert actual(schema, model, query, data, variables={"s": True}) == 3
    assert actual(schema, model, query, data, variables={"s": False}) == 4


def test_null_object_costs_0(schema: strawberry.Schema, model: CostModel) -> None:
    assert actual(schema, model, "{ me { id tasks { nodes { id } } } }", {"me": None}) == 0
    assert actual(schema, model, '{ task(id: "x") { owner { id } } }', {"task": None}) == 0
    assert actual(schema, model, '{ node(id: "x") { id } }', {"node": None}) == 0
    assert actual(schema, model, "{ me { id } }", None) == 0


def test_missing_keys_cost_0(schema: strawberry.Schema, model: CostModel) -> None:
    assert actual(schema, model, "{ me { id } tasks { nodes { id } } }", {}) == 0


def test_failed_mutation_costs_its_10(schema: strawberry.Schema, model: CostModel) -> None:
    query = 'mutation { createTask(input: {title: "x"}) { id owner { id } } }'
    assert actual(schema, model, query, None, failed_root_keys=["createTask"]) == 10
    aliased = 'mutation { made: createTask(input: {title: "x"}) { id } }'
    assert actual(schema, model, aliased, None, failed_root_keys=["made"]) == 10
    scalar = 'mutation { deleteTask(id: "x") }'
    assert actual(schema, model, scalar, None, failed_root_keys=["deleteTask"]) == 10


def test_mutation_that_never_ran_costs_0(schema: strawberry.Schema, model: CostModel) -> None:
    query = 'mutation { createTask(input: {title: "x"}) { id } }'
    assert actual(schema, model, query, None) == 0


def test_failed_query_field_costs_0(schema: strawberry.Schema, model: CostModel) -> None:
    assert actual(schema, model, "{ me { id } }", None, failed_root_keys=["me"]) == 0


NODE_QUERY = (
    '{ node(id: "x") { id ... on Task { owner { id } } '
    "... on User { tasks(first: 3) { nodes { id } } } } }"
)


def test_interface_task_item_costs_its_owner(schema: strawberry.Schema, model: CostModel) -> None:
    data = {"node": {"id": "VGFzazox", "owner": {"id": "VXNlcjox"}}}
    assert actual(schema, model, NODE_QUERY, data) == 2


@pytest.mark.parametrize("n", [0, 1, 3])
def test_interface_user_item_costs_its_tasks(
    schema: strawberry.Schema, model: CostModel, n: int
) -> None:
    data = {"node": {"id": "VXNlcjox", "tasks": {"nodes": [{"id": "t"}] * n}}}
    assert actual(schema, model, NODE_QUERY, data) == 3 + n
    assert requested(schema, model, NODE_QUERY) == 6


def test_interface_item_without_type_keys_costs_the_dearest_match(
    schema: strawberry.Schema, model: CostModel
) -> None:
    data = {"node": {"id": "VGFzazox"}}
    assert actual(schema, model, '{ node(id: "x") { id } }', data) == 1
    query = '{ node(id: "x") { ... on Task { title } ... on User { name } } }'
    assert actual(schema, model, query, {"node": {"title": "t"}}) == 1


def test_mutations_before_the_one_that_failed_were_executed_and_cost_their_10(
    schema: strawberry.Schema, model: CostModel
) -> None:
    query = 'mutation { a: deleteTask(id: "x") b: deleteTask(id: "y") c: deleteTask(id: "z") }'
    assert actual(schema, model, query, None, failed_root_keys=["a"]) == 10
    assert actual(schema, model, query, None, failed_root_keys=["b"]) == 20
    assert actual(schema, model, query, None, failed_root_keys=["c"]) == 30
