"""The outermost middleware (inside Starlette's error handling): a `POST /graphql` that the
fast lane (transport/fast_lane.py) can answer is answered here, before CORS, routing and the
GraphQL context; every other request, and every fast-lane miss with its body handed back,
goes on unchanged.

Only plain requests come this way: one operation in a JSON object with a `query` text (no
`extensions`, so no persisted-query hash), a bearer token, no `Origin` (CORS stays with its
middleware), no `GraphQL-Cost` header, a body under FAST_BODY_LIMIT. The answer is the one
the full path gives a response-cache hit: same body, status, headers, metrics and log line.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from observability.metrics import TaskqlMetrics
from settings import Settings
from transport.context import authenticate, request_id_from
from transport.fast_lane import FastAnswer, FastLane
from transport.http import log_operation
from transport.media import response_media_type

FAST_BODY_LIMIT = 64 * 1024
_WANTED = {b"authorization", b"accept", b"content-type", b"x-request-id"}
_DECLINING = {b"origin", b"graphql-cost"}


class FastFront:
    def __init__(self, app: ASGIApp, *, lane: FastLane) -> None:
        self.app = app
        self.lane = lane

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
        if not more_body and await self._answered(scope, headers, body, send, started=started):
            return
        await self.app(scope, _replaying(body, more_body, receive), send)

    async def _answered(
        self, scope: Scope, headers: dict[bytes, bytes], body: bytes, send: Send, *, started: float
    ) -> bool:
        operation = _operation(body)
        if operation is None:
            return False
        query, operation_name, variables = operation
        state: Any = scope["app"].state.taskql
        settings: Settings = state.settings
        viewer = authenticate(headers[b"authorization"].decode("latin-1"), settings=settings)
        answer = await self.lane.answer(
            query=query,
            operation_name=operation_name,
            variables=variables,
            viewer=viewer,
            cache=state.cache,
        )
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
        _observe(state.metrics, answer, started=started)
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


def _observe(metrics: TaskqlMetrics, answer: FastAnswer, *, started: float) -> None:
    metrics.fast_lane_answers.inc()
    metrics.observe_cost(requested=answer.requested, actual=answer.actual)
    metrics.observe_operation(
        operation_type="query", outcome="ok", seconds=time.perf_counter() - started
    )
