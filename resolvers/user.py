"""The signed-in user."""

from __future__ import annotations

from schema.context import Info
from schema.user import User


async def me(info: Info) -> User | None:
    """Null without a valid token, or when the token's user no longer exists."""
    viewer_id = info.context.viewer_id
    if viewer_id is None:
        return None
    profile = await info.context.loaders.users.load(viewer_id)
    return None if profile is None else User.from_profile(profile)
