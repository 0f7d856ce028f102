"""From execution results to bodies and HTTP statuses: CONTRACT.md's status-code table."""

from __future__ import annotations

import pytest
from graphql import ExecutionResult, GraphQLError

from transport.media import MediaType
from transport.results import Outcome, batch_status, outcome, refusal

JSON, MODERN = MediaType.JSON, MediaType.GRAPHQL_RESPONSE


def _error(code: str, *, path: list[str | int] | None = None, **extra: object) -> GraphQLError:
    return GraphQLError("m", path=path, extensions={"code": code, **extra})


def test_an_executed_result_keeps_data_and_is_200() -> None:
    for media_type in (JSON, MODERN):
        done = outcome(ExecutionResult(data={"me": None}), media_type=media_type)
        assert (done.status, done.body) == (200, {"data": {"me": None}})


def test_field_errors_are_still_an_executed_200() -> None:
    result = ExecutionResult(data={"task": None}, errors=[_error("NOT_FOUND", path=["task"])])
    for media_type in (JSON, MODERN):
        done = outcome(result, media_type=media_type)
        assert done.status == 200
        assert done.body["data"] == {"task": None}
        assert done.body["errors"][0]["path"] == ["task"]


@pytest.mark.parametrize(
    "code",
    ["GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "QUERY_TOO_COMPLEX", "MAX_COST_EXCEEDED"],
)
def test_request_errors_have_no_data_and_are_400_only_for_the_new_media_type(code: str) -> None:
    result = ExecutionResult(data=None, errors=[_error(code)])
    legacy, modern = outcome(result, media_type=JSON), outcome(result, media_type=MODERN)
    assert (legacy.status, modern.status) == (200, 400)
    for done in (legacy, modern):
        assert "data" not in done.body
        assert done.body["errors"][0]["extensions"]["code"] == code


def test_throttled_is_429_with_retry_after_for_both_media_types() -> None:
    result = ExecutionResult(data=None, errors=[_error("THROTTLED", retryAfter=7)])
    for media_type in (JSON, MODERN):
        done = outcome(result, media_type=media_type)
        assert (done.status, done.retry_after, done.throttled) == (429, 7, True)


def test_a_throttled_field_error_is_429_too() -> None:
    result = ExecutionResult(data=None, errors=[_error("THROTTLED", path=["login"], retryAfter=3)])
    done = outcome(result, media_type=JSON)
    assert (done.status, done.retry_after) == (429, 3)
    assert done.body["data"] is None


def test_service_unavailable_is_503() -> None:
    result = ExecutionResult(data=None, errors=[_error("SERVICE_UNAVAILABLE", path=["me"])])
    for media_type in (JSON, MODERN):
        assert outcome(result, media_type=media_type).status == 503


def test_extensions_are_carried() -> None:
    done = outcome(ExecutionResult(data={}, extensions={"cost": {"a": 1}}), media_type=JSON)
    assert done.body == {"data": {}, "extensions": {"cost": {"a": 1}}}


def test_refusal_is_one_result_object() -> None:
    refused = refusal("too big", code="BAD_USER_INPUT", status=413, field="body")
    assert refused.status == 413
    assert refused.body == {
        "errors": [
            {"message": "too big", "extensions": {"code": "BAD_USER_INPUT", "field": "body"}}
        ]
    }


def test_a_batch_is_200_unless_every_item_was_throttled() -> None:
    ok = Outcome(body={}, status=200)
    slow = Outcome(body={}, status=429, retry_after=4)
    slower = Outcome(body={}, status=429, retry_after=9)
    assert batch_status([ok, slow]) == (200, None)
    assert batch_status([slow, slower]) == (429, 9)
    assert batch_status([Outcome(body={}, status=400), ok]) == (200, None)
