"""GraphQL over HTTP (CONTRACT.md): GET for queries, POST for queries and mutations, batches
run in order, one context per operation, status codes by media type, a 1 MiB body limit.

Strawberry's own HTTP view runs batch items concurrently on one shared context and answers
some refusals in plain text; this endpoint owns the transport and calls `schema.execute`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection

import orjson
import strawberry
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from observability import graphql_operations
from observability.metrics import TaskqlMetrics
from schema.context import Context
from transport.body import MAX_BODY_BYTES, BodyTooLarge, read_limited_body
from transport.context import create_context, request_id_of
from transport.executed_lane import ExecutedLane
from transport.fast_lane import FastLane
from transport.media import MediaType, prefers_html, response_media_type
from transport.payload import (
    BatchSizeRefused,
    NotAGraphQLRequest,
    OperationRequest,
    decode_json_body,
    operation_from_query_string,
    operations_from_body,
)
from transport.persisted_queries import PersistedQueries, PersistedQueryError
from transport.results import Outcome, batch_status, outcome, refusal

log = logging.getLogger("taskql.http")

# A document refused for what it is, not for its values: never kept as a persisted query.
DOCUMENT_REFUSED = frozenset(
    {"GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "QUERY_TOO_COMPLEX"}
)
GET_OPERATIONS = frozenset({OperationType.QUERY})
POST_OPERATIONS = frozenset({OperationType.QUERY, OperationType.MUTATION})
PageRenderer = Callable[[Request], Response]


class GraphQLOverHttp:
    def __init__(
        self,
        schema: strawberry.Schema,
        *,
        graphiql: PageRenderer | None,
        fast_lane: FastLane | None = None,
        executed_lane: ExecutedLane | None = None,
    ) -> None:
        self.schema = schema
        self.graphiql = graphiql
        self.fast_lane = fast_lane
        self.executed_lane = executed_lane

    async def handle(self, request: Request) -> Response:
        accept = request.headers.get("accept")
        if request.method == "GET" and self.graphiql is not None and prefers_html(accept):
            # A browser navigating here gets the IDE; `?query=` only fills its editor.
            return self.graphiql(request)
        media_type = response_media_type(accept)
        request_id = request_id_of(request)
        started = time.perf_counter()
        try:
            operations, batch, allowed = await self._operations(request)
        except (BodyTooLarge, NotAGraphQLRequest, BatchSizeRefused) as error:
            refused = _refusal_for(error)
            _observe(request, refused, operation_type="unknown", started=started)
            return _respond(refused.body, refused.status, media_type, request_id=request_id)

        headers = MutableHeaders()
        outcomes: list[Outcome] = []
        for operation in operations:
            # In order, one at a time: a batch's mutations apply in the order they were sent.
            started = time.perf_counter()
            context = create_context(
                request,
                authorization=request.headers.get("authorization"),
                request_id=request_id,
                response_headers=headers,
            )
            executed = await self._run(
                operation, context=context, allowed=allowed, media_type=media_type
            )
            _observe(request, executed, operation_type=context.operation_type, started=started)
            _log(operation, executed, context=context, started=started)
            outcomes.append(executed)
        if batch:
            status, retry_after = batch_status(outcomes)
            body: object = [item.body for item in outcomes]
        else:
            (single,) = outcomes
            status, retry_after, body = single.status, single.retry_after, single.body
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        return _respond(body, status, media_type, request_id=request_id, headers=headers)

    async def _operations(
        self, request: Request
    ) -> tuple[list[OperationRequest], bool, Collection[OperationType]]:
        if request.method == "GET":
            return [operation_from_query_string(request.query_params)], False, GET_OPERATIONS
        content_type = request.headers.get("content-type", "application/json")
        if content_type.split(";")[0].strip().lower() != MediaType.JSON.value:
            raise NotAGraphQLRequest(
                "Send GraphQL requests as application/json.", field="Content-Type"
            )
        body = await read_limited_body(request)
        operations, batch = operations_from_body(decode_json_body(body))
        return operations, batch, POST_OPERATIONS

    async def _run(
        self,
        operation: OperationRequest,
        *,
        context: Context,
        allowed: Collection[OperationType],
        media_type: MediaType,
    ) -> Outcome:
        """The operation, its document taken from the persisted queries when it names one."""
        persisted: PersistedQueries = context.request.app.state.taskql.persisted
        try:
            resolved = await persisted.resolve(operation)
        except PersistedQueryError as error:
            if error.code == "BAD_USER_INPUT":
                return refusal(error.message, code=error.code, status=400, field=error.field)
            return _request_error(error.message, code=error.code, media_type=media_type)
        executed = await self._execute(
            resolved.operation, context=context, allowed=allowed, media_type=media_type
        )
        if self.fast_lane is not None:
            self.fast_lane.learn(context, executed)
        query = resolved.operation.query
        if self.executed_lane is not None and query and _answered_query(context, executed):
            self.executed_lane.learn(query, resolved.operation.operation_name)
        if resolved.register and query and not DOCUMENT_REFUSED.intersection(executed.codes):
            await persisted.register(resolved.register, query)
        return executed

    async def _execute(
        self,
        operation: OperationRequest,
        *,
        context: Context,
        allowed: Collection[OperationType],
        media_type: MediaType,
    ) -> Outcome:
        try:
            result = await self.schema.execute(
                operation.query,
                variable_values=operation.variables,
                context_value=context,
                operation_name=operation.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=operation.extensions,
            )
        except InvalidOperationTypeError as error:
            return refusal(
                _not_allowed_message(error.operation_type, context.request.scope["method"]),
                code="BAD_USER_INPUT",
                status=400,
                field="query",
            )
        except MissingQueryError:
            # Strawberry refuses an empty document before its parser sees it.
            return _request_error(
                "Syntax Error: Unexpected <EOF>.",
                code="GRAPHQL_PARSE_FAILED",
                media_type=media_type,
            )
        except CannotGetOperationTypeError as error:
            return _request_error(
                error.as_http_error_reason(),
                code="GRAPHQL_VALIDATION_FAILED",
                media_type=media_type,
            )
        except Exception:  # the client gets a request id, never a traceback
            log.exception(
                "unexpected error outside execution", extra={"request_id": context.request_id}
            )
            failed = refusal("Internal server error.", code="INTERNAL_SERVER_ERROR", status=500)
            failed.body["errors"][0]["extensions"]["requestId"] = context.request_id
            return failed
        return outcome(result, media_type=media_type)


def _answered_query(context: Context, executed: Outcome) -> bool:
    """A query the full path answered without errors: valid, within every limit."""
    return (
        context.operation_type == "query"
        and executed.status == 200
        and "errors" not in executed.body
    )


def _refusal_for(error: BodyTooLarge | NotAGraphQLRequest | BatchSizeRefused) -> Outcome:
    """A request refused before any GraphQL ran (CONTRACT.md: 413, or 400)."""
    if isinstance(error, BodyTooLarge):
        limit = f"{MAX_BODY_BYTES // 1024 // 1024} MiB"
        message = f"The request body is over {limit}."
        return refusal(message, code="BAD_USER_INPUT", status=413, field="body")
    if isinstance(error, NotAGraphQLRequest):
        return refusal(error.message, code="BAD_USER_INPUT", status=400, field=error.field)
    return refusal(error.message, code="QUERY_TOO_COMPLEX", status=400)


def _observe(request: Request, result: Outcome, *, operation_type: str, started: float) -> None:
    metrics: TaskqlMetrics = request.app.state.taskql.metrics
    metrics.observe_operation(
        operation_type=operation_type,
        outcome=graphql_operations.operation_outcome(result.codes),
        seconds=time.perf_counter() - started,
    )


def _log(operation: OperationRequest, result: Outcome, *, context: Context, started: float) -> None:
    log_operation(
        request_id=context.request_id,
        user_id=str(context.viewer_id) if context.viewer_id is not None else None,
        operation_type=context.operation_type,
        operation_name=operation.operation_name,
        outcome=graphql_operations.operation_outcome(result.codes),
        started=started,
        cost=context.cost_report,
    )


def log_operation(
    *,
    request_id: str,
    user_id: str | None,
    operation_type: str,
    operation_name: str | None,
    outcome: str,
    started: float,
    cost: tuple[int, int] | None,
) -> None:
    """One line per operation; its cost lets the weights be tuned on real traffic."""
    requested, actual = cost or (None, None)
    log.info(
        "graphql operation",
        extra={
            "request_id": request_id,
            "user_id": user_id,
            "operation_type": operation_type,
            "operation_name": operation_name,
            "outcome": outcome,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "requested_cost": requested,
            "actual_cost": actual,
        },
    )


def _request_error(message: str, *, code: str, media_type: MediaType) -> Outcome:
    status = 400 if media_type is MediaType.GRAPHQL_RESPONSE else 200
    return refusal(message, code=code, status=status)


def _not_allowed_message(operation_type: OperationType, method: str) -> str:
    if operation_type is OperationType.SUBSCRIPTION:
        return "Subscriptions run over the websocket endpoint (graphql-transport-ws)."
    if method == "GET":
        return "Only queries may be sent with GET; send mutations with POST."
    return f"{operation_type.value} operations are not allowed here."


def _respond(
    body: object,
    status: int,
    media_type: MediaType,
    *,
    request_id: str,
    headers: MutableHeaders | None = None,
) -> Response:
    response = Response(
        orjson.dumps(body),
        status_code=status,
        media_type=f"{media_type.value}; charset=utf-8",
    )
    if headers is not None:
        response.headers.update(headers)
    response.headers["X-Request-ID"] = request_id
    return response
