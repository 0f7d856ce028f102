"""Users by id, batched into one `$in` per tick."""

from __future__ import annotations

from beanie import PydanticObjectId

from models.user import UserDocument, find_users


async def load_users(ids: list[PydanticObjectId]) -> list[UserDocument | None]:
    found = await find_users(list(set(ids)))
    return [found.get(user_id) for user_id in ids]
