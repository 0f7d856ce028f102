"""Refresh-token families: rotation, reuse detection and revocation, over an in-memory store
that stands in for models/refresh_token.py."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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

NOW = datetime(2030, 1, 1, tzinfo=UTC)
TTL = 3600


@dataclass
class Row:
    token_hash: str
    family_id: PydanticObjectId
    user_id: PydanticObjectId
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None


class Store:
    """The model functions auth/refresh.py calls, with MongoDB's semantics."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        # Runs between a claim and the successor's insert, to stage a race.
        self.after_claim: list[Callable[[], Awaitable[None]]] = []

    async def insert_token(
        self,
        token_hash: str,
        *,
        family_id: PydanticObjectId,
        user_id: PydanticObjectId,
        created_at: datetime,
        expires_at: datetime,
    ) -> Row:
        row = Row(token_hash, family_id, user_id, created_at, expires_at)
        self.rows[token_hash] = row
        return row

    async def find_token(self, token_hash: str) -> Row | None:
        return self.rows.get(token_hash)

    async def claim_token(self, token_hash: str, *, at: datetime) -> Row | None:
        row = self.rows.get(token_hash)
        if row is None or row.used_at or row.revoked_at or row.expires_at <= at:
            return None
        row.used_at = at
        for action in self.after_claim:
            await action()
        return row

    async def revoke_family(
        self, user_id: PydanticObjectId, *, family_id: PydanticObjectId, at: datetime
    ) -> None:
        for row in self.rows.values():
            if row.user_id == user_id and row.family_id == family_id and row.revoked_at is None:
                row.revoked_at = at

    async def revoke_all_families(self, user_id: PydanticObjectId, *, at: datetime) -> None:
        for row in self.rows.values():
            if row.user_id == user_id and row.revoked_at is None:
                row.revoked_at = at

    def row(self, token: str) -> Row:
        return self.rows[hash_refresh_token(token)]


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Store:
    fake = Store()
    for name in (
        "insert_token",
        "find_token",
        "claim_token",
        "revoke_family",
        "revoke_all_families",
    ):
        monkeypatch.setattr(refresh, name, getattr(fake, name))
    return fake


def test_refresh_tokens_are_stored_as_sha256() -> None:
    token = "an-opaque-refresh-token"
    stored = hash_refresh_token(token)
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert hash_refresh_token(token + "x") != stored


async def test_only_the_hash_is_stored(store: Store) -> None:
    issued = await start_family(PydanticObjectId(), ttl_seconds=TTL, now=NOW)
    assert len(issued.token) >= 43  # 256 bits, url-safe
    assert list(store.rows) == [hash_refresh_token(issued.token)]
    assert store.row(issued.token).expires_at == NOW + timedelta(seconds=TTL)


async def test_rotation_stays_in_the_family_and_slides_the_expiry(store: Store) -> None:
    first = await start_family(PydanticObjectId(), ttl_seconds=TTL, now=NOW)
    later = NOW + timedelta(minutes=10)
    second = await rotate(first.token, ttl_seconds=TTL, now=later)
    assert (second.family_id, second.user_id) == (first.family_id, first.user_id)
    assert second.token != first.token
    assert store.row(first.token).used_at == later
    assert store.row(second.token).expires_at == later + timedelta(seconds=TTL)


async def test_reuse_revokes_the_whole_family(store: Store) -> None:
    first = await start_family(PydanticObjectId(), ttl_seconds=TTL, now=NOW)
    second = await rotate(first.token, ttl_seconds=TTL, now=NOW)
    with pytest.raises(RefreshTokenReusedError):
        await rotate(first.token, ttl_seconds=TTL, now=NOW)
    assert store.row(second.token).revoked_at == NOW
    with pytest.raises(InvalidRefreshTokenError):
        await rotate(second.token, ttl_seconds=TTL, now=NOW)


async def test_other_families_survive_a_reuse(store: Store) -> None:
    user_id = PydanticObjectId()
    first = await start_family(user_id, ttl_seconds=TTL, now=NOW)
    other = await start_family(user_id, ttl_seconds=TTL, now=NOW)
    await rotate(first.token, ttl_seconds=TTL, now=NOW)
    with pytest.raises(RefreshTokenReusedError):
        await rotate(first.token, ttl_seconds=TTL, now=NOW)
    await rotate(other.token, ttl_seconds=TTL, now=NOW)


async def test_expired_unknown_and_revoked_tokens_are_refused(store: Store) -> None:
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


async def test_a_revocation_racing_a_rotation_still_catches_the_successor(store: Store) -> None:
    first = await start_family(PydanticObjectId(), ttl_seconds=TTL, now=NOW)

    async def logout_meanwhile() -> None:
        await revoke_token_family(first.token, now=NOW)

    store.after_claim.append(logout_meanwhile)
    successor = await rotate(first.token, ttl_seconds=TTL, now=NOW)
    assert store.row(successor.token).revoked_at == NOW


async def test_logout_is_idempotent_but_refuses_what_it_cannot_vouch_for(store: Store) -> None:
    first = await start_family(PydanticObjectId(), ttl_seconds=TTL, now=NOW)
    second = await rotate(first.token, ttl_seconds=TTL, now=NOW)
    # A retired token still names its family: logging out with it revokes the family.
    await revoke_token_family(first.token, now=NOW)
    assert store.row(second.token).revoked_at == NOW
    await revoke_token_family(second.token, now=NOW)
    with pytest.raises(InvalidRefreshTokenError):
        await revoke_token_family("never-issued", now=NOW)
    expired = await start_family(PydanticObjectId(), ttl_seconds=TTL, now=NOW)
    with pytest.raises(InvalidRefreshTokenError):
        await revoke_token_family(expired.token, now=NOW + timedelta(seconds=TTL))
