"""BSON comparison order, for sorting and for telling equal index keys apart.

mongomock sorts an array by its first element and has no rank for Decimal128; MongoDB sorts
ascending by an array's smallest element and descending by its largest, and an empty array
before null. These keys follow the manual's "Comparison/Sort Order" page.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bson.code import Code
from bson.datetime_ms import DatetimeMS
from bson.dbref import DBRef
from bson.decimal128 import Decimal128
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp

from storage.mongo_emulator.errors import BAD_VALUE, CommandError, not_supported

BsonKey = tuple[Any, ...]

_MIN_KEY, _EMPTY_ARRAY, _NULL, _NUMBER, _STRING, _OBJECT, _ARRAY = range(7)
_BINARY, _OBJECT_ID, _BOOLEAN, _DATE, _TIMESTAMP, _REGEX, _MAX_KEY = range(7, 14)

NULL_KEY: BsonKey = (_NULL,)
_EMPTY_ARRAY_KEY: BsonKey = (_EMPTY_ARRAY,)
# Stored dates are naive UTC, as BSON decodes them.
_EPOCH = datetime(1970, 1, 1)


def bson_key(value: Any) -> BsonKey:
    """A key whose Python order is BSON order and whose equality is BSON equality."""
    exact = _EXACT_KEYS.get(type(value))
    if exact is not None:
        return exact(value)
    if value is None:
        return NULL_KEY
    for kinds, key in _KEYS:
        if isinstance(value, kinds):
            return key(value)
    raise not_supported(f"comparing values of type {type(value).__name__}")


def _code_key(value: Code) -> BsonKey:
    raise not_supported("comparing JavaScript code values")


# Checked in order: bool before int (a subclass), Code before str (a subclass).
_KEYS: tuple[tuple[type[Any] | tuple[type[Any], ...], Callable[[Any], BsonKey]], ...] = (
    (bool, lambda v: (_BOOLEAN, int(v))),
    ((int, float, Decimal), lambda v: (_NUMBER, *_number(v))),
    (Decimal128, lambda v: (_NUMBER, *_number(v.to_decimal()))),
    (Code, _code_key),
    (str, lambda v: (_STRING, v)),
    (Mapping, lambda v: (_OBJECT, tuple((bson_key(x)[0], k, bson_key(x)) for k, x in v.items()))),
    ((list, tuple), lambda v: (_ARRAY, tuple(bson_key(x) for x in v))),
    (bytes, lambda v: (_BINARY, len(v), getattr(v, "subtype", 0), bytes(v))),
    (ObjectId, lambda v: (_OBJECT_ID, v.binary)),
    (datetime, lambda v: (_DATE, _millis(v))),
    (DatetimeMS, lambda v: (_DATE, int(v))),
    (Timestamp, lambda v: (_TIMESTAMP, v.time, v.inc)),
    ((Regex, re.Pattern), lambda v: (_REGEX, str(v.pattern), _regex_flags(v))),
    (DBRef, lambda v: bson_key(v.as_doc())),
    (MinKey, lambda v: (_MIN_KEY,)),
    (MaxKey, lambda v: (_MAX_KEY,)),
)
# The common exact types first: a uniqueness check computes keys for a whole collection.
_EXACT_KEYS: dict[type[Any], Callable[[Any], BsonKey]] = {
    str: lambda v: (_STRING, v),
    int: lambda v: (_NUMBER, 1, v),
    bool: lambda v: (_BOOLEAN, int(v)),
    ObjectId: lambda v: (_OBJECT_ID, v.binary),
    datetime: lambda v: (_DATE, _millis(v)),
}


def _number(value: int | float | Decimal) -> tuple[int, Any]:
    # NaN sorts below every other number, and equals itself.
    if isinstance(value, Decimal):
        return (0, 0) if value.is_nan() else (1, value)
    if isinstance(value, float) and math.isnan(value):
        return (0, 0)
    return (1, value)


def _millis(value: datetime) -> int:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _regex_flags(value: Regex[Any] | re.Pattern[Any]) -> int:
    flags = value.flags if isinstance(value.flags, int) else 0
    return flags & ~re.UNICODE


def path_values(document: Any, path: list[str]) -> list[Any]:
    """Every value a dotted path reaches, walking into arrays of subdocuments as MongoDB does."""
    if not path:
        return [document]
    head, rest = path[0], path[1:]
    if isinstance(document, Mapping):
        return path_values(document[head], rest) if head in document else []
    if isinstance(document, list):
        found: list[Any] = []
        if head.isdigit() and int(head) < len(document):
            found.extend(path_values(document[int(head)], rest))
        for item in document:
            if isinstance(item, Mapping):
                found.extend(path_values(item, path))
        return found
    return []


def sort_key(document: Mapping[str, Any], path: list[str], *, descending: bool) -> BsonKey:
    candidates: list[BsonKey] = []
    for value in path_values(document, path):
        if isinstance(value, list):
            if value:
                candidates.extend(bson_key(item) for item in value)
            else:
                candidates.append(_EMPTY_ARRAY_KEY)
        else:
            candidates.append(bson_key(value))
    if not candidates:
        return NULL_KEY
    return max(candidates) if descending else min(candidates)


def sort_documents(documents: list[dict[str, Any]], spec: Any) -> list[dict[str, Any]]:
    """Sort in place by a `{field: 1 | -1}` specification (later fields break ties)."""
    if not isinstance(spec, Mapping):
        raise CommandError(BAD_VALUE, "the sort specification must be an object")
    for field, direction in reversed(list(spec.items())):
        descending = _direction(field, direction) < 0
        if field == "$natural":
            if descending:
                documents.reverse()
            continue
        path = field.split(".")
        documents.sort(
            key=lambda doc: sort_key(doc, path, descending=descending), reverse=descending
        )
    return documents


def _direction(field: str, direction: Any) -> int:
    if isinstance(direction, Mapping) and "$meta" in direction:
        raise not_supported(f"sorting by {{$meta: {direction['$meta']!r}}}")
    numeric = isinstance(direction, (int, float)) and not isinstance(direction, bool)
    if numeric and direction in (1, -1):
        return int(direction)
    raise CommandError(BAD_VALUE, f"$sort key ordering must be 1 (for ascending) or -1: {field}")
