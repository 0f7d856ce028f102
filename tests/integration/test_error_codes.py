"""Every failure leaves with an `extensions.code`; unexpected ones are masked and logged."""

from __future__ import annotations

import logging

import pytest
from beanie import PydanticObjectId
from pymongo.errors import ServerSelectionTimeoutError

import resolvers.user
from schema.node import encode_global_id
from tests.integration.schema_client import SchemaClient


async def test_parse_failure(graphql: SchemaClient) -> None:
    executed = await graphql.execute("{ me { id ")
    assert executed.codes == ["GRAPHQL_PARSE_FAILED"]
    assert executed.data is None


async def test_validation_failure_keeps_its_message(graphql: SchemaClient) -> None:
    executed = await graphql.execute("{ me { nope } }")
    assert executed.codes == ["GRAPHQL_VALIDATION_FAILED"]
    assert executed.result.errors is not None
    assert "nope" in executed.result.errors[0].message


async def test_variables_that_do_not_coerce_fail_validation(graphql: SchemaClient) -> None:
    executed = await graphql.execute("query ($id: ID!) { node(id: $id) { id } }", {})
    assert executed.codes == ["GRAPHQL_VALIDATION_FAILED"]


async def test_unexpected_errors_are_masked_with_a_request_id(
    graphql: SchemaClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(_: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(resolvers.user, "me", broken)
    with caplog.at_level(logging.ERROR, logger="taskql.errors"):
        executed = await graphql.execute("{ me { id } }")
    assert executed.result.errors is not None
    error = executed.result.errors[0]
    assert error.message == "Internal server error."
    assert error.extensions == {
        "code": "INTERNAL_SERVER_ERROR",
        "requestId": executed.context.request_id,
    }
    assert "secret internals" not in str(error.formatted)
    assert any(record.exc_info for record in caplog.records)  # the traceback is logged


async def test_an_unreachable_database_is_service_unavailable(
    graphql: SchemaClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable(_: object) -> None:
        raise ServerSelectionTimeoutError("no servers")

    monkeypatch.setattr(resolvers.user, "me", unreachable)
    executed = await graphql.execute("{ me { id } }")
    assert executed.codes == ["SERVICE_UNAVAILABLE"]
    # transport/results.py turns this code into HTTP 503 (tests/unit/test_http_results.py).


async def test_malformed_and_foreign_ids_are_bad_user_input(graphql: SchemaClient) -> None:
    viewer = PydanticObjectId()
    for bad in ["not-an-id", encode_global_id("User", viewer)[:-3], ""]:
        executed = await graphql.execute(
            "query ($id: ID!) { node(id: $id) { id } }", {"id": bad}, viewer_id=viewer
        )
        assert executed.codes == ["BAD_USER_INPUT"], bad
        assert executed.result.errors is not None
        assert executed.result.errors[0].extensions is not None
        assert executed.result.errors[0].extensions["field"] == "id"


async def test_datetime_inputs_need_a_utc_offset(graphql: SchemaClient) -> None:
    executed = await graphql.execute(
        'mutation { createTask(input: {title: "x", dueAt: "2026-12-01T10:00:00"}) { id } }',
        viewer_id=PydanticObjectId(),
    )
    assert executed.codes == ["GRAPHQL_VALIDATION_FAILED"]
