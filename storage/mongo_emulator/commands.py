"""The command dispatcher: strip the fields every command may carry, find the handler, answer."""

from __future__ import annotations

import logging
from typing import Any

from storage.mongo_emulator import admin, find_and_modify, indexes, reads, writes
from storage.mongo_emulator.engine import Engine
from storage.mongo_emulator.errors import (
    COMMAND_NOT_FOUND,
    FAILED_TO_PARSE,
    CommandError,
    translate,
)
from storage.mongo_emulator.request import Handler, Request

log = logging.getLogger(__name__)

# Session, read/write-concern, API-version and tracing fields: meaningless for one in-memory node.
GENERIC_FIELDS = frozenset(
    {
        "$db",
        "lsid",
        "$clusterTime",
        "$readPreference",
        "writeConcern",
        "readConcern",
        "comment",
        "maxTimeMS",
        "apiVersion",
        "apiStrict",
        "apiDeprecationErrors",
        "$audit",
        "$client",
    }
)
TRANSACTION_FIELDS = frozenset({"txnNumber", "startTransaction", "autocommit"})
HANDSHAKE_COMMANDS = frozenset({"hello", "isMaster", "ismaster"})

HANDLERS: dict[str, Handler] = {
    **admin.HANDLERS,
    **reads.HANDLERS,
    **writes.HANDLERS,
    **find_and_modify.HANDLERS,
    **indexes.HANDLERS,
}


def run_command(
    engine: Engine, body: dict[str, Any], *, connection_id: int, database: str | None = None
) -> dict[str, Any]:
    """Run one command to completion (no await inside: each command is atomic) and answer."""
    try:
        return _dispatch(engine, body, connection_id=connection_id, database=database)
    except Exception as exc:  # noqa: BLE001 -- every failure is answered, never dropped
        error = translate(exc)
        log.debug("command %s failed: %s", next(iter(body), "?"), error.message)
        return error.document()


def _dispatch(
    engine: Engine, body: dict[str, Any], *, connection_id: int, database: str | None
) -> dict[str, Any]:
    if not body:
        raise CommandError(FAILED_TO_PARSE, "no command in the message body")
    name = next(iter(body))
    if TRANSACTION_FIELDS & body.keys():
        return admin.no_transactions(engine, _request(body, name, database, connection_id))
    handler = HANDLERS.get(name)
    if handler is None:
        raise CommandError(COMMAND_NOT_FOUND, f"no such command: '{name}'")
    return handler(engine, _request(body, name, database, connection_id))


def _request(body: dict[str, Any], name: str, database: str | None, connection_id: int) -> Request:
    target_database = body.get("$db", database)
    if not isinstance(target_database, str):
        raise CommandError(FAILED_TO_PARSE, "the command names no database ($db)")
    options = {key: value for key, value in body.items() if key not in GENERIC_FIELDS}
    return Request(
        name=name,
        target=body[name],
        body=options,
        database=target_database,
        connection_id=connection_id,
    )
