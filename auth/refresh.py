"""Refresh-token families: one per sign-in, rotated on every use, revoked as a whole.

A refresh token is opaque (256 random bits) and stored only as its SHA-256: a leaked database
holds nothing that can be presented. Each token is single use; presenting a retired one again
means two parties hold the family (theft), so the whole family is revoked.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from beanie import PydanticObjectId

from models.refresh_token import (
    claim_token,
    find_token,
    insert_token,
    revoke_all_families,
    revoke_family,
)

log = logging.getLogger("taskql.auth")

TOKEN_BYTES = 32


class InvalidRefreshTokenError(Exception):
    """The refresh token is unknown, expired, retired or revoked."""


class RefreshTokenReusedError(InvalidRefreshTokenError):
    """A retired token was presented again: its family has just been revoked."""


@dataclass(frozen=True)
class IssuedRefreshToken:
    token: str
    user_id: PydanticObjectId
    family_id: PydanticObjectId
    expires_at: datetime


def hash_refresh_token(token: str) -> str:
    # The token carries 256 random bits: a fast unsalted hash cannot be brute-forced.
    return hashlib.sha256(token.encode()).hexdigest()


async def start_family(
    user_id: PydanticObjectId, *, ttl_seconds: int, now: datetime
) -> IssuedRefreshToken:
    """The first refresh token of a new family (a sign-in)."""
    return await _issue(user_id, family_id=PydanticObjectId(), ttl_seconds=ttl_seconds, now=now)


async def rotate(token: str, *, ttl_seconds: int, now: datetime) -> IssuedRefreshToken:
    """Retire `token` and issue its successor in the same family.

    InvalidRefreshTokenError when it is unknown, expired or revoked; RefreshTokenReusedError (after
    revoking the family) when it was already used, by a concurrent call included.
    """
    token_hash = hash_refresh_token(token)
    claimed = await claim_token(token_hash, at=now)
    if claimed is None:
        await _refuse(token_hash, now=now)
    successor = await _issue(
        claimed.user_id, family_id=claimed.family_id, ttl_seconds=ttl_seconds, now=now
    )
    # A revocation (logout, reuse, password change) that ran between the claim and the insert
    # missed the successor: seeing it on the claimed token, revoke again to catch it.
    reread = await find_token(token_hash)
    if reread is None or reread.revoked_at is not None:
        await revoke_family(claimed.user_id, family_id=claimed.family_id, at=now)
    return successor


async def revoke_token_family(token: str, *, now: datetime) -> None:
    """Logout: revoke the family `token` belongs to.

    Idempotent for a token that is already revoked or retired (the family ends revoked either
    way); InvalidRefreshTokenError for an unknown token, or an expired one that was never used.
    """
    found = await find_token(hash_refresh_token(token))
    if found is None:
        raise InvalidRefreshTokenError("unknown refresh token")
    if found.revoked_at is not None:
        return
    if found.used_at is None and _expired(found.expires_at, now=now):
        raise InvalidRefreshTokenError("expired refresh token")
    await revoke_family(found.user_id, family_id=found.family_id, at=now)


async def revoke_every_family(user_id: PydanticObjectId, *, now: datetime) -> None:
    await revoke_all_families(user_id, at=now)


async def _issue(
    user_id: PydanticObjectId,
    *,
    family_id: PydanticObjectId,
    ttl_seconds: int,
    now: datetime,
) -> IssuedRefreshToken:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_at = now + timedelta(seconds=ttl_seconds)
    await insert_token(
        hash_refresh_token(token),
        family_id=family_id,
        user_id=user_id,
        created_at=now,
        expires_at=expires_at,
    )
    return IssuedRefreshToken(
        token=token, user_id=user_id, family_id=family_id, expires_at=expires_at
    )


async def _refuse(token_hash: str, *, now: datetime) -> NoReturn:
    """Why a claim failed, raised; a retired token revokes its family on the way."""
    found = await find_token(token_hash)
    if found is None:
        raise InvalidRefreshTokenError("unknown refresh token")
    if found.revoked_at is not None:
        raise InvalidRefreshTokenError("revoked refresh token")
    if found.used_at is not None:
        await revoke_family(found.user_id, family_id=found.family_id, at=now)
        log.warning(
            "retired refresh token reused: family %s of user %s revoked",
            found.family_id,
            found.user_id,
        )
        raise RefreshTokenReusedError("retired refresh token presented again")
    raise InvalidRefreshTokenError("expired refresh token")


def _expired(expires_at: datetime, *, now: datetime) -> bool:
    return expires_at <= now
