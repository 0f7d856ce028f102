"""One update statement, as MongoDB applies it: validated, atomic per document, upserts seeded.

mongomock changes a stored document in place and leaves it half-updated when an operator fails
midway; it seeds upserts from the query's top level only. Both are corrected here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bson.objectid import ObjectId
from bson.regex import Regex
from pymongo.errors import DuplicateKeyError

from storage.mongo_emulator.collection_indexes import indexes_of
from storage.mongo_emulator.errors import (
    BAD_VALUE,
    FAILED_TO_PARSE,
    IMMUTABLE_FIELD,
    TYPE_MISMATCH,
    CommandError,
    not_supported,
)
from storage.mongo_emulator.mongomock_hooks import copy_document, matching_documents, store_key
from storage.mongo_emulator.ordering import bson_key
from storage.mongo_emulator.queries import normalise_query
from storage.mongo_emulator.uniques import id_duplicate

SUPPORTED_OPERATORS = frozenset(
    [
        "$set",
        "$unset",
        "$inc",
        "$max",
        "$min",
        "$pop",
        "$rename",
        "$setOnInsert",
        "$currentDate",
        "$addToSet",
        "$pull",
        "$pullAll",
        "$push",
    ]
)
UNSUPPORTED_OPERATORS = frozenset({"$mul", "$bit"})
_NUMERIC_OPERATORS = frozenset({"$inc", "$mul"})


@dataclass(frozen=True)
class UpdateOutcome:
    matched: int
    modified: int
    upserted: bool = False
    upserted_id: Any = None


def is_replacement(update: Any) -> bool:
    return isinstance(update, Mapping) and not any(k.startswith("$") for k in update)


def validate_update(update: Any, *, multi: bool) -> None:
    if isinstance(update, list):
        return  # a pipeline update: mongomock names any stage it cannot run
    if not isinstance(update, Mapping):
        raise CommandError(FAILED_TO_PARSE, "Update argument must be either an object or an array")
    if is_replacement(update):
        if multi:
            raise CommandError(
                FAILED_TO_PARSE, "multi update is not supported for replacement-style update"
            )
        return
    for operator, fields in update.items():
        if operator in UNSUPPORTED_OPERATORS:
            raise not_supported(f"the update operator {operator}")
        if operator not in SUPPORTED_OPERATORS:
            raise CommandError(
                FAILED_TO_PARSE,
                f"Unknown modifier: {operator}. Expected a valid update modifier or pipeline-style"
                " update specified as an array",
            )
        if not isinstance(fields, Mapping):
            raise CommandError(
                FAILED_TO_PARSE,
                f"Modifiers operate on fields but we found type {type(fields).__name__} instead.",
            )
        if operator in _NUMERIC_OPERATORS:
            _check_numeric(operator, fields)


def _check_numeric(operator: str, fields: Mapping[str, Any]) -> None:
    for field, value in fields.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CommandError(
                TYPE_MISMATCH,
                f"Cannot {operator[1:]} with non-numeric argument: {{{field}: {value!r}}}",
            )


def seed_query(query: Mapping[str, Any]) -> dict[str, Any]:
    """The equality conditions an upsert copies into the document it inserts."""
    seed: dict[str, Any] = {}
    for key, value in query.items():
        if key == "$and" and isinstance(value, list):
            for clause in value:
                if isinstance(clause, Mapping):
                    seed.update(seed_query(clause))
        elif key.startswith("$") or isinstance(value, (Regex, re.Pattern)):
            continue
        elif isinstance(value, Mapping) and value and all(k.startswith("$") for k in value):
            if "$eq" in value:
                seed[key] = value["$eq"]
        else:
            seed[key] = value
    return seed


def apply_update(
    collection: Any,
    namespace: str,
    query: Mapping[str, Any],
    update: Any,
    *,
    multi: bool,
    upsert: bool,
) -> UpdateOutcome:
    validate_update(update, multi=multi)
    seed_from, query = query, normalise_query(query)
    matched = matching_documents(collection, query)
    before = [copy_document(document) for document in (matched if multi else matched[:1])]
    if not before:
        return _upsert(collection, namespace, seed_from, update) if upsert else UpdateOutcome(0, 0)
    indexes = indexes_of(collection)
    # The copies keep the _id the store is keyed by, should a failed update have changed it.
    with indexes.changing(store_key(document) for document in before):
        try:
            if is_replacement(update):
                result = collection.replace_one(query, update)
            elif multi:
                result = collection.update_many(query, update)
            else:
                result = collection.update_one(query, update)
        except DuplicateKeyError:
            raise  # mongomock already restored the document that would have broken the index
        except Exception as exc:
            for document in before:
                indexes.touched(store_key(document))
            for document in before:
                collection.replace_one({"_id": document["_id"]}, document)
            if isinstance(exc, (TypeError, AttributeError)):
                # mongomock applied an operator to a field of the wrong type ($inc on a string).
                code = TYPE_MISMATCH if isinstance(exc, TypeError) else BAD_VALUE
                raise CommandError(code, f"the update does not fit a field's type: {exc}") from exc
            raise
    return UpdateOutcome(int(result.matched_count), int(result.modified_count))


def _upsert(
    collection: Any, namespace: str, query: Mapping[str, Any], update: Any
) -> UpdateOutcome:
    seed = seed_query(query)
    replacement_id = update.get("_id") if is_replacement(update) else None
    if "_id" not in seed:
        # A fresh _id makes mongomock insert rather than match a document the full query missed.
        fresh = replacement_id is None
        seed = {"_id": ObjectId() if fresh else replacement_id, **seed}
    elif replacement_id is not None and bson_key(replacement_id) != bson_key(seed["_id"]):
        raise CommandError(
            IMMUTABLE_FIELD,
            "After applying the update, the (immutable) field '_id' was found to have been altered",
        )
    else:
        fresh = False
    if not fresh and collection.find_one({"_id": seed["_id"]}, {"_id": 1}) is not None:
        # The query missed that document, so the insert MongoDB attempts collides with it.
        raise id_duplicate(namespace, seed["_id"])
    try:
        if is_replacement(update):
            result = collection.replace_one(seed, update, upsert=True)
        else:
            result = collection.update_one(seed, update, upsert=True)
    except DuplicateKeyError as exc:
        if exc.details is None:  # mongomock's own _id check, which names no key
            raise id_duplicate(namespace, _inserted_id(update, seed)) from exc
        raise
    return UpdateOutcome(0, 0, upserted=True, upserted_id=result.upserted_id)


def _inserted_id(update: Any, seed: Mapping[str, Any]) -> Any:
    for operator in ("$set", "$setOnInsert"):
        fields = update.get(operator) if isinstance(update, Mapping) else None
        if isinstance(fields, Mapping) and "_id" in fields:
            return fields["_id"]
    return seed["_id"]
