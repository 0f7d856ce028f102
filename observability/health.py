"""Readiness: each dependency's state, and whether this instance should take traffic."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Literal

DependencyState = Literal["ok", "degraded", "down"]


@dataclass(frozen=True)
class Readiness:
    mongodb: DependencyState
    redis: DependencyState

    @property
    def status(self) -> DependencyState:
        if self.mongodb == "down":
            return "down"
        if self.redis != "ok":
            return "degraded"
        return "ok"

    @property
    def http_status(self) -> int:
        # Only MongoDB takes an instance out of the load balancer: a shared Redis failing
        # must not empty the whole pool.
        return 503 if self.mongodb == "down" else 200

    def as_json(self) -> dict[str, object]:
        return {
            "status": self.status,
            "dependencies": {"mongodb": self.mongodb, "redis": self.redis},
        }


async def check_readiness(
    *, mongodb: Awaitable[bool], redis: Awaitable[DependencyState]
) -> Readiness:
    """`redis` is the Redis guard's view: degraded while some node is skipped."""
    mongo_ok, redis_state = await asyncio.gather(mongodb, redis)
    return Readiness(mongodb="ok" if mongo_ok else "down", redis=redis_state)
