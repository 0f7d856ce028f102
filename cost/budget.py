"""Each caller's query-cost budget: one GCRA bucket per caller in Redis (one key with a hash
tag, so Redis Cluster works, and a TTL), or, while Redis cannot be reached, a bucket held by
this process, so requests keep being served and limited."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis
from redis.exceptions import RedisError

from cost.gcra import SCRIPT, BucketState, Mode, decide, state_from_reply
from cost.tiers import Caller, Tier
from storage.breaker import CircuitBreaker

log = logging.getLogger("taskql.cost")

KEY_PREFIX = "tq:cost:"
_REDIS_FAILURES = (RedisError, OSError, TimeoutError)
_LOCAL_PRUNE_SIZE = 10_000


@dataclass(frozen=True)
class Charge:
    """What one operation was charged, and the bucket right after."""

    tier: Tier
    requested: int
    state: BucketState
    at: datetime  # when the state was read


def bucket_key(caller: Caller) -> str:
    return f"{KEY_PREFIX}{{{caller.key}}}"


class LocalBuckets:
    """The per-process stand-in while Redis is unreachable. It belongs to the app: buckets
    must outlive requests."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._tats: dict[str, float] = {}

    def apply(self, caller: Caller, *, mode: Mode, points: float) -> BucketState:
        now = self.clock()
        if len(self._tats) >= _LOCAL_PRUNE_SIZE:
            self._tats = {key: tat for key, tat in self._tats.items() if tat > now}
        state, tat = decide(
            self._tats.get(caller.key, now),
            now=now,
            mode=mode,
            points=points,
            capacity=caller.tier.capacity,
            rate=caller.tier.restore_rate,
        )
        if mode is not Mode.PEEK:
            self._tats[caller.key] = tat
        return state


class Budget:
    def __init__(
        self,
        redis: Redis | None,
        *,
        local: LocalBuckets,
        breaker: CircuitBreaker | None = None,
        on_local: Callable[[], None] = lambda: None,
    ) -> None:
        self.redis = redis
        self.local = local
        self.breaker = breaker or CircuitBreaker()
        # Called for each decision the local bucket makes (a metric).
        self.on_local = on_local
        self._script = redis.register_script(SCRIPT) if redis is not None else None

    @property
    def degraded(self) -> bool:
        return self.breaker.is_open

    async def charge(self, caller: Caller, points: float) -> BucketState:
        """Takes `points` if the bucket holds them, else refuses and takes nothing."""
        return await self._apply(caller, Mode.CHARGE, points)

    async def refund(self, caller: Caller, points: float) -> BucketState:
        return await self._apply(caller, Mode.REFUND, points)

    async def peek(self, caller: Caller) -> BucketState:
        return await self._apply(caller, Mode.PEEK, 0)

    async def _apply(self, caller: Caller, mode: Mode, points: float) -> BucketState:
        script = self._script
        if script is not None and self.breaker.allows():
            try:
                reply = await script(
                    keys=[bucket_key(caller)],
                    args=[mode.value, points, caller.tier.capacity, caller.tier.restore_rate],
                )
            except _REDIS_FAILURES as error:
                if not self.breaker.saw_outage:
                    log.warning(
                        "Redis unreachable: query-cost budgets are per process until it "
                        "returns (%s)",
                        error,
                    )
                self.breaker.failed()
            else:
                if self.breaker.succeeded():
                    log.info("Redis is back: query-cost budgets are shared again")
                return state_from_reply(reply)
        self.on_local()
        return self.local.apply(caller, mode=mode, points=points)
