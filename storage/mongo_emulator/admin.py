"""Server and namespace commands: the handshake, build and status facts, databases, collections."""

from __future__ import annotations

import os
import socket
import time
from datetime import UTC, datetime
from typing import Any

from storage.mongo_emulator.cursors import batch_size_option
from storage.mongo_emulator.engine import Engine
from storage.mongo_emulator.errors import (
    AUTHENTICATION_FAILED,
    BAD_VALUE,
    ILLEGAL_OPERATION,
    INVALID_OPTIONS,
    NAMESPACE_EXISTS,
    CommandError,
    not_supported,
)
from storage.mongo_emulator.indexes import index_documents
from storage.mongo_emulator.mongomock_hooks import MONGOMOCK_VERSION, filter_applies
from storage.mongo_emulator.request import Handler, Request, collection_name

VERSION = "7.0.0-emulated"
VERSION_ARRAY = [7, 0, 0, 0]
MAX_WIRE_VERSION = 21
MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024
MAX_MESSAGE_SIZE_BYTES = 48_000_000
MAX_WRITE_BATCH_SIZE = 100_000
_ID_INDEX = {"v": 2, "key": {"_id": 1}, "name": "_id_"}


def hello(engine: Engine, request: Request) -> dict[str, Any]:
    if request.body.get("loadBalanced"):
        raise not_supported("load-balanced mode")
    # No topologyVersion: the driver then polls instead of streaming, which the emulator lacks.
    # No setName: a standalone, so drivers send no transaction numbers for retryable writes.
    return {
        "helloOk": True,
        "isWritablePrimary": True,
        "ismaster": True,
        "maxBsonObjectSize": MAX_BSON_OBJECT_SIZE,
        "maxMessageSizeBytes": MAX_MESSAGE_SIZE_BYTES,
        "maxWriteBatchSize": MAX_WRITE_BATCH_SIZE,
        "localTime": datetime.now(UTC),
        "logicalSessionTimeoutMinutes": 30,
        "connectionId": request.connection_id,
        "minWireVersion": 0,
        "maxWireVersion": MAX_WIRE_VERSION,
        "readOnly": False,
        "ok": 1.0,
    }


def ping(engine: Engine, request: Request) -> dict[str, Any]:
    return {"ok": 1.0}


def build_info(engine: Engine, request: Request) -> dict[str, Any]:
    return {
        "version": VERSION,
        "gitVersion": f"mongomock-{MONGOMOCK_VERSION}",
        "versionArray": VERSION_ARRAY,
        "bits": 64,
        "debug": False,
        "maxBsonObjectSize": MAX_BSON_OBJECT_SIZE,
        "storageEngines": ["mongomock"],
        "javascriptEngine": "none",
        "modules": [],
        "ok": 1.0,
    }


_PARAMETERS: dict[str, Any] = {
    "featureCompatibilityVersion": {"version": "7.0"},
    "authenticationMechanisms": [],
}


def get_parameter(engine: Engine, request: Request) -> dict[str, Any]:
    if request.target == "*" or (
        isinstance(request.target, dict) and request.target.get("allParameters")
    ):
        return {**_PARAMETERS, "ok": 1.0}
    wanted = [field for field in request.body if field != request.name]
    unknown = [field for field in wanted if field not in _PARAMETERS]
    if unknown or not wanted:
        raise CommandError(INVALID_OPTIONS, "no option found to get")
    return {**{field: _PARAMETERS[field] for field in wanted}, "ok": 1.0}


def server_status(engine: Engine, request: Request) -> dict[str, Any]:
    uptime = time.monotonic() - engine.started
    return {
        "host": socket.gethostname(),
        "version": VERSION,
        "process": "mongomock-emulator",
        "pid": os.getpid(),
        "uptime": float(int(uptime)),
        "uptimeMillis": int(uptime * 1000),
        "localTime": datetime.now(UTC),
        "connections": {
            "current": engine.connections_current,
            "available": 1_000_000,
            "totalCreated": engine.connections_total,
        },
        "storageEngine": {"name": "mongomock", "persistent": False},
        "ok": 1.0,
    }


def sessions(engine: Engine, request: Request) -> dict[str, Any]:
    return {"ok": 1.0}


def no_transactions(engine: Engine, request: Request) -> dict[str, Any]:
    raise CommandError(
        ILLEGAL_OPERATION,
        "Transaction numbers are only allowed on a replica set member or mongos"
        " (the embedded MongoDB emulator is a standalone without transactions)",
    )


def no_authentication(engine: Engine, request: Request) -> dict[str, Any]:
    raise CommandError(
        AUTHENTICATION_FAILED,
        "the embedded MongoDB emulator has no users: connect without credentials",
    )


def list_databases(engine: Engine, request: Request) -> dict[str, Any]:
    request.check_fields(("filter", "nameOnly", "authorizedDatabases"))
    query = request.document("filter")
    name_only = request.flag("nameOnly")
    entries = [
        {"name": name} if name_only else {"name": name, "sizeOnDisk": 0, "empty": False}
        for name in sorted(engine.database_names())
    ]
    entries = [entry for entry in entries if filter_applies(query, entry)]
    reply: dict[str, Any] = {"databases": entries}
    if not name_only:
        reply.update(totalSize=0, totalSizeMb=0)
    return {**reply, "ok": 1.0}


def drop_database(engine: Engine, request: Request) -> dict[str, Any]:
    engine.client.drop_database(engine.database(request.database).name)
    return {"dropped": request.database, "ok": 1.0}


def create(engine: Engine, request: Request) -> dict[str, Any]:
    request.check_fields(
        (),
        (
            "capped",
            "size",
            "max",
            "validator",
            "validationLevel",
            "validationAction",
            "viewOn",
            "pipeline",
            "timeseries",
            "expireAfterSeconds",
            "collation",
            "clusteredIndex",
            "changeStreamPreAndPostImages",
            "storageEngine",
            "indexOptionDefaults",
            "autoIndexId",
            "encryptedFields",
        ),
    )
    name = collection_name(request)
    if not engine.ensure_collection(request.database, name):
        raise CommandError(NAMESPACE_EXISTS, f"Collection {request.namespace} already exists.")
    return {"ok": 1.0}


def drop(engine: Engine, request: Request) -> dict[str, Any]:
    name = collection_name(request)
    if not engine.exists(request.database, name):
        return {"ok": 1.0}  # MongoDB 7 no longer reports NamespaceNotFound here
    collection = engine.collection(request.database, name)
    indexes = len(index_documents(collection))
    collection.drop()
    return {"nIndexesWas": indexes, "ns": request.namespace, "ok": 1.0}


def list_collections(engine: Engine, request: Request) -> dict[str, Any]:
    request.check_fields(("filter", "nameOnly", "authorizedCollections", "cursor"))
    query = request.document("filter")
    name_only = request.flag("nameOnly")
    entries = []
    for name in sorted(engine.collection_names(request.database)):
        entry: dict[str, Any] = {"name": name, "type": "collection"}
        if not name_only:
            entry.update(options={}, info={"readOnly": False}, idIndex=_ID_INDEX)
        if filter_applies(query, entry):
            entries.append(entry)
    batch_size = batch_size_option(request.document("cursor").get("batchSize"))
    namespace = f"{request.database}.$cmd.listCollections"
    return {"cursor": engine.cursors.open(namespace, entries, batch_size=batch_size), "ok": 1.0}


def rename_collection(engine: Engine, request: Request) -> dict[str, Any]:
    request.check_fields(("to", "dropTarget", "stayTemp"))
    source, target = request.target, request.body.get("to")
    if not isinstance(source, str) or not isinstance(target, str):
        raise CommandError(BAD_VALUE, "renameCollection and to must be namespace strings")
    source_db, _, source_name = source.partition(".")
    target_db, _, target_name = target.partition(".")
    if source_db != target_db:
        raise not_supported("renaming a collection across databases")
    engine.database(source_db).rename_collection(
        source_name, target_name, dropTarget=request.flag("dropTarget")
    )
    return {"ok": 1.0}


HANDLERS: dict[str, Handler] = {
    "hello": hello,
    "isMaster": hello,
    "ismaster": hello,
    "ping": ping,
    "buildInfo": build_info,
    "buildinfo": build_info,
    "getParameter": get_parameter,
    "serverStatus": server_status,
    "endSessions": sessions,
    "refreshSessions": sessions,
    "killSessions": sessions,
    "commitTransaction": no_transactions,
    "abortTransaction": no_transactions,
    "saslStart": no_authentication,
    "saslContinue": no_authentication,
    "authenticate": no_authentication,
    "listDatabases": list_databases,
    "dropDatabase": drop_database,
    "create": create,
    "drop": drop,
    "listCollections": list_collections,
    "renameCollection": rename_collection,
}
