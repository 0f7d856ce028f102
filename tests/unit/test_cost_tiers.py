"""Who pays for an operation: `caller_for` keys a signed-in user by id at their tier (an unknown
tier pays as "user") and anyone else by a digest of their address, never the address itself;
`tiers_from` builds the contract's tier table."""

from __future__ import annotations

import hashlib

import pytest

from cost.tiers import Caller, Tier, caller_for, tiers_from
from settings import DEFAULT_COST_TIERS

TIERS = tiers_from(DEFAULT_COST_TIERS)


def test_the_contract_tiers() -> None:
    tiers = tiers_from(DEFAULT_COST_TIERS)
    assert tiers == {
        "anonymous": Tier(name="anonymous", capacity=200, restore_rate=10, max_query=200),
        "user": Tier(name="user", capacity=1000, restore_rate=50, max_query=1000),
        "pro": Tier(name="pro", capacity=10_000, restore_rate=500, max_query=5000),
    }
    assert tiers["user"].refill_seconds == 20.0


@pytest.mark.parametrize(("user_tier", "expected"), [("user", "user"), ("pro", "pro")])
def test_a_signed_in_user_pays_from_their_own_bucket_at_their_tier(
    user_tier: str, expected: str
) -> None:
    caller = caller_for(TIERS, user_id="66f0c0ffee", user_tier=user_tier, address="203.0.113.9")
    assert caller == Caller(tier=TIERS[expected], key="user:66f0c0ffee")


@pytest.mark.parametrize("user_tier", [None, "gold", ""])
def test_a_missing_or_unknown_tier_pays_as_user(user_tier: str | None) -> None:
    caller = caller_for(TIERS, user_id="66f0c0ffee", user_tier=user_tier, address="203.0.113.9")
    assert caller == Caller(tier=TIERS["user"], key="user:66f0c0ffee")


def test_a_signed_in_user_never_pays_as_anonymous() -> None:
    caller = caller_for(TIERS, user_id="66f0c0ffee", user_tier="anonymous", address="203.0.113.9")
    assert caller.tier == TIERS["user"]


def test_anyone_else_pays_from_a_digest_of_their_address() -> None:
    address = "203.0.113.9"
    caller = caller_for(TIERS, user_id=None, user_tier="pro", address=address)
    digest = hashlib.sha256(address.encode()).hexdigest()[:24]
    assert caller == Caller(tier=TIERS["anonymous"], key=f"anonymous:{digest}")
    assert address not in caller.key
    assert caller_for(TIERS, user_id=None, user_tier=None, address=address) == caller
    other = caller_for(TIERS, user_id=None, user_tier=None, address="203.0.113.10")
    assert other.key != caller.key
