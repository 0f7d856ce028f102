"""Write commands: insert, update and delete, with per-statement writeErrors as MongoDB reports."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bson.objectid import ObjectId
from pymongo.errors import DuplicateKeyError

from storage.mongo_emulator.engine import Engine
from storage.mongo_emulator.errors import (
    FAILED_TO_PARSE,
    UNKNOWN_FIELD,
    CommandError,
    not_supported,
    translate,
)
from storage.mongo_emulator.queries import normalise_query
from storage.mongo_emulator.request import Handler, Request, collection_name
from storage.mongo_emulator.uniques import id_duplicate
from storage.mongo_emulator.updates import apply_update

_INVALID_ID_FIELD = 53


def _run_statements(
    request: Request,
    statements: list[dict[str, Any]],
    execute: Callable[[int, dict[str, Any]], None],
) -> list[dict[str, Any]]:
    """Run each statement; collect writeErrors, stopping at the first when `ordered`."""
    ordered = request.flag("ordered", default=True)
    errors: list[dict[str, Any]] = []
    for index, statement in enumerate(statements):
        try:
            execute(index, statement)
        except Exception as exc:  # noqa: BLE001 -- each failure is that statement's writeError
            errors.append(translate(exc).write_error(index))
            if ordered:
                break
    return errors


def _reply(counts: dict[str, Any], errors: list[dict[str, Any]]) -> dict[str, Any]:
    reply = {**counts, "ok": 1.0}
    if errors:
        reply["writeErrors"] = errors
    return reply


def insert(engine: Engine, request: Request) -> dict[str, Any]:
    request.check_fields(("documents", "ordered", "bypassDocumentValidation"))
    name = collection_name(request)
    documents = request.documents("documents")
    collection = engine.collection(request.database, name)
    engine.ensure_collection(request.database, name)
    inserted = 0

    def insert_one(_: int, document: dict[str, Any]) -> None:
        nonlocal inserted
        if "_id" not in document:
            document = {"_id": ObjectId(), **document}  # mongod puts a generated _id first
        if isinstance(document["_id"], list):
            raise CommandError(_INVALID_ID_FIELD, "The '_id' value cannot be of type array")
        try:
            collection.insert_one(document)
        except DuplicateKeyError as exc:
            if exc.details is None:  # mongomock's own _id check, which names no key
                raise id_duplicate(request.namespace, document["_id"]) from exc
            raise
        inserted += 1

    errors = _run_statements(request, documents, insert_one)
    return _reply({"n": inserted}, errors)


def update(engine: Engine, request: Request) -> dict[str, Any]:
    request.check_fields(("updates", "ordered", "bypassDocumentValidation"), ("let",))
    name = collection_name(request)
    statements = request.documents("updates")
    collection = engine.collection(request.database, name)
    counts: dict[str, Any] = {"n": 0, "nModified": 0}
    upserted: list[dict[str, Any]] = []

    def update_one(index: int, statement: dict[str, Any]) -> None:
        for option, value in statement.items():
            if option in ("collation", "c", "sort") or (option == "arrayFilters" and value):
                raise not_supported(f"the update option '{option}'")
            if option not in ("q", "u", "upsert", "multi", "hint", "arrayFilters"):
                raise CommandError(
                    UNKNOWN_FIELD, f"BSON field 'update.updates.{option}' is an unknown field."
                )
        if "q" not in statement or "u" not in statement:
            raise CommandError(FAILED_TO_PARSE, "an update statement needs 'q' and 'u'")
        upsert = bool(statement.get("upsert", False))
        if upsert:
            engine.ensure_collection(request.database, name)
        outcome = apply_update(
            collection,
            request.namespace,
            statement["q"],
            statement["u"],
            multi=bool(statement.get("multi", False)),
            upsert=upsert,
        )
        counts["n"] += outcome.matched + int(outcome.upserted)
        counts["nModified"] += outcome.modified
        if outcome.upserted:
            upserted.append({"index": index, "_id": outcome.upserted_id})

    errors = _run_statements(request, statements, update_one)
    if upserted:
        counts["upserted"] = upserted
    return _reply(counts, errors)


def delete(engine: Engine, request: Request) -> dict[str, Any]:
    request.check_fields(("deletes", "ordered"), ("let",))
    statements = request.documents("deletes")
    collection = engine.collection(request.database, collection_name(request))
    deleted = 0

    def delete_one(_: int, statement: dict[str, Any]) -> None:
        nonlocal deleted
        for option in statement:
            if option == "collation":
                raise not_supported("the delete option 'collation'")
            if option not in ("q", "limit", "hint"):
                raise CommandError(
                    UNKNOWN_FIELD, f"BSON field 'delete.deletes.{option}' is an unknown field."
                )
        query, limit = statement.get("q"), statement.get("limit")
        if not isinstance(query, dict):
            raise CommandError(FAILED_TO_PARSE, "a delete statement needs a 'q' object")
        if limit not in (0, 1):
            raise CommandError(
                FAILED_TO_PARSE, f"The limit field in delete objects must be 0 or 1. Got {limit}"
            )
        query = normalise_query(query)
        result = collection.delete_one(query) if limit == 1 else collection.delete_many(query)
        deleted += int(result.deleted_count)

    errors = _run_statements(request, statements, delete_one)
    return _reply({"n": deleted}, errors)


HANDLERS: dict[str, Handler] = {"insert": insert, "update": update, "delete": delete}
