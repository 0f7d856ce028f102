"""The per-caller query-cost budget (GCRA in Redis) against a real redis-server.

Proves: a burst spends up to capacity and is then refused without taking anything, with
retry_after = (cost - available) / rate; the restore rate; refunds capped at capacity; 100
concurrent charges never overspend; callers never share a bucket; the key is hash-tagged, has a
TTL bounded by the time to full + 1 s, and is gone once the bucket is full; the clock is Redis's,
so two instances share one bucket; and with Redis unreachable the local bucket decides (capacity
still enforced, `on_local` per decision) while the breaker keeps Redis untried for its cool-down.
"""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import BlockingConnectionPool, Redis

from cost.budget import Budget, LocalBuckets, bucket_key
from cost.gcra import BucketState
from cost.tiers import Caller, Tier
from storage.embedded import EmbeddedServer
from storage.redis import create_redis_client
from storage.redis_guard import RedisGuard
from storage.redis_multiplexer import multiplexed_for

# Bounds on Redis-computed floats: `available` is sent with 6 decimals, times in whole µs.
EPS = 1e-5

MakeCaller = Callable[..., Caller]


class Clock:
    """A hand-driven clock for the local bucket and the breaker."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def approx_state(
    state: BucketState, *, allowed: bool, available: float, retry_after: float, full_after: float
) -> None:
    """For the local bucket, whose floats are not rounded like Redis's replies."""
    assert state.allowed is allowed
    assert state.available == pytest.approx(available, abs=EPS)
    assert state.retry_after == pytest.approx(retry_after, abs=EPS)
    assert state.full_after == pytest.approx(full_after, abs=EPS)


def local_bucket_used() -> None:
    raise AssertionError("the local bucket decided although Redis is reachable")


@pytest.fixture
async def new_caller(redis: Redis) -> AsyncIterator[MakeCaller]:
    """Callers with unique keys (the Redis is shared by the session); their keys are deleted."""
    made: list[Caller] = []

    def make(capacity: float = 20, restore_rate: float = 10) -> Caller:
        tier = Tier(name="user", capacity=capacity, restore_rate=restore_rate, max_query=capacity)
        caller = Caller(tier=tier, key=f"user:{uuid.uuid4().hex}")
        made.append(caller)
        return caller

    yield make
    if made:
        await redis.delete(*(bucket_key(caller) for caller in made))


@pytest.fixture(params=["redis-py", "multiplexed"])
async def budget(
    request: pytest.FixtureRequest, redis: Redis, redis_url: str
) -> AsyncIterator[Budget]:
    """Every decision must be Redis's (a silent fallback would fake a pass): through redis-py
    and the guard, or on the shared connection alone, the guarded client pointing nowhere (a
    call that fell back to it would reach the local bucket, which fails the test)."""
    if request.param == "redis-py":
        yield Budget(redis, local=LocalBuckets(), on_local=local_bucket_used)
        return
    multiplexed = multiplexed_for(redis_url, deadline=1.0)
    assert multiplexed is not None
    nowhere = create_redis_client(f"redis://127.0.0.1:{free_port()}/0")
    try:
        yield Budget(
            nowhere, local=LocalBuckets(), multiplexed=multiplexed, on_local=local_bucket_used
        )
    finally:
        await multiplexed.close()
        await nowhere.aclose()


async def redis_now_us(redis: Redis) -> int:
    seconds, micros = await redis.time()
    return int(seconds) * 1_000_000 + int(micros)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_fresh_bucket_grants_exactly_its_capacity_and_no_more(
    budget: Budget, new_caller: MakeCaller, redis: Redis
) -> None:
    over = new_caller(capacity=100, restore_rate=1)
    assert await budget.charge(over, 101) == BucketState(False, 100.0, 1.0, 0.0)
    assert await redis.exists(bucket_key(over)) == 0  # a refusal writes nothing

    exact = new_caller(capacity=100, restore_rate=1)
    assert await budget.charge(exact, 100) == BucketState(True, 0.0, 0.0, 100.0)


async def test_a_burst_spends_up_to_capacity_then_is_refused_taking_nothing(
    budget: Budget, new_caller: MakeCaller
) -> None:
    caller = new_caller(capacity=100, restore_rate=1)
    started = time.monotonic()
    assert await budget.charge(caller, 10) == BucketState(True, 90.0, 0.0, 10.0)
    for spent in range(20, 101, 10):
        state = await budget.charge(caller, 10)
        elapsed = time.monotonic() - started
        assert state.allowed
        assert 100 - spent - EPS <= state.available <= 100 - spent + elapsed + EPS

    refused = await budget.charge(caller, 10)
    elapsed = time.monotonic() - started
    assert not refused.allowed
    assert 0 <= refused.available <= elapsed + EPS
    assert refused.retry_after == pytest.approx((10 - refused.available) / 1, abs=EPS)
    assert refused.full_after == pytest.approx(100 - refused.available, abs=EPS)

    # Had the refusal taken its 10 points, the bucket would now be about 10 in debt.
    after = await budget.peek(caller)
    elapsed_total = time.monotonic() - started
    assert refused.available - EPS <= after.available <= elapsed_total + EPS
    assert not (await budget.charge(caller, 10)).allowed


async def test_the_restore_rate_is_honoured(budget: Budget, new_caller: MakeCaller) -> None:
    caller = new_caller(capacity=20, restore_rate=10)
    started = time.monotonic()
    assert await budget.charge(caller, 20) == BucketState(True, 0.0, 0.0, 2.0)
    emptied = time.monotonic()
    await asyncio.sleep(0.3)
    before_peek = time.monotonic()
    restored = await budget.peek(caller)
    finished = time.monotonic()

    # The charge happened in [started, emptied], the peek in [before_peek, finished].
    assert 10 * (before_peek - emptied) - 0.05 <= restored.available
    assert restored.available <= 10 * (finished - started) + 0.05
    assert 2.95 <= restored.available <= 4.0
    assert restored.full_after == pytest.approx((20 - restored.available) / 10, abs=EPS)

    too_much = await budget.charge(caller, 10)
    assert not too_much.allowed
    assert too_much.retry_after == pytest.approx((10 - too_much.available) / 10, abs=EPS)
    assert (await budget.charge(caller, 2)).allowed


async def test_refunds_never_raise_a_bucket_above_capacity(
    budget: Budget, new_caller: MakeCaller, redis: Redis
) -> None:
    caller = new_caller(capacity=20, restore_rate=10)
    assert await budget.charge(caller, 5) == BucketState(True, 15.0, 0.0, 0.5)
    assert await budget.refund(caller, 50) == BucketState(True, 20.0, 0.0, 0.0)
    assert await budget.peek(caller) == BucketState(True, 20.0, 0.0, 0.0)
    # 65 points would be there had the refund not been capped.
    over = await budget.charge(caller, 21)
    assert not over.allowed
    assert over.retry_after == pytest.approx(0.1, abs=EPS)
    assert await redis.exists(bucket_key(caller)) == 0

    untouched = new_caller(capacity=20, restore_rate=10)
    assert await budget.refund(untouched, 7) == BucketState(True, 20.0, 0.0, 0.0)
    assert await redis.exists(bucket_key(untouched)) == 0


async def test_a_partial_refund_gives_back_exactly_the_difference(
    budget: Budget, new_caller: MakeCaller
) -> None:
    caller = new_caller(capacity=100, restore_rate=1)
    started = time.monotonic()
    assert await budget.charge(caller, 52) == BucketState(True, 48.0, 0.0, 52.0)
    refunded = await budget.refund(caller, 40)
    elapsed = time.monotonic() - started
    assert refunded.allowed
    assert 88 - EPS <= refunded.available <= 88 + elapsed + EPS


async def test_settle_takes_the_actual_cost_once_the_requested_one_fits(
    budget: Budget, new_caller: MakeCaller
) -> None:
    """One decision where the full path makes two: refused unless `requested` fits (taking
    nothing), else `actual` taken, where a charge and a refund of the rest leave the bucket."""
    caller = new_caller(capacity=100, restore_rate=1)
    started = time.monotonic()
    settled = await budget.settle(caller, requested=52, actual=12)
    assert settled.allowed
    assert settled.available == pytest.approx(88.0, abs=EPS)
    # The same as a charge of 52 and a refund of 40 (the bucket refills between those two).
    charged_and_refunded = new_caller(capacity=100, restore_rate=1)
    charged = time.monotonic()
    await budget.charge(charged_and_refunded, 52)
    reference = await budget.refund(charged_and_refunded, 40)
    between = time.monotonic() - charged
    assert settled.available - EPS <= reference.available <= settled.available + between + EPS

    # 85 would fit as an actual cost; a requested 95 does not: refused, nothing taken.
    await budget.charge(caller, 3)
    refused = await budget.settle(caller, requested=95, actual=1)
    elapsed = time.monotonic() - started
    assert not refused.allowed
    assert 85 - EPS <= refused.available <= 85 + elapsed + EPS
    assert refused.retry_after == pytest.approx(95 - refused.available, abs=EPS)
    after = await budget.peek(caller)
    assert refused.available - EPS <= after.available <= 85 + elapsed + EPS


async def test_the_local_bucket_settles_as_a_charge_and_a_refund() -> None:
    client = create_redis_client(f"redis://127.0.0.1:{free_port()}/0")
    clock = Clock()
    budget = budget_on_a_clock(client, clock, [])
    caller = Caller(
        tier=Tier(name="user", capacity=20, restore_rate=10, max_query=20),
        key=f"user:{uuid.uuid4().hex}",
    )
    try:
        approx_state(
            await budget.settle(caller, requested=15, actual=4),
            allowed=True,
            available=16,
            retry_after=0,
            full_after=0.4,
        )
        approx_state(
            await budget.settle(caller, requested=17, actual=1),
            allowed=False,
            available=16,
            retry_after=0.1,
            full_after=0.4,
        )
    finally:
        assert budget.guard is not None
        await budget.guard.close()
        await client.aclose()


def bounded_client(redis_url: str) -> Redis:
    """A client of at most 8 connections: 100 connects at once can time out on a loaded host,
    and each timeout would hand that charge to the local bucket."""
    pool = BlockingConnectionPool.from_url(
        redis_url, max_connections=8, timeout=30, socket_connect_timeout=5, socket_timeout=30
    )
    return Redis.from_pool(pool)


async def test_concurrent_charges_never_overspend(
    redis_url: str, redis: Redis, new_caller: MakeCaller
) -> None:
    caller = new_caller(capacity=100, restore_rate=1)
    clients = [bounded_client(redis_url), bounded_client(redis_url)]
    try:
        # Two instances racing on one bucket, over 16 connections in all.
        budgets = [
            Budget(client, local=LocalBuckets(), on_local=local_bucket_used) for client in clients
        ]
        sizes = [index % 7 + 1 for index in range(100)]  # 397 points asked of a 100-point bucket
        started = time.monotonic()
        states = await asyncio.gather(
            *(budgets[index % 2].charge(caller, size) for index, size in enumerate(sizes))
        )
        elapsed = time.monotonic() - started
        final = await budgets[0].peek(caller)
        elapsed_total = time.monotonic() - started
    finally:
        for client in clients:
            await client.aclose()

    granted = sum(size for size, state in zip(sizes, states, strict=True) if state.allowed)
    assert granted <= 100 + 1 * elapsed
    # Every point is either granted or still in the bucket: nothing lost, nothing invented.
    assert 100 - EPS <= granted + final.available <= 100 + 1 * elapsed_total + EPS
    # The last refusal saw fewer than 7 points, and only charges came after it.
    assert final.available < 7 + elapsed_total
    for size, state in zip(sizes, states, strict=True):
        if not state.allowed:
            assert state.available < size
            assert state.retry_after == pytest.approx(size - state.available, abs=EPS)
    assert await redis.exists(bucket_key(caller)) == 1


async def test_one_callers_spending_leaves_another_untouched(
    budget: Budget, new_caller: MakeCaller
) -> None:
    spender = new_caller(capacity=20, restore_rate=10)
    other = new_caller(capacity=20, restore_rate=10)
    assert (await budget.charge(spender, 20)).allowed
    assert not (await budget.charge(spender, 5)).allowed
    assert await budget.peek(other) == BucketState(True, 20.0, 0.0, 0.0)
    assert await budget.charge(other, 20) == BucketState(True, 0.0, 0.0, 2.0)


async def test_the_key_is_hash_tagged_with_a_ttl_bounded_by_the_time_to_full(
    budget: Budget, new_caller: MakeCaller, redis: Redis
) -> None:
    caller = new_caller(capacity=20, restore_rate=10)
    key = bucket_key(caller)
    assert re.fullmatch(r"tq:cost:user:\{[0-9a-f]{32}\}", key)
    assert key == f"tq:cost:user:{{{caller.key.removeprefix('user:')}}}"
    assert await budget.peek(caller) == BucketState(True, 20.0, 0.0, 0.0)
    assert await redis.exists(key) == 0  # peeking creates nothing

    started = time.monotonic()
    assert await budget.charge(caller, 12) == BucketState(True, 8.0, 0.0, 1.2)
    ttl = await redis.pttl(key)
    elapsed_ms = (time.monotonic() - started) * 1000
    assert 2200 - elapsed_ms - 1 <= ttl <= 2200  # time to full (1.2 s) + 1 s

    more = await budget.charge(caller, 4)
    ttl = await redis.pttl(key)
    assert 0 < ttl <= more.full_after * 1000 + 1000 + 1
    assert ttl >= more.full_after * 1000 + 1000 - 100

    # A refund back to full deletes the key rather than keep a full bucket around.
    assert await budget.refund(caller, 16) == BucketState(True, 20.0, 0.0, 0.0)
    assert await redis.exists(key) == 0


async def test_the_key_expires_once_the_bucket_would_be_full(
    budget: Budget, new_caller: MakeCaller, redis: Redis
) -> None:
    caller = new_caller(capacity=20, restore_rate=10)
    assert await budget.charge(caller, 1) == BucketState(True, 19.0, 0.0, 0.1)
    ttl = await redis.pttl(bucket_key(caller))
    assert 1000 < ttl <= 1100
    await asyncio.sleep(ttl / 1000 + 0.1)
    assert await redis.exists(bucket_key(caller)) == 0
    assert await budget.peek(caller) == BucketState(True, 20.0, 0.0, 0.0)


async def test_the_bucket_is_kept_in_redis_time_and_shared_by_instances(
    redis_url: str, redis: Redis, new_caller: MakeCaller
) -> None:
    caller = new_caller(capacity=20, restore_rate=1)
    first_client = create_redis_client(redis_url)
    second_client = create_redis_client(redis_url)
    try:
        first = Budget(first_client, local=LocalBuckets(), on_local=local_bucket_used)
        second = Budget(second_client, local=LocalBuckets(), on_local=local_bucket_used)

        # A TAT planted 15 s after Redis's TIME leaves 5 of 20 points, in Redis's clock only.
        started = time.monotonic()
        planted = await redis_now_us(redis) + 15_000_000
        await redis.set(bucket_key(caller), str(planted), px=20_000)
        seen = await first.peek(caller)
        assert 5 - EPS <= seen.available <= 5 + (time.monotonic() - started) + EPS

        assert (await second.charge(caller, 5)).allowed
        refused = await first.charge(caller, 1)
        elapsed = time.monotonic() - started
        assert not refused.allowed
        assert 0 <= refused.available <= elapsed + EPS

        # What an instance writes is a TAT in Redis's microseconds, too.
        stored = await redis.get(bucket_key(caller))
        assert stored is not None
        ahead = (int(stored) - await redis_now_us(redis)) / 1_000_000
        assert 20 - (time.monotonic() - started) - EPS <= ahead <= 20 + EPS
    finally:
        await first_client.aclose()
        await second_client.aclose()


def budget_on_a_clock(client: Redis, clock: Clock, local_decisions: list[None]) -> Budget:
    """A budget whose local bucket reads `clock`, whose guard is probed by hand only; each
    local decision is noted."""
    return Budget(
        client,
        local=LocalBuckets(clock=clock),
        guard=RedisGuard(client, probe_interval=3600, first_probe_at_once=False),
        on_local=lambda: local_decisions.append(None),
    )


async def test_unreachable_redis_falls_back_to_a_local_bucket_that_still_limits() -> None:
    client = create_redis_client(f"redis://127.0.0.1:{free_port()}/0")
    clock = Clock()
    local_decisions: list[None] = []
    budget = budget_on_a_clock(client, clock, local_decisions)
    caller = Caller(
        tier=Tier(name="user", capacity=20, restore_rate=10, max_query=20),
        key=f"user:{uuid.uuid4().hex}",
    )
    try:
        approx_state(
            await budget.charge(caller, 15),
            allowed=True,
            available=5,
            retry_after=0,
            full_after=1.5,
        )
        assert budget.degraded
        approx_state(
            await budget.charge(caller, 10),
            allowed=False,
            available=5,
            retry_after=0.5,
            full_after=1.5,
        )
        approx_state(
            await budget.charge(caller, 5), allowed=True, available=0, retry_after=0, full_after=2
        )
        clock.now += 0.3
        approx_state(
            await budget.peek(caller), allowed=True, available=3, retry_after=0, full_after=1.7
        )
        approx_state(
            await budget.refund(caller, 100),
            allowed=True,
            available=20,
            retry_after=0,
            full_after=0,
        )
        assert len(local_decisions) == 5
    finally:
        assert budget.guard is not None
        await budget.guard.close()
        await client.aclose()


async def test_a_failed_redis_is_never_tried_again_on_a_request() -> None:
    connections = 0

    async def accept_and_hang_up(
        _reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    server = await asyncio.start_server(accept_and_hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = create_redis_client(f"redis://127.0.0.1:{port}/0")
    clock = Clock()
    local_decisions: list[None] = []
    budget = budget_on_a_clock(client, clock, local_decisions)
    assert budget.guard is not None
    caller = Caller(
        tier=Tier(name="user", capacity=1000, restore_rate=50, max_query=1000),
        key=f"user:{uuid.uuid4().hex}",
    )
    try:
        assert (await budget.charge(caller, 1)).allowed
        assert connections == 1
        for _ in range(20):
            clock.now += 0.5
            assert (await budget.charge(caller, 1)).allowed
        states = await asyncio.gather(*(budget.charge(caller, 1) for _ in range(10)))
        assert all(state.allowed for state in states)
        assert connections == 1  # requests never probe: the guard's background probe does
        assert await budget.guard.probe_once() == ()
        assert connections == 2  # the probe's one attempt, and Redis is still away
        assert (await budget.charge(caller, 1)).allowed
        assert connections == 2
        assert len(local_decisions) == 32
    finally:
        await budget.guard.close()
        await client.aclose()
        server.close()
        await server.wait_closed()


async def test_redis_decides_again_once_the_probe_finds_it_back(
    redis: Redis, new_caller: MakeCaller
) -> None:
    caller = new_caller(capacity=20, restore_rate=10)
    clock = Clock()
    guard = RedisGuard(redis, probe_interval=3600, first_probe_at_once=False)
    local_decisions: list[None] = []
    budget = Budget(
        redis,
        local=LocalBuckets(clock=clock),
        guard=guard,
        on_local=lambda: local_decisions.append(None),
    )
    guard.failed([bucket_key(caller)], ConnectionError("gone"))  # an outage was just seen

    approx_state(
        await budget.charge(caller, 5), allowed=True, available=15, retry_after=0, full_after=0.5
    )
    assert len(local_decisions) == 1
    assert await redis.exists(bucket_key(caller)) == 0

    assert await guard.probe_once()
    # Redis's bucket is untouched by the local spending: 15 left of a fresh 20.
    assert await budget.charge(caller, 5) == BucketState(True, 15.0, 0.0, 0.5)
    assert len(local_decisions) == 1
    assert not budget.degraded
    assert await redis.exists(bucket_key(caller)) == 1
    await guard.close()


async def test_a_bucket_left_under_a_slower_tier_reads_as_empty_not_as_debt(
    budget: Budget, redis: Redis
) -> None:
    key = f"user:{uuid.uuid4().hex}"
    slow = Caller(tier=Tier(name="user", capacity=100, restore_rate=1, max_query=100), key=key)
    fast = Caller(tier=Tier(name="user", capacity=100, restore_rate=1_000, max_query=100), key=key)
    try:
        assert (await budget.charge(slow, 100)).allowed  # full again in 100 s at 1/s
        # At 1,000/s the same bucket fills in 0.1 s: empty now, never 100 s in debt.
        assert (await budget.peek(fast)).available == pytest.approx(0, abs=1)
        await budget.charge(fast, 100)
        await asyncio.sleep(0.2)
        assert (await budget.charge(fast, 50)).allowed
    finally:
        await redis.delete(bucket_key(fast))


async def test_a_hung_redis_on_the_shared_connection_falls_back_to_the_local_bucket(
    own_redis: EmbeddedServer,
) -> None:
    """A SIGSTOPped Redis: the shared connection gives up at its deadline, the guarded call at
    its own and opens the breaker; from then on the local bucket decides at once."""
    client = create_redis_client(own_redis.url)
    multiplexed = multiplexed_for(own_redis.url, deadline=0.05)
    assert multiplexed is not None
    guard = RedisGuard(client, deadline=0.05, probe_interval=60, first_probe_at_once=False)
    local_decisions: list[None] = []
    budget = Budget(
        client,
        local=LocalBuckets(),
        guard=guard,
        multiplexed=multiplexed,
        on_local=lambda: local_decisions.append(None),
    )
    caller = Caller(
        tier=Tier(name="user", capacity=20, restore_rate=10, max_query=20),
        key=f"user:{uuid.uuid4().hex}",
    )
    try:
        assert (await budget.charge(caller, 5)).allowed  # answered on the shared connection
        assert local_decisions == []
        own_redis.process.send_signal(signal.SIGSTOP)
        started = time.monotonic()
        assert (await budget.charge(caller, 5)).allowed
        first = time.monotonic() - started
        assert len(local_decisions) == 1
        assert budget.degraded
        started = time.monotonic()
        assert not (await budget.charge(caller, 30)).allowed
        assert time.monotonic() - started < 0.02  # the breaker is open: nothing waits
        assert first < 1.0  # the two deadlines, and the guard's look at a busy loop
    finally:
        await multiplexed.close()
        await guard.close()
        await client.aclose()
