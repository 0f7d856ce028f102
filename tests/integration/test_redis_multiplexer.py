"""The fast lane's shared Redis connection (storage/redis_multiplexer.py), against real
redis-servers: concurrent calls each get their own reply, scripts load themselves, and a hung,
dead or password-protected server fails calls fast instead of mixing replies up."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from collections.abc import AsyncIterator

import hiredis
import pytest

from storage.embedded import EmbeddedServer
from storage.redis import RedisClient, create_redis_client
from storage.redis_multiplexer import (
    Endpoint,
    MultiplexedRedis,
    RedisLaneError,
    multiplexed_for,
)
from storage.redis_scripts import LuaScript

DEADLINE = 0.05
ECHO = LuaScript("return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}")


@contextlib.asynccontextmanager
async def opened(url: str) -> AsyncIterator[MultiplexedRedis]:
    multiplexed = multiplexed_for(url, deadline=DEADLINE)
    assert multiplexed is not None
    try:
        yield multiplexed
    finally:
        await multiplexed.close()


@pytest.fixture
async def multiplexed(redis_url: str) -> AsyncIterator[MultiplexedRedis]:
    async with opened(redis_url) as opened_one:
        yield opened_one


async def test_concurrent_calls_each_get_their_own_reply(multiplexed: MultiplexedRedis) -> None:
    prefix = f"mux-{uuid.uuid4().hex}"
    keys = [f"{prefix}-{index}" for index in range(300)]
    replies = await asyncio.gather(
        *(multiplexed.evalsha(ECHO, [key], [f"arg-{key}"]) for key in keys)
    )
    assert replies == [[key.encode(), f"arg-{key}".encode(), 1] for key in keys]
    await multiplexed.call("DEL", *keys)


async def test_a_script_redis_lacks_is_sent_whole_and_an_error_reply_raises(
    multiplexed: MultiplexedRedis, redis: RedisClient
) -> None:
    key = f"mux-{uuid.uuid4().hex}"
    await redis.script_flush()
    assert await multiplexed.evalsha(ECHO, [key], ["a"]) == [key.encode(), b"a", 1]
    assert await multiplexed.evalsha(ECHO, [key], ["b"]) == [key.encode(), b"b", 2]
    with pytest.raises(hiredis.ReplyError):
        await multiplexed.evalsha(LuaScript("return redis.call('NOSUCHCOMMAND')"), [key], [])
    assert await multiplexed.call("GET", key) == b"2"  # the connection still answers in order
    await redis.delete(key)


async def test_a_hung_redis_fails_calls_within_the_deadline_and_replies_never_mix(
    own_redis: EmbeddedServer,
) -> None:
    async with opened(own_redis.url) as multiplexed:
        assert await multiplexed.call("SET", "before", "1") == b"OK"
        own_redis.process.send_signal(signal.SIGSTOP)
        started = time.perf_counter()
        results = await asyncio.gather(
            *(multiplexed.call("GET", "before") for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(result, RedisLaneError) for result in results), results
        assert time.perf_counter() - started < 0.5
        own_redis.process.send_signal(signal.SIGCONT)
        # A new connection: the stopped one's late replies never reach these calls.
        answers = await asyncio.gather(*(multiplexed.call("INCR", "after") for _ in range(5)))
        assert sorted(answers) == [1, 2, 3, 4, 5]


async def test_a_dead_redis_fails_calls_at_once(own_redis: EmbeddedServer) -> None:
    async with opened(own_redis.url) as multiplexed:
        assert await multiplexed.call("PING") == b"PONG"
        own_redis.close()
        started = time.perf_counter()
        with pytest.raises(RedisLaneError):
            await multiplexed.call("PING")
        with pytest.raises(RedisLaneError):  # and so does the next one: no connection
            await multiplexed.call("PING")
        assert time.perf_counter() - started < 0.5


async def test_a_password_and_database_from_the_url_are_used(own_redis: EmbeddedServer) -> None:
    admin = create_redis_client(own_redis.url)
    try:
        await admin.config_set("requirepass", "s3cret")
        base = own_redis.url.removesuffix("/0")
        url = base.replace("redis://", "redis://:s3cret@") + "/3"
        async with opened(url) as multiplexed:
            assert await multiplexed.call("SET", "where", "db3") == b"OK"
        in_db3 = create_redis_client(url)
        assert await in_db3.get("where") == b"db3"
        await in_db3.aclose()
        async with opened(url.replace("s3cret", "wrong")) as wrong:
            with pytest.raises(RedisLaneError):
                await wrong.call("PING")
    finally:
        await admin.aclose()


def test_a_cluster_or_tls_keeps_redis_py() -> None:
    assert multiplexed_for("redis+cluster://127.0.0.1:7000", deadline=DEADLINE) is None
    assert multiplexed_for("rediss://127.0.0.1:6380", deadline=DEADLINE) is None
    assert Endpoint.from_url("unix:///run/redis/redis.sock") == Endpoint(
        host="127.0.0.1", port=6379, path="/run/redis/redis.sock"
    )
