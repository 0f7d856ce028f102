"""`node(id)`: any object by its global id, as its own type's rules allow the caller to see it."""

from __future__ import annotations

import strawberry

from resolvers.task import visible_task
from schema.context import Info
from schema.node import Node, decode_global_id
from schema.user import User


async def node(info: Info, id: strawberry.ID) -> Node | None:
    viewer_id = info.context.require_viewer()
    type_name, object_ids = decode_global_id(id)
    if type_name == "User":
        profile = await info.context.loaders.users.load(object_ids[0])
        return None if profile is None else User.from_profile(profile)
    if type_name == "Task":
        owner_id, task_id = object_ids
        return await visible_task(info, owner_id, task_id, viewer_id=viewer_id)
    return None
