"""The GraphQL endpoint: Strawberry's ASGI view with our typed, per-request context."""

from __future__ import annotations

import uuid
from typing import Any

from beanie import PydanticObjectId
from bson.errors import InvalidId
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from auth.tokens import InvalidAccessToken, bearer_token, verify_access_token
from loaders import create_loaders
from schema.client_address import client_address
from schema.context import Context
from settings import Settings


def authenticate(
    authorization: str | None, *, settings: Settings
) -> tuple[PydanticObjectId | None, str | None]:
    """The viewer's id from an Authorization header, or why there is none."""
    token = bearer_token(authorization)
    if token is None:
        return None, None
    try:
        claims = verify_access_token(token, keys=settings.jwt_secret)
        return PydanticObjectId(claims.user_id), None
    except (InvalidAccessToken, InvalidId) as error:
        return None, str(error)


class TaskqlGraphQL(GraphQL[Context, None]):
    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        state: Any = request.app.state.taskql
        settings: Settings = state.settings
        viewer_id, auth_error = authenticate(
            request.headers.get("authorization"), settings=settings
        )
        return Context(
            request=request,
            response=response,
            settings=settings,
            redis=state.redis,
            loaders=create_loaders(),
            viewer_id=viewer_id,
            auth_error=auth_error,
            client_address=client_address(request, trusted_proxies=settings.trusted_proxies),
            request_id=request.headers.get("x-request-id") or uuid.uuid4().hex,
            login_fallback=state.login_fallback,
        )
