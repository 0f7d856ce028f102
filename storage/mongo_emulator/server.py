"""The emulator's TCP server: reads framed messages, runs each command in arrival order, replies."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from typing import Any

from storage.mongo_emulator.commands import HANDSHAKE_COMMANDS, run_command
from storage.mongo_emulator.engine import Engine
from storage.mongo_emulator.errors import UNSUPPORTED_OP_QUERY_COMMAND, CommandError, translate
from storage.mongo_emulator.ttl import run_monitor
from storage.mongo_emulator.wire import (
    HEADER_SIZE,
    OP_MSG,
    OP_QUERY,
    QUERY_FAILURE,
    Header,
    WireError,
    encode_op_msg,
    encode_op_reply,
    parse_header,
    parse_op_msg,
    parse_op_query,
)

log = logging.getLogger(__name__)


class Emulator:
    """A running emulator: its URL, and close() to stop it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.url = ""
        self._server: asyncio.Server | None = None
        self._monitor: asyncio.Task[None] | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._reply_ids = itertools.count(1)

    async def _start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._serve, host, port)
        bound_port = self._server.sockets[0].getsockname()[1]
        shown_host = f"[{host}]" if ":" in host else host
        self.url = f"mongodb://{shown_host}:{bound_port}/?directConnection=true"
        self._monitor = asyncio.create_task(run_monitor(self.engine))

    async def close(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection_id = self.engine.open_connection()
        self._writers.add(writer)
        try:
            while True:
                try:
                    header = parse_header(await reader.readexactly(HEADER_SIZE))
                except asyncio.IncompleteReadError:
                    break
                payload = await reader.readexactly(header.length - HEADER_SIZE)
                reply = self._answer(header, payload, connection_id)
                if reply is not None:
                    writer.write(reply)
                    await writer.drain()
        except (WireError, asyncio.IncompleteReadError, ConnectionError) as exc:
            log.warning("closing connection %d: %s", connection_id, exc)
        finally:
            self._writers.discard(writer)
            self.engine.close_connection()
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _answer(self, header: Header, payload: bytes, connection_id: int) -> bytes | None:
        reply_id = next(self._reply_ids)
        if header.op_code == OP_MSG:
            message = parse_op_msg(payload)
            document = run_command(self.engine, message.body, connection_id=connection_id)
            if message.more_to_come:
                return None
            return _encoded(
                encode_op_msg, document, reply_id=reply_id, response_to=header.request_id
            )
        if header.op_code == OP_QUERY:
            query = parse_op_query(payload)
            database, _, collection = query.collection.partition(".")
            if collection != "$cmd":
                failure = {"$err": "legacy OP_QUERY reads are not supported", "code": 352}
                return encode_op_reply(
                    [failure],
                    request_id=reply_id,
                    response_to=header.request_id,
                    flags=QUERY_FAILURE,
                )
            command = query.command
            name = next(iter(command), "")
            if name in HANDSHAKE_COMMANDS:
                document = run_command(
                    self.engine, command, connection_id=connection_id, database=database
                )
            else:
                document = CommandError(
                    UNSUPPORTED_OP_QUERY_COMMAND,
                    f"Unsupported OP_QUERY command: {name}."
                    " The client driver may require an upgrade.",
                ).document()
            return _encoded(
                lambda doc, **ids: encode_op_reply([doc], **ids),
                document,
                reply_id=reply_id,
                response_to=header.request_id,
            )
        raise WireError(f"unsupported opcode {header.op_code}")


def _encoded(
    encode: Callable[..., bytes], document: dict[str, Any], *, reply_id: int, response_to: int
) -> bytes:
    try:
        return encode(document, request_id=reply_id, response_to=response_to)
    except Exception as exc:  # noqa: BLE001 -- a value BSON cannot carry: answer, keep the link
        error = translate(exc).document()
        return encode(error, request_id=reply_id, response_to=response_to)


async def start_emulator(*, host: str = "127.0.0.1", port: int = 0) -> Emulator:
    """Start an emulator listening on host:port (0: a free port); its URL is `.url`."""
    emulator = Emulator(Engine())
    await emulator._start(host, port)
    return emulator
