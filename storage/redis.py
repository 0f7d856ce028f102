"""The Redis client (redis-py asyncio)."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

PING_TIMEOUT = 1.0


def create_redis_client(url: str) -> Redis:
    return Redis.from_url(
        url,
        socket_timeout=2.0,
        socket_connect_timeout=1.0,
        health_check_interval=30,
    )


async def redis_reachable(client: Redis) -> bool:
    try:
        await asyncio.wait_for(client.ping(), timeout=PING_TIMEOUT)
    except Exception:  # noqa: BLE001 -- any failure means "not reachable" to a health check
        return False
    return True
