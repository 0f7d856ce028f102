"""The one guard per Redis client, against a real redis-server that hangs (SIGSTOP): the first
failure opens the node for every subsystem at once, requests never wait on it again, and a
background probe closes it once it answers and the recovery hooks have run."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from cost.budget import Budget, LocalBuckets
from cost.tiers import Caller, Tier
from storage.embedded import EmbeddedServer
from storage.redis import RedisClient, create_redis_client
from storage.redis_guard import UNAVAILABLE, RedisGuard
from transport.persisted_queries import PersistedQueries

DEADLINE = 0.05


@pytest.fixture
async def client(own_redis: EmbeddedServer) -> AsyncIterator[RedisClient]:
    redis = create_redis_client(own_redis.url)  # its socket timeout is only the backstop
    yield redis
    await redis.aclose()


def caller() -> Caller:
    return Caller(
        tier=Tier(name="user", capacity=100, restore_rate=10, max_query=100),
        key=f"user:{uuid.uuid4().hex}",
    )


async def timed(call: object) -> float:
    started = time.perf_counter()
    await call  # type: ignore[misc]
    return time.perf_counter() - started


async def test_a_hung_redis_costs_one_deadline_then_nothing_for_every_subsystem(
    own_redis: EmbeddedServer, client: RedisClient
) -> None:
    guard = RedisGuard(client, deadline=DEADLINE, probe_interval=0.05)
    budget = Budget(client, local=LocalBuckets(), guard=guard)
    persisted = PersistedQueries(client, guard=guard)
    who = caller()
    await budget.charge(who, 1)  # connected and working
    own_redis.process.send_signal(signal.SIGSTOP)
    try:
        first = await timed(budget.charge(who, 1))
        assert first < DEADLINE * 4  # one deadline, no retry
        assert guard.degraded
        # Every other subsystem sharing the guard skips the node without trying it.
        later = [await timed(persisted.register(uuid.uuid4().hex, "{ me { id } }"))]
        later += [await timed(budget.charge(who, 1)) for _ in range(20)]
        assert max(later) < 0.005
        await asyncio.sleep(0.3)  # the background probe keeps failing meanwhile
        assert guard.degraded
    finally:
        own_redis.process.send_signal(signal.SIGCONT)
    deadline = time.monotonic() + 5
    while guard.degraded:
        assert time.monotonic() < deadline, "the probe never found Redis back"
        await asyncio.sleep(0.02)
    assert guard.recoveries == 1
    assert await guard.run(["k"], lambda: client.set("k", "v")) is not UNAVAILABLE
    await guard.close()


async def test_a_node_is_used_again_only_once_every_recovery_hook_succeeded(
    client: RedisClient,
) -> None:
    guard = RedisGuard(client, probe_interval=3600, first_probe_at_once=False)  # probed by hand
    attempts: list[str] = []

    async def hook() -> None:
        attempts.append("hook")
        if len(attempts) == 1:
            raise ConnectionError("not yet")

    guard.add_recovery_hook(hook)
    guard.failed(["k"], ConnectionError("gone"))
    assert await guard.run(["k"], lambda: client.get("k")) is UNAVAILABLE
    assert await guard.probe_once() == ()  # Redis answers, but the hook failed
    assert guard.degraded
    assert await guard.probe_once() == ("redis",)
    assert not guard.degraded
    assert attempts == ["hook", "hook"]
    await guard.close()


async def test_a_refused_command_fails_its_call_but_not_the_node(client: RedisClient) -> None:
    errors: list[str] = []
    guard = RedisGuard(client, on_error=errors.append)
    await client.set("a-string", "x")
    reply = await guard.run(["a-string"], lambda: client.lpush("a-string", "y"))  # WRONGTYPE
    assert reply is UNAVAILABLE
    assert errors == ["command"]
    assert not guard.degraded
    await client.delete("a-string")
    await guard.close()


async def test_a_burst_that_lags_the_event_loop_is_not_taken_for_a_hung_node(
    client: RedisClient,
) -> None:
    """300 calls at once, each after a millisecond or two of CPU, on connections still to be
    opened: the loop lags far past the deadline with every reply on its way, and no call may
    be given up (a budget charge given up is charged to the per-process bucket instead)."""
    errors: list[str] = []
    guard = RedisGuard(client, deadline=DEADLINE, on_error=errors.append)

    async def one(index: int) -> object:
        await asyncio.sleep(0)
        sum(range(40_000))  # the request's own work before its Redis call
        return await guard.run([f"k{index}"], lambda: client.get(f"k{index}"))

    replies = await asyncio.gather(*(one(index) for index in range(300)))
    assert UNAVAILABLE not in replies
    assert errors == []
    assert not guard.degraded
    await guard.close()
