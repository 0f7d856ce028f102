"""Failed-login throttling: key names, the per-process counters, and the fallback they give
when Redis cannot be reached."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from auth.throttle import (
    ADDRESS_LIMIT,
    EMAIL_LIMIT,
    WINDOW_SECONDS,
    LocalCounters,
    LoginThrottle,
    LoginThrottledError,
    address_key,
    email_key,
)
from storage.ports import free_loopback_port
from storage.redis_guard import RedisGuard


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_contract_thresholds() -> None:
    assert (EMAIL_LIMIT, ADDRESS_LIMIT, WINDOW_SECONDS) == (5, 20, 900)


def test_keys_are_prefixed_hash_tagged_and_carry_no_personal_data() -> None:
    for key, secret in ((email_key("ada@example.com"), "ada"), (address_key("10.1.2.3"), "10.1")):
        assert key.startswith("taskql:v1:{")
        tag = key[key.index("{") + 1 : key.index("}")]
        assert tag
        assert secret not in key
    assert email_key("ada@example.com") != address_key("ada@example.com")
    assert email_key("ada@example.com") == email_key("ada@example.com")


def test_local_counters_refuse_at_the_limit_until_the_window_passes() -> None:
    clock = FakeClock()
    counters = LocalCounters(clock=clock)
    assert [counters.reserve("k", limit=3, window=60)[0] for _ in range(3)] == [True] * 3
    clock.now += 10
    assert counters.reserve("k", limit=3, window=60) == (False, 50)
    # A refused attempt does not stretch the window.
    clock.now += 49.5
    assert counters.reserve("k", limit=3, window=60) == (False, 1)
    clock.now += 0.5
    assert counters.reserve("k", limit=3, window=60) == (True, 60)


def test_local_counters_release_and_reset() -> None:
    counters = LocalCounters(clock=FakeClock())
    for _ in range(3):
        counters.reserve("k", limit=3, window=60)
    counters.release("k")
    assert counters.reserve("k", limit=3, window=60)[0]
    assert not counters.reserve("k", limit=3, window=60)[0]
    counters.reset("k")
    assert counters.reserve("k", limit=3, window=60)[0]
    counters.release("missing")  # harmless


@pytest.fixture
async def unreachable_redis() -> AsyncIterator[RedisGuard]:
    client = Redis(host="127.0.0.1", port=free_loopback_port(), socket_connect_timeout=0.5)
    guard = RedisGuard(client, probe_interval=3600, first_probe_at_once=False)
    yield guard
    await guard.close()
    await client.aclose()


async def test_without_redis_the_process_counts_failures_per_email(
    unreachable_redis: RedisGuard, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    fallback = LocalCounters(clock=clock)
    throttle = LoginThrottle(unreachable_redis, fallback=fallback)
    with caplog.at_level(logging.WARNING, logger="taskql.auth"):
        for _ in range(EMAIL_LIMIT):
            await throttle.begin(email="ada@example.com", address="10.0.0.1")
        with pytest.raises(LoginThrottledError) as caught:
            await throttle.begin(email="ada@example.com", address="10.0.0.1")
    assert caught.value.retry_after == WINDOW_SECONDS
    assert fallback.in_use
    outage_logs = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(outage_logs) == 1  # once per outage, not once per attempt
    # Another email from the same address is still allowed.
    await throttle.begin(email="bob@example.com", address="10.0.0.1")
    clock.now += WINDOW_SECONDS
    await throttle.begin(email="ada@example.com", address="10.0.0.1")


async def test_without_redis_the_process_counts_failures_per_address(
    unreachable_redis: RedisGuard,
) -> None:
    throttle = LoginThrottle(unreachable_redis, fallback=LocalCounters(clock=FakeClock()))
    for index in range(ADDRESS_LIMIT):
        await throttle.begin(email=f"user{index}@example.com", address="10.0.0.2")
    with pytest.raises(LoginThrottledError):
        await throttle.begin(email="fresh@example.com", address="10.0.0.2")
    # The refused attempt handed back its reservation on the email.
    other = await throttle.begin(email="fresh@example.com", address="10.0.0.3")
    assert other.email_key == email_key("fresh@example.com")


async def test_success_forgives_the_email_but_not_the_address(
    unreachable_redis: RedisGuard,
) -> None:
    fallback = LocalCounters(clock=FakeClock())
    throttle = LoginThrottle(unreachable_redis, fallback=fallback, address_limit=6)
    for _ in range(EMAIL_LIMIT - 1):
        await throttle.begin(email="ada@example.com", address="10.0.0.4")
    attempt = await throttle.begin(email="ada@example.com", address="10.0.0.4")
    await throttle.succeeded(attempt)
    # The email starts afresh; the address keeps its 4 failures (the success gave its own back).
    await throttle.begin(email="ada@example.com", address="10.0.0.4")
    await throttle.begin(email="ada@example.com", address="10.0.0.4")
    with pytest.raises(LoginThrottledError):
        await throttle.begin(email="ada@example.com", address="10.0.0.4")


async def test_abandoned_attempt_is_no_failure(unreachable_redis: RedisGuard) -> None:
    throttle = LoginThrottle(unreachable_redis, fallback=LocalCounters(clock=FakeClock()))
    for _ in range(EMAIL_LIMIT * 2):
        await throttle.abandon(await throttle.begin(email="ada@example.com", address="10.0.0.5"))
    await throttle.begin(email="ada@example.com", address="10.0.0.5")
