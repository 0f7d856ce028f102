"""The query planner: candidates from a hash index when a filter pins an indexed field.

The chosen documents must include every one mongomock's `filter_applies` would match, and the
full filter still runs on each, so the answer is the full scan's. A filter qualifies when, in the
order mongomock evaluates it, its first clause that could fail to evaluate (raise) comes after
an equality or `$in` of plain values on an indexed field: every other document fails that clause
without reaching anything that could raise, so errors stay those of the full scan too.

mongomock compares with Python's `==` (known gap: `1` matches `true`); a lookup probes every key
under which Python-equal values are indexed. Anything else — null (it matches missing), regexes,
embedded documents, arrays, `$elemMatch`, `$or`, numeric path parts — takes the full scan.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson.binary import Binary
from bson.int64 import Int64
from bson.objectid import ObjectId

from storage.mongo_emulator.collection_indexes import CollectionIndexes
from storage.mongo_emulator.ordering import BsonKey, bson_key

# Types whose Python equality with any stored value implies equal BSON keys (bar the bool and
# ObjectId quirks probed below): the values a lookup may use.
PLAIN_TYPES = frozenset({str, int, Int64, float, bool, ObjectId, datetime, bytes, Binary})
_NUMBERS = frozenset({int, Int64, float})
_LOOKUP_OPERATORS = frozenset({"$eq", "$in"})
# Operators that cannot raise on any stored value when their operands are plain (or null).
_SAFE_OPERATORS = frozenset({"$eq", "$ne", "$in", "$nin", "$exists"})


@dataclass(frozen=True)
class Lookup:
    field: str
    values: tuple[Any, ...]


def candidates(indexes: CollectionIndexes, query: Any) -> list[dict[str, Any]] | None:
    """The documents that can match `query`, in natural order; None: scan them all."""
    if not isinstance(query, dict):
        return None
    fields = indexes.current().fields()
    lookup = choose_lookup(query, fields)
    if lookup is None:
        return None
    return indexes.in_order(fields[lookup.field].holders(probe_keys(lookup.values)))


def choose_lookup(query: Mapping[str, Any], indexed: Mapping[str, Any]) -> Lookup | None:
    found = _scan(query, indexed)
    return found if isinstance(found, Lookup) else None


def _scan(query: Mapping[str, Any], indexed: Mapping[str, Any]) -> Lookup | bool:
    """The first usable lookup; True if every clause is harmless and none is; False: stop."""
    for key, condition in query.items():
        if key == "$comment":
            continue
        if key == "$and":
            found = _scan_clauses(condition, indexed)
        elif key.startswith("$") or not _plain_path(key):
            found = False
        else:
            values = lookup_values(condition)
            if values is not None and key in indexed:
                found = Lookup(key, values)
            else:
                found = _cannot_raise(condition)
        if found is not True:
            return found
    return True


def _scan_clauses(clauses: Any, indexed: Mapping[str, Any]) -> Lookup | bool:
    # mongomock refuses an empty or non-list $and, and a clause that is not a document.
    if not isinstance(clauses, list) or not clauses:
        return False
    for clause in clauses:
        found = _scan(clause, indexed) if isinstance(clause, dict) else False
        if found is not True:
            return found
    return True


def _plain_path(key: str) -> bool:
    # mongomock reads a numeric part as an array position (and a negative one can raise).
    return all(part and not _is_integer(part) for part in key.split("."))


def _is_integer(part: str) -> bool:
    try:
        int(part)
    except ValueError:
        return False
    return True


def _is_plain(value: Any) -> bool:
    return type(value) in PLAIN_TYPES


def lookup_values(condition: Any) -> tuple[Any, ...] | None:
    """The values an equality or `$in` condition pins its field to, if all are plain."""
    if _is_plain(condition):
        return (condition,)
    if not isinstance(condition, dict) or not condition or not set(condition) <= _LOOKUP_OPERATORS:
        return None
    values: tuple[Any, ...] | None = None
    if "$in" in condition:
        listed = condition["$in"]
        if not isinstance(listed, (list, tuple)) or not all(_is_plain(v) for v in listed):
            return None
        values = tuple(listed)
    if "$eq" in condition:
        if not _is_plain(condition["$eq"]):
            return None
        values = (condition["$eq"],)
    return values


def _cannot_raise(condition: Any) -> bool:
    if condition is None or _is_plain(condition):
        return True
    if not isinstance(condition, dict) or not condition or not set(condition) <= _SAFE_OPERATORS:
        return False
    for operator, operand in condition.items():
        if operator in ("$eq", "$ne") and not (operand is None or _is_plain(operand)):
            return False
        if operator in ("$in", "$nin") and not (
            isinstance(operand, (list, tuple))
            and all(value is None or _is_plain(value) for value in operand)
        ):
            return False
    return True


def probe_keys(values: tuple[Any, ...]) -> Iterator[BsonKey]:
    """Every index key a stored value Python-equal to one of `values` can have."""
    for value in values:
        yield bson_key(value)
        kind = type(value)
        if kind is bool:
            yield bson_key(int(value))
        elif kind in _NUMBERS and value in (0, 1):
            yield bson_key(bool(value))
        elif kind is ObjectId:
            # mongomock: an ObjectId also matches its hex string inside an array.
            yield bson_key(str(value))
