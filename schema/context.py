"""The typed context every resolver receives: who is asking, and what this request may use."""

from __future__ import annotations

from dataclasses import dataclass

import strawberry
from beanie import PydanticObjectId
from redis.asyncio import Redis
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection

from auth.throttle import LocalCounters
from loaders import Loaders
from loaders.cache import ObjectCache
from schema.errors import unauthenticated
from settings import Settings


@dataclass
class Context:
    request: HTTPConnection
    # Headers for the HTTP response (shared by the operations of a batch); None on websockets.
    response_headers: MutableHeaders | None
    settings: Settings
    redis: Redis
    cache: ObjectCache
    loaders: Loaders
    viewer_id: PydanticObjectId | None
    auth_error: str | None
    client_address: str
    request_id: str
    # Failed-login counters of this process, used while Redis is unreachable.
    login_fallback: LocalCounters
    # query, mutation or subscription once the document parsed (for metrics and logs).
    operation_type: str = "unknown"

    def require_viewer(self) -> PydanticObjectId:
        """The signed-in user's id, or UNAUTHENTICATED."""
        if self.viewer_id is None:
            raise unauthenticated(self.auth_error) if self.auth_error else unauthenticated()
        return self.viewer_id


Info = strawberry.Info[Context, None]
