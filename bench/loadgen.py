"""The in-process load generators, for what wrk cannot do: keep-alive HTTP/1.1 connections in a
closed loop with a step before each request (cache-cold retires the caller's cache entries),
and the client side of websockets for graphql-transport-ws (bench/subscriptions.py).

Both write prepared bytes to raw sockets and parse answers in place: on a 2-core machine httpx
cost about 2.5 ms of CPU per request against 0.3-0.5 ms, and the websockets library about 50 µs
per event against 30, CPU taken from the servers measured when they share it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import secrets
import time
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, cast
from urllib.parse import urlsplit

from scenarios import Call, disagreement
from stats import percentile
from wrk import WrkResult

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _address(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    return parts.hostname or "127.0.0.1", parts.port or 80


class Http:
    """One keep-alive HTTP/1.1 connection POSTing to /graphql; answers carry a Content-Length."""

    def __init__(self, base_url: str) -> None:
        self.host, self.port = _address(base_url)
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.wire: dict[tuple[str, bytes], bytes] = {}

    async def post(self, authorization: str, body: bytes) -> tuple[int, bytes]:
        if (wire := self.wire.get((authorization, body))) is None:
            head = f"POST /graphql HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            head += f"Authorization: {authorization}\r\n" if authorization else ""
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            wire = self.wire[(authorization, body)] = head.encode() + body
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        elif self.streams[0].at_eof():  # the server closed it while idle (uvicorn: after 5 s)
            await self.close()
            return await self.post(authorization, body)
        reader, writer = self.streams
        try:
            writer.write(wire)
            head = await reader.readuntil(b"\r\n\r\n")
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    return int(head[9:12]), await reader.readexactly(int(value))
            raise ValueError(f"an answer without Content-Length: {head[:200]!r}")
        except BaseException:
            await self.close()  # a broken exchange leaves the stream unusable
            raise

    async def close(self) -> None:
        if self.streams is not None:
            writer, self.streams = self.streams[1], None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def closed_loop(
    base_url: str,
    plans: Sequence[Sequence[Call]],
    seconds: float,
    references: Mapping[Call, bytes],
    *,
    before_each: Callable[[Call], Awaitable[None]],
) -> WrkResult:
    """One connection per plan, each sending its next call as soon as the last is answered, in
    turn, for `seconds`. Every answer is checked against taskql's (scenarios.disagreement)."""
    latencies: list[float] = []
    errors: Counter[str] = Counter()

    async def connection(plan: Sequence[Call], deadline: float) -> None:
        http, sent = Http(base_url), 0
        try:
            while time.perf_counter() < deadline:
                call, sent = plan[sent % len(plan)], sent + 1
                await before_each(call)
                began = time.perf_counter()
                try:
                    status, body = await http.post(call.authorization, call.body)
                except (OSError, ValueError, asyncio.IncompleteReadError):
                    errors["socket"] += 1
                    continue
                latencies.append(time.perf_counter() - began)
                reason = disagreement(references.get(call), body, status=status)
                if reason is not None:
                    errors["status" if status != 200 else reason.partition(":")[0]] += 1
        finally:
            await http.close()

    began = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for plan in filter(None, plans):
            group.create_task(connection(plan, began + seconds))
    # The answers in flight at the deadline count, and so does the time they took.
    elapsed = time.perf_counter() - began
    ordered = sorted(1000 * latency for latency in latencies)
    return WrkResult(
        requests=len(ordered),
        seconds=elapsed,
        p50_ms=percentile(ordered, 0.50),
        p90_ms=percentile(ordered, 0.90),
        p99_ms=percentile(ordered, 0.99),
        max_ms=ordered[-1] if ordered else 0.0,
        read_errors=errors.pop("socket", 0),
        non_2xx=errors.pop("status", 0),
        graphql_errors=errors.pop("errors", 0),
        wrong=sum(errors.values()),
    )


class WebSocket(asyncio.Protocol):
    """The client side of RFC 6455, just enough for one graphql-transport-ws socket: text frames,
    ping/pong, close, and permessage-deflate (RFC 7692) on received messages when offered.
    Each message goes to `on_message` with the time its bytes reached this event loop."""

    def __init__(
        self,
        on_message: Callable[[bytes, float], None],
        on_close: Callable[[int | None], None],
        *,
        deflate: bool,
    ) -> None:
        loop = asyncio.get_running_loop()
        self.on_message, self.on_close, self.deflate = on_message, on_close, deflate
        self.key = base64.b64encode(secrets.token_bytes(16))
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self.fragments: list[bytes] = []
        self.compressed = False  # the message being reassembled
        self.inflater: Any = None  # once the server agreed to deflate
        self.closing = False  # this side closed it
        self.handshake = b""
        self.subprotocol = ""

    async def open(self, base_url: str, subprotocol: str) -> None:
        host, port = _address(base_url)
        self.subprotocol = subprotocol
        lines = ["GET /graphql HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket"]
        lines += ["Connection: Upgrade", f"Sec-WebSocket-Key: {self.key.decode()}"]
        lines += ["Sec-WebSocket-Version: 13", f"Sec-WebSocket-Protocol: {subprotocol}"]
        if self.deflate:
            lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
        self.handshake = ("\r\n".join(lines) + "\r\n\r\n").encode()
        await asyncio.get_running_loop().create_connection(lambda: self, host, port)
        await self.upgraded

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.handshake)

    def data_received(self, data: bytes) -> None:
        at = time.perf_counter()
        self.buffer += data
        if not self.upgraded.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status, *lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            del self.buffer[: end + 4]
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (s.partition(":") for s in lines)
            }
            accept = base64.b64encode(hashlib.sha1(self.key + WS_GUID).digest()).decode()  # noqa: S324 -- RFC 6455
            expected = {"sec-websocket-accept": accept, "sec-websocket-protocol": self.subprotocol}
            if " 101 " not in f"{status} " or any(headers.get(k) != v for k, v in expected.items()):
                self.upgraded.set_exception(ConnectionError(f"no upgrade: {status} {headers}"))
                self.abort()
                return
            if "permessage-deflate" in headers.get("sec-websocket-extensions", ""):
                self.inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            self.upgraded.set_result(None)
        self._read_frames(at)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError(f"lost before the upgrade: {exc}"))
        self.on_close(None)
        if not self.lost.done():
            self.lost.set_result(None)

    def _read_frames(self, at: float) -> None:
        buffer, offset, size = self.buffer, 0, len(self.buffer)
        while size - offset >= 2:
            first, second = buffer[offset], buffer[offset + 1]
            length, head = second & 0x7F, 2
            if length >= 126:
                head = 4 if length == 126 else 10
                if size - offset < head:
                    break
                length = int.from_bytes(buffer[offset + 2 : offset + head], "big")
            if second & 0x80:  # a server never masks: a broken stream
                self.abort()
                return
            if size - offset < head + length:
                break
            payload = bytes(buffer[offset + head : offset + head + length])
            offset += head + length
            self._frame(first, payload, at)
        del buffer[:offset]

    def _frame(self, first: int, payload: bytes, at: float) -> None:
        opcode = first & 0x0F
        if opcode in (0x0, 0x1, 0x2):
            if opcode:
                self.compressed = bool(first & 0x40)
            self.fragments.append(payload)
            if first & 0x80:  # the final fragment
                message = b"".join(self.fragments)
                self.fragments.clear()
                if self.compressed and self.inflater is not None:
                    message = self.inflater.decompress(message + b"\x00\x00\xff\xff")
                self.on_message(message, at)
        elif opcode == 0x8:
            self.on_close(int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005)
            if not self.closing:
                self._send(0x8, payload[:2])
            if self.transport is not None:
                self.transport.close()
        elif opcode == 0x9:
            self._send(0xA, payload)

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        size = len(payload)
        if size < 126:
            head = bytes([0x80 | opcode, 0x80 | size])
        elif size < 1 << 16:
            head = bytes([0x80 | opcode, 0x80 | 126]) + size.to_bytes(2, "big")
        else:
            head = bytes([0x80 | opcode, 0x80 | 127]) + size.to_bytes(8, "big")
        key = secrets.token_bytes(4)
        masked = int.from_bytes(payload, "big") ^ int.from_bytes(
            (key * (size // 4 + 1))[:size], "big"
        )
        self.transport.write(head + key + masked.to_bytes(size, "big"))

    def send(self, data: bytes) -> None:
        self._send(0x1, data)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    async def close(self) -> None:
        self.closing = True
        self._send(0x8, (1000).to_bytes(2, "big"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.lost), 5.0)
        self.abort()
