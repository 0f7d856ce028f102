"""Turning execution results into response bodies and HTTP status codes (CONTRACT.md's table)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from graphql import GraphQLError

from transport.media import MediaType

# Codes that set the status of any response, executed or not.
ALWAYS_STATUS: dict[str, int] = {"THROTTLED": 429, "SERVICE_UNAVAILABLE": 503}


class ExecutionResult(Protocol):
    """What graphql-core and Strawberry results both carry."""

    @property
    def data(self) -> dict[str, Any] | None: ...
    @property
    def errors(self) -> list[GraphQLError] | None: ...
    @property
    def extensions(self) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class Outcome:
    """One operation's response body and the HTTP status it alone would get."""

    body: dict[str, Any]
    status: int
    retry_after: int | None = None

    @property
    def throttled(self) -> bool:
        return self.status == 429

    @property
    def codes(self) -> list[str | None]:
        """The `extensions.code` of each error in the body."""
        return [
            (error.get("extensions") or {}).get("code") for error in self.body.get("errors", [])
        ]


def outcome(result: ExecutionResult, *, media_type: MediaType) -> Outcome:
    errors = result.errors or []
    formatted = [error.formatted for error in errors]
    # Nothing executed (parse, validation, coercion, limits, cost, or `GraphQL-Cost: validate`):
    # the result has no `data`.
    request_error = result.data is None and all(e.path is None for e in errors)
    body: dict[str, Any] = {} if request_error else {"data": result.data}
    if formatted:
        body["errors"] = formatted
    if result.extensions:
        body["extensions"] = result.extensions
    codes = [str((error.get("extensions") or {}).get("code")) for error in formatted]
    return Outcome(
        body=body,
        status=_status(codes, request_error=request_error, media_type=media_type),
        retry_after=_retry_after(formatted),
    )


def refusal(message: str, *, code: str, status: int, field: str | None = None) -> Outcome:
    """A request refused before any GraphQL ran, as one result object."""
    extensions: dict[str, Any] = {"code": code}
    if field is not None:
        extensions["field"] = field
    return Outcome(body={"errors": [{"message": message, "extensions": extensions}]}, status=status)


def batch_status(outcomes: Sequence[Outcome]) -> tuple[int, int | None]:
    """A batch answers 200 unless every operation in it was throttled (then 429)."""
    if outcomes and all(item.throttled for item in outcomes):
        return 429, max(item.retry_after or 0 for item in outcomes) or None
    return 200, None


def _status(codes: list[str], *, request_error: bool, media_type: MediaType) -> int:
    for code in codes:
        if code in ALWAYS_STATUS:
            return ALWAYS_STATUS[code]
    if request_error and codes and media_type is MediaType.GRAPHQL_RESPONSE:
        return 500 if "INTERNAL_SERVER_ERROR" in codes else 400
    return 200


def _retry_after(formatted: list[Any]) -> int | None:
    waits = [
        int(extensions["retryAfter"])
        for error in formatted
        if isinstance(extensions := error.get("extensions"), dict)
        and extensions.get("code") == "THROTTLED"
        and isinstance(extensions.get("retryAfter"), int | float)
    ]
    return max(waits) if waits else None
