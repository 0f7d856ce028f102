"""Users: a unique normalised email, an Argon2id hash, and the cost tier."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from beanie import Document, PydanticObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

UserTier = Literal["user", "pro"]


class EmailTakenError(Exception):
    """Another user already has this email."""


class UserDocument(Document):
    email: str
    password_hash: str
    name: str
    tier: UserTier = "user"
    created_at: datetime
    password_changed_at: datetime

    class Settings:
        name = "users"
        keep_nulls = False
        indexes = [IndexModel([("email", ASCENDING)], name="email_unique", unique=True)]


@dataclass(frozen=True)
class UserProfile:
    """What reads may know of a user: never the password hash (it is what gets cached)."""

    id: PydanticObjectId
    email: str
    name: str
    tier: UserTier
    created_at: datetime


def profile_of(user: UserDocument) -> UserProfile:
    assert user.id is not None
    return UserProfile(
        id=user.id, email=user.email, name=user.name, tier=user.tier, created_at=user.created_at
    )


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def create_user(email: str, *, password_hash: str, name: str, at: datetime) -> UserDocument:
    """Insert a user whose email is already normalised; EmailTakenError when it is not free.

    The unique index decides, so two concurrent registrations cannot both win."""
    user = UserDocument(
        email=email,
        password_hash=password_hash,
        name=name,
        created_at=at,
        password_changed_at=at,
    )
    try:
        await user.insert()
    except DuplicateKeyError as error:
        raise EmailTakenError(email) from error
    return user


async def find_user(user_id: PydanticObjectId) -> UserDocument | None:
    return await UserDocument.find_one({"_id": user_id})


async def find_user_by_email(email: str) -> UserDocument | None:
    return await UserDocument.find_one({"email": normalise_email(email)})


async def find_user_profiles(ids: list[PydanticObjectId]) -> dict[PydanticObjectId, UserProfile]:
    """Users by id in one `$in` query, without their password hashes; missing ids are absent."""
    cursor = UserDocument.get_pymongo_collection().find(
        {"_id": {"$in": ids}}, projection={"password_hash": False}
    )
    return {
        PydanticObjectId(raw["_id"]): UserProfile(
            id=PydanticObjectId(raw["_id"]),
            email=raw["email"],
            name=raw["name"],
            tier=raw.get("tier", "user"),
            created_at=raw["created_at"],
        )
        async for raw in cursor
    }


async def set_password_hash(
    user_id: PydanticObjectId, *, password_hash: str, expected_hash: str, at: datetime
) -> bool:
    """A new password: replace the hash only if it is still `expected_hash` (False when another
    change won the race)."""
    changes = {"password_hash": password_hash, "password_changed_at": at}
    return await _replace_hash(user_id, expected_hash=expected_hash, changes=changes)


async def upgrade_password_hash(
    user_id: PydanticObjectId, *, password_hash: str, expected_hash: str
) -> bool:
    """The same password hashed with today's parameters: not a password change."""
    changes = {"password_hash": password_hash}
    return await _replace_hash(user_id, expected_hash=expected_hash, changes=changes)


async def _replace_hash(
    user_id: PydanticObjectId, *, expected_hash: str, changes: dict[str, Any]
) -> bool:
    result = await UserDocument.get_pymongo_collection().update_one(
        {"_id": user_id, "password_hash": expected_hash}, {"$set": changes}
    )
    return result.matched_count == 1
