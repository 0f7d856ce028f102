"""Relay global object identification: opaque ids that name their type."""

from __future__ import annotations

import base64
import binascii

import strawberry
from beanie import PydanticObjectId
from bson.errors import InvalidId

from schema.errors import bad_input


@strawberry.interface(
    description="Relay global object identification: every id is opaque and globally unique."
)
class Node:
    id: strawberry.ID = strawberry.field(description="The object's opaque, global id.")


# How many object ids each type's global id carries: a task's names its owner too, so a lookup
# by id reaches one shard (and one cache slot) without a scatter.
ID_PARTS = {"User": 1, "Task": 2}


def encode_global_id(type_name: str, *object_ids: PydanticObjectId) -> strawberry.ID:
    raw = ":".join([type_name, *map(str, object_ids)]).encode()
    return strawberry.ID(base64.urlsafe_b64encode(raw).decode().rstrip("="))


def decode_global_id(
    value: str, *, field: str = "id", expected_type: str | None = None
) -> tuple[str, tuple[PydanticObjectId, ...]]:
    """The type name and object ids inside a global id; BAD_USER_INPUT when malformed."""
    try:
        padded = value + "=" * (-len(value) % 4)
        type_name, *raw_ids = base64.urlsafe_b64decode(padded.encode()).decode().split(":")
        object_ids = tuple(PydanticObjectId(raw_id) for raw_id in raw_ids)
    except (binascii.Error, UnicodeError, InvalidId, ValueError, TypeError):
        raise bad_input(field, f"`{field}` is not a valid id.") from None
    if len(object_ids) != ID_PARTS.get(type_name, 1):
        raise bad_input(field, f"`{field}` is not a valid id.")
    if expected_type is not None and type_name != expected_type:
        raise bad_input(field, f"`{field}` is not the id of a {expected_type}.")
    return type_name, object_ids


def decode_task_id(value: str, *, field: str) -> tuple[PydanticObjectId, PydanticObjectId]:
    """A task's owner and id, from its global id."""
    _, (owner_id, task_id) = decode_global_id(value, field=field, expected_type="Task")
    return owner_id, task_id
