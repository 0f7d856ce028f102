"""The outcome label of taskql_graphql_requests_total."""

from __future__ import annotations

import pytest

from observability.graphql_operations import operation_outcome


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ([], "ok"),
        (["NOT_FOUND"], "error"),
        (["GRAPHQL_PARSE_FAILED"], "error"),
        (["GRAPHQL_VALIDATION_FAILED"], "error"),
        (["BAD_USER_INPUT", "UNAUTHENTICATED"], "error"),
        ([None], "error"),
        (["INTERNAL_SERVER_ERROR"], "error"),
        (["THROTTLED"], "throttled"),
        (["NOT_FOUND", "THROTTLED"], "throttled"),
        (["QUERY_TOO_COMPLEX"], "rejected"),
        (["MAX_COST_EXCEEDED"], "rejected"),
        (["SERVICE_UNAVAILABLE"], "error"),
    ],
)
def test_outcome(codes: list[str | None], expected: str) -> None:
    assert operation_outcome(codes) == expected
