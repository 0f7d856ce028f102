"""One place that turns failures into `extensions.code`: expected errors keep their message,
everything else is masked to INTERNAL_SERVER_ERROR with the request id and logged in full."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError
from pymongo.errors import ConnectionFailure, ServerSelectionTimeoutError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult
from strawberry.types.execution import StreamExecutionResult

from schema.context import Context
from schema.errors import ErrorCode, TaskqlError

log = logging.getLogger("taskql.errors")

# graphql-core ends validation and coercion messages with hints that map the schema out.
SUGGESTION = re.compile(r"\s*Did you mean .*\?$", re.DOTALL)
# The token limit (a syntax error) and the introspection depth rule (a validation error).
TOO_COMPLEX = re.compile(
    r"^Syntax Error: Document contains more than \d+ tokens|^Maximum introspection depth exceeded"
)


class ErrorCodes(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if isinstance(result, ExecutionResult | GraphQLExecutionResult) and result.errors:
            self._code(result)

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        """Each result a websocket operation sends (every subscription event) before it goes."""
        if isinstance(result, ExecutionResult) and result.errors:
            self._code(result)
        yield

    def _code(self, result: ExecutionResult | GraphQLExecutionResult) -> None:
        parse_failed = self.execution_context.graphql_document is None
        context = self.execution_context.context
        result.errors = [self._coded(error, parse_failed, context) for error in result.errors or []]

    def _coded(self, error: GraphQLError, parse_failed: bool, context: object) -> GraphQLError:
        original = error.original_error
        if original is None and isinstance(error.extensions, dict) and "code" in error.extensions:
            return error  # coded already (by an extension, or by an earlier pass)
        if isinstance(original, TaskqlError):
            return _with(error, original.message, original.extensions())
        if error.path is None:
            # Before execution: the document did not parse, did not validate, or a value
            # did not coerce (a scalar's parser raising is how coercion fails).
            code = "GRAPHQL_PARSE_FAILED" if parse_failed else "GRAPHQL_VALIDATION_FAILED"
            if TOO_COMPLEX.search(error.message):
                code = "QUERY_TOO_COMPLEX"
            message = error.message
            if isinstance(context, Context) and context.settings.is_production:
                message = SUGGESTION.sub("", message)
            return _with(error, message, {"code": code})
        request_id = context.request_id if isinstance(context, Context) else None
        if isinstance(original, ConnectionFailure | ServerSelectionTimeoutError):
            log.error("MongoDB unreachable: %s", original, extra={"request_id": request_id})
            return _with(
                error,
                "The database is unavailable; try again shortly.",
                {"code": "SERVICE_UNAVAILABLE", "requestId": request_id},
            )
        log.error(
            "unexpected error: %s",
            error.message,
            exc_info=original,
            extra={"request_id": request_id, "path": error.path},
        )
        internal: ErrorCode = "INTERNAL_SERVER_ERROR"
        return _with(error, "Internal server error.", {"code": internal, "requestId": request_id})


def _with(error: GraphQLError, message: str, extensions: dict[str, object]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )
