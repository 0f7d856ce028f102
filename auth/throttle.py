"""Failed-login throttling: at most 5 failures per email and 20 per client address in a
15-minute window; further attempts are refused until the window passes.

Each attempt *reserves* a failure on both counters before the password is checked, so a burst
of concurrent guesses cannot all slip through before the first failure is counted; a success
hands its reservation back. The counters live in Redis (one key per counter, each its own hash
tag, so Redis Cluster works); when Redis cannot be reached, sign-in keeps working on counters
held by this process.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from storage.redis_guard import UNAVAILABLE, RedisGuard

log = logging.getLogger("taskql.auth")

EMAIL_LIMIT = 5
ADDRESS_LIMIT = 20
WINDOW_SECONDS = 15 * 60
KEY_PREFIX = "taskql:v1:"

# Refuse without counting once the limit is reached (a refused attempt is not a failure, and
# must not stretch the window); otherwise count, and start the window on the first failure.
_RESERVE = """
local ttl = redis.call('TTL', KEYS[1])
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 and ttl < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
if count >= tonumber(ARGV[1]) then
  return {0, ttl}
end
redis.call('INCR', KEYS[1])
if count == 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {1, ttl}
"""

# Never DECR a key that has expired: that would create one without a TTL.
_RELEASE = """
if redis.call('EXISTS', KEYS[1]) == 1 and redis.call('DECR', KEYS[1]) <= 0 then
  redis.call('DEL', KEYS[1])
end
return 0
"""

_FALLBACK_PRUNE_SIZE = 10_000


class LoginThrottledError(Exception):
    """Too many failed sign-ins: refused for `retry_after` more seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"throttled for {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class LoginAttempt:
    """The counters one attempt reserved a failure on."""

    email_key: str
    address_key: str


def email_key(email: str) -> str:
    # Digests keep addresses (personal data, attacker-chosen characters) out of key names.
    return f"{KEY_PREFIX}{{login_email:{_digest(email)}}}:failures"


def address_key(address: str) -> str:
    return f"{KEY_PREFIX}{{login_address:{_digest(address)}}}:failures"


class LocalCounters:
    """The per-process stand-in for the Redis counters while Redis is unreachable, and the
    memory of that outage (so each login does not wait for Redis to time out again).

    It must outlive requests, so one instance belongs to the app (see resolvers/auth.py)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._counters: dict[str, tuple[int, float]] = {}
        # Whether the last login found Redis away (counted here since).
        self.in_use = False

    def reserve(self, key: str, *, limit: int, window: int) -> tuple[bool, int]:
        """(granted, seconds left in the window), like the Redis script."""
        now = self.clock()
        self._prune(now)
        count, expires = self._counters.get(key, (0, now + window))
        if count > 0 and expires <= now:
            count, expires = 0, now + window
        retry_after = max(1, math.ceil(expires - now))
        if count >= limit:
            return False, retry_after
        self._counters[key] = (count + 1, expires)
        return True, retry_after

    def release(self, key: str) -> None:
        count, expires = self._counters.get(key, (0, 0.0))
        if count <= 1 or expires <= self.clock():
            self._counters.pop(key, None)
        else:
            self._counters[key] = (count - 1, expires)

    def reset(self, key: str) -> None:
        self._counters.pop(key, None)

    def _prune(self, now: float) -> None:
        if len(self._counters) < _FALLBACK_PRUNE_SIZE:
            return
        self._counters = {k: v for k, v in self._counters.items() if v[1] > now}


class LoginThrottle:
    """One request's view of the failed-login counters."""

    def __init__(
        self,
        guard: RedisGuard,
        *,
        fallback: LocalCounters,
        email_limit: int = EMAIL_LIMIT,
        address_limit: int = ADDRESS_LIMIT,
        window_seconds: int = WINDOW_SECONDS,
    ) -> None:
        self._guard = guard
        self._redis = guard.client
        self._fallback = fallback
        self._email_limit = email_limit
        self._address_limit = address_limit
        self._window = window_seconds

    async def begin(self, *, email: str, address: str) -> LoginAttempt:
        """Reserve a failure on the email's and the address's counters, or LoginThrottledError."""
        attempt = LoginAttempt(email_key=email_key(email), address_key=address_key(address))
        granted, retry_after = await self._reserve(attempt.email_key, limit=self._email_limit)
        if not granted:
            raise LoginThrottledError(retry_after)
        granted, retry_after = await self._reserve(attempt.address_key, limit=self._address_limit)
        if not granted:
            await self._release(attempt.email_key)
            raise LoginThrottledError(retry_after)
        return attempt

    async def succeeded(self, attempt: LoginAttempt) -> None:
        """The password was right: the email's failures are forgiven, but the address keeps
        its own (a valid account of one's own must not reset a guessing budget)."""
        await self._reset(attempt.email_key)
        await self._release(attempt.address_key)

    async def abandon(self, attempt: LoginAttempt) -> None:
        """The attempt ended without a verdict (an internal error): it was no failure."""
        await self._release(attempt.email_key)
        await self._release(attempt.address_key)

    async def _reserve(self, key: str, *, limit: int) -> tuple[bool, int]:
        script = self._redis.register_script(_RESERVE)
        reply = await self._on_redis(key, lambda: script(keys=[key], args=[limit, self._window]))
        if reply is UNAVAILABLE:
            return self._fallback.reserve(key, limit=limit, window=self._window)
        granted, ttl = reply
        return bool(granted), max(1, int(ttl))

    async def _release(self, key: str) -> None:
        script = self._redis.register_script(_RELEASE)
        if await self._on_redis(key, lambda: script(keys=[key])) is UNAVAILABLE:
            self._fallback.release(key)

    async def _reset(self, key: str) -> None:
        if await self._on_redis(key, lambda: self._redis.delete(key)) is UNAVAILABLE:
            self._fallback.reset(key)

    async def _on_redis(self, key: str, command: Callable[[], Awaitable[Any]]) -> Any:
        """The command's reply, or UNAVAILABLE: the key's node is down (the shared guard
        keeps logins from waiting on it)."""
        reply = await self._guard.run([key], command)
        fallback = self._fallback
        if reply is UNAVAILABLE and not fallback.in_use:
            log.warning("Redis unreachable: counting failed logins in this process only")
        elif reply is not UNAVAILABLE and fallback.in_use:
            log.warning("Redis reachable again: failed logins are counted in Redis")
        fallback.in_use = reply is UNAVAILABLE
        return reply


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]
