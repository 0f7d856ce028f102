"""Building the typed per-operation context: who is asking, from where, with fresh loaders."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId
from bson.errors import InvalidId
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection

from auth.tokens import InvalidAccessToken, bearer_token
from auth.verified_tokens import VerifiedTokens
from loaders import create_loaders
from schema.client_address import client_address
from schema.context import Context
from settings import Settings

# One per process: the signing keys are the settings', fixed for its life.
_verified = VerifiedTokens()


@dataclass(frozen=True)
class Viewer:
    """Who an Authorization header signs in: an id and cost tier, or why nobody."""

    id: PydanticObjectId | None = None
    tier: str | None = None
    error: str | None = None
    expires_at: datetime | None = None


def authenticate(authorization: str | None, *, settings: Settings) -> Viewer:
    token = bearer_token(authorization)
    if token is None:
        return Viewer()
    try:
        claims = _verified.claims(token, keys=settings.jwt_secret)
        return Viewer(
            id=PydanticObjectId(claims.user_id), tier=claims.tier, expires_at=claims.expires_at
        )
    except (InvalidAccessToken, InvalidId) as error:
        return Viewer(error=str(error))


def request_id_of(connection: HTTPConnection) -> str:
    return request_id_from(connection.headers.get("x-request-id", ""))


def request_id_from(sent: str) -> str:
    """The caller's X-Request-ID when it sent a sane one, else a new id."""
    if 0 < len(sent) <= 128 and sent.isprintable():
        return sent
    return uuid.uuid4().hex


def create_context(
    connection: HTTPConnection,
    *,
    authorization: str | None,
    request_id: str,
    response_headers: MutableHeaders | None,
) -> Context:
    """A context for one operation; loaders are new each time, so no operation sees another's."""
    state: Any = connection.app.state.taskql
    settings: Settings = state.settings
    viewer = authenticate(authorization, settings=settings)
    return Context(
        request=connection,
        response_headers=response_headers,
        settings=settings,
        redis=state.redis_guard,
        cache=state.cache,
        loaders=create_loaders(state.cache),
        viewer_id=viewer.id,
        viewer_tier=viewer.tier,
        auth_error=viewer.error,
        client_address=client_address(connection, trusted_proxies=settings.trusted_proxies),
        request_id=request_id,
        login_fallback=state.login_fallback,
        budget=state.budget,
        metrics=state.metrics,
        events=state.events,
        transactions=state.transactions,
    )
