"""Users by id: the cache first, then one `$in` for the misses."""

from __future__ import annotations

from beanie import PydanticObjectId

from loaders import codecs
from loaders.cache import CacheKind, ObjectCache
from models.user import UserProfile, find_user_profiles


async def load_users(
    ids: list[PydanticObjectId], *, cache: ObjectCache
) -> list[UserProfile | None]:
    return await cache.plain(
        CacheKind.USER,
        ids,
        key_of=lambda keys, user_id: keys.user(user_id),
        fetch=find_user_profiles,
        codec=codecs.USER,
    )
