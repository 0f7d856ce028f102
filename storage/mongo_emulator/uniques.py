"""Unique indexes that answer like MongoDB: E11000 naming the index, its keyPattern and keyValue."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from bson import json_util
from bson.objectid import ObjectId
from pymongo.errors import DuplicateKeyError

from storage.mongo_emulator.errors import DUPLICATE_KEY
from storage.mongo_emulator.mongomock_hooks import filter_applies, stored_documents
from storage.mongo_emulator.ordering import BsonKey, bson_key, path_values

IndexEntry = tuple[Any, ...]


def index_fields(info: Mapping[str, Any]) -> list[str]:
    key = info["key"]
    return list(key) if isinstance(key, Mapping) else [field for field, _ in key]


def index_entries(document: Mapping[str, Any], fields: Sequence[str]) -> list[IndexEntry]:
    """The keys one document puts in an index: one per array element, null for a missing field."""
    per_field: list[list[Any]] = []
    for field in fields:
        expanded: list[Any] = []
        for value in path_values(document, field.split(".")):
            if isinstance(value, list) and value:
                expanded.extend(value)
            else:
                expanded.append(value)
        per_field.append(expanded or [None])
    return list(itertools.product(*per_field))


def is_indexed(document: Mapping[str, Any], info: Mapping[str, Any]) -> bool:
    if not info.get("sparse") and info.get("partialFilterExpression") is None:
        return True
    fields = index_fields(info)
    if info.get("sparse") and not any(path_values(document, f.split(".")) for f in fields):
        return False
    partial = info.get("partialFilterExpression")
    return partial is None or bool(filter_applies(partial, document))


def _keys(
    document: Mapping[str, Any], fields: Sequence[str]
) -> dict[tuple[BsonKey, ...], IndexEntry]:
    values = [document.get(field) for field in fields]
    if not any("." in field for field in fields) and not any(isinstance(v, list) for v in values):
        # Top-level scalars, by far the usual case: one entry, null for a missing field.
        entry = tuple(values)
        return {tuple(bson_key(v) for v in entry): entry}
    return {tuple(bson_key(v) for v in entry): entry for entry in index_entries(document, fields)}


def check_unique(collection: Any, namespace: str, document: dict[str, Any]) -> None:
    """Raise E11000 if `document` (already stored, or changed in place) breaks a unique index."""
    others: list[dict[str, Any]] | None = None
    for name, info in collection.index_information().items():
        if not info.get("unique") or not is_indexed(document, info):
            continue
        if others is None:
            others = stored_documents(collection)
        entry = _clash(document, others, info)
        if entry is not None:
            raise duplicate_key(namespace, name, info["key"], entry)


# Types whose Python equality is BSON equality when both sides have exactly the same type.
_PLAIN_TYPES = frozenset({str, int, bool, ObjectId, datetime, type(None)})


def _clash(
    document: dict[str, Any], others: list[dict[str, Any]], info: Mapping[str, Any]
) -> IndexEntry | None:
    fields = index_fields(info)
    mine = _keys(document, fields)
    value = document.get(fields[0])
    plain = (
        len(fields) == 1
        and "." not in fields[0]
        and type(value) in _PLAIN_TYPES
        and not info.get("sparse")
        and info.get("partialFilterExpression") is None
    )
    kind = type(value)
    for other in others:
        if other is document:
            continue
        if plain:
            # A cheap exact answer for the usual index (one top-level field of a plain type).
            theirs = other.get(fields[0])
            if type(theirs) is kind:
                if theirs != value:
                    continue
                return (theirs,)
        if not is_indexed(other, info):
            continue
        for key, entry in _keys(other, fields).items():
            if key in mine:
                return entry
    return None


def first_duplicate(
    documents: Iterable[Mapping[str, Any]], info: Mapping[str, Any]
) -> IndexEntry | None:
    """The first key two documents share in a would-be unique index, if any."""
    fields = index_fields(info)
    seen: set[tuple[BsonKey, ...]] = set()
    for document in documents:
        if not is_indexed(document, info):
            continue
        keys = _keys(document, fields)
        for key, entry in keys.items():
            if key in seen:
                return entry
        seen.update(keys)
    return None


def duplicate_key(
    namespace: str, index_name: str, key_spec: Any, entry: IndexEntry
) -> DuplicateKeyError:
    key_pattern = dict(key_spec)
    key_value = dict(zip(key_pattern, entry, strict=True))
    shown = ", ".join(f"{field}: {json_util.dumps(value)}" for field, value in key_value.items())
    message = (
        f"E11000 duplicate key error collection: {namespace} index: {index_name}"
        f" dup key: {{ {shown} }}"
    )
    details = {"errmsg": message, "keyPattern": key_pattern, "keyValue": key_value}
    return DuplicateKeyError(message, DUPLICATE_KEY, details)


def id_duplicate(namespace: str, value: Any) -> DuplicateKeyError:
    return duplicate_key(namespace, "_id_", {"_id": 1}, (value,))
