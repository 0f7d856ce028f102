"""Index commands: createIndexes (unique, sparse, TTL, partial), listIndexes, dropIndexes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storage.mongo_emulator.cursors import batch_size_option
from storage.mongo_emulator.engine import Engine
from storage.mongo_emulator.errors import (
    BAD_VALUE,
    CANNOT_CREATE_INDEX,
    FAILED_TO_PARSE,
    INDEX_KEY_SPECS_CONFLICT,
    INDEX_NOT_FOUND,
    INDEX_OPTIONS_CONFLICT,
    INVALID_OPTIONS,
    NAMESPACE_NOT_FOUND,
    CommandError,
    not_supported,
)
from storage.mongo_emulator.mongomock_hooks import all_documents, disable_lazy_expiry
from storage.mongo_emulator.ordering import bson_key
from storage.mongo_emulator.request import Handler, Request, collection_name
from storage.mongo_emulator.uniques import duplicate_key, first_duplicate

_OPTIONS = ("unique", "sparse", "expireAfterSeconds", "partialFilterExpression")
# Accepted and not kept: build hints, and text-index tuning ($text itself is refused when used).
_IGNORED = frozenset(
    {"v", "ns", "background", "weights", "default_language", "language_override"}
    | {"textIndexVersion", "2dsphereIndexVersion"}
)
_UNSUPPORTED = frozenset(
    {"collation", "hidden", "wildcardProjection", "storageEngine", "bits", "min", "max"}
    | {"bucketSize", "clustered", "prepareUnique", "columnstoreProjection"}
)
_KEY_TYPES = frozenset({"text", "hashed", "2d", "2dsphere"})


def index_documents(collection: Any) -> list[dict[str, Any]]:
    """Indexes as listIndexes shows them: `{v, key, name, <options>}`."""
    shown = []
    for info in collection.list_indexes():
        options = {k: info[k] for k in _OPTIONS if info.get(k) is not None}
        shown.append({"v": 2, "key": dict(info["key"]), "name": info["name"], **options})
    return shown


def _normalised(spec: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        bool(spec.get("unique")),
        bool(spec.get("sparse")),
        bson_key(spec.get("expireAfterSeconds")),
        bson_key(spec.get("partialFilterExpression")),
    )


def _parse_spec(spec: Mapping[str, Any]) -> tuple[dict[str, Any], str, dict[str, Any]]:
    key = spec.get("key")
    if not isinstance(key, Mapping) or not key:
        raise CommandError(FAILED_TO_PARSE, "Index key pattern must be a non-empty object")
    for field, kind in key.items():
        numeric = isinstance(kind, (int, float)) and not isinstance(kind, bool) and kind != 0
        if not numeric and kind not in _KEY_TYPES:
            raise CommandError(
                CANNOT_CREATE_INDEX, f"Values in the index key pattern can't be {kind!r}: {field}"
            )
    name = spec.get("name") or "_".join(f"{field}_{kind}" for field, kind in key.items())
    options: dict[str, Any] = {}
    for option, value in spec.items():
        if option in ("key", "name") or option in _IGNORED:
            continue
        if option in _UNSUPPORTED:
            raise not_supported(f"the index option '{option}'")
        if option not in _OPTIONS:
            raise CommandError(
                INVALID_OPTIONS, f"The field '{option}' is not valid for an index specification."
            )
        options[option] = value
    ttl = options.get("expireAfterSeconds")
    if ttl is not None:
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl < 0:
            raise CommandError(
                CANNOT_CREATE_INDEX,
                f"TTL index 'expireAfterSeconds' must be a non-negative number: {ttl!r}",
            )
        if len(key) > 1:
            raise CommandError(
                CANNOT_CREATE_INDEX,
                "TTL indexes are single-field indexes, compound indexes do not support TTL.",
            )
    return dict(key), str(name), options


def _conflict(
    existing: list[dict[str, Any]], key: dict[str, Any], name: str, options: dict[str, Any]
) -> bool:
    """True if an identical index exists; raise if a different one holds the name or the key."""
    wanted = (bson_key(key), _normalised(options))
    for index in existing:
        same_key = bson_key(index["key"]) == wanted[0]
        same_options = _normalised(index) == wanted[1]
        if index["name"] == name:
            if same_key and same_options:
                return True
            code = INDEX_OPTIONS_CONFLICT if same_key else INDEX_KEY_SPECS_CONFLICT
            raise CommandError(
                code,
                f"An existing index has the same name as the requested index ({name})"
                " but a different key or options",
            )
        if same_key:
            raise CommandError(
                INDEX_OPTIONS_CONFLICT,
                f"Index already exists with a different name: {index['name']}",
            )
    return False


def create_indexes(engine: Engine, request: Request) -> dict[str, Any]:
    request.check_fields(("indexes", "commitQuorum"))
    name = collection_name(request)
    specs = request.documents("indexes")
    if not specs:
        raise CommandError(BAD_VALUE, "Must specify at least one index to create")
    collection = engine.collection(request.database, name)
    created_automatically = engine.ensure_collection(request.database, name)
    before = len(index_documents(collection))
    for spec in specs:
        key, index_name, options = _parse_spec(spec)
        if _conflict(index_documents(collection), key, index_name, options):
            continue
        if options.get("unique"):
            info = {"key": key, **options}
            duplicate = first_duplicate(all_documents(collection), info)
            if duplicate is not None:
                raise duplicate_key(request.namespace, index_name, key, duplicate)
        collection.create_index(list(key.items()), name=index_name, **options)
        disable_lazy_expiry(collection)
    after = len(index_documents(collection))
    reply: dict[str, Any] = {
        "createdCollectionAutomatically": created_automatically,
        "numIndexesBefore": before,
        "numIndexesAfter": after,
    }
    if after == before:
        reply["note"] = "all indexes already exist"
    return {**reply, "ok": 1.0}


def list_indexes(engine: Engine, request: Request) -> dict[str, Any]:
    request.check_fields(("cursor",))
    name = collection_name(request)
    if not engine.exists(request.database, name):
        raise CommandError(NAMESPACE_NOT_FOUND, f"ns does not exist: {request.namespace}")
    collection = engine.collection(request.database, name)
    batch_size = batch_size_option(request.document("cursor").get("batchSize"))
    cursor = engine.cursors.open(
        request.namespace, index_documents(collection), batch_size=batch_size
    )
    return {"cursor": cursor, "ok": 1.0}


def drop_indexes(engine: Engine, request: Request) -> dict[str, Any]:
    request.check_fields(("index",))
    name = collection_name(request)
    if not engine.exists(request.database, name):
        raise CommandError(NAMESPACE_NOT_FOUND, f"ns not found {request.namespace}")
    collection = engine.collection(request.database, name)
    existing = index_documents(collection)
    wanted = request.body.get("index")
    if wanted == "*":
        names = [index["name"] for index in existing if index["name"] != "_id_"]
    elif isinstance(wanted, str):
        names = [wanted]
    elif isinstance(wanted, list) and all(isinstance(n, str) for n in wanted):
        names = list(wanted)
    elif isinstance(wanted, Mapping):
        names = [i["name"] for i in existing if bson_key(i["key"]) == bson_key(dict(wanted))]
        if not names:
            raise CommandError(INDEX_NOT_FOUND, f"can't find index with key: {dict(wanted)}")
    else:
        raise CommandError(BAD_VALUE, "'index' must be a string, an array of strings or an object")
    known = {index["name"] for index in existing}
    for index_name in names:
        if index_name == "_id_":
            raise CommandError(INVALID_OPTIONS, "cannot drop _id index")
        if index_name not in known:
            raise CommandError(INDEX_NOT_FOUND, f"index not found with name [{index_name}]")
    for index_name in names:
        collection.drop_index(index_name)
    return {"nIndexesWas": len(existing), "ok": 1.0}


HANDLERS: dict[str, Handler] = {
    "createIndexes": create_indexes,
    "listIndexes": list_indexes,
    "dropIndexes": drop_indexes,
    "deleteIndexes": drop_indexes,
}
