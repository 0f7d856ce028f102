"""The outcome label of one GraphQL operation in taskql_graphql_requests_total, read from the
error codes of its result (its type comes from the parsed document, see OperationScope)."""

from __future__ import annotations

from collections.abc import Iterable

REJECTED_CODES = frozenset({"QUERY_TOO_COMPLEX", "MAX_COST_EXCEEDED"})


def operation_outcome(codes: Iterable[str | None]) -> str:
    """ok (no errors), throttled, rejected (too complex, too costly) or error (anything else)."""
    found = set(codes)
    if not found:
        return "ok"
    if "THROTTLED" in found:
        return "throttled"
    if found & REJECTED_CODES:
        return "rejected"
    return "error"
