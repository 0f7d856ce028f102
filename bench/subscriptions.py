"""How fast one user's task events reach many subscribers spread over two instances, and what an
idle subscriber costs in memory.

    .venv/bin/python bench/subscriptions.py [--subscribers 1000] [--writes 100]
                                            [--burst-writes 100] [--writers 10] [--settle 3]
                                            [--timeout 15] [--client raw|websockets] [--deflate]
                                            [--markdown FILE | --no-markdown]

Setup: `server.py services` (shared MongoDB and Redis: embedded unless MONGODB_URL/REDIS_URL
are set), then two `server.py serve` (one worker each) on those stores with one JWT key,
TASKQL_MAX_SUBSCRIPTIONS_PER_USER raised to the subscriber count (+10) and every cost tier's
budget made unlimited (TASKQL_COST_TIERS), so no subscription or write is refused. One user is
registered through the API (`register`); every subscriber and every write is that user.

Subscribers: S websockets (`graphql-transport-ws`), subscriber i on instance i % 2, each
`connection_init` with the user's token, then one
`subscription { taskEvents { type taskId cursor at } }`. A socket carries one subscription.
Writes: `mutation { createTask(input: {title: "t"}) { id } }` over keep-alive HTTP/1.1, write i
to instance i % 2, so half the subscribers are on the writing instance and half on the other
(their events cross Redis pub/sub either way: the hub of each instance hears the user's
channel). An event is matched to its write by `taskId`.

1. Memory per idle subscriber: one warm-up subscriber per instance receives one event and is
   closed (first-use costs are not counted), then each server's RSS; then the S subscriptions
   are opened (50 at a time), the benchmark waits until each server's
   `taskql_subscriptions_active` shows its share, lets them sit idle --settle seconds, and
   reads RSS again: (after - before) / subscriptions on that instance. File descriptors too.
2. One write at a time (--writes W): each write is sent once every subscriber has the previous
   one's event, so no backlog builds up. Latency: from the moment the write's HTTP answer is in
   (acknowledged) to the moment a subscriber's event is read by this process, for each of the
   W x S events; p50/p99/max, all subscribers and split by same/other instance than the write.
   An event can arrive before its write's answer (the server publishes before it answers):
   such latencies are negative and counted as "early". Also from the moment the write was sent.
   Events per second: W x S / (first write sent -> last event received). One unmeasured
   write first warms every subscription's delivery path.
3. Writes as fast as possible (--burst-writes B, --writers N): N writers, each sending its next
   write as soon as its last one is answered, alternating instances; the same latencies, and
   events per second, B x S / (first write sent -> last event received).

Checks: every subscriber gets every event exactly once (missing and duplicate events are
counted; a phase waits --timeout seconds past its last write), no socket is closed by the
server, no GraphQL error. Warnings and errors in the servers' logs are shown.

The client: all S sockets in this one asyncio process (uvloop). `--client raw` (default) is a
minimal websocket client on asyncio.Protocol (unmasked server frames parsed in place; the
receive time is taken when the bytes reach the process's event loop): about 30 µs of CPU per
event on a 2-core EPYC, writes included; `--client websockets` uses the websockets library
instead (about 50 µs). `--deflate` offers permessage-deflate as browsers do: the server then
compresses every event for every socket, and keeps a compressor per socket. The client, both
servers, the stores and MongoDB share this machine's CPUs: the CPU table shows what each spent
(and what processes outside the benchmark took), and the client's own share limits what the
latencies can show (a busy client reads events late; its loop also reads the write answers).
The run takes about 1.5 minutes with the defaults; it exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import os
import platform
import resource
import secrets
import shlex
import signal
import sys
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any, NoReturn, cast

import httpx
import orjson
import psutil  # type: ignore[import-untyped]  # no stubs in the lock file
import uvloop
from cache_report import cpu_model
from cli import HelpFormatter, positive
from loadgen import RawConnection, Request
from redis.asyncio import Redis
from scrape import scrape
from stack import ROOT, Server, Stack, cpu_seconds
from tables import table
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

DATABASE = "taskql_bench_events"
DEFAULT_MARKDOWN = ROOT / "bench" / "results" / "subscriptions.md"
SUBSCRIPTION = "subscription { taskEvents { type taskId cursor at } }"
WRITE = 'mutation { createTask(input: {title: "t"}) { id } }'
REGISTER = "mutation($input: RegisterInput!) { register(input: $input) { accessToken } }"
PROTOCOL = "graphql-transport-ws"
ACTIVE_METRIC = "taskql_subscriptions_active"
UNLIMITED_TIER = {"capacity": 1e9, "restore_rate": 1e9, "max_query": 1e9}
OPEN_CONCURRENCY = 50
OPEN_TIMEOUT = 30.0
GOAL_P99_MS = 100.0
NOISY = 0.10  # the share of the CPUs other processes took, above which figures are suspect
FDS_PER_PROCESS_SPARE = 256  # beyond one per socket: stores, logs, listening sockets
CLIENTS = ("raw", "websockets")
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SUBSCRIBE_ID = "1"


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# ---- what the subscribers receive -------------------------------------------------------------


class Tally:
    """How many subscribers have each task's event; a future per task some phase waits for."""

    def __init__(self, subscribers: int) -> None:
        self.subscribers = subscribers
        self.counts: dict[str, int] = {}
        self.waiters: dict[str, asyncio.Future[None]] = {}

    def arrived(self, task_id: str) -> None:
        count = self.counts.get(task_id, 0) + 1
        self.counts[task_id] = count
        if count >= self.subscribers:
            waiter = self.waiters.get(task_id)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def complete(self, task_id: str) -> asyncio.Future[None]:
        """Done once every subscriber has the task's event (perhaps already)."""
        waiter = self.waiters.get(task_id)
        if waiter is None:
            waiter = self.waiters[task_id] = asyncio.get_running_loop().create_future()
            if self.counts.get(task_id, 0) >= self.subscribers:
                waiter.set_result(None)
        return waiter


class Subscriber:
    """One socket, one subscription: when each task's event arrived, and what went wrong."""

    def __init__(self, index: int, instance: int, tally: Tally) -> None:
        self.index = index
        self.instance = instance
        self.tally = tally
        self.arrivals: dict[str, float] = {}  # task id -> perf_counter() at receipt
        self.duplicates = 0
        self.problems: list[str] = []
        self.close_code: int | None = None
        self.closing = False  # this side closed it
        self.deflated = False  # permessage-deflate negotiated
        self.acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.reply: Callable[[bytes], None] = lambda _data: None

    def on_message(self, data: bytes | str, at: float) -> None:
        message = orjson.loads(data)
        kind = message.get("type")
        if kind == "next":
            payload = message.get("payload") or {}
            event = (payload.get("data") or {}).get("taskEvents")
            if event is None or payload.get("errors"):
                self.problem(f"next: {str(payload)[:200]}")
                return
            task_id = event["taskId"]
            if task_id in self.arrivals:
                self.duplicates += 1
                return
            self.arrivals[task_id] = at
            self.tally.arrived(task_id)
        elif kind == "connection_ack":
            if not self.acked.done():
                self.acked.set_result(None)
        elif kind == "ping":
            self.reply(b'{"type":"pong"}')
        elif kind != "pong":
            self.problem(f"{kind}: {str(message)[:200]}")

    def on_close(self, code: int | None) -> None:
        if self.close_code is None:
            self.close_code = 1006 if code is None else code
        if not self.acked.done():
            self.acked.set_exception(ConnectionError(f"closed with {self.close_code}"))
        if not self.closing:
            self.problem(f"closed by the server: {self.close_code}")

    def problem(self, text: str) -> None:
        self.problems.append(f"subscriber {self.index}: {text}")


# ---- two websocket clients --------------------------------------------------------------------


def _mask(payload: bytes, key: bytes) -> bytes:
    size = len(payload)
    repeated = (key * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(size, "big")


class RawWebSocket(asyncio.Protocol):
    """The client side of RFC 6455 for this benchmark only: text frames, ping/pong, close, and
    optionally permessage-deflate (RFC 7692) on what the server sends."""

    def __init__(self, subscriber: Subscriber, *, host: str, port: int, deflate: bool) -> None:
        self.subscriber = subscriber
        self.host, self.port, self.deflate = host, port, deflate
        self.key = base64.b64encode(secrets.token_bytes(16))
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.fragments: list[bytes] = []
        self.compressed = False  # the message being reassembled
        self.inflater: Any = None  # zlib.Decompress, once the server agreed to deflate

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        lines = [
            "GET /graphql HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {self.key.decode()}",
            "Sec-WebSocket-Version: 13",
            f"Sec-WebSocket-Protocol: {PROTOCOL}",
        ]
        if self.deflate:
            lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def data_received(self, data: bytes) -> None:
        at = time.perf_counter()
        self.buffer += data
        if not self.upgraded.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            del self.buffer[: end + 4]
            try:
                self._check_handshake(head)
            except ConnectionError as error:
                self.upgraded.set_exception(error)
                self._abort()
                return
            self.upgraded.set_result(None)
        self._read_frames(at)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError(f"lost before the upgrade: {exc}"))
        self.subscriber.on_close(None)
        if not self.lost.done():
            self.lost.set_result(None)

    # the protocol
    def _check_handshake(self, head: str) -> None:
        status, *header_lines = head.split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        accept = base64.b64encode(hashlib.sha1(self.key + WS_GUID).digest()).decode()  # noqa: S324 -- RFC 6455
        if " 101 " not in f"{status} ":
            raise ConnectionError(f"no upgrade: {status}")
        if headers.get("sec-websocket-accept") != accept:
            raise ConnectionError("wrong Sec-WebSocket-Accept")
        if headers.get("sec-websocket-protocol") != PROTOCOL:
            raise ConnectionError(f"subprotocol {headers.get('sec-websocket-protocol')!r}")
        if "permessage-deflate" in headers.get("sec-websocket-extensions", ""):
            self.inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            self.subscriber.deflated = True

    def _read_frames(self, at: float) -> None:
        buffer, offset, size = self.buffer, 0, len(self.buffer)
        while size - offset >= 2:
            first, second = buffer[offset], buffer[offset + 1]
            length, head = second & 0x7F, 2
            if length == 126:
                if size - offset < 4:
                    break
                length, head = int.from_bytes(buffer[offset + 2 : offset + 4], "big"), 4
            elif length == 127:
                if size - offset < 10:
                    break
                length, head = int.from_bytes(buffer[offset + 2 : offset + 10], "big"), 10
            if second & 0x80:
                self.subscriber.problem("a masked frame from the server")
                self._abort()
                return
            if size - offset < head + length:
                break
            payload = bytes(buffer[offset + head : offset + head + length])
            offset += head + length
            self._frame(first, payload, at)
        del buffer[:offset]

    def _frame(self, first: int, payload: bytes, at: float) -> None:
        opcode, final = first & 0x0F, first & 0x80
        if opcode in (0x1, 0x2, 0x0):
            if opcode:
                self.compressed = bool(first & 0x40)
            self.fragments.append(payload)
            if final:
                message = b"".join(self.fragments)
                self.fragments.clear()
                if self.compressed and self.inflater is not None:
                    message = self.inflater.decompress(message + b"\x00\x00\xff\xff")
                self.subscriber.on_message(message, at)
        elif opcode == 0x8:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.subscriber.on_close(code)
            if not self.subscriber.closing:
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
        self.transport.write(head + key + _mask(payload, key))

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # what a subscriber needs
    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_connection(lambda: self, self.host, self.port)
        await self.upgraded
        self.subscriber.reply = self.send

    def send(self, data: bytes) -> None:
        self._send(0x1, data)

    async def close(self) -> None:
        self.subscriber.closing = True
        self._send(0x8, (1000).to_bytes(2, "big"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.lost), 5.0)
        self._abort()


class LibraryWebSocket:
    """The same through the websockets library (no compression, no keepalive pings)."""

    def __init__(self, subscriber: Subscriber, *, host: str, port: int, deflate: bool) -> None:
        self.subscriber = subscriber
        self.url = f"ws://{host}:{port}/graphql"
        self.deflate = deflate
        self.connection: ClientConnection | None = None
        self.reader: asyncio.Task[None] | None = None
        self.sending: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        self.connection = await connect(
            self.url,
            subprotocols=[Subprotocol(PROTOCOL)],
            compression="deflate" if self.deflate else None,
            ping_interval=None,
            proxy=None,
            max_queue=None,
            open_timeout=OPEN_TIMEOUT,
        )
        self.reader = asyncio.create_task(self._read(self.connection))
        self.subscriber.deflated = bool(self.connection.protocol.extensions)
        self.subscriber.reply = self.send

    async def _read(self, connection: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in connection:
                self.subscriber.on_message(message, time.perf_counter())
        self.subscriber.on_close(connection.close_code)

    def send(self, data: bytes) -> None:
        if self.connection is not None:
            task = asyncio.create_task(self.connection.send(data.decode()))
            self.sending.add(task)
            task.add_done_callback(self.sending.discard)

    async def close(self) -> None:
        self.subscriber.closing = True
        if self.connection is not None:
            await self.connection.close()
        if self.reader is not None:
            await self.reader


Socket = RawWebSocket | LibraryWebSocket


async def open_subscriber(
    subscriber: Subscriber, server: Server, *, token: str, client: str, deflate: bool
) -> Socket:
    """Connected, acknowledged, subscribed (the protocol has no answer to `subscribe`)."""
    url = httpx.URL(server.base_url)
    kind = RawWebSocket if client == "raw" else LibraryWebSocket
    socket = kind(subscriber, host=url.host, port=url.port or 80, deflate=deflate)
    await asyncio.wait_for(socket.open(), OPEN_TIMEOUT)
    init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
    socket.send(orjson.dumps(init))
    await asyncio.wait_for(subscriber.acked, OPEN_TIMEOUT)
    subscribe = {"id": SUBSCRIBE_ID, "type": "subscribe", "payload": {"query": SUBSCRIPTION}}
    socket.send(orjson.dumps(subscribe))
    return socket


# ---- the measurements -------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    task_id: str
    instance: int
    sent: float
    acked: float


@dataclass
class Memory:
    name: str
    subscriptions: int
    before: int  # RSS, bytes
    after: int
    fds_before: int
    fds_after: int
    fd_limit: tuple[int, int]

    @property
    def per_subscriber(self) -> float:
        return (self.after - self.before) / self.subscriptions if self.subscriptions else 0.0


def _percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


@dataclass
class Latencies:
    """Seconds from each write's answer (and from its sending) to each subscriber's event."""

    from_ack: list[float] = field(default_factory=list)
    from_send: list[float] = field(default_factory=list)

    def ordered(self) -> tuple[list[float], list[float]]:
        return sorted(self.from_ack), sorted(self.from_send)


@dataclass
class Phase:
    name: str
    writes: list[Write]
    subscribers: int
    writers: int
    cpu: dict[str, float] = field(default_factory=dict)
    client_cpu: float = 0.0
    busy: float = 0.0
    others: float = 0.0
    groups: dict[str, Latencies] = field(default_factory=dict)
    delivered: int = 0
    missing: int = 0
    duplicates: int = 0
    delivered_by: dict[int, int] = field(default_factory=dict)  # by the subscribers' instance
    completions: list[float] = field(default_factory=list)  # per write: ack -> its last event
    seconds: float = 0.0  # first write sent -> last event received
    timed_out: int = 0  # writes whose events were not all in within the timeout

    @property
    def expected(self) -> int:
        return len(self.writes) * self.subscribers

    @property
    def events_per_second(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0

    @property
    def write_round_trips(self) -> list[float]:
        return sorted(write.acked - write.sent for write in self.writes)

    def account(self, subscribers: Sequence[Subscriber]) -> None:
        """Latencies, delivered/missing/duplicate counts and the wall time, from the arrivals."""
        self.groups = {"all": Latencies(), "same instance": Latencies(), "other": Latencies()}
        last = max((write.acked for write in self.writes), default=0.0)
        for write in self.writes:
            write_last = write.acked
            for subscriber in subscribers:
                at = subscriber.arrivals.get(write.task_id)
                if at is None:
                    self.missing += 1
                    continue
                self.delivered += 1
                self.delivered_by[subscriber.instance] = (
                    self.delivered_by.get(subscriber.instance, 0) + 1
                )
                write_last = max(write_last, at)
                side = "same instance" if subscriber.instance == write.instance else "other"
                for group in (self.groups["all"], self.groups[side]):
                    group.from_ack.append(at - write.acked)
                    group.from_send.append(at - write.sent)
            self.completions.append(write_last - write.acked)
            last = max(last, write_last)
        self.completions.sort()
        first = min((write.sent for write in self.writes), default=0.0)
        self.seconds = last - first


class Writer:
    """Writes tasks through the API over keep-alive HTTP/1.1, one connection per instance."""

    def __init__(self, servers: Sequence[Server], token: str) -> None:
        headers = (("Content-Type", "application/json"), ("Authorization", f"Bearer {token}"))
        self.request = Request(
            key="write", path="/graphql", headers=headers, body=orjson.dumps({"query": WRITE})
        )
        urls = [httpx.URL(server.base_url) for server in servers]
        self.connections = [RawConnection(url.host, url.port or 80) for url in urls]

    async def write(self, instance: int) -> Write:
        sent = time.perf_counter()
        try:
            status, body = await self.connections[instance].send(self.request)
        except (asyncio.IncompleteReadError, ConnectionError):
            # The server closed the idle keep-alive connection (uvicorn: after 5 s) before
            # reading the request: once more, on a new connection, timed from there.
            sent = time.perf_counter()
            status, body = await self.connections[instance].send(self.request)
        acked = time.perf_counter()
        answer = orjson.loads(body)
        if status != 200 or answer.get("errors"):
            raise RuntimeError(f"createTask answered {status}: {body[:300]!r}")
        return Write(answer["data"]["createTask"]["id"], instance, sent, acked)

    async def close(self) -> None:
        for connection in self.connections:
            await connection.close()


class Bench:
    def __init__(self, arguments: argparse.Namespace, stack: Stack, servers: list[Server]) -> None:
        self.arguments = arguments
        self.stack = stack
        self.servers = servers
        self.http = httpx.AsyncClient(timeout=30.0)
        self.token = ""
        self.tally = Tally(arguments.subscribers)
        self.subscribers: list[Subscriber] = []
        self.sockets: list[Socket] = []
        self.writers: list[Writer] = []
        self.open_seconds = 0.0
        self.client_rss: tuple[int, int] = (0, 0)

    async def close(self) -> None:
        await asyncio.gather(*(socket.close() for socket in self.sockets), return_exceptions=True)
        for writer in self.writers:
            await writer.close()
        await self.http.aclose()

    def _processes(self) -> dict[str, list[psutil.Process]]:
        parts = self.stack.processes(self.servers[0])
        return {
            **{server.name: [psutil.Process(server.pid)] for server in self.servers},
            "mongodb": parts["mongodb"],
            "redis": parts["redis"],
        }

    async def register(self) -> None:
        variables = {
            "input": {
                "email": f"bench-{secrets.token_hex(6)}@example.com",
                "password": secrets.token_urlsafe(16),
                "name": "Bench",
            }
        }
        reply = await self.http.post(
            f"{self.servers[0].base_url}/graphql",
            json={"query": REGISTER, "variables": variables},
        )
        body = reply.json()
        if reply.status_code != 200 or body.get("errors"):
            raise RuntimeError(f"register answered {reply.status_code}: {body}")
        self.token = body["data"]["register"]["accessToken"]
        self.writers = [Writer(self.servers, self.token) for _ in range(self.arguments.writers)]

    async def active(self) -> list[float]:
        counts = []
        for server in self.servers:
            samples = await scrape(self.http, server.base_url)
            counts.append(samples.get((ACTIVE_METRIC, frozenset()), 0.0))
        return counts

    async def wait_active(self, expected: list[int]) -> None:
        deadline = time.monotonic() + OPEN_TIMEOUT
        while (counts := await self.active()) != [float(count) for count in expected]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"subscriptions active {counts}, expected {expected}")
            await asyncio.sleep(0.2)

    async def warm_up(self) -> None:
        """A subscriber per instance gets one event, then goes: first-use costs land here."""
        tally = Tally(len(self.servers))
        subscribers = [Subscriber(i, i, tally) for i in range(len(self.servers))]
        sockets = [
            await open_subscriber(
                subscriber,
                self.servers[subscriber.instance],
                token=self.token,
                client=self.arguments.client,
                deflate=self.arguments.deflate,
            )
            for subscriber in subscribers
        ]
        await self.wait_active([1] * len(self.servers))
        write = await self.writers[0].write(0)
        await asyncio.wait_for(tally.complete(write.task_id), self.arguments.timeout)
        for socket in sockets:
            await socket.close()
        await self.wait_active([0] * len(self.servers))
        problems = [problem for subscriber in subscribers for problem in subscriber.problems]
        if problems:
            raise RuntimeError(f"warm-up: {'; '.join(problems[:3])}")

    async def open_all(self) -> list[Memory]:
        count = self.arguments.subscribers
        instances = len(self.servers)
        processes = [psutil.Process(server.pid) for server in self.servers]
        await asyncio.sleep(1.0)
        before = [(process.memory_info().rss, process.num_fds()) for process in processes]
        client_before = psutil.Process().memory_info().rss
        self.subscribers = [Subscriber(i, i % instances, self.tally) for i in range(count)]
        gate = asyncio.Semaphore(OPEN_CONCURRENCY)

        async def one(subscriber: Subscriber) -> Socket:
            async with gate:
                return await open_subscriber(
                    subscriber,
                    self.servers[subscriber.instance],
                    token=self.token,
                    client=self.arguments.client,
                    deflate=self.arguments.deflate,
                )

        begin = time.perf_counter()
        results = await asyncio.gather(
            *(one(subscriber) for subscriber in self.subscribers), return_exceptions=True
        )
        self.sockets = [result for result in results if not isinstance(result, BaseException)]
        failed = [result for result in results if isinstance(result, BaseException)]
        if failed:
            raise RuntimeError(f"{len(failed)} of {count} subscribers did not open: {failed[0]!r}")
        shares = [len(self.subscribers[i::instances]) for i in range(instances)]
        await self.wait_active(shares)
        self.open_seconds = time.perf_counter() - begin
        _progress(f"{count} subscriptions active in {self.open_seconds:.1f} s; settling...")
        await asyncio.sleep(self.arguments.settle)
        self.client_rss = (client_before, psutil.Process().memory_info().rss)
        memory = []
        for server, process, share, (rss, fds) in zip(
            self.servers, processes, shares, before, strict=True
        ):
            memory.append(
                Memory(
                    name=server.name,
                    subscriptions=share,
                    before=rss,
                    after=process.memory_info().rss,
                    fds_before=fds,
                    fds_after=process.num_fds(),
                    fd_limit=process.rlimit(psutil.RLIMIT_NOFILE),
                )
            )
        return memory

    async def _await_all(self, writes: Sequence[Write]) -> int:
        """Waits until every subscriber has every write's event; how many writes fell short."""
        waiters = [self.tally.complete(write.task_id) for write in writes]
        if not waiters:
            return 0
        done, _ = await asyncio.wait(waiters, timeout=self.arguments.timeout)
        return len(waiters) - len(done)

    async def one_at_a_time(self, count: int) -> tuple[list[Write], int]:
        writes, timed_out = [], 0
        for number in range(count):
            write = await self.writers[0].write(number % len(self.servers))
            writes.append(write)
            timed_out += await self._await_all([write])
        return writes, timed_out

    async def as_fast_as_possible(self, count: int) -> tuple[list[Write], int]:
        numbers = iter(range(count))
        writes: list[Write] = []

        async def writer(client: Writer) -> None:
            for number in numbers:
                writes.append(await client.write(number % len(self.servers)))

        await asyncio.gather(*(writer(client) for client in self.writers))
        return writes, await self._await_all(writes)

    async def phase(
        self,
        name: str,
        writers: int,
        run: Callable[[int], Awaitable[tuple[list[Write], int]]],
        count: int,
    ) -> Phase:
        processes = self._processes()
        for subscriber in self.subscribers:
            subscriber.duplicates = 0
        cpu_before, client_before = cpu_seconds(processes), time.process_time()
        begin = time.perf_counter()
        writes, timed_out = await run(count)
        elapsed = time.perf_counter() - begin
        cpu_after, client_after = cpu_seconds(processes), time.process_time()
        phase = Phase(name, writes, len(self.subscribers), writers, timed_out=timed_out)
        phase.cpu = {part: cpu_after[part] - cpu_before[part] for part in cpu_before}
        phase.client_cpu = client_after - client_before
        capacity = elapsed * (os.cpu_count() or 1)
        phase.busy = 1 - phase.cpu.pop("idle") / capacity
        ours = sum(phase.cpu.values()) + phase.client_cpu
        phase.others = max(0.0, phase.busy - ours / capacity)
        phase.account(self.subscribers)
        phase.duplicates = sum(subscriber.duplicates for subscriber in self.subscribers)
        return phase

    async def measure(self) -> Results:
        arguments = self.arguments
        _progress("registering the user; warm-up subscriber per instance...")
        await self.register()
        await self.warm_up()
        _progress(f"opening {arguments.subscribers} subscriptions...")
        memory = await self.open_all()
        # The first event through every subscription, unmeasured: first-use costs land here.
        warm = await self.writers[0].write(0)
        if await self._await_all([warm]):
            raise RuntimeError("warm-up: the first event did not reach every subscriber")
        _progress(f"phase 1: {arguments.writes} writes, one at a time...")
        first = await self.phase("one write at a time", 1, self.one_at_a_time, arguments.writes)
        _progress(_phase_line(first))
        _progress(f"phase 2: {arguments.burst_writes} writes, {arguments.writers} writers...")
        second = await self.phase(
            f"as fast as possible, {arguments.writers} writers",
            arguments.writers,
            self.as_fast_as_possible,
            arguments.burst_writes,
        )
        _progress(_phase_line(second))
        problems = [problem for subscriber in self.subscribers for problem in subscriber.problems]
        return Results(
            context={},
            memory=memory,
            phases=[first, second],
            open_seconds=self.open_seconds,
            client_rss=self.client_rss,
            problems=problems,
            deflated=sum(subscriber.deflated for subscriber in self.subscribers),
        )


def _phase_line(phase: Phase) -> str:
    ordered, _ = phase.groups["all"].ordered()
    return (
        f"  {phase.delivered}/{phase.expected} events, p50 {1000 * _percentile(ordered, 0.5):.1f}"
        f" ms, p99 {1000 * _percentile(ordered, 0.99):.1f} ms,"
        f" {phase.events_per_second:,.0f} events/s"
    )


# ---- the report -------------------------------------------------------------------------------


@dataclass
class Results:
    context: dict[str, str]
    memory: list[Memory]
    phases: list[Phase]
    open_seconds: float
    client_rss: tuple[int, int]
    problems: list[str]
    deflated: int = 0  # sockets on which the server agreed to permessage-deflate
    server_log: list[str] = field(default_factory=list)

    def check_lines(self) -> list[str]:
        found = []
        for phase in self.phases:
            if phase.missing:
                found.append(
                    f"{phase.name}: {phase.missing} of {phase.expected} events missing"
                    f" ({phase.timed_out} writes not fully delivered within the timeout)"
                )
            if phase.duplicates:
                found.append(f"{phase.name}: {phase.duplicates} duplicate events")
        if self.problems:
            found.append(f"{len(self.problems)} subscriber problems, the first: {self.problems[0]}")
        return found


def _ms(value: float) -> str:
    return f"{1000 * value:.1f}"


def _mib(value: float) -> str:
    return f"{value / 2**20:.1f}"


def summary_lines(results: Results) -> list[str]:
    first, second = results.phases
    ordered, _ = first.groups["all"].ordered()
    p99 = 1000 * _percentile(ordered, 0.99)
    verdict = "meets" if p99 <= GOAL_P99_MS and not first.missing else "MISSES"
    memory = ", ".join(f"{m.name} {m.per_subscriber / 1024:.1f} KiB" for m in results.memory)
    return [
        f"- delivery latency, one write at a time (write acknowledged -> event received):"
        f" p50 **{1000 * _percentile(ordered, 0.5):.1f} ms**, p99 **{p99:.1f} ms**"
        f" ({verdict} the p99 <= {GOAL_P99_MS:.0f} ms goal).",
        f"- events delivered per second: **{first.events_per_second:,.0f}** one write at a time,"
        f" **{second.events_per_second:,.0f}** with {second.writers} concurrent writers.",
        f"- memory per idle subscriber (server RSS growth / its subscriptions): {memory}.",
    ]


def report(results: Results) -> str:
    lines = ["# Subscriptions benchmark (bench/subscriptions.py)", ""]
    lines += [f"- {key}: {value}" for key, value in results.context.items()]
    lines += ["", "## Summary", "", *summary_lines(results)]
    lines += [
        "",
        "## 1. Memory per idle subscriber",
        "",
        "Each server's RSS before the subscriptions were opened (after a warm-up subscriber had"
        " come and gone) and once they were active and idle; one subscription per socket.",
        "",
    ]
    rows = [
        [
            memory.name,
            str(memory.subscriptions),
            _mib(memory.before),
            _mib(memory.after),
            f"{memory.per_subscriber / 1024:.1f}",
            f"{memory.fds_before} -> {memory.fds_after} (limit {memory.fd_limit[0]})",
        ]
        for memory in results.memory
    ]
    lines += table(
        ["instance", "subscriptions", "RSS before MiB", "RSS after MiB", "KiB / sub", "open fds"],
        rows,
    )
    client_before, client_after = results.client_rss
    subscribers = sum(memory.subscriptions for memory in results.memory)
    lines += [
        "",
        f"Opening them took {results.open_seconds:.1f} s ({OPEN_CONCURRENCY} at a time). This"
        f" client's RSS grew by {_mib(client_after - client_before)} MiB"
        f" ({(client_after - client_before) / max(subscribers, 1) / 1024:.1f} KiB per socket)."
        f" permessage-deflate in use on {results.deflated} of {subscribers} sockets.",
        "",
        "## 2. Delivery latency and throughput",
        "",
        "Latency: ms from the write's HTTP answer (ack) to each subscriber's event, over every"
        " (write, subscriber) pair; `same instance`: subscribers on the instance that took the"
        " write; `early`: events read before their write's answer (negative latency). `from"
        " send`: from the moment the write was sent. `last event`: per write, from its answer"
        " to the last subscriber's event, median and max over writes. `write answer`: the"
        " write's HTTP round trip. events/s: events delivered / (first write sent -> last event"
        " received).",
        "",
    ]
    header = ["phase", "subscribers", "events", "p50 ms", "p99 ms", "max ms", "early"]
    header += ["p50 / p99 from send", "last event p50 / max", "write answer p50 ms"]
    header += ["wall s", "events/s"]
    rows = []
    for phase in results.phases:
        trips = phase.write_round_trips
        for group_name, group in phase.groups.items():
            from_ack, from_send = group.ordered()
            whole = group_name == "all"
            rows.append(
                [
                    phase.name if whole else f"  {group_name}",
                    "all" if whole else str(phase.subscribers // 2),
                    f"{len(from_ack)}/{phase.expected}" if whole else str(len(from_ack)),
                    _ms(_percentile(from_ack, 0.5)),
                    _ms(_percentile(from_ack, 0.99)),
                    _ms(from_ack[-1] if from_ack else float("nan")),
                    str(sum(value < 0 for value in from_ack)),
                    f"{_ms(_percentile(from_send, 0.5))} / {_ms(_percentile(from_send, 0.99))}",
                    f"{_ms(_percentile(phase.completions, 0.5))} / {_ms(phase.completions[-1])}"
                    if whole and phase.completions
                    else "",
                    _ms(_percentile(trips, 0.5)) if whole else "",
                    f"{phase.seconds:.2f}" if whole else "",
                    f"{phase.events_per_second:,.0f}" if whole else "",
                ]
            )
    lines += table(header, rows)
    parts = [memory.name for memory in results.memory] + ["mongodb", "redis"]
    lines += [
        "",
        "## 3. CPU during each phase",
        "",
        "CPU seconds (user + system) per process; in brackets, µs per event: for a server, per"
        " event it delivered to its own subscribers; for the others, per event delivered. cpus"
        " busy: the whole machine over the phase; (others): processes outside the benchmark"
        " (other sessions' tests and benchmarks: their CPU is taken from this one's).",
        "",
    ]
    rows = []
    for phase in results.phases:
        spent = [phase.client_cpu, *(phase.cpu.get(part, 0.0) for part in parts)]
        events = [phase.delivered]
        events += [phase.delivered_by.get(i, 0) for i in range(len(results.memory))]
        events += [phase.delivered, phase.delivered]
        rows.append(
            [
                phase.name,
                *(
                    f"{seconds:.2f} ({1e6 * seconds / count if count else float('nan'):.0f})"
                    for seconds, count in zip(spent, events, strict=True)
                ),
                f"{100 * phase.busy:.0f}% ({100 * phase.others:.0f}%)",
            ]
        )
    lines += table(["phase", "client (this process)", *parts, "cpus busy (others)"], rows)
    noise = max(phase.others for phase in results.phases)
    if noise > NOISY:
        lines.append(
            f"\nNOISY: processes outside the benchmark took up to {100 * noise:.0f}% of the CPUs"
            " during a phase; latencies and rates are worse than on a quiet machine."
        )
    checks = results.check_lines()
    lines += ["", "## Checks", "", "- " + ("all passed" if not checks else "FAILED")]
    lines += [f"- {check}" for check in checks]
    lines += ["", "## Server logs (warnings and errors)", ""]
    lines += [f"- {line}" for line in results.server_log] or ["- none"]
    return "\n".join(lines)


def server_log_lines(stack: Stack, limit: int = 8) -> list[str]:
    """Warnings, errors and non-JSON lines (tracebacks) the servers wrote, counted."""
    counts: dict[str, int] = {}
    for child in stack.children:
        if child.name == "services":
            continue
        for line in child.output().splitlines():
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                entry = {"level": "raw", "message": line}
            if not isinstance(entry, dict) or entry.get("level") not in (
                "warning",
                "error",
                "critical",
                "raw",
            ):
                continue
            text = f"{child.name}: {entry.get('level')}: {str(entry.get('message'))[:200]}"
            counts[text] = counts.get(text, 0) + 1
    found = [f"{text} (x{count})" for text, count in counts.items()]
    return found[:limit] + ([f"... and {len(found) - limit} more"] if len(found) > limit else [])


# ---- running ----------------------------------------------------------------------------------


def _command(arguments: argparse.Namespace) -> str:
    words = [".venv/bin/python", "bench/subscriptions.py"]
    for option in ("subscribers", "writes", "burst_writes", "writers", "settle", "timeout"):
        words += [f"--{option.replace('_', '-')}", str(getattr(arguments, option))]
    words += ["--client", arguments.client]
    if arguments.deflate:
        words.append("--deflate")
    return shlex.join(words)


def run_context(
    arguments: argparse.Namespace, stack: Stack, *, redis: str, fd_limit: tuple[int, int]
) -> dict[str, str]:
    client = f"{arguments.client} websocket client on uvloop {version('uvloop')}"
    if arguments.client == "websockets":
        client += f" (websockets {version('websockets')})"
    client += ", permessage-deflate offered" if arguments.deflate else ", no compression"
    instances = len(stack.children) - 1
    return {
        "command": _command(arguments),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_model": cpu_model(),
        "cpus": str(os.cpu_count()),
        "load average at start": ", ".join(f"{value:.2f}" for value in os.getloadavg()),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "mongodb": stack.mongodb_kind,
        "redis": f"redis-server {redis}",
        "servers": f"{instances} x `server.py serve`, one worker each (uvicorn, websockets-sansio)",
        "client": client,
        "open-file limit (soft, hard)": f"{fd_limit[0]}, {fd_limit[1]} (this process and the"
        " servers it starts)",
        "load": f"{arguments.subscribers} subscribers of one user, one subscription per socket,"
        f" half on each instance; `{SUBSCRIPTION}`",
    }


def raise_fd_limit(needed: int) -> tuple[int, int]:
    """Raises this process's soft open-file limit toward `needed` (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft != resource.RLIM_INFINITY and soft < needed:
        _progress(f"WARNING: open-file limit {soft} < {needed} needed; sockets will fail")
    return soft, hard


async def _redis_version(url: str) -> str:
    redis = Redis.from_url(url)
    try:
        info = await redis.info("server")
        return str(info.get("redis_version", "?"))
    finally:
        await redis.aclose()


async def _run(
    arguments: argparse.Namespace, stack: Stack, servers: list[Server], fd_limit: tuple[int, int]
) -> Results:
    bench = Bench(arguments, stack, servers)
    try:
        results = await bench.measure()
    finally:
        _progress("closing the subscriptions...")
        await bench.close()
    redis = await _redis_version(stack.redis_url)
    results.context = run_context(arguments, stack, redis=redis, fd_limit=fd_limit)
    return results


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument(
        "--subscribers", type=positive(int), default=1000, help="sockets, one subscription each"
    )
    parser.add_argument("--writes", type=positive(int), default=100, help="phase 1 writes")
    parser.add_argument("--burst-writes", type=positive(int), default=100, help="phase 2 writes")
    parser.add_argument(
        "--writers", type=positive(int), default=10, help="phase 2 concurrent writers"
    )
    parser.add_argument(
        "--settle", type=positive(float), default=3.0, help="idle seconds before measuring RSS"
    )
    parser.add_argument(
        "--timeout",
        type=positive(float),
        default=15.0,
        help="seconds to wait for a phase's (or a write's) events",
    )
    parser.add_argument("--client", choices=CLIENTS, default="raw", help="websocket client")
    parser.add_argument(
        "--deflate", action="store_true", help="offer permessage-deflate (as browsers do)"
    )
    parser.add_argument(
        "--markdown", type=Path, metavar="FILE", default=DEFAULT_MARKDOWN, help="the report"
    )
    parser.add_argument(
        "--no-markdown",
        dest="markdown",
        action="store_const",
        const=None,
        help="print the report, write no file",
    )
    return parser.parse_args()


def _stop(signum: int, _frame: object) -> NoReturn:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _stack() -> Iterator[Stack]:
    stack = Stack()
    try:
        yield stack
    finally:
        _progress("stopping servers and services...")
        stack.close()


def main() -> None:
    arguments = parse_arguments()
    signal.signal(signal.SIGTERM, _stop)  # cleaned up like Ctrl-C
    fd_limit = raise_fd_limit(arguments.subscribers + FDS_PER_PROCESS_SPARE)
    status = 1
    try:
        with _stack() as stack:
            _progress("starting `server.py services`...")
            stack.start_services()
            unlimited = orjson.dumps({"user": UNLIMITED_TIER, "anonymous": UNLIMITED_TIER})
            shared = {
                "JWT_SECRET": secrets.token_urlsafe(48),
                "JWT_ACCESS_TTL": str(24 * 3600),  # outlives any run
                "MONGODB_DB": DATABASE,
                "TASKQL_MAX_SUBSCRIPTIONS_PER_USER": str(arguments.subscribers + 10),
                "TASKQL_COST_TIERS": unlimited.decode(),
            }
            _progress("starting two servers...")
            servers = [stack.start_server(name, shared) for name in ("server A", "server B")]
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                results = runner.run(_run(arguments, stack, servers, fd_limit))
            results.server_log = server_log_lines(stack)
        text = report(results)
        print(text)
        if arguments.markdown is not None:
            arguments.markdown.write_text(text + "\n", encoding="utf-8")
            _progress(f"written to {arguments.markdown}")
        status = 1 if results.check_lines() else 0
    except RuntimeError as error:
        _progress(f"failed: {error}")
    except KeyboardInterrupt:
        _progress("interrupted")
        status = 130
    sys.exit(status)


if __name__ == "__main__":
    main()
