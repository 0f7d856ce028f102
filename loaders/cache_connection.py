"""Whether and how the object cache talks to Redis: the circuit breaker, the cluster-wide
epoch, and the writes whose invalidation had to wait for Redis to come back."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from loaders import cache_scripts
from loaders.cache_keys import EPOCH_KEY, CacheKeys
from loaders.cache_metrics import CacheMetrics
from storage.breaker import CircuitBreaker

log = logging.getLogger("taskql.cache")

T = TypeVar("T")

_REDIS_FAILURES = (RedisError, OSError, TimeoutError)


async def retire_every_entry(redis: Redis) -> int:
    """Bump the cluster-wide epoch: every instance stops reading older entries within its
    epoch refresh (2 s). For writes that bypass the API, such as `seed`."""
    return int(await redis.incr(EPOCH_KEY))


class CacheConnection:
    def __init__(
        self,
        redis: Redis | None,
        *,
        metrics: CacheMetrics,
        breaker: CircuitBreaker | None = None,
        epoch_refresh_seconds: float = 2.0,
    ) -> None:
        self.redis = redis
        self.metrics = metrics
        self.breaker = breaker or CircuitBreaker()
        self.epoch_refresh_seconds = epoch_refresh_seconds
        self._keys = CacheKeys(0)
        self._epoch_read_at: float | None = None
        self._delayed_invalidations = 0
        if redis is not None:
            # Scripts run on whichever client a call passes (a pipeline, usually).
            self.read = redis.register_script(cache_scripts.READ)
            self.write = redis.register_script(cache_scripts.WRITE)
            self.fill = redis.register_script(cache_scripts.FILL)

    @property
    def enabled(self) -> bool:
        return self.redis is not None

    @property
    def degraded(self) -> bool:
        return self.redis is not None and self.breaker.is_open

    def invalidation_delayed(self) -> None:
        """A write could not reach Redis: the epoch bump on its return will retire its entries."""
        if self.redis is not None:
            self._delayed_invalidations += 1

    async def call(self, operation: Callable[[Redis, CacheKeys], Awaitable[T]]) -> T | None:
        """Runs `operation` unless caching is off or the breaker is open; None when skipped
        or failed (the caller falls back to MongoDB)."""
        redis = self.redis
        if redis is None or not self.breaker.allows():
            return None
        try:
            if self.breaker.saw_outage:
                await self._retire_everything(redis)
            elif self._epoch_due():
                await self._read_epoch(redis)
            result = await operation(redis, self._keys)
        except _REDIS_FAILURES as error:
            if not self.breaker.saw_outage:
                log.warning("cache bypassed: Redis failed (%s)", error)
            self.breaker.failed()
            return None
        self.breaker.succeeded()
        return result

    async def _retire_everything(self, redis: Redis) -> None:
        epoch = await retire_every_entry(redis)
        self._use_epoch(epoch)
        delayed, self._delayed_invalidations = self._delayed_invalidations, 0
        self.metrics.invalidations_delayed.inc(delayed)
        log.warning(
            "Redis is back: cache epoch %d retires every older entry (%d writes had to wait)",
            epoch,
            delayed,
        )

    def _epoch_due(self) -> bool:
        read_at = self._epoch_read_at
        return read_at is None or time.monotonic() - read_at >= self.epoch_refresh_seconds

    async def _read_epoch(self, redis: Redis) -> None:
        raw = await redis.get(EPOCH_KEY)
        self._use_epoch(int(raw) if raw is not None else 0)

    def _use_epoch(self, epoch: int) -> None:
        self._keys = CacheKeys(epoch)
        self._epoch_read_at = time.monotonic()
