"""The labels of taskql_graphql_requests_total: an operation's outcome and its type."""

from __future__ import annotations

import pytest

from observability.graphql_operations import operation_outcome, operation_type


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


@pytest.mark.parametrize(
    ("document", "name", "expected"),
    [
        ("{ me { id } }", None, "query"),
        ("  \n\ufeff,{ me { id } }", None, "query"),
        ("query { me { id } }", None, "query"),
        ("mutation { logoutAll }", None, "mutation"),
        ("subscription { taskEvents { type } }", None, "subscription"),
        ("mutation M($id: ID!) { deleteTask(id: $id) }", None, "mutation"),
        ("# a comment with mutation {\nquery Q { me { id } }", None, "query"),
        ("fragment F on Query { me { id } } mutation { logoutAll }", None, "mutation"),
        ("fragment F on Query { me { id } } { ...F }", None, "query"),
        # The named operation, wherever it is in the document.
        ("query A { me { id } } mutation B { logoutAll }", "B", "mutation"),
        ("query A { me { id } } mutation B { logoutAll }", "A", "query"),
        ("{ me { id } } mutation B { logoutAll }", "B", "mutation"),
        ('query A { t: task(id: "}{ mutation B") { id } } mutation B { x }', "B", "mutation"),
        ('query A { a(s: """ } mutation B { """) } subscription B { x }', "B", "subscription"),
        ("query A($b: Int = 1) { me { id } } mutation B { logoutAll }", "B", "mutation"),
        # An anonymous operation with variables or directives has no name to match.
        ("query ($B: Int) { me { id } } mutation B { logoutAll }", "B", "mutation"),
        ("query @B { me { id } } subscription B { x }", "B", "subscription"),
        ("mutation query { me }", "query", "mutation"),
        # Nothing to find.
        ("query A { me { id } }", "B", "unknown"),
        ("", None, "unknown"),
        ("fragment F on Query { me { id } }", None, "unknown"),
        ("   ", None, "unknown"),
    ],
)
def test_operation_type(document: str, name: str | None, expected: str) -> None:
    assert operation_type(document, name) == expected
