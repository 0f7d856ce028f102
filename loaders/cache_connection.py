"""Whether and how the object cache talks to Redis: the shared guard, the cluster-wide epoch,
and the invalidations Redis has not confirmed (delayed by an outage, or not yet on a replica).

After an outage of any node, before that node is used again (the guard's recovery hook), this
process bumps the epoch (retiring every older entry, for every instance within a second) and
replays its own unconfirmed invalidations (a new generation for each owner, its changed tasks
deleted), so that an instance that never saw the outage does not read them either.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from beanie import PydanticObjectId

from loaders import cache_scripts
from loaders.cache_keys import EPOCH_KEY, GENERATION_TTL_SECONDS, CacheKeys
from loaders.cache_metrics import CacheMetrics
from storage.redis import RedisClient
from storage.redis_guard import UNAVAILABLE, RedisGuard
from storage.redis_scripts import load_scripts, run_pipeline

log = logging.getLogger("taskql.cache")

T = TypeVar("T")
Owner = PydanticObjectId

# A replica must confirm a write's invalidation within this (WAIT): a master that dies right
# after acknowledging it must not leave the promoted replica serving the entries it retired.
# Well under the command deadline: a WAIT that runs out is an answer, not a hung node.
REPLICA_WAIT_MS = 10
# Owners whose invalidation is owed, beyond which the epoch bump alone covers them.
MAX_PENDING_OWNERS = 10_000


async def retire_every_entry(redis: RedisClient) -> int:
    """Bump the cluster-wide epoch: every instance stops reading older entries within its
    epoch refresh (1 s). For writes that bypass the API, such as `seed`."""
    return int(await redis.incr(EPOCH_KEY))


def new_generation() -> bytes:
    return os.urandom(8).hex().encode()


class CacheConnection:
    def __init__(
        self,
        redis: RedisClient | None,
        *,
        metrics: CacheMetrics,
        guard: RedisGuard | None = None,
        epoch_refresh_seconds: float = 1.0,
        replica_wait_ms: int = REPLICA_WAIT_MS,
    ) -> None:
        self.redis = redis
        self.metrics = metrics
        self.guard = guard if guard is not None else RedisGuard(redis) if redis else None
        self.epoch_refresh_seconds = epoch_refresh_seconds
        self.replica_wait_ms = replica_wait_ms
        self._keys: CacheKeys | None = None  # unknown epoch: nothing is read or written
        self._epoch_read_at = 0.0
        self._pending: dict[Owner, set[PydanticObjectId]] = {}
        self._pending_overflow = False
        if self.guard is not None:
            self.guard.add_recovery_hook(self._recover)

    @property
    def enabled(self) -> bool:
        return self.redis is not None

    @property
    def degraded(self) -> bool:
        return self.guard is not None and self.guard.degraded

    def owe_invalidation(self, owner_id: Owner, task_id: PydanticObjectId | None) -> None:
        """Redis did not confirm a write's invalidation: replayed when the node recovers."""
        if self.redis is None:
            return
        self.metrics.invalidations_delayed.inc()
        if len(self._pending) >= MAX_PENDING_OWNERS and owner_id not in self._pending:
            self._pending_overflow = True  # the epoch bump on recovery still covers it
            return
        tasks = self._pending.setdefault(owner_id, set())
        if task_id is not None:
            tasks.add(task_id)

    async def call(
        self,
        routes: Sequence[str],
        operation: Callable[[RedisClient, CacheKeys], Awaitable[T]],
        *,
        invalidation: bool = False,
    ) -> T | None:
        """Runs `operation` unless caching is off or a node of `routes` (keys naming the
        hash tags touched) is down; None when skipped or failed (the caller uses MongoDB).
        An invalidation also goes to a slot's new master before the recovery hooks ran."""
        redis, guard = self.redis, self.guard
        if redis is None or guard is None:
            return None
        keys = await self._current_keys(redis, guard)
        if keys is None:
            return None
        result = await guard.run(routes, lambda: operation(redis, keys), fenced=not invalidation)
        return None if result is UNAVAILABLE else result

    async def keys_if_allowed(self, routes: Sequence[str]) -> CacheKeys | None:
        """The current key names, for a caller with its own connection to a node of `routes`
        that the guard allows now; None when caching is off, the node down or the epoch unknown."""
        redis, guard = self.redis, self.guard
        if redis is None or guard is None or not guard.allows(*routes):
            return None
        return await self._current_keys(redis, guard)

    async def pipeline(self, redis: RedisClient, build: Callable[[Any], None]) -> list[Any]:
        return await run_pipeline(redis, build, scripts=cache_scripts.ALL)

    def confirm_replicated(self, pipe: Any, route: str) -> bool:
        """Queues a WAIT for one replica on the node of `route`; False: no replica to wait for."""
        guard = self.guard
        cluster = guard.cluster if guard is not None else None
        if cluster is None:
            return False
        serving = cluster.nodes_manager.slots_cache.get(cluster.keyslot(route)) or []
        if len(serving) < 2:  # a master without a replica (one just promoted, say)
            return False
        pipe.execute_command("WAIT", 1, self.replica_wait_ms, target_nodes=serving[0])
        return True

    async def _current_keys(self, redis: RedisClient, guard: RedisGuard) -> CacheKeys | None:
        keys = self._keys
        if keys is not None and time.monotonic() - self._epoch_read_at < self.epoch_refresh_seconds:
            return keys
        raw = await guard.run([EPOCH_KEY], lambda: redis.get(EPOCH_KEY))
        if raw is UNAVAILABLE:
            # The epoch's node is away: nobody can bump it meanwhile, so the last one read
            # still holds (and with none read yet, nothing is cached).
            return keys
        self._use_epoch(0 if raw is None else int(raw))
        return self._keys

    def _use_epoch(self, epoch: int) -> None:
        self._keys = CacheKeys(epoch)
        self._epoch_read_at = time.monotonic()

    async def _recover(self) -> None:
        """The guard's recovery hook: raising keeps the recovering node out for now."""
        redis = self.redis
        if redis is None:
            return
        await load_scripts(redis, cache_scripts.ALL)  # a promoted replica may lack them
        epoch = await retire_every_entry(redis)
        pending, self._pending = self._pending, {}
        try:
            for owner, tasks in pending.items():
                await self._replay(redis, owner, tasks)
        except BaseException:
            for owner, tasks in pending.items():
                self._pending.setdefault(owner, set()).update(tasks)
            raise
        self._use_epoch(epoch)
        log.warning(
            "Redis is back: cache epoch %d retires every older entry (%d owners' "
            "invalidations replayed%s)",
            epoch,
            len(pending),
            ", more were owed" if self._pending_overflow else "",
        )
        self._pending_overflow = False

    async def _replay(self, redis: RedisClient, owner: Owner, tasks: set[PydanticObjectId]) -> None:
        keys = CacheKeys(0)  # key names do not depend on the epoch

        def build(pipe: Any) -> None:
            for task_id in tasks:
                pipe.execute_command("DEL", keys.task(owner, task_id))
            pipe.set(keys.generation(owner), new_generation(), px=GENERATION_TTL_SECONDS * 1000)

        await self.pipeline(redis, build)
