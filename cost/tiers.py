"""Who pays for an operation: the caller's tier and bucket key (CONTRACT.md's tier table)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

# The tiers a signed-in user can be on; `anonymous` is for callers without a token.
USER_TIERS = frozenset({"user", "pro"})


@dataclass(frozen=True)
class Tier:
    name: str
    capacity: float
    restore_rate: float  # points per second
    max_query: float

    @property
    def refill_seconds(self) -> float:
        """How long an empty bucket takes to fill."""
        return self.capacity / self.restore_rate


@dataclass(frozen=True)
class Caller:
    tier: Tier
    key: str  # the bucket's name, without the store's prefix


def tiers_from(configured: Mapping[str, Mapping[str, float]]) -> dict[str, Tier]:
    return {
        name: Tier(
            name=name,
            capacity=float(values["capacity"]),
            restore_rate=float(values["restore_rate"]),
            max_query=float(values["max_query"]),
        )
        for name, values in configured.items()
    }


def caller_for(
    tiers: Mapping[str, Tier], *, user_id: str | None, user_tier: str | None, address: str
) -> Caller:
    """A signed-in user pays from their own bucket at their tier; anyone else from their
    client address's (a digest: addresses are personal data)."""
    if user_id is not None:
        tier = tiers[user_tier if user_tier in USER_TIERS else "user"]
        return Caller(tier=tier, key=f"user:{user_id}")
    digest = hashlib.sha256(address.encode()).hexdigest()[:24]
    return Caller(tier=tiers["anonymous"], key=f"anonymous:{digest}")
