"""GraphQL over websockets (graphql-transport-ws only), through Strawberry's protocol handler."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from schema.context import Context
from transport.context import create_context, request_id_of


class GraphQLOverWebSocket(GraphQL[Context, None]):
    """Strawberry's view, mounted only on the websocket route; HTTP goes to transport.http."""

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        return create_context(
            request,
            authorization=request.headers.get("authorization"),
            request_id=request_id_of(request),
            response_headers=None,
        )
