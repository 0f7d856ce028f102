"""GraphQL over websockets: `graphql-transport-ws` only, through Strawberry's protocol handler.

The access token comes in the `connection_init` payload (`{"Authorization": "Bearer ..."}`,
the key in any case); without a valid one the socket closes with 4403 before anything runs,
and when the token expires the server closes the socket with 4403, so the client reconnects
with a fresh token (resuming its subscriptions from their cursors).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UNSET, UnsetType

from schema.context import Context
from transport.context import authenticate, create_context, request_id_of

log = logging.getLogger("taskql.websocket")

# A client that opens a socket must say who it is within this time.
CONNECTION_INIT_TIMEOUT = timedelta(seconds=10)
# Operations one socket may run at once (a user's subscriptions are capped across sockets too).
MAX_OPERATIONS_PER_CONNECTION = 20
# The close code for a token that is missing, invalid or expired.
FORBIDDEN = 4403

# Where a connection keeps its closer and its context, in the ASGI scope.
_CLOSER_KEY = "taskql.closer"
_CONTEXT_KEY = "taskql.context"


class GraphQLOverWebSocket(GraphQL[Context, None]):
    """Strawberry's view, mounted only on the websocket route; HTTP goes to transport.http."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("connection_init_wait_timeout", CONNECTION_INIT_TIMEOUT)
        kwargs.setdefault("max_subscriptions_per_connection", MAX_OPERATIONS_PER_CONNECTION)
        super().__init__(*args, **kwargs)

    def encode_json(self, data: object) -> str:
        # Text frames, as graphql-transport-ws wants; orjson, as every event goes through here.
        return orjson.dumps(data).decode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        opened = time.perf_counter()
        try:
            await super().__call__(scope, receive, send)
        finally:
            closer = scope.get(_CLOSER_KEY)
            if isinstance(closer, _ConnectionCloser):
                closer.cancel()
            _log_connection(scope.get(_CONTEXT_KEY), opened=opened)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        # Who is asking is only known at `connection_init`: nothing is taken from the
        # handshake's headers.
        context = create_context(
            request, authorization=None, request_id=request_id_of(request), response_headers=None
        )
        if isinstance(request, WebSocket):
            closer = _ConnectionCloser(request)
            context.close_connection = closer.close
            request.scope[_CLOSER_KEY] = closer
            request.scope[_CONTEXT_KEY] = context
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        params = context.connection_params or {}
        authorization = next(
            (
                value
                for key, value in params.items()
                if key.lower() == "authorization" and isinstance(value, str)
            ),
            None,
        )
        viewer = authenticate(authorization, settings=context.settings)
        if viewer.id is None or viewer.expires_at is None:
            raise ConnectionRejectionError
        context.viewer_id = viewer.id
        context.viewer_tier = viewer.tier
        closer = context.request.scope.get(_CLOSER_KEY)
        if isinstance(closer, _ConnectionCloser):
            closer.close_at(viewer.expires_at, code=FORBIDDEN)
        acknowledged: UnsetType = UNSET
        return acknowledged


def _log_connection(context: object, *, opened: float) -> None:
    """One line per websocket, when it ends (its operations are counted in the metrics)."""
    if not isinstance(context, Context):
        return
    log.info(
        "websocket closed",
        extra={
            "request_id": context.request_id,
            "user_id": str(context.viewer_id) if context.viewer_id is not None else None,
            "duration_ms": round((time.perf_counter() - opened) * 1000, 3),
        },
    )


class _ConnectionCloser:
    """Closes one websocket from outside its handler: at a deadline, or on demand."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.timer: asyncio.TimerHandle | None = None
        self.closing: asyncio.Task[None] | None = None

    def close(self, code: int) -> None:
        if self.closing is None:
            self.closing = asyncio.ensure_future(self._close(code))

    def close_at(self, deadline: datetime, *, code: int) -> None:
        delay = max((deadline - datetime.now(UTC)).total_seconds(), 0)
        self.timer = asyncio.get_running_loop().call_later(delay, self.close, code)

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()

    async def _close(self, code: int) -> None:
        self.cancel()
        with contextlib.suppress(Exception):  # already closed by the client: nothing to do
            await self.websocket.close(code=code)
