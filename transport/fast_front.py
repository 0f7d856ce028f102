"""The outermost middleware (inside Starlette's error handling): a `POST /graphql` that the
fast lane (transport/fast_lane.py: a cached response) or the executed lane
(transport/executed_lane.py: a page built from the object cache) can answer is answered here,
before CORS, routing and the GraphQL context; every other request, and every miss with its
body handed back, goes on unchanged.

In verify mode (TASKQL_COMPILED_EXECUTION=verify, the test suite's) the executed lane builds
its data without charging, the full path answers, and a difference between the two is
refused with INTERNAL_SERVER_ERROR instead of the full path's answer (a match is counted as
the lane's in `taskql_graphql_execution_path`).

Only plain requests come this way: one operation in a JSON object with a `query` text (no
`extensions`, so no persisted-query hash), a bearer token, no `Origin` (CORS stays with its
middleware), no `GraphQL-Cost` header, a body under FAST_BODY_LIMIT. The answer is the one
the full path gives a response-cache hit: same body, status, headers, metrics and log line.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from observability.metrics import TaskqlMetrics
from settings import Settings
from transport.context import Viewer, authenticate, request_id_from
from transport.executed_lane import ExecutedLane
from transport.fast_lane import FastAnswer, FastLane
from transport.http import log_operation
from transport.media import response_media_type

log = logging.getLogger("taskql.lane")

FAST_BODY_LIMIT = 64 * 1024
_WANTED = {b"authorization", b"accept", b"content-type", b"x-request-id"}
_DECLINING = {b"origin", b"graphql-cost"}


class FastFront:
    def __init__(
        self,
        app: ASGIApp,
        *,
        lane: FastLane | None,
        executed: ExecutedLane | None = None,
        verify: bool = False,
    ) -> None:
        self.app = app
        self.lane = lane
        self.executed = executed
        self.verify = verify

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/graphql":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        if headers is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        body, more_body = await _read_body(receive)
        operation = None if more_body else _operation(body)
        if operation is not None:
            state: Any = scope["app"].state.taskql
            settings: Settings = state.settings
            viewer = authenticate(headers[b"authorization"].decode("latin-1"), settings=settings)
            if await self._answered(state, headers, operation, viewer, send, started=started):
                return
            if self.verify and self.executed is not None:
                await self._verified(
                    state, scope, body, operation, viewer=viewer, channel=(receive, send)
                )
                return
        await self.app(scope, _replaying(body, more_body, receive), send)

    async def _answered(
        self,
        state: Any,
        headers: dict[bytes, bytes],
        operation: tuple[str, str | None, dict[str, Any] | None],
        viewer: Viewer,
        send: Send,
        *,
        started: float,
    ) -> bool:
        query, operation_name, variables = operation
        answer = None
        path: str | None = None  # None: the fast lane's
        if self.lane is not None:
            answer = await self.lane.answer(
                query=query,
                operation_name=operation_name,
                variables=variables,
                viewer=viewer,
                cache=state.cache,
            )
        if answer is None and self.executed is not None and not self.verify:
            answer = await self.executed.answer(
                query=query,
                operation_name=operation_name,
                variables=variables,
                viewer=viewer,
                cache=state.cache,
                budget=state.budget,
            )
            path = "lane"
        if answer is None:
            return False
        request_id = request_id_from(headers.get(b"x-request-id", b"").decode("latin-1"))
        media_type = response_media_type(headers.get(b"accept", b"").decode("latin-1"))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", f"{media_type.value}; charset=utf-8".encode()),
                    (b"content-length", str(len(answer.body)).encode()),
                    (b"ratelimit-policy", answer.rate_limit[0].encode()),
                    (b"ratelimit", answer.rate_limit[1].encode()),
                    (b"x-request-id", request_id.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer.body})
        _observe(state.metrics, answer, path=path, started=started)
        log_operation(
            request_id=request_id,
            user_id=str(viewer.id),
            operation_type="query",
            operation_name=operation_name,
            outcome="ok",
            started=started,
            cost=(answer.requested, answer.actual),
        )
        return True

    async def _verified(
        self,
        state: Any,
        scope: Scope,
        body: bytes,
        operation: tuple[str, str | None, dict[str, Any] | None],
        *,
        viewer: Viewer,
        channel: tuple[Receive, Send],
    ) -> None:
        """The full path's answer, once the executed lane's data is found equal to it."""
        assert self.executed is not None
        receive, send = channel
        query, operation_name, variables = operation
        asked = self.executed.asked(
            query=query, operation_name=operation_name, variables=variables, viewer=viewer
        )
        built = None if asked is None else await self.executed.build(asked, state.cache)
        if built is None:
            await self.app(scope, _replaying(body, False, receive), send)
            return
        messages: list[Message] = []

        async def capture(message: Message) -> None:
            messages.append(message)

        await self.app(scope, _replaying(body, False, receive), capture)
        if _differs(messages, built.data):
            log.error(
                "the executed lane differs from the full path",
                extra={"lane": built.data, "full_path": _body(messages)[:2000].decode()},
            )
            await _refuse(send)
            return
        for message in messages:
            await send(message)
        if messages and messages[0].get("status") == 200:
            state.metrics.execution_paths.labels(path="lane").inc()


def _body(messages: list[Message]) -> bytes:
    return b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")


def _differs(messages: list[Message], data: dict[str, Any]) -> bool:
    """Whether the full path answered the query with other data (its refusals, errors and
    throttling are its own: nothing to compare)."""
    if not messages or messages[0].get("status") != 200:
        return False
    try:
        answered = orjson.loads(_body(messages))
    except orjson.JSONDecodeError:
        return True
    if not isinstance(answered, dict) or answered.get("errors"):
        return False
    return orjson.dumps(answered.get("data")) != orjson.dumps(data)


async def _refuse(send: Send) -> None:
    body = orjson.dumps(
        {
            "errors": [
                {
                    "message": "Internal server error.",
                    "extensions": {"code": "INTERNAL_SERVER_ERROR"},
                }
            ]
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _headers(scope: Scope) -> dict[bytes, bytes] | None:
    """The headers the fast lane reads; None when the request is not for it."""
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in _WANTED:
            found[name] = value
        elif name in _DECLINING:
            return None
    if b"authorization" not in found:
        return None
    content_type = found.get(b"content-type", b"application/json")
    if content_type.split(b";")[0].strip().lower() != b"application/json":
        return None
    return found


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The body, or its first chunks up to FAST_BODY_LIMIT and whether more is to come."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # a disconnect: the app sees it next
            return b"".join(chunks), True
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False
        if size > FAST_BODY_LIMIT:
            return b"".join(chunks), True


def _replaying(body: bytes, more_body: bool, receive: Receive) -> Receive:
    """`receive` with what was already read handed back first."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": more_body}]

    async def replayed() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replayed


def _operation(body: bytes) -> tuple[str, str | None, dict[str, Any] | None] | None:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(payload, dict) or "extensions" in payload:
        return None
    query, name, variables = (
        payload.get("query"),
        payload.get("operationName"),
        payload.get("variables"),
    )
    if not isinstance(query, str) or not (name is None or isinstance(name, str)):
        return None
    if not (variables is None or isinstance(variables, dict)):
        return None
    return query, name, variables


def _observe(
    metrics: TaskqlMetrics, answer: FastAnswer, *, path: str | None, started: float
) -> None:
    if path is None:
        metrics.fast_lane_answers.inc()
    else:
        metrics.execution_paths.labels(path=path).inc()
    metrics.observe_cost(requested=answer.requested, actual=answer.actual)
    metrics.observe_operation(
        operation_type="query", outcome="ok", seconds=time.perf_counter() - started
    )
