"""The generic cell rate algorithm for costs of any size, and its Redis script.

A bucket is one number, the theoretical arrival time (TAT): the instant at which it will be
full again. Charging n points moves it n / rate later, and is refused when that would put it
more than capacity / rate ahead of now; refunding moves it back, never before now (so a
bucket never holds more than its capacity). A TAT further ahead than that (written under a
tier since reconfigured) reads as an empty bucket, never as a debt. Time is the store's: Redis
`TIME` in the script, the process's monotonic clock in the local fallback.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class Mode(StrEnum):
    CHARGE = "charge"
    REFUND = "refund"
    PEEK = "peek"


@dataclass(frozen=True)
class BucketState:
    """The bucket after a decision."""

    allowed: bool
    available: float  # points left now
    retry_after: float  # seconds until a refused charge would fit (0 when allowed)
    full_after: float  # seconds until the bucket is full again

    @property
    def remaining(self) -> int:
        return max(math.floor(self.available), 0)


def decide(
    tat: float, *, now: float, mode: Mode, points: float, capacity: float, rate: float
) -> tuple[BucketState, float]:
    """The pure rule, in seconds: the state and the TAT to store (unless peeking). The Lua
    script mirrors it."""
    per_point = 1.0 / rate
    tolerance = capacity * per_point
    tat = min(max(tat, now), now + tolerance)
    if mode is Mode.CHARGE:
        new_tat = tat + points * per_point
        if new_tat - now > tolerance:
            available = (tolerance - (tat - now)) / per_point
            wait = new_tat - now - tolerance
            # Refused, the bucket is unchanged; storing it keeps a clamped TAT clamped.
            return BucketState(False, available, wait, tat - now), tat
        tat = new_tat
    elif mode is Mode.REFUND:
        tat = max(tat - points * per_point, now)
    available = (tolerance - (tat - now)) / per_point
    return BucketState(True, available, 0.0, tat - now), tat


# The rule in Lua, on the bucket at `key`: `fits` points must fit for the charge to be
# allowed, and `points` (at most `fits`) are taken; the TAT is stored in microseconds of Redis
# time and expires when the bucket would be full anyway. Other scripts include it too (the
# response fast lane charges with its cache read).
LUA_FUNCTION = """
local function gcra(key, mode, points, fits, capacity, rate)
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
  local per_point = 1000000 / rate
  local tolerance = capacity * per_point
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  if tat > now + tolerance then tat = now + tolerance end
  local allowed = 1
  local wait = 0
  if mode == 'charge' then
    if tat + fits * per_point - now > tolerance then
      allowed = 0
      wait = tat + fits * per_point - now - tolerance
    else
      tat = tat + points * per_point
    end
  elseif mode == 'refund' then
    tat = math.max(tat - points * per_point, now)
  end
  if mode ~= 'peek' then
    if tat > now then
      local ttl_ms = math.ceil((tat - now) / 1000) + 1000
      redis.call('SET', key, string.format('%.0f', tat), 'PX', ttl_ms)
    else
      redis.call('DEL', key)
    end
  end
  local available = (tolerance - (tat - now)) / per_point
  return {allowed, string.format('%.6f', available), string.format('%.0f', wait),
          string.format('%.0f', tat - now)}
end
"""

# KEYS[1]: the bucket. ARGV: mode, points, capacity, restore rate, and optionally the points
# that must fit for a charge (default: the points themselves).
SCRIPT = (
    LUA_FUNCTION
    + "return gcra(KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[5] or ARGV[2]), "
    + "tonumber(ARGV[3]), tonumber(ARGV[4]))\n"
)


def state_from_reply(reply: list[object]) -> BucketState:
    allowed, available, wait, full_after = reply
    return BucketState(
        allowed=int(allowed) == 1,  # type: ignore[call-overload]
        available=float(available),  # type: ignore[arg-type]
        retry_after=float(wait) / 1_000_000,  # type: ignore[arg-type]
        full_after=float(full_after) / 1_000_000,  # type: ignore[arg-type]
    )
