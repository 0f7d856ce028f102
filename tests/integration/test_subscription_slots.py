"""Per-user subscription slots on the real Redis: the limit holds across instances (two
SubscriptionSlots on one Redis), a release frees a slot, a member its holder stops renewing
expires (a crashed instance frees its slots) while a renewed one stays, and with Redis
unreachable each instance still enforces the limit on its own subscriptions."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator

import pytest
from beanie import PydanticObjectId
from redis.asyncio import Redis

from events.slots import SubscriptionSlots, slots_key
from storage.redis import create_redis_client
from storage.redis_guard import RedisGuard


def slot() -> str:
    return uuid.uuid4().hex


def closed_port_url() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


@pytest.fixture
async def owner(redis: Redis) -> AsyncIterator[PydanticObjectId]:
    """A fresh user whose slot set is deleted afterwards."""
    user = PydanticObjectId()
    yield user
    await redis.delete(slots_key(user))


@pytest.fixture
async def second_client(redis_url: str) -> AsyncIterator[Redis]:
    client = create_redis_client(redis_url)
    yield client
    await client.aclose()


async def test_limit_holds_across_two_instances(
    redis: Redis, second_client: Redis, owner: PydanticObjectId
) -> None:
    first, second = SubscriptionSlots(redis), SubscriptionSlots(second_client)
    a, b, c, d = slot(), slot(), slot(), slot()

    assert await first.acquire(owner, a, limit=3)
    assert await second.acquire(owner, b, limit=3)
    assert await first.acquire(owner, c, limit=3)
    assert not await second.acquire(owner, d, limit=3)
    assert not await first.acquire(owner, d, limit=3)

    assert await redis.zcard(slots_key(owner)) == 3
    for member in (a, b, c):
        assert await redis.zscore(slots_key(owner), member) is not None
    assert 0 < await redis.pttl(slots_key(owner)) <= 60_000


async def test_limit_is_per_user(redis: Redis, owner: PydanticObjectId) -> None:
    other = PydanticObjectId()
    slots = SubscriptionSlots(redis)
    try:
        assert await slots.acquire(owner, slot(), limit=1)
        assert not await slots.acquire(owner, slot(), limit=1)
        assert await slots.acquire(other, slot(), limit=1)
    finally:
        await redis.delete(slots_key(other))


async def test_release_frees_a_slot_for_another_instance(
    redis: Redis, second_client: Redis, owner: PydanticObjectId
) -> None:
    first, second = SubscriptionSlots(redis), SubscriptionSlots(second_client)
    held, waiting = slot(), slot()
    assert await first.acquire(owner, held, limit=1)
    assert not await second.acquire(owner, waiting, limit=1)

    await first.release(owner, held)

    assert await redis.zscore(slots_key(owner), held) is None
    assert await second.acquire(owner, waiting, limit=1)
    assert not await first.acquire(owner, slot(), limit=1)


async def test_unrenewed_member_expires_so_a_crashed_holder_frees_its_slot(
    redis: Redis, second_client: Redis, owner: PydanticObjectId
) -> None:
    crashed = SubscriptionSlots(redis, ttl_ms=300)  # never started: nothing renews
    survivor = SubscriptionSlots(second_client, ttl_ms=300)
    assert await crashed.acquire(owner, slot(), limit=1)
    assert not await survivor.acquire(owner, slot(), limit=1)

    await asyncio.sleep(0.45)

    assert await survivor.acquire(owner, slot(), limit=1)


async def test_renewed_member_keeps_its_slot(
    redis: Redis, second_client: Redis, owner: PydanticObjectId
) -> None:
    holder = SubscriptionSlots(redis, ttl_ms=300)
    other = SubscriptionSlots(second_client, ttl_ms=300)
    held = slot()
    holder.start()
    try:
        assert await holder.acquire(owner, held, limit=1)
        for _ in range(4):  # 1.2 s: four times the ttl
            await asyncio.sleep(0.3)
            assert not await other.acquire(owner, slot(), limit=1)
        assert await redis.zscore(slots_key(owner), held) is not None
    finally:
        await holder.close()

    await asyncio.sleep(0.45)  # the holder stopped renewing: its member lapses
    assert await other.acquire(owner, slot(), limit=1)


async def test_redis_unreachable_counts_locally_per_instance() -> None:
    client = create_redis_client(closed_port_url())
    try:
        first, second = SubscriptionSlots(client), SubscriptionSlots(client)
        owner = PydanticObjectId()
        a, b = slot(), slot()

        assert await asyncio.wait_for(first.acquire(owner, a, limit=2), 10)
        assert await first.acquire(owner, b, limit=2)
        assert not await first.acquire(owner, slot(), limit=2)
        assert first.guard.degraded  # Redis was tried once, then skipped

        await first.release(owner, a)
        assert await first.acquire(owner, slot(), limit=2)
        assert not await first.acquire(owner, slot(), limit=2)

        # Another instance counts its own subscriptions only.
        assert await asyncio.wait_for(second.acquire(owner, slot(), limit=2), 10)
        assert await second.acquire(owner, slot(), limit=2)
        assert not await second.acquire(owner, slot(), limit=2)
        assert await first.acquire(PydanticObjectId(), slot(), limit=2)  # per user
    finally:
        await client.aclose()


async def test_slots_granted_during_an_outage_still_count_once_redis_is_back(
    redis: Redis, owner: PydanticObjectId
) -> None:
    guard = RedisGuard(
        redis, probe_interval=3600, first_probe_at_once=False
    )  # probed by hand below
    slots = SubscriptionSlots(redis, guard=guard)
    guard.failed([slots_key(owner)], ConnectionError("gone"))  # skipped: counted here
    assert await slots.acquire(owner, slot(), limit=1)

    assert await guard.probe_once()  # Redis is found back: asked again, and it answers
    assert not await slots.acquire(owner, slot(), limit=1)
    await guard.close()
