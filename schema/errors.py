"""The one typed error for expected failures, mapped to `extensions.code` in one extension."""

from __future__ import annotations

from typing import Any, Literal

ErrorCode = Literal[
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "QUERY_TOO_COMPLEX",
    "BAD_USER_INPUT",
    "UNAUTHENTICATED",
    "INVALID_CREDENTIALS",
    "NOT_FOUND",
    "CONFLICT",
    "MAX_COST_EXCEEDED",
    "THROTTLED",
    "TOO_MANY_SUBSCRIPTIONS",
    "PERSISTED_QUERY_NOT_FOUND",
    "SERVICE_UNAVAILABLE",
    "INTERNAL_SERVER_ERROR",
]


class TaskqlError(Exception):
    """An expected failure: a stable code for programs, a message for people."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        field: str | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.extra = extensions or {}

    def extensions(self) -> dict[str, Any]:
        result: dict[str, Any] = {"code": self.code}
        if self.field is not None:
            result["field"] = self.field
        result.update(self.extra)
        return result


def bad_input(field: str, message: str) -> TaskqlError:
    return TaskqlError("BAD_USER_INPUT", message, field=field)


def unauthenticated(
    message: str = "Sign in first: this operation needs an access token.",
) -> TaskqlError:
    return TaskqlError("UNAUTHENTICATED", message)


def not_found(what: str = "task") -> TaskqlError:
    return TaskqlError("NOT_FOUND", f"No such {what}.")


def throttled(message: str, *, retry_after: int) -> TaskqlError:
    return TaskqlError("THROTTLED", message, extensions={"retryAfter": retry_after})
