"""Refresh tokens, stored only as hashes, in rotation families (one family per sign-in)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import Document, PydanticObjectId
from pymongo import ASCENDING, IndexModel, ReturnDocument


class RefreshTokenDocument(Document):
    token_hash: str
    family_id: PydanticObjectId
    user_id: PydanticObjectId
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None

    class Settings:
        name = "refresh_tokens"
        keep_nulls = True
        indexes = [
            IndexModel([("token_hash", ASCENDING)], name="token_hash_unique", unique=True),
            IndexModel([("user_id", ASCENDING), ("family_id", ASCENDING)], name="user_family"),
            # mongod's TTL monitor removes tokens once they expire.
            IndexModel([("expires_at", ASCENDING)], name="expires_ttl", expireAfterSeconds=0),
        ]


async def insert_token(
    token_hash: str,
    *,
    family_id: PydanticObjectId,
    user_id: PydanticObjectId,
    created_at: datetime,
    expires_at: datetime,
) -> RefreshTokenDocument:
    token = RefreshTokenDocument(
        token_hash=token_hash,
        family_id=family_id,
        user_id=user_id,
        created_at=created_at,
        expires_at=expires_at,
    )
    await token.insert()
    return token


async def find_token(token_hash: str) -> RefreshTokenDocument | None:
    return await RefreshTokenDocument.find_one({"token_hash": token_hash})


async def claim_token(token_hash: str, *, at: datetime) -> RefreshTokenDocument | None:
    """Mark a live token used, atomically: of two concurrent claims only one succeeds."""
    collection = RefreshTokenDocument.get_pymongo_collection()
    claimed: dict[str, Any] | None = await collection.find_one_and_update(
        {"token_hash": token_hash, "used_at": None, "revoked_at": None, "expires_at": {"$gt": at}},
        {"$set": {"used_at": at}},
        return_document=ReturnDocument.AFTER,
    )
    return None if claimed is None else RefreshTokenDocument.model_validate(claimed)


async def revoke_family(
    user_id: PydanticObjectId, *, family_id: PydanticObjectId, at: datetime
) -> None:
    await RefreshTokenDocument.get_pymongo_collection().update_many(
        {"user_id": user_id, "family_id": family_id, "revoked_at": None},
        {"$set": {"revoked_at": at}},
    )


async def revoke_all_families(user_id: PydanticObjectId, *, at: datetime) -> None:
    await RefreshTokenDocument.get_pymongo_collection().update_many(
        {"user_id": user_id, "revoked_at": None}, {"$set": {"revoked_at": at}}
    )
