"""The object cache on real Redis and the real database: read-through, write-through, the races
between a fill and a write, tombstones, and Redis failing and coming back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from beanie import PydanticObjectId
from redis.asyncio import Redis

from loaders import codecs, create_loaders
from loaders.cache import ObjectCache
from loaders.cache_connection import retire_every_entry
from loaders.cache_keys import EPOCH_KEY, CacheKeys, CacheKind
from loaders.task import load_task_counts, load_tasks, write_through_task
from models.task import TaskDocument, TaskRef, find_tasks
from models.task_reads import StatusCounts, count_by_status
from models.task_writes import NewTask, delete_task, insert_task, update_task
from observability.metrics import TaskqlMetrics
from storage.redis import create_redis_client
from storage.redis_guard import RedisGuard

pytestmark = pytest.mark.usefixtures("models_db")

UNREACHABLE = "redis://127.0.0.1:9/0"  # the discard port: nothing listens there


def counted(metrics: TaskqlMetrics, kind: str, result: str) -> float:
    value = metrics.cache_requests.labels(kind=kind, result=result)._value.get()
    return float(value)


async def new_task(owner: PydanticObjectId, title: str = "Write tests") -> TaskDocument:
    created = await insert_task(
        NewTask(
            owner_id=owner,
            title=title,
            description=None,
            status="TODO",
            priority="MEDIUM",
            tags=(),
            due_at=None,
        ),
        idempotency_key=None,
        now=datetime.now(UTC),
    )
    return created.task


async def change(task: TaskDocument, **fields: Any) -> TaskDocument:
    assert task.id is not None
    updated = await update_task(
        task.id,
        owner_id=task.owner_id,
        changes=fields,
        expected_version=None,
        now=datetime.now(UTC),
    )
    assert isinstance(updated, TaskDocument)
    return updated


def ref(task: TaskDocument) -> TaskRef:
    assert task.id is not None
    return (task.owner_id, task.id)


async def test_read_through_then_hit_without_the_database(
    cache: ObjectCache, metrics: TaskqlMetrics
) -> None:
    task = await new_task(PydanticObjectId())
    first = await load_tasks([ref(task)], cache=cache)
    assert first[0] is not None
    assert first[0].title == "Write tests"
    assert counted(metrics, "task", "miss") == 1

    async def no_database(_: list[TaskRef]) -> dict[TaskRef, TaskDocument]:
        raise AssertionError("a warm read went to MongoDB")

    again = await load_tasks([ref(task)], cache=cache, fetch=no_database)
    assert again[0] == first[0]
    assert counted(metrics, "task", "hit") == 1


async def test_results_come_back_in_key_order_with_duplicates_and_misses(
    cache: ObjectCache,
) -> None:
    owner = PydanticObjectId()
    a, b = await new_task(owner, "a"), await new_task(owner, "b")
    absent = (owner, PydanticObjectId())
    foreign = (PydanticObjectId(), b.id)
    loaded = await load_tasks([ref(b), absent, ref(a), ref(b), foreign], cache=cache)
    assert [task.title if task else None for task in loaded] == ["b", None, "a", "b", None]


async def test_a_fill_that_read_before_a_write_never_replaces_it(cache: ObjectCache) -> None:
    task = await new_task(PydanticObjectId())
    newer: list[TaskDocument] = []

    async def slow_read(refs: list[TaskRef]) -> dict[TaskRef, TaskDocument]:
        found = await find_tasks(refs)  # version 1
        # Meanwhile a writer commits version 2 and writes it through.
        newer.append(await change(task, title="newer"))
        await write_through_task(cache, newer[0])
        return found

    stale = await load_tasks([ref(task)], cache=cache, fetch=slow_read)
    assert stale[0] is not None
    assert stale[0].version == 1  # this request read before the write: fine
    fresh = await load_tasks([ref(task)], cache=cache)
    assert fresh[0] is not None
    assert (fresh[0].version, fresh[0].title) == (2, "newer")


async def test_a_late_fill_is_refused_even_when_the_newer_entry_was_evicted(
    cache: ObjectCache, redis: Redis
) -> None:
    task = await new_task(PydanticObjectId())

    async def read_then_lose_the_write(refs: list[TaskRef]) -> dict[TaskRef, TaskDocument]:
        found = await find_tasks(refs)  # version 1
        await write_through_task(cache, await change(task, title="newer"))
        async for key in redis.scan_iter(match=f"*:task:{task.id}"):
            await redis.delete(key)  # evicted (or flushed) before the late fill arrives
        return found

    await load_tasks([ref(task)], cache=cache, fetch=read_then_lose_the_write)
    fresh = await load_tasks([ref(task)], cache=cache)
    assert fresh[0] is not None
    assert (fresh[0].version, fresh[0].title) == (2, "newer")


async def test_a_deleted_task_stays_deleted_whatever_fill_comes_late(cache: ObjectCache) -> None:
    task = await new_task(PydanticObjectId())
    loaded = await load_tasks([ref(task)], cache=cache)
    assert loaded[0] is not None
    assert task.id is not None
    assert await delete_task(task.id, owner_id=task.owner_id)
    await cache.task_deleted(task.owner_id, task.id)
    # A reader that fetched version 1 before the delete fills it now: refused.
    await write_through_task(cache, loaded[0])
    assert await load_tasks([ref(task)], cache=cache) == [None]


async def test_a_write_retires_the_owners_counts_even_against_a_racing_fill(
    cache: ObjectCache,
) -> None:
    owner = PydanticObjectId()
    task = await new_task(owner)
    assert await load_task_counts([owner], cache=cache) == [StatusCounts(todo=1)]

    async def counts_then_write(missing: list[PydanticObjectId]) -> list[StatusCounts]:
        counts = await count_by_status(missing)
        await write_through_task(cache, await change(task, status="DONE"))
        return [counts[owner] for owner in missing]

    # A write first retires the cached counts, so this read misses and races a second write.
    await write_through_task(cache, await change(task, status="IN_PROGRESS"))
    raced = await cache.generational(
        CacheKind.TASK_COUNTS,
        [owner],
        owner_of=lambda o: o,
        key_of=lambda keys, o: keys.task_counts(o),
        fetch=counts_then_write,
        codec=codecs.STATUS_COUNTS,
    )
    assert raced == [StatusCounts(in_progress=1)]
    assert await load_task_counts([owner], cache=cache) == [StatusCounts(done=1)]


async def test_many_readers_and_one_writer_end_with_the_latest_version_cached(
    redis: Redis, metrics: TaskqlMetrics
) -> None:
    task = await new_task(PydanticObjectId())
    caches = [ObjectCache(redis, metrics=metrics) for _ in range(3)]  # three instances
    done = asyncio.Event()

    async def reader(cache: ObjectCache) -> None:
        while not done.is_set():
            loaders = create_loaders(cache)
            await loaders.tasks.load(ref(task))

    async def writer() -> TaskDocument:
        latest = task
        for index in range(30):
            latest = await change(latest, title=f"v{index}")
            await write_through_task(caches[index % 3], latest)
        done.set()
        return latest

    readers = [asyncio.create_task(reader(cache)) for cache in caches for _ in range(4)]
    latest = await writer()
    await asyncio.gather(*readers)
    for cache in caches:
        loaded = await load_tasks([ref(task)], cache=cache)
        assert loaded[0] is not None
        assert (loaded[0].version, loaded[0].title) == (latest.version, latest.title)


async def test_redis_down_reads_and_writes_still_work_and_skip_redis_quickly(
    metrics: TaskqlMetrics,
) -> None:
    dead = create_redis_client(UNREACHABLE)
    guard = RedisGuard(dead, probe_interval=3600, first_probe_at_once=False)
    cache = ObjectCache(dead, metrics=metrics, guard=guard)
    task = await new_task(PydanticObjectId())
    loaded = await load_tasks([ref(task)], cache=cache)
    assert loaded[0] is not None
    assert cache.degraded
    await write_through_task(cache, await change(task, title="during outage"))
    again = await load_tasks([ref(task)], cache=cache)
    assert again[0] is not None
    assert again[0].title == "during outage"
    assert counted(metrics, "task", "error") == 2
    await guard.close()
    await dead.aclose()


async def test_an_instance_back_from_an_outage_replays_what_it_owes_before_serving_again(
    redis: Redis, metrics: TaskqlMetrics
) -> None:
    """Instance A fills the cache; A loses Redis (Redis keeps its data) and a write through A
    cannot invalidate; when A's probe finds Redis back, A bumps the epoch and replays the
    invalidation before serving from it, so instance B, which never lost Redis and does not
    re-read the epoch, is not served the stale entry either."""
    task = await new_task(PydanticObjectId())
    guard = RedisGuard(redis, probe_interval=3600, first_probe_at_once=False)
    a = ObjectCache(redis, metrics=metrics, guard=guard)
    b = ObjectCache(redis, metrics=metrics, epoch_refresh_seconds=3600)
    assert (await load_tasks([ref(task)], cache=a))[0] is not None
    assert (await load_tasks([ref(task)], cache=b))[0] is not None
    epoch = int(await redis.get(EPOCH_KEY) or 0)

    guard.failed([CacheKeys(0).generation(task.owner_id)], ConnectionError("cut off"))
    await write_through_task(a, await change(task, title="written while A was cut off"))
    assert a.degraded
    assert await guard.probe_once()  # runs the recovery hook before A uses Redis again

    for cache in (a, b):
        loaded = await load_tasks([ref(task)], cache=cache)
        assert loaded[0] is not None
        assert loaded[0].title == "written while A was cut off"
    assert metrics.invalidations_delayed._value.get() == 1
    assert int(await redis.get(EPOCH_KEY) or 0) == epoch + 1
    await guard.close()


async def test_instances_on_different_epochs_still_retire_each_others_counts(
    redis: Redis, metrics: TaskqlMetrics
) -> None:
    """The race after a freeze: both instances bump the epoch on recovery, and for up to an
    epoch refresh they read under different epochs. A write on the one still on the older
    epoch must retire what the other cached (with the epoch in the key it retired only its
    own epoch's entries, and the other's count stayed wrong for its whole TTL)."""
    owner = PydanticObjectId()
    await new_task(owner)
    a = ObjectCache(redis, metrics=metrics, epoch_refresh_seconds=3600)
    b = ObjectCache(redis, metrics=metrics, epoch_refresh_seconds=3600)
    assert (await load_task_counts([owner], cache=a))[0] == StatusCounts(1, 0, 0)
    await retire_every_entry(redis)  # B's recovery bump, unseen by A for now
    b.connection._keys = None  # B reads the new epoch at its next call
    assert (await load_task_counts([owner], cache=b))[0] == StatusCounts(1, 0, 0)
    assert a.connection._keys is not None
    assert b.connection._keys is not None
    assert a.connection._keys.epoch + 1 == b.connection._keys.epoch

    created = await new_task(owner, title="a second one")
    await write_through_task(a, created)  # written through A, on the older epoch

    for cache in (a, b):
        assert (await load_task_counts([owner], cache=cache))[0] == StatusCounts(2, 0, 0)


async def test_disabled_cache_reads_the_database_every_time(metrics: TaskqlMetrics) -> None:
    cache = ObjectCache(None, metrics=metrics)
    task = await new_task(PydanticObjectId())
    calls: list[int] = []

    async def counting(refs: list[TaskRef]) -> dict[TaskRef, TaskDocument]:
        calls.append(len(refs))
        return await find_tasks(refs)

    for _ in range(2):
        await load_tasks([ref(task)], cache=cache, fetch=counting)
    assert calls == [1, 1]
    assert counted(metrics, "task", "hit") == counted(metrics, "task", "miss") == 0
