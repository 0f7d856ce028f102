"""Decoding GraphQL-over-HTTP requests: single operations, batches, GET parameters, refusals."""

from __future__ import annotations

from typing import Any

import pytest

from transport.payload import (
    MAX_BATCH,
    BatchSizeRefused,
    NotAGraphQLRequest,
    OperationRequest,
    decode_json_body,
    operation_from_query_string,
    operations_from_body,
)


def test_a_single_operation_with_every_member() -> None:
    body = {
        "query": "query Q($n: Int) { me { id } }",
        "variables": {"n": 1},
        "operationName": "Q",
        "extensions": {"x": True},
    }
    operations, batch = operations_from_body(body)
    assert batch is False
    assert operations == [
        OperationRequest(
            query=body["query"], variables={"n": 1}, operation_name="Q", extensions={"x": True}
        )
    ]


def test_null_members_are_absent_members() -> None:
    operations, _ = operations_from_body(
        {"query": "{ me { id } }", "variables": None, "operationName": None, "extensions": None}
    )
    assert operations == [OperationRequest(query="{ me { id } }")]


def test_an_empty_query_string_is_left_to_the_parser() -> None:
    operations, _ = operations_from_body({"query": ""})
    assert operations == [OperationRequest(query="")]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "query"),
        ({"query": None}, "query"),
        ({"query": 42}, "query"),
        ({"query": ["{ me { id } }"]}, "query"),
        ({"query": "{ me { id } }", "variables": [1]}, "variables"),
        ({"query": "{ me { id } }", "variables": "{}"}, "variables"),
        ({"query": "{ me { id } }", "operationName": 3}, "operationName"),
        ({"query": "{ me { id } }", "extensions": "x"}, "extensions"),
        ("{ me { id } }", "body"),
        (17, "body"),
        (None, "body"),
    ],
)
def test_malformed_requests_name_what_is_wrong(body: Any, field: str) -> None:
    with pytest.raises(NotAGraphQLRequest) as refused:
        operations_from_body(body)
    assert refused.value.field == field


def test_a_batch_keeps_its_order() -> None:
    body = [{"query": f"{{ a{index}: __typename }}"} for index in range(MAX_BATCH)]
    operations, batch = operations_from_body(body)
    assert batch is True
    assert [operation.query for operation in operations] == [item["query"] for item in body]


@pytest.mark.parametrize("size", [0, MAX_BATCH + 1, 50])
def test_empty_and_oversized_batches_are_refused(size: int) -> None:
    with pytest.raises(BatchSizeRefused):
        operations_from_body([{"query": "{ __typename }"}] * size)


def test_one_malformed_item_refuses_the_whole_batch_and_names_it() -> None:
    with pytest.raises(NotAGraphQLRequest) as refused:
        operations_from_body([{"query": "{ __typename }"}, {"query": 1}])
    assert refused.value.field == "[1].query"


def test_body_that_is_not_json() -> None:
    with pytest.raises(NotAGraphQLRequest) as refused:
        decode_json_body(b"{not json")
    assert refused.value.field == "body"
    assert decode_json_body(b'{"query": "{ me { id } }"}') == {"query": "{ me { id } }"}


def test_get_parameters_decode_json_members() -> None:
    operation = operation_from_query_string(
        {"query": "query Q($id: ID!) { task(id: $id) { id } }", "variables": '{"id": "x"}'}
        | {"operationName": "Q", "extensions": '{"a": 1}'}
    )
    assert operation.variables == {"id": "x"}
    assert operation.operation_name == "Q"
    assert operation.extensions == {"a": 1}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "query"),
        ({"query": "{ me { id } }", "variables": "{oops"}, "variables"),
        ({"query": "{ me { id } }", "variables": "[1]"}, "variables"),
        ({"query": "{ me { id } }", "extensions": "nope"}, "extensions"),
    ],
)
def test_malformed_get_parameters(params: dict[str, str], field: str) -> None:
    with pytest.raises(NotAGraphQLRequest) as refused:
        operation_from_query_string(params)
    assert refused.value.field == field
