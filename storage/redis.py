"""The Redis client (redis-py asyncio)."""

from __future__ import annotations

import asyncio

from redis.asyncio import BlockingConnectionPool, Redis

PING_TIMEOUT = 1.0


# Connections per process: a burst of requests waits for one (up to the socket timeout)
# instead of opening hundreds at once, some of which would time out connecting.
MAX_CONNECTIONS = 64


def create_redis_client(url: str) -> Redis:
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=2.0,
        socket_timeout=2.0,
        socket_connect_timeout=1.0,
        health_check_interval=30,
    )
    return Redis.from_pool(pool)  # the client owns the pool: aclose() closes it too


async def redis_reachable(client: Redis) -> bool:
    try:
        await asyncio.wait_for(client.ping(), timeout=PING_TIMEOUT)
    except Exception:  # noqa: BLE001 -- any failure means "not reachable" to a health check
        return False
    return True
