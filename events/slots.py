"""How many subscriptions each user holds open, across every instance: one sorted set per user
in Redis (members expire unless the instance holding them renews them), so a crashed instance
frees its users' slots within a minute. While Redis is unreachable, each instance counts its
own subscriptions only."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from beanie import PydanticObjectId

from storage.redis import RedisClient
from storage.redis_guard import UNAVAILABLE, RedisGuard

log = logging.getLogger("taskql.events")

SLOT_TTL_MS = 60_000

# KEYS[1]: the user's set. ARGV: member, limit, ttl in ms, then the members this instance
# already holds (re-added: some may have been granted while Redis was away). Expired go first.
_ACQUIRE = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for index = 4, #ARGV do
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[index])
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""

# KEYS[1]: the user's set. ARGV: ttl in ms, then the members this instance still holds
# (added if missing: granted while Redis was away, or expired during an outage).
_RENEW = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
for index = 2, #ARGV do
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[index])
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
return 0
"""


def slots_key(owner_id: PydanticObjectId) -> str:
    return f"tq:subs:{{{owner_id}}}"


class SubscriptionSlots:
    def __init__(
        self, redis: RedisClient, *, guard: RedisGuard | None = None, ttl_ms: int = SLOT_TTL_MS
    ) -> None:
        self.redis = redis
        self.guard = guard if guard is not None else RedisGuard(redis)
        self.ttl_ms = ttl_ms
        self._held: dict[PydanticObjectId, set[str]] = {}
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._renew_forever(), name="taskql-subscription-slots")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def acquire(self, owner_id: PydanticObjectId, slot: str, *, limit: int) -> bool:
        held = self._held.setdefault(owner_id, set())
        key = slots_key(owner_id)
        reply = await self.guard.run(
            [key], lambda: self._acquire(keys=[key], args=[slot, limit, self.ttl_ms, *held])
        )
        # Redis away: this instance's own count.
        granted = len(held) < limit if reply is UNAVAILABLE else bool(int(reply))
        if granted:
            held.add(slot)
        elif not held:
            del self._held[owner_id]
        return granted

    async def release(self, owner_id: PydanticObjectId, slot: str) -> None:
        held = self._held.get(owner_id)
        if held is not None:
            held.discard(slot)
            if not held:
                del self._held[owner_id]
        key = slots_key(owner_id)
        # Unavailable: the member expires on its own.
        await self.guard.run([key], lambda: self.redis.zrem(key, slot))

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_ms / 1000 / 3)
            for owner_id, slots in list(self._held.items()):
                if slots:
                    key = slots_key(owner_id)
                    await self.guard.run(
                        [key],
                        lambda key=key, slots=slots: self._renew(  # type: ignore[misc]
                            keys=[key], args=[self.ttl_ms, *slots]
                        ),
                    )
