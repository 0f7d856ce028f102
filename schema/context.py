"""The typed context every resolver receives: who is asking, and what this request may use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import strawberry
from beanie import PydanticObjectId
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection

from auth.throttle import LocalCounters
from cost.budget import Budget, Charge
from events.bus import EventBus
from loaders import Loaders
from loaders.cache import ObjectCache
from observability.metrics import TaskqlMetrics
from schema.errors import unauthenticated
from settings import Settings
from storage.redis_guard import RedisGuard
from storage.transactions import Transactions


@dataclass
class Context:
    request: HTTPConnection
    # Headers for the HTTP response (shared by the operations of a batch); None on websockets.
    response_headers: MutableHeaders | None
    settings: Settings
    # The Redis client behind its guard (one breaker per node, shared by every subsystem).
    redis: RedisGuard
    cache: ObjectCache
    loaders: Loaders
    viewer_id: PydanticObjectId | None
    auth_error: str | None
    client_address: str
    request_id: str
    # Failed-login counters of this process, used while Redis is unreachable.
    login_fallback: LocalCounters
    # The query-cost budgets (shared in Redis, or this process's while Redis is away).
    budget: Budget
    metrics: TaskqlMetrics
    # Task events: publishing after writes, and this instance's subscribers.
    events: EventBus
    # MongoDB transactions (a task write with its event).
    transactions: Transactions
    # query, mutation or subscription once the document parsed (for metrics and logs).
    operation_type: str = "unknown"
    # The signed-in user's query-cost tier, from the access token.
    viewer_tier: str | None = None
    # Set by the QueryCost extension before execution, read by `rateLimit`.
    charge: Charge | None = None
    # Requested and actual cost once priced, for the operation's log line.
    cost_report: tuple[int, int] | None = None
    # What the response cache keeps this operation's response under, when it keeps it.
    response_digest: str | None = None
    # Websockets only: the `connection_init` payload, and how to close the connection
    # (with a close code) when its token expires or a subscriber falls too far behind.
    connection_params: dict[str, object] | None = None
    close_connection: Callable[[int], None] | None = None

    def require_viewer(self) -> PydanticObjectId:
        """The signed-in user's id, or UNAUTHENTICATED."""
        if self.viewer_id is None:
            raise unauthenticated(self.auth_error) if self.auth_error else unauthenticated()
        return self.viewer_id


Info = strawberry.Info[Context, None]
