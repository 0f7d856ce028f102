"""findAndModify: take the first document in sort order, update or remove it, return it."""

from __future__ import annotations

from typing import Any

from storage.mongo_emulator.engine import Engine
from storage.mongo_emulator.errors import FAILED_TO_PARSE, CommandError
from storage.mongo_emulator.mongomock_hooks import copy_document, matching_documents, project
from storage.mongo_emulator.ordering import sort_documents
from storage.mongo_emulator.queries import normalise_query
from storage.mongo_emulator.reads import checked_projection
from storage.mongo_emulator.request import Handler, Request, collection_name
from storage.mongo_emulator.updates import apply_update, validate_update


def _check_options(request: Request) -> tuple[bool, Any]:
    request.check_fields(
        (
            "query",
            "sort",
            "remove",
            "update",
            "new",
            "fields",
            "upsert",
            "bypassDocumentValidation",
            "hint",
            "arrayFilters",
        ),
        ("collation", "let"),
    )
    if request.body.get("arrayFilters"):
        request.check_fields((), ("arrayFilters",))
    remove, update = request.flag("remove"), request.body.get("update")
    if remove and update is not None:
        raise CommandError(FAILED_TO_PARSE, "Cannot specify both an update and remove=true")
    if not remove and update is None:
        raise CommandError(FAILED_TO_PARSE, "Either an update or remove=true must be specified")
    if remove and request.flag("new"):
        raise CommandError(
            FAILED_TO_PARSE,
            "Cannot specify both new=true and remove=true; 'remove' always returns the deleted"
            " document",
        )
    if remove and request.flag("upsert"):
        raise CommandError(FAILED_TO_PARSE, "Cannot specify both upsert=true and remove=true")
    if update is not None:
        validate_update(update, multi=False)
    return remove, update


def find_and_modify(engine: Engine, request: Request) -> dict[str, Any]:
    remove, update = _check_options(request)
    name = collection_name(request)
    collection = engine.collection(request.database, name)
    query = request.document("query")
    fields = checked_projection(request.body.get("fields"))
    candidates = matching_documents(collection, normalise_query(query))
    if request.body.get("sort"):
        sort_documents(candidates, request.body["sort"])
    target = copy_document(candidates[0]) if candidates else None
    value: dict[str, Any] | None = None
    if remove:
        last_error: dict[str, Any] = {"n": 0}
        if target is not None:
            collection.delete_one({"_id": target["_id"]})
            value, last_error = target, {"n": 1}
    elif target is not None:
        # The caller's query rides along so that a positional `$` update finds its element.
        by_id = {"_id": target["_id"]}
        selector = {**query, **by_id} if "_id" not in query else {"$and": [query, by_id]}
        apply_update(collection, request.namespace, selector, update, multi=False, upsert=False)
        value = collection.find_one({"_id": target["_id"]}) if request.flag("new") else target
        last_error = {"n": 1, "updatedExisting": True}
    elif request.flag("upsert"):
        engine.ensure_collection(request.database, name)
        outcome = apply_update(
            collection, request.namespace, query, update, multi=False, upsert=True
        )
        if request.flag("new"):
            value = collection.find_one({"_id": outcome.upserted_id})
        last_error = {"n": 1, "updatedExisting": False, "upserted": outcome.upserted_id}
    else:
        last_error = {"n": 0, "updatedExisting": False}
    if value is not None and fields:
        value = project(collection, value, fields)
    return {"lastErrorObject": last_error, "value": value, "ok": 1.0}


HANDLERS: dict[str, Handler] = {
    "findAndModify": find_and_modify,
    "findandmodify": find_and_modify,
}
