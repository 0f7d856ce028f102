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


def encode_global_id(type_name: str, object_id: PydanticObjectId) -> strawberry.ID:
    raw = f"{type_name}:{object_id}".encode()
    return strawberry.ID(base64.urlsafe_b64encode(raw).decode().rstrip("="))


def decode_global_id(
    value: str, *, field: str = "id", expected_type: str | None = None
) -> tuple[str, PydanticObjectId]:
    """The type name and object id inside a global id; BAD_USER_INPUT when malformed."""
    try:
        padded = value + "=" * (-len(value) % 4)
        type_name, _, raw_id = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        object_id = PydanticObjectId(raw_id)
    except (binascii.Error, UnicodeError, InvalidId, ValueError, TypeError):
        raise bad_input(field, f"`{field}` is not a valid id.") from None
    if expected_type is not None and type_name != expected_type:
        raise bad_input(field, f"`{field}` is not the id of a {expected_type}.")
    return type_name, object_id
