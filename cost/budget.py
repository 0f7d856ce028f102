"""Each caller's query-cost budget: one GCRA bucket per caller in Redis (one key with a hash
tag, so Redis Cluster works, and a TTL), or, while Redis cannot be reached, a bucket held by
this process, so requests keep being served and limited."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cost.gcra import SCRIPT, BucketState, Mode, decide, state_from_reply
from cost.tiers import Caller, Tier
from storage.redis import RedisClient
from storage.redis_guard import UNAVAILABLE, RedisGuard
from storage.redis_multiplexer import MultiplexedRedis
from storage.redis_scripts import LuaScript

log = logging.getLogger("taskql.cost")

KEY_PREFIX = "tq:cost:"
GCRA_SCRIPT = LuaScript(SCRIPT)
_LOCAL_PRUNE_SIZE = 10_000


@dataclass(frozen=True)
class Charge:
    """What one operation was charged, and the bucket right after."""

    tier: Tier
    requested: int
    state: BucketState
    at: datetime  # when the state was read


def bucket_key(caller: Caller) -> str:
    """`tq:cost:user:{<id>}`: a user's bucket shares its Redis Cluster slot with the user's
    cache entries (hash tag `{<id>}`), so one script can read a cached response and charge."""
    kind, _, name = caller.key.partition(":")
    return f"{KEY_PREFIX}{kind}:{{{name}}}"


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
        redis: RedisClient | None,
        *,
        local: LocalBuckets,
        guard: RedisGuard | None = None,
        multiplexed: MultiplexedRedis | None = None,
        on_local: Callable[[], None] = lambda: None,
    ) -> None:
        self.redis = redis
        self.local = local
        self.guard = guard if guard is not None else RedisGuard(redis) if redis else None
        # Called for each decision the local bucket makes (a metric).
        self.on_local = on_local
        self._script = redis.register_script(SCRIPT) if redis is not None else None
        # On a single Redis, the process's shared connection (storage/redis_multiplexer.py)
        # first; the guarded client where it is not there, or did not answer.
        self.multiplexed = multiplexed
        self._shared = True

    @property
    def degraded(self) -> bool:
        return self.guard is not None and self.guard.degraded

    async def charge(self, caller: Caller, points: float) -> BucketState:
        """Takes `points` if the bucket holds them, else refuses and takes nothing."""
        return await self._apply(caller, Mode.CHARGE, points)

    async def refund(self, caller: Caller, points: float) -> BucketState:
        return await self._apply(caller, Mode.REFUND, points)

    async def peek(self, caller: Caller) -> BucketState:
        return await self._apply(caller, Mode.PEEK, 0)

    async def settle(self, caller: Caller, *, requested: float, actual: float) -> BucketState:
        """An operation already run, in one decision: refused unless `requested` fits, else
        `actual` taken, where a charge of `requested` and a refund of the rest leave it."""
        return await self._apply(caller, Mode.CHARGE, actual, fits=requested)

    async def _apply(
        self, caller: Caller, mode: Mode, points: float, *, fits: float | None = None
    ) -> BucketState:
        script, guard = self._script, self.guard
        if script is not None and guard is not None:
            key = bucket_key(caller)
            args = [mode.value, points, caller.tier.capacity, caller.tier.restore_rate]
            if fits is not None:
                args.append(fits)
            reply: Any = await self._multiplexed_reply(guard, key, args)
            if reply is None:
                reply = await guard.run([key], lambda: script(keys=[key], args=args))
            if reply is not UNAVAILABLE:
                if not self._shared:
                    self._shared = True
                    log.info("Redis is back: query-cost budgets are shared again")
                return state_from_reply(reply)
            if self._shared:
                self._shared = False
                log.warning(
                    "Redis unreachable: query-cost budgets are per process until it returns"
                )
        self.on_local()
        if fits is None:
            return self.local.apply(caller, mode=mode, points=points)
        state = self.local.apply(caller, mode=mode, points=fits)
        if state.allowed and fits > points:
            state = self.local.apply(caller, mode=Mode.REFUND, points=fits - points)
        return state

    async def _multiplexed_reply(self, guard: RedisGuard, key: str, args: list[Any]) -> Any | None:
        """The script's reply on the shared connection; None: ask the guarded client. A reply
        lost to the deadline after Redis ran the script is then applied twice (charged or
        refunded twice), only when Redis answers slower than the deadline."""
        multiplexed = self.multiplexed
        if multiplexed is None or not guard.allows(key):
            return None
        return await multiplexed.evalsha_or_none(GCRA_SCRIPT, [key], args)
