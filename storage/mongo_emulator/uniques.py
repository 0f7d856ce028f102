"""Unique indexes that answer like MongoDB: E11000 naming the index, its keyPattern and keyValue.

Each write is checked through the unique index's hash (`CollectionIndexes`): the cost of a check
does not grow with the collection.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from bson import json_util
from pymongo.errors import DuplicateKeyError

from storage.mongo_emulator.collection_indexes import CollectionIndexes
from storage.mongo_emulator.errors import DUPLICATE_KEY
from storage.mongo_emulator.hash_index import HashIndex
from storage.mongo_emulator.index_keys import (
    IndexEntry,
    UniqueKey,
    index_fields,
    is_indexed,
    unique_keys,
)
from storage.mongo_emulator.mongomock_hooks import store_key


def check_unique(indexes: CollectionIndexes, namespace: str, document: dict[str, Any]) -> None:
    """Raise E11000 if `document` (already stored, or changed in place) breaks a unique index."""
    key = store_key(document)
    indexes.touched(key)
    for name, info, index in indexes.current().uniques():
        entry = _clash(indexes, key, info, index)
        if entry is not None:
            raise duplicate_key(namespace, name, info["key"], entry)


def _clash(
    indexes: CollectionIndexes, key: Hashable, info: Mapping[str, Any], index: HashIndex
) -> IndexEntry | None:
    """The entry of the first document (in natural order) sharing a key with this one.

    The hash only narrows the search: each document it names is compared afresh, in order, and
    one whose keys cannot be computed fails the check as it did when the check scanned them all.
    """
    if not index.unkeyed and not index.sharing(key):
        return None
    mine = _entries(indexes.document(key), info)
    if not mine:
        return None
    pool = index.sharing(key) | (index.unkeyed - {key})
    for other in indexes.in_order_keys(pool):
        for other_key, entry in _entries(indexes.document(other), info).items():
            if other_key in mine:
                return entry
    return None


def _entries(document: Mapping[str, Any], info: Mapping[str, Any]) -> dict[UniqueKey, IndexEntry]:
    if not is_indexed(document, info):
        return {}
    return unique_keys(document, index_fields(info))


def first_duplicate(
    documents: Iterable[Mapping[str, Any]], info: Mapping[str, Any]
) -> IndexEntry | None:
    """The first key two documents share in a would-be unique index, if any."""
    fields = index_fields(info)
    seen: set[UniqueKey] = set()
    for document in documents:
        if not is_indexed(document, info):
            continue
        keys = unique_keys(document, fields)
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
