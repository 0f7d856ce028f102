"""The Redis object cache behind the loaders: read-through (one pipelined round trip, one MongoDB
query for the misses, one pipelined fill) and write-through after MongoDB has the write.

Entries, each safe against a fill racing a write:
- plain (users): immutable through the API, filled when absent;
- owned (tasks, and an owner's pages, totals, probes and counts): read together with the
  owner's generation, a random token that every write replaces; a fill (one Lua script per
  owner) lands only while that generation is still current, so nothing read before a write
  survives it, even if the write's own entry was evicted meanwhile. Task entries also carry
  their version (only a newer one replaces them) and a delete leaves a tombstone.

Redis failing never fails a request: the shared guard skips a node that failed, and reads go
to MongoDB. Before a node that failed is used again, this process bumps the cluster-wide epoch
and replays the invalidations it owes (cache_connection.py). On a cluster with replicas, a
write's invalidation is confirmed by a replica (WAIT) before the write is acknowledged, so a
failover does not bring back what it retired.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from beanie import PydanticObjectId

from loaders import cache_scripts
from loaders.cache_connection import CacheConnection, new_generation
from loaders.cache_keys import (
    GENERATION_TTL_SECONDS,
    NO_GENERATION,
    TTL_SECONDS,
    CacheKeys,
    CacheKind,
    of_generation,
    payload_if_current,
    tombstone,
    unversioned,
    versioned,
)
from loaders.cache_metrics import CacheMetrics
from storage.redis import RedisClient
from storage.redis_guard import RedisGuard

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")
Owner = PydanticObjectId


@dataclass(frozen=True)
class Codec(Generic[V]):
    encode: Callable[[V], bytes]
    decode: Callable[[bytes], V]


class ObjectCache:
    """One per process, shared by its requests (loaders stay per request)."""

    def __init__(
        self,
        redis: RedisClient | None,
        *,
        metrics: CacheMetrics,
        guard: RedisGuard | None = None,
        epoch_refresh_seconds: float = 1.0,
    ) -> None:
        # redis None: caching disabled by configuration, every read goes to MongoDB.
        self.metrics = metrics
        self.connection = CacheConnection(
            redis,
            metrics=metrics,
            guard=guard,
            epoch_refresh_seconds=epoch_refresh_seconds,
        )
        self._call = self.connection.call

    @property
    def degraded(self) -> bool:
        return self.connection.degraded

    # Reads.

    async def plain(
        self,
        kind: CacheKind,
        ids: Sequence[K],
        *,
        key_of: Callable[[CacheKeys, K], str],
        fetch: Callable[[list[K]], Awaitable[dict[K, V]]],
        codec: Codec[V],
    ) -> list[V | None]:
        """Entries that never change once written: cached when found, fetched when absent.
        Each id is its own hash tag (a user's entries live with the user)."""
        cached = await self._mget(ids, owner_of=_own_tag, key_of=key_of)
        found: dict[K, V] = {
            key: codec.decode(raw) for key, raw in (cached or {}).items() if raw is not None
        }
        missing = [key for key in dict.fromkeys(ids) if key not in found]
        self._count(kind, hits=len(found), misses=len(missing), failed=cached is None)
        if missing:
            fetched = await fetch(missing)
            found.update(fetched)
            await self._set_all(kind, {key: codec.encode(v) for key, v in fetched.items()}, key_of)
        return [found.get(key) for key in ids]

    async def versioned(
        self,
        kind: CacheKind,
        refs: Sequence[tuple[Owner, K]],
        *,
        key_of: Callable[[CacheKeys, Owner, K], str],
        version_of: Callable[[V], int],
        fetch: Callable[[list[tuple[Owner, K]]], Awaitable[dict[tuple[Owner, K], V]]],
        codec: Codec[V],
    ) -> list[V | None]:
        """Versioned entries (tasks), each owned: a tombstone answers None without MongoDB."""
        unique = list(dict.fromkeys(refs))
        read = await self._mget_with_generations(
            unique, owner_of=_owner_of_ref, key_of=lambda keys, ref: key_of(keys, *ref)
        )
        generations, cached = read if read is not None else ({}, {})
        found: dict[tuple[Owner, K], V | None] = {}
        for ref, raw in cached.items():
            if raw is not None:
                payload = unversioned(raw)
                found[ref] = None if payload is None else codec.decode(payload)
        missing = [ref for ref in unique if ref not in found]
        self._count(kind, hits=len(found), misses=len(missing), failed=read is None)
        if missing:
            fetched = await fetch(missing)
            found.update(fetched)
            if read is not None:
                await self._fill_owned(
                    {ref: versioned(version_of(v), codec.encode(v)) for ref, v in fetched.items()},
                    generations=generations,
                    owner_of=_owner_of_ref,
                    key_of=lambda keys, ref: key_of(keys, *ref),
                    ttl=TTL_SECONDS[kind],
                    only_over_older=True,
                )
        return [found.get(ref) for ref in refs]

    async def generational(
        self,
        kind: CacheKind,
        items: Sequence[K],
        *,
        owner_of: Callable[[K], Owner],
        key_of: Callable[[CacheKeys, K], str],
        fetch: Callable[[list[K]], Awaitable[list[V | Exception]]],
        codec: Codec[V],
    ) -> list[V | Exception]:
        """Lists and counts: valid only under the owner's current generation. A key whose
        query failed gets its exception (the loader raises it for that key alone)."""
        unique = list(dict.fromkeys(items))
        read = await self._mget_with_generations(unique, owner_of=owner_of, key_of=key_of)
        generations, cached = read if read is not None else ({}, {})
        found: dict[K, V | Exception] = {}
        for item, raw in cached.items():
            generation = generations.get(owner_of(item), NO_GENERATION)
            payload = None if raw is None else payload_if_current(raw, generation)
            if payload is not None:
                found[item] = codec.decode(payload)
        missing = [item for item in unique if item not in found]
        self._count(kind, hits=len(found), misses=len(missing), failed=read is None)
        if missing:
            values = await fetch(missing)
            found.update(zip(missing, values, strict=True))
            if read is not None:
                await self._fill_owned(
                    {
                        item: of_generation(generations[owner_of(item)], codec.encode(value))
                        for item, value in zip(missing, values, strict=True)
                        if not isinstance(value, Exception)
                    },
                    generations=generations,
                    owner_of=owner_of,
                    key_of=key_of,
                    ttl=TTL_SECONDS[kind],
                    only_over_older=False,
                )
        return [found[item] for item in items]

    async def owned_entry(
        self,
        kind: CacheKind,
        item: tuple[Owner, str],
        *,
        key_of: Callable[[CacheKeys, Owner, str], str],
    ) -> tuple[bytes | None, bytes | None]:
        """One owned entry if current, and the owner's generation to keep a new one under
        (None: Redis unavailable, keep nothing)."""
        read = await self._mget_with_generations(
            [item], owner_of=_owner_of_ref, key_of=lambda keys, ref: key_of(keys, *ref)
        )
        if read is None:
            self._count(kind, hits=0, misses=1, failed=True)
            return None, None
        generations, cached = read
        generation = generations.get(item[0], NO_GENERATION)
        raw = cached.get(item)
        payload = None if raw is None else payload_if_current(raw, generation)
        hit = payload is not None
        self._count(kind, hits=int(hit), misses=int(not hit), failed=False)
        return payload, generation

    async def keep_owned_entry(
        self,
        kind: CacheKind,
        item: tuple[Owner, str],
        payload: bytes,
        *,
        generation: bytes,
        key_of: Callable[[CacheKeys, Owner, str], str],
    ) -> None:
        """Kept only while `generation` (read before the payload was computed) is current."""
        await self._fill_owned(
            {item: of_generation(generation, payload)},
            generations={item[0]: generation},
            owner_of=_owner_of_ref,
            key_of=lambda keys, ref: key_of(keys, *ref),
            ttl=TTL_SECONDS[kind],
            only_over_older=False,
        )

    # Writes: called after MongoDB acknowledged the write.

    async def task_written(self, owner_id: Owner, task_id: PydanticObjectId, value: bytes) -> None:
        """The task's new versioned value (or tombstone), and a new generation for its owner,
        confirmed by a replica where there is one."""
        route = _NAMES.generation(owner_id)

        async def write(redis: RedisClient, keys: CacheKeys) -> bool:
            ttl_ms = TTL_SECONDS[CacheKind.TASK] * 1000
            waited = False

            def build(pipe: Any) -> None:
                nonlocal waited
                cache_scripts.WRITE_SCRIPT.queue(
                    pipe,
                    keys=[keys.task(owner_id, task_id), keys.generation(owner_id)],
                    args=[keys.stamp(value), ttl_ms, new_generation(), GENERATION_TTL_MS],
                )
                waited = self.connection.confirm_replicated(pipe, route)

            replies = await self.connection.pipeline(redis, build)
            return not waited or int(replies[-1]) >= 1

        confirmed = await self._call([route], write, invalidation=True)
        if not confirmed:
            if confirmed is False:
                self.metrics.cache_invalidations_unreplicated.inc()
            self.connection.owe_invalidation(owner_id, task_id)

    async def task_changing(self, owner_id: Owner, task_id: PydanticObjectId) -> None:
        """Before MongoDB is asked to change a task: its entry and the owner's lists retired,
        so that a process dying between the write and `task_written` leaves no stale entry."""

        async def retire(redis: RedisClient, keys: CacheKeys) -> bool:
            def build(pipe: Any) -> None:
                pipe.execute_command("DEL", keys.task(owner_id, task_id))
                pipe.set(keys.generation(owner_id), new_generation(), px=GENERATION_TTL_MS)

            await self.connection.pipeline(redis, build)
            return True

        # Unreachable Redis: `task_written` after the write owes the invalidation.
        await self._call([_NAMES.generation(owner_id)], retire, invalidation=True)

    async def task_deleted(self, owner_id: Owner, task_id: PydanticObjectId) -> None:
        await self.task_written(owner_id, task_id, tombstone())

    async def _mget(
        self,
        items: Sequence[K],
        *,
        owner_of: Callable[[K], Owner],
        key_of: Callable[[CacheKeys, K], str],
    ) -> dict[K, bytes | None] | None:
        by_owner = _group(list(dict.fromkeys(items)), owner_of)
        if not by_owner:
            return {}

        async def read(redis: RedisClient, keys: CacheKeys) -> dict[K, bytes | None]:
            # One MGET per hash tag (one Cluster slot each), all in one round trip; raw, as a
            # cluster pipeline refuses its multi-key `mget()` even within one slot.
            def build(pipe: Any) -> None:
                for owned in by_owner.values():
                    pipe.execute_command("MGET", *(key_of(keys, item) for item in owned))

            replies: list[list[bytes | None]] = await self.connection.pipeline(redis, build)
            cached: dict[K, bytes | None] = {}
            for owned, values in zip(by_owner.values(), replies, strict=True):
                cached.update(zip(owned, _unstamped(keys, values), strict=True))
            return cached

        return await self._call(_routes(by_owner, _NAMES.user), read)

    async def _mget_with_generations(
        self,
        items: list[K],
        *,
        owner_of: Callable[[K], Owner],
        key_of: Callable[[CacheKeys, K], str],
    ) -> tuple[dict[Owner, bytes], dict[K, bytes | None]] | None:
        by_owner = _group(items, owner_of)

        async def read(
            redis: RedisClient, keys: CacheKeys
        ) -> tuple[dict[Owner, bytes], dict[K, bytes | None]]:
            # One script per owner (one slot each), all in one round trip.
            def build(pipe: Any) -> None:
                for owner, owned in by_owner.items():
                    cache_scripts.READ_SCRIPT.queue(
                        pipe,
                        keys=[keys.generation(owner), *(key_of(keys, item) for item in owned)],
                        args=[new_generation(), GENERATION_TTL_MS],
                    )

            replies: list[list[bytes | None]] = await self.connection.pipeline(redis, build)
            generations: dict[Owner, bytes] = {}
            cached: dict[K, bytes | None] = {}
            for (owner, owned), (generation, *values) in zip(
                by_owner.items(), replies, strict=True
            ):
                generations[owner] = generation or NO_GENERATION
                cached.update(zip(owned, _unstamped(keys, values), strict=True))
            return generations, cached

        return await self._call(_routes(by_owner, _NAMES.generation), read)

    async def _set_all(
        self, kind: CacheKind, values: dict[K, bytes], key_of: Callable[[CacheKeys, K], str]
    ) -> None:
        if not values:
            return

        async def fill(redis: RedisClient, keys: CacheKeys) -> None:
            # Not NX: an entry of an older epoch is replaced (these values never change).
            def build(pipe: Any) -> None:
                for item, value in values.items():
                    pipe.set(key_of(keys, item), keys.stamp(value), px=TTL_SECONDS[kind] * 1000)

            await self.connection.pipeline(redis, build)

        await self._call([_NAMES.user(_own_tag(item)) for item in values], fill)

    async def _fill_owned(
        self,
        values: dict[K, bytes],
        *,
        generations: dict[Owner, bytes],
        owner_of: Callable[[K], Owner],
        key_of: Callable[[CacheKeys, K], str],
        ttl: int,
        only_over_older: bool,
    ) -> None:
        """One fill script per owner, all in one round trip, each refused if the owner's
        generation changed since `generations` was read."""
        if not values:
            return
        by_owner = _group(list(values), owner_of)

        async def fill(redis: RedisClient, keys: CacheKeys) -> None:
            def build(pipe: Any) -> None:
                for owner, owned in by_owner.items():
                    cache_scripts.FILL_SCRIPT.queue(
                        pipe,
                        keys=[keys.generation(owner), *(key_of(keys, item) for item in owned)],
                        args=[
                            generations.get(owner, NO_GENERATION),
                            ttl * 1000,
                            new_generation(),
                            GENERATION_TTL_MS,
                            "1" if only_over_older else "0",
                            *(keys.stamp(values[item]) for item in owned),
                        ],
                    )

            await self.connection.pipeline(redis, build)

        await self._call(_routes(by_owner, _NAMES.generation), fill)

    def counted_hit(self, kind: CacheKind) -> None:
        """A hit read by a script of another module (the HTTP fast lane)."""
        self._count(kind, hits=1, misses=0, failed=False)

    def _count(self, kind: CacheKind, *, hits: int, misses: int, failed: bool) -> None:
        requests = self.metrics.cache_requests
        if not self.connection.enabled:
            return
        if failed:
            requests.labels(kind=kind.value, result="error").inc(hits + misses)
            return
        if hits:
            requests.labels(kind=kind.value, result="hit").inc(hits)
        if misses:
            requests.labels(kind=kind.value, result="miss").inc(misses)


# Key names for routing a call to its nodes (names do not depend on the epoch).
_NAMES = CacheKeys(0)
GENERATION_TTL_MS = GENERATION_TTL_SECONDS * 1000


def _routes(by_owner: dict[Owner, list[T]], name: Callable[[Owner], str]) -> list[str]:
    return [name(owner) for owner in by_owner]


def _unstamped(keys: CacheKeys, values: list[bytes | None]) -> list[bytes | None]:
    return [None if value is None else keys.unstamp(value) for value in values]


def _owner_of_ref(ref: tuple[Owner, object]) -> Owner:
    return ref[0]


def _own_tag(item: object) -> Owner:
    assert isinstance(item, PydanticObjectId)
    return item


def _group(items: list[T], owner_of: Callable[[T], Owner]) -> dict[Owner, list[T]]:
    groups: dict[Owner, list[T]] = defaultdict(list)
    for item in items:
        groups[owner_of(item)].append(item)
    return dict(groups)


__all__ = ["CacheKind", "Codec", "ObjectCache"]
