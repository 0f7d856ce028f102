"""Executing the schema in-process with a real context: Beanie on a fresh database, real Redis."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from beanie import PydanticObjectId
from redis.asyncio import Redis
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from strawberry import Schema
from strawberry.types import ExecutionResult

from auth.throttle import LocalCounters
from cost.budget import Budget, LocalBuckets
from events.bus import EventBus
from loaders import create_loaders
from loaders.cache import ObjectCache
from models import bound_client
from observability.metrics import TaskqlMetrics
from schema.context import Context
from schema.root import create_schema
from settings import Settings
from storage.redis import create_redis_client
from storage.redis_guard import RedisGuard
from storage.transactions import Transactions

UNLIMITED = 1e12
UNLIMITED_ANONYMOUS = {
    "anonymous": {"capacity": UNLIMITED, "restore_rate": UNLIMITED, "max_query": UNLIMITED}
}


@dataclass
class Executed:
    result: ExecutionResult
    context: Context

    @property
    def data(self) -> Any:
        return self.result.data

    @property
    def codes(self) -> list[str | None]:
        return [(error.extensions or {}).get("code") for error in self.result.errors or []]


class SchemaClient:
    def __init__(self, *, schema: Schema, settings: Settings, redis: Redis) -> None:
        self.schema = schema
        self.settings = settings
        self.redis = redis
        self.guard = RedisGuard(redis)  # shared by every subsystem, as in the server
        self.login_fallback = LocalCounters()
        self.metrics = TaskqlMetrics()
        self.cache = ObjectCache(redis, metrics=self.metrics, guard=self.guard)
        self.budget = Budget(redis, local=LocalBuckets(), guard=self.guard)
        self.events = EventBus(redis, metrics=self.metrics, guard=self.guard)
        self.transactions = Transactions(bound_client())

    @classmethod
    def open(
        cls,
        *,
        mongodb_url: str,
        database: str,
        redis_url: str,
        cost_tiers: dict[str, dict[str, float]] | None = None,
    ) -> SchemaClient:
        """For a database whose Beanie documents are already bound (the `models_db` fixture).

        Every test's anonymous operations come from one address, so by default the anonymous
        tier is unlimited here; the query-cost tests pass the tiers they exercise."""
        settings = Settings(
            mongodb_url=mongodb_url,
            redis_url=redis_url,
            mongodb_db=database,
            jwt_secret=secrets.token_urlsafe(48),
            TASKQL_COST_TIERS=UNLIMITED_ANONYMOUS if cost_tiers is None else cost_tiers,
        )
        return cls(
            schema=create_schema(settings), settings=settings, redis=create_redis_client(redis_url)
        )

    def context(
        self,
        *,
        viewer_id: PydanticObjectId | None = None,
        viewer_tier: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Context:
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/graphql",
            "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
            "client": ("127.0.0.1", 50000),
        }
        return Context(
            request=Request(scope),
            response_headers=MutableHeaders(),
            settings=self.settings,
            redis=self.guard,
            cache=self.cache,
            loaders=create_loaders(self.cache),
            viewer_id=viewer_id,
            viewer_tier=viewer_tier,
            auth_error=None,
            client_address="127.0.0.1",
            request_id=uuid.uuid4().hex,
            login_fallback=self.login_fallback,
            budget=self.budget,
            metrics=self.metrics,
            events=self.events,
            transactions=self.transactions,
        )

    async def execute(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        viewer_id: PydanticObjectId | None = None,
        viewer_tier: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Executed:
        context = self.context(viewer_id=viewer_id, viewer_tier=viewer_tier, headers=headers)
        result = await self.schema.execute(query, variable_values=variables, context_value=context)
        return Executed(result=result, context=context)

    async def close(self) -> None:
        await self.guard.close()
        await self.redis.aclose()
