"""The keys one document puts in an index: for unique checks, and for equality lookups."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from storage.mongo_emulator.mongomock_hooks import filter_applies
from storage.mongo_emulator.ordering import BsonKey, bson_key, path_values

IndexEntry = tuple[Any, ...]
UniqueKey = tuple[BsonKey, ...]


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


def unique_keys(document: Mapping[str, Any], fields: Sequence[str]) -> dict[UniqueKey, IndexEntry]:
    """Each key (BSON-equal values share one) with the entry that shows it in an E11000."""
    values = [document.get(field) for field in fields]
    if not any("." in field for field in fields) and not any(isinstance(v, list) for v in values):
        # Top-level scalars, by far the usual case: one entry, null for a missing field.
        entry = tuple(values)
        return {tuple(bson_key(v) for v in entry): entry}
    return {tuple(bson_key(v) for v in entry): entry for entry in index_entries(document, fields)}


def unique_index_keys(document: Mapping[str, Any], info: Mapping[str, Any]) -> list[UniqueKey]:
    """The keys a document holds in a unique index: none when sparse or partial leave it out."""
    if not is_indexed(document, info):
        return []
    return list(unique_keys(document, index_fields(info)))


def match_keys(document: Mapping[str, Any], path: Sequence[str]) -> list[BsonKey]:
    """The keys under which an equality on `path` can match: each value, each array element.

    A missing field holds no key: null lookups (null matches missing) never use these.
    """
    keys: list[BsonKey] = []
    for value in path_values(document, list(path)):
        if isinstance(value, (list, tuple)):
            keys.extend(bson_key(item) for item in value)
        else:
            keys.append(bson_key(value))
    return keys
