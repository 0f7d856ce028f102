"""Connection arguments: opaque cursors and the rules of first/after/last/before. Pure.

A cursor is base64url of a small JSON array: a format tag, the list's order (field and
direction), the sort value and the task id. It only positions a page; whether the task still
exists, or what it holds now, does not matter.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from beanie import PydanticObjectId
from bson.errors import InvalidId

from models.task_query import Keyset, SortValue, TaskSort
from schema.errors import bad_input

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
_FORMAT = "t1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_MAX_CURSOR_LENGTH = 2_000
_DATETIME_FIELDS = frozenset({"CREATED_AT", "UPDATED_AT", "DUE_AT"})


class MalformedCursorError(ValueError):
    pass


@dataclass(frozen=True)
class PageWindow:
    """Which slice of the list a connection asks for."""

    limit: int
    backward: bool
    after: Keyset | None
    before: Keyset | None


def _order_name(sort: TaskSort) -> list[str]:
    return [sort.field, "DESC" if sort.descending else "ASC"]


def encode_cursor(keyset: Keyset, *, sort: TaskSort) -> str:
    value: Any = keyset.value
    if isinstance(value, datetime):
        value = (value - _EPOCH) // _MILLISECOND
    payload = orjson.dumps([_FORMAT, *_order_name(sort), value, str(keyset.id)])
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_cursor(cursor: str, *, sort: TaskSort, field: str) -> Keyset:
    """The position in `cursor`; BAD_USER_INPUT naming `field` when it is malformed or was
    made for another order than `sort`."""
    try:
        tag, order_field, direction, value, raw_id = _payload(cursor)
        if tag != _FORMAT:
            raise MalformedCursorError
        keyset = Keyset(value=_sort_value(order_field, value), id=PydanticObjectId(raw_id))
    except (MalformedCursorError, InvalidId, TypeError, ValueError, OverflowError):
        raise bad_input(field, f"`{field}` is not a valid cursor.") from None
    if [order_field, direction] != _order_name(sort):
        raise bad_input(field, f"`{field}` is a cursor for another orderBy than this one.")
    return keyset


def _payload(cursor: str) -> list[Any]:
    if len(cursor) > _MAX_CURSOR_LENGTH:
        raise MalformedCursorError
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode("ascii"))
        payload = json.loads(raw.decode())
    except (binascii.Error, UnicodeError, json.JSONDecodeError) as error:
        raise MalformedCursorError from error
    if not isinstance(payload, list) or len(payload) != 5:
        raise MalformedCursorError
    if not all(isinstance(part, str) for part in (*payload[:3], payload[4])):
        raise MalformedCursorError
    return payload


def _sort_value(field: str, value: Any) -> SortValue:
    if field == "DUE_AT" and value is None:
        return None
    if field in _DATETIME_FIELDS:
        if type(value) is not int:
            raise MalformedCursorError
        return _EPOCH + value * _MILLISECOND
    if field == "PRIORITY" and type(value) is int and 0 <= value <= 3:
        return int(value)
    if field == "TITLE" and isinstance(value, str):
        return value
    raise MalformedCursorError


def page_window(
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    sort: TaskSort,
) -> PageWindow:
    """The slice asked for: `first` after `after`, or `last` before `before` (20 when neither
    is given); both cursors may bound either. BAD_USER_INPUT for a broken rule."""
    if first is not None and last is not None:
        raise bad_input("last", "Pass `first` or `last`, not both.")
    for name, size in (("first", first), ("last", last)):
        if size is not None and not 0 <= size <= MAX_PAGE_SIZE:
            raise bad_input(name, f"`{name}` must be between 0 and {MAX_PAGE_SIZE}.")
    backward = last is not None
    limit = last if last is not None else first if first is not None else DEFAULT_PAGE_SIZE
    return PageWindow(
        limit=limit,
        backward=backward,
        after=None if after is None else decode_cursor(after, sort=sort, field="after"),
        before=None if before is None else decode_cursor(before, sort=sort, field="before"),
    )
