"""Refresh-token families: rotation, reuse detection and revocation, on the real database."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from beanie import PydanticObjectId

from auth import refresh
from auth.refresh import (
    InvalidRefreshTokenError,
    RefreshTokenReusedError,
    hash_refresh_token,
    revoke_every_family,
    revoke_token_family,
    rotate,
    start_family,
)
from models.refresh_token import RefreshTokenDocument, find_token

NOW = datetime(2030, 1, 1, tzinfo=UTC)
TTL = 3600


@pytest.fixture
def after_claim(monkeypatch: pytest.MonkeyPatch) -> list[Callable[[], Awaitable[None]]]:
    """Actions run between a token's claim and its successor's insert, to stage a race."""
    actions: list[Callable[[], Awaitable[None]]] = []
    claim = refresh.claim_token

    async def claim_then_act(token_hash: str, *, at: datetime) -> RefreshTokenDocument | None:
        claimed = await claim(token_hash, at=at)
        for action in actions:
            await action()
        return claimed

    monkeypatch.setattr(refresh, "claim_token", claim_then_act)
    return actions


async def stored(token: str) -> RefreshTokenDocument:
    document = await find_token(hash_refresh_token(token))
    assert document is not None
    return document


def test_refresh_tokens_are_stored_as_sha256() -> None:
    token = "an-opaque-refresh-token"
    digest = hash_refresh_token(token)
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    assert hash_refresh_token(token + "x") != digest


async def test_only_the_hash_is_stored(models_db: str) -> None:
    issued = await start_family(PydanticObjectId(), ttl_seconds=TTL, now=NOW)
    assert len(issued.token) >= 43  # 256 bits, url-safe
    assert [d.token_hash for d in await RefreshTokenDocument.find_all().to_list()] == [
        hash_refresh_token(issued.token)
    ]
    assert (await stored(issued.token)).expires_at == NOW + timedelta(seconds=TTL)


async def test_rotation_stays_in_the_family_and_slides_the_expiry(models_db: str) -> None:
    first = await start_family(PydanticObjectId(), ttl_seconds=TTL, now=NOW)
    later = NOW + timedelta(minutes=10)
    second = await rotate(first.token, ttl_seconds=TTL, now=later)
    assert (second.family_id, second.user_id) == (first.family_id, first.user_id)
    assert second.token != first.token
    assert (await stored(first.token)).used_at == later
    assert (await stored(second.token)).expires_at == later + timedelta(seconds=TTL)


async def test_reuse_revokes_the_whole_family(models_db: str) -> None:
    first = await start_family(PydanticObjectId(), ttl_seconds=TTL, now=NOW)
    second = await rotate(first.token, ttl_seconds=TTL, now=NOW)
    with pytest.raises(RefreshTokenReusedError):
        await rotate(first.token, ttl_seconds=TTL, now=NOW)
    assert (await stored(second.token)).revoked_at == NOW
    with pytest.raises(InvalidRefreshTokenError):
        await rotate(second.token, ttl_seconds=TTL, now=NOW)


async def test_other_families_survive_a_reuse(models_db: str) -> None:
    user_id = PydanticObjectId()
    first = await start_family(user_id, ttl_seconds=TTL, now=NOW)
    other = await start_family(user_id, ttl_seconds=TTL, now=NOW)
    await rotate(first.token, ttl_seconds=TTL, now=NOW)
    with pytest.raises(RefreshTokenReusedError):
        await rotate(first.token, ttl_seconds=TTL, now=NOW)
    await rotate(other.token, ttl_seconds=TTL, now=NOW)


async def test_expired_unknown_and_revoked_tokens_are_refused(models_db: str) -> None:
    user_id = PydanticObjectId()
    expired = await start_family(user_id, ttl_seconds=TTL, now=NOW)
    with pytest.raises(InvalidRefreshTokenError) as caught:
        await rotate(expired.token, ttl_seconds=TTL, now=NOW + timedelta(seconds=TTL))
    assert not isinstance(caught.value, RefreshTokenReusedError)
    with pytest.raises(InvalidRefreshTokenError):
        await rotate("never-issued", ttl_seconds=TTL, now=NOW)
    revoked = await start_family(user_id, ttl_seconds=TTL, now=NOW)
    await revoke_every_family(user_id, now=NOW)
    with pytest.raises(InvalidRefreshTokenError):
        await rotate(revoked.token, ttl_seconds=TTL, now=NOW)


async def test_a_revocation_racing_a_rotation_still_catches_the_successor(
    models_db: str, after_claim: list[Callable[[], Awaitable[None]]]
) -> None:
    first = await start_family(PydanticObjectId(), ttl_seconds=TTL, now=NOW)

    async def logout_meanwhile() -> None:
        await revoke_token_family(first.token, now=NOW)

    after_claim.append(logout_meanwhile)
    successor = await rotate(first.token, ttl_seconds=TTL, now=NOW)
    assert (await stored(successor.token)).revoked_at == NOW


async def test_logout_is_idempotent_but_refuses_what_it_cannot_vouch_for(models_db: str) -> None:
    first = await start_family(PydanticObjectId(), ttl_seconds=TTL, now=NOW)
    second = await rotate(first.token, ttl_seconds=TTL, now=NOW)
    # A retired token still names its family: logging out with it revokes the family.
    await revoke_token_family(first.token, now=NOW)
    assert (await stored(second.token)).revoked_at == NOW
    await revoke_token_family(second.token, now=NOW)
    with pytest.raises(InvalidRefreshTokenError):
        await revoke_token_family("never-issued", now=NOW)
    expired = await start_family(PydanticObjectId(), ttl_seconds=TTL, now=NOW)
    with pytest.raises(InvalidRefreshTokenError):
        await revoke_token_family(expired.token, now=NOW + timedelta(seconds=TTL))
