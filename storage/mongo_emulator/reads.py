"""Read commands: find, aggregate, count, distinct, and the cursor commands getMore/killCursors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storage.mongo_emulator.collection_indexes import indexes_of
from storage.mongo_emulator.cursors import batch_size_option
from storage.mongo_emulator.engine import Engine
from storage.mongo_emulator.errors import (
    FAILED_TO_PARSE,
    TYPE_MISMATCH,
    UNRECOGNIZED_STAGE,
    CommandError,
    not_supported,
)
from storage.mongo_emulator.mongomock_hooks import (
    all_documents,
    copy_document,
    matching_documents,
    patched_filter,
    process_pipeline,
    project,
)
from storage.mongo_emulator.ordering import BsonKey, bson_key, path_values, sort_documents
from storage.mongo_emulator.planner import candidates
from storage.mongo_emulator.queries import normalise_pipeline, normalise_query
from storage.mongo_emulator.request import Handler, Request, collection_name

PIPELINE_STAGES = frozenset(
    [
        "$addFields",
        "$bucket",
        "$bucketAuto",
        "$changeStream",
        "$collStats",
        "$count",
        "$currentOp",
        "$densify",
        "$documents",
        "$facet",
        "$fill",
        "$geoNear",
        "$graphLookup",
        "$group",
        "$indexStats",
        "$limit",
        "$listLocalSessions",
        "$listSearchIndexes",
        "$listSessions",
        "$lookup",
        "$match",
        "$merge",
        "$out",
        "$planCacheStats",
        "$project",
        "$redact",
        "$replaceRoot",
        "$replaceWith",
        "$sample",
        "$search",
        "$searchMeta",
        "$set",
        "$setWindowFields",
        "$skip",
        "$sort",
        "$sortByCount",
        "$unionWith",
        "$unset",
        "$unwind",
        "$vectorSearch",
    ]
)
_PROJECTION_OPERATORS = frozenset({"$slice", "$elemMatch"})


def checked_projection(value: Any) -> dict[str, Any] | None:
    """A find projection mongomock applies faithfully; anything else is refused by name."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise CommandError(TYPE_MISMATCH, "projection must be an object")
    for field, spec in value.items():
        if field == "$" or field.endswith(".$"):
            raise not_supported("the positional projection operator ($)")
        if isinstance(spec, (bool, int, float)):
            continue
        if isinstance(spec, Mapping) and len(spec) == 1 and set(spec) <= _PROJECTION_OPERATORS:
            continue
        raise not_supported(f"the projection {{{field}: {spec!r}}} (expressions in projections)")
    return dict(value)


def find(engine: Engine, request: Request) -> dict[str, Any]:
    request.check_fields(
        (
            "filter",
            "sort",
            "projection",
            "skip",
            "limit",
            "batchSize",
            "singleBatch",
            "hint",
            "noCursorTimeout",
            "allowDiskUse",
            "allowPartialResults",
        ),
        ("collation", "let", "min", "max", "returnKey", "showRecordId", "tailable", "awaitData"),
    )
    collection = engine.collection(request.database, collection_name(request))
    query = normalise_query(request.document("filter"))
    projection = checked_projection(request.body.get("projection"))
    skip = request.integer("skip", minimum=0)
    limit = request.integer("limit", minimum=0)
    batch_size = batch_size_option(request.body.get("batchSize"))
    documents = matching_documents(collection, query)
    if request.body.get("sort"):
        sort_documents(documents, request.body["sort"])
    documents = documents[skip : skip + limit] if limit else documents[skip:]
    # Only the page served is copied: a cursor keeps its results as they were at query time.
    if projection:
        documents = [project(collection, doc, projection) for doc in documents]
    else:
        documents = [copy_document(doc) for doc in documents]
    cursor = engine.cursors.open(
        request.namespace,
        documents,
        batch_size=batch_size,
        single_batch=request.flag("singleBatch"),
        no_timeout=request.flag("noCursorTimeout"),
    )
    return {"cursor": cursor, "ok": 1.0}


def run_pipeline(database: Any, documents: list[Any], pipeline: Any) -> list[Any]:
    """mongomock runs the stages, except `$sort`, which follows BSON order here."""
    if not isinstance(pipeline, list):
        raise CommandError(TYPE_MISMATCH, "'pipeline' option must be specified as an array")
    segment: list[Mapping[str, Any]] = []
    for stage in pipeline:
        if not isinstance(stage, Mapping) or len(stage) != 1:
            raise CommandError(
                40323, "A pipeline stage specification object must contain exactly one field."
            )
        name, spec = next(iter(stage.items()))
        if name not in PIPELINE_STAGES:
            raise CommandError(UNRECOGNIZED_STAGE, f"Unrecognized pipeline stage name: '{name}'")
        if name == "$sort":
            documents = list(process_pipeline(documents, database, segment, None))
            segment = []
            sort_documents(documents, spec)
        else:
            segment.append(stage)
    return list(process_pipeline(documents, database, segment, None))


def aggregate(engine: Engine, request: Request) -> dict[str, Any]:
    request.check_fields(
        ("pipeline", "cursor", "allowDiskUse", "hint", "bypassDocumentValidation"),
        ("explain", "collation", "let"),
    )
    if request.target == 1:
        raise not_supported("a database-level aggregate ({aggregate: 1})")
    name = collection_name(request)
    if "cursor" not in request.body:
        raise CommandError(
            FAILED_TO_PARSE,
            "The 'cursor' option is required, except for aggregate with the explain argument",
        )
    batch_size = batch_size_option(request.document("cursor").get("batchSize"))
    collection = engine.collection(request.database, name)
    database = engine.database(request.database)
    pipeline = normalise_pipeline(request.body.get("pipeline"))
    documents = run_pipeline(database, _pipeline_input(collection, pipeline), pipeline)
    cursor = engine.cursors.open(request.namespace, documents, batch_size=batch_size)
    return {"cursor": cursor, "ok": 1.0}


def _pipeline_input(collection: Any, pipeline: Any) -> list[dict[str, Any]]:
    """Copies of the documents a pipeline reads: only the planner's candidates for a leading
    `$match`, which then runs unchanged on them (and drops any that do not match)."""
    chosen = None
    if isinstance(pipeline, list) and pipeline and isinstance(pipeline[0], Mapping):
        match = pipeline[0].get("$match")
        if len(pipeline[0]) == 1 and isinstance(match, Mapping):
            chosen = candidates(indexes_of(collection), patched_filter(match))
    documents = all_documents(collection) if chosen is None else chosen
    return [copy_document(document) for document in documents]


def count(engine: Engine, request: Request) -> dict[str, Any]:
    request.check_fields(("query", "limit", "skip", "hint", "fields"), ("collation",))
    collection = engine.collection(request.database, collection_name(request))
    matched = int(collection.count_documents(normalise_query(request.document("query"))))
    matched = max(matched - request.integer("skip", minimum=0), 0)
    limit = abs(request.integer("limit"))
    return {"n": min(matched, limit) if limit else matched, "ok": 1.0}


def distinct(engine: Engine, request: Request) -> dict[str, Any]:
    request.check_fields(("key", "query", "hint"), ("collation",))
    collection = engine.collection(request.database, collection_name(request))
    key = request.body.get("key")
    if not isinstance(key, str) or not key:
        raise CommandError(TYPE_MISMATCH, "BSON field 'distinct.key' must be a non-empty string")
    found: dict[BsonKey, Any] = {}
    for document in matching_documents(collection, normalise_query(request.document("query"))):
        for value in path_values(document, key.split(".")):
            for item in value if isinstance(value, list) else [value]:
                found.setdefault(bson_key(item), item)
    return {"values": [found[k] for k in sorted(found)], "ok": 1.0}


def get_more(engine: Engine, request: Request) -> dict[str, Any]:
    request.check_fields(("collection", "batchSize"), ("term", "lastKnownCommittedOpTime"))
    cursor_id = request.target
    if isinstance(cursor_id, bool) or not isinstance(cursor_id, int):
        raise CommandError(TYPE_MISMATCH, "Field 'getMore' must be of type long")
    collection = request.body.get("collection")
    if not isinstance(collection, str):
        raise CommandError(TYPE_MISMATCH, "Field 'collection' must be of type string")
    batch = engine.cursors.get_more(
        int(cursor_id),
        namespace=f"{request.database}.{collection}",
        batch_size=batch_size_option(request.body.get("batchSize")),
    )
    return {"cursor": batch, "ok": 1.0}


def kill_cursors(engine: Engine, request: Request) -> dict[str, Any]:
    request.check_fields(("cursors",))
    cursor_ids = request.body.get("cursors")
    if not isinstance(cursor_ids, list) or not all(isinstance(c, int) for c in cursor_ids):
        raise CommandError(TYPE_MISMATCH, "Field 'cursors' must be an array of longs")
    killed, not_found = engine.cursors.kill(cursor_ids)
    return {
        "cursorsKilled": killed,
        "cursorsNotFound": not_found,
        "cursorsAlive": [],
        "cursorsUnknown": [],
        "ok": 1.0,
    }


HANDLERS: dict[str, Handler] = {
    "find": find,
    "aggregate": aggregate,
    "count": count,
    "distinct": distinct,
    "getMore": get_more,
    "killCursors": kill_cursors,
}
