"""Query filters rewritten where mongomock's reading differs from MongoDB's.

- `{$gte: null}` / `{$lte: null}` match null *and missing* in MongoDB (mongomock: null only);
  `{$gt: null}` / `{$lt: null}` match nothing.
- `$size` matches arrays only (mongomock also counts the fields of a subdocument).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_LOGICAL = frozenset({"$and", "$or", "$nor"})
_NULL_INCLUSIVE = frozenset({"$gte", "$lte"})
_NULL_EXCLUSIVE = frozenset({"$gt", "$lt"})


def normalise_query(query: Mapping[str, Any]) -> dict[str, Any]:
    rewritten: dict[str, Any] = {}
    for key, value in query.items():
        if key in _LOGICAL and isinstance(value, list):
            rewritten[key] = [normalise_query(c) if isinstance(c, Mapping) else c for c in value]
        elif not key.startswith("$") and _is_operator_document(value):
            rewritten[key] = _normalise_conditions(value)
        else:
            rewritten[key] = value
    return rewritten


def _is_operator_document(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value) and all(k.startswith("$") for k in value)


def _normalise_conditions(conditions: Mapping[str, Any]) -> dict[str, Any]:
    rewritten: dict[str, Any] = {}
    for operator, operand in conditions.items():
        if operand is None and operator in _NULL_INCLUSIVE:
            rewritten["$eq"] = None
        elif operand is None and operator in _NULL_EXCLUSIVE:
            rewritten["$in"] = []
        elif operator == "$size":
            rewritten["$size"] = operand
            rewritten.setdefault("$type", "array")
        elif operator == "$not" and _is_operator_document(operand):
            rewritten["$not"] = _normalise_conditions(operand)
        elif operator == "$elemMatch" and isinstance(operand, Mapping):
            is_conditions = _is_operator_document(operand)
            rewritten[operator] = (
                _normalise_conditions(operand) if is_conditions else normalise_query(operand)
            )
        else:
            rewritten[operator] = operand
    return rewritten


def normalise_pipeline(pipeline: Any) -> Any:
    """The same rewriting for `$match` stages of an aggregation pipeline."""
    if not isinstance(pipeline, list):
        return pipeline
    return [
        {"$match": normalise_query(stage["$match"])}
        if isinstance(stage, Mapping) and isinstance(stage.get("$match"), Mapping)
        else stage
        for stage in pipeline
    ]
