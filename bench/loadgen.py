"""A closed-loop HTTP/1.1 load generator: N keep-alive connections, each sending its next
request as soon as the previous answer is in, for a fixed time.

Two clients: `raw` (default) writes prepared request bytes to an asyncio stream and reads the
answer by its Content-Length; `httpx` sends the same requests through one `httpx.AsyncClient`
with N pooled connections. The load generator shares the CPU with the servers it measures, so
its own cost matters: `LoadResult.client_cpu` is what this process spent (process CPU time).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import httpx

CLIENTS = ("raw", "httpx")


@dataclass(frozen=True)
class Request:
    """One prepared POST; `key` names what its answer must equal (see `run_load`)."""

    key: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def wire(self, host: str) -> bytes:
        lines = [f"POST {self.path} HTTP/1.1", f"Host: {host}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


@dataclass
class LoadResult:
    requests: int = 0
    failures: int = 0
    first_failure: str = ""
    seconds: float = 0.0
    client_cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        """Nearest-rank percentile of the latencies, in seconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


class Sender(Protocol):
    async def send(self, request: Request) -> tuple[int, bytes]: ...
    async def close(self) -> None: ...


class RawConnection:
    """One keep-alive HTTP/1.1 connection; answers must carry a Content-Length."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.authority = f"{host}:{port}"
        self._wire: dict[Request, bytes] = {}
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def send(self, request: Request) -> tuple[int, bytes]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        wire = self._wire.get(request)
        if wire is None:
            wire = self._wire[request] = request.wire(self.authority)
        try:
            writer.write(wire)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = _content_length(head)
            body = await reader.readexactly(length)
        except BaseException:
            await self.close()  # a broken exchange leaves the stream unusable
            raise
        return status, body

    async def close(self) -> None:
        if self._streams is not None:
            writer = self._streams[1]
            self._streams = None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise ValueError(f"an answer without Content-Length: {head[:200]!r}")


class HttpxSender:
    """All connections' requests through one shared client (its pool holds N connections)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send(self, request: Request) -> tuple[int, bytes]:
        reply = await self.client.post(request.path, content=request.body, headers=request.headers)
        return reply.status_code, reply.content

    async def close(self) -> None:
        return


def answer_of(body: bytes) -> bytes:
    """A GraphQL response without its trailing `extensions` (orjson writes them last)."""
    return body.split(b',"extensions":', 1)[0]


async def run_load(
    *,
    base_url: str,
    plans: Sequence[Sequence[Request]],
    duration: float,
    expected: dict[str, bytes],
    before_each: Callable[[Request], Awaitable[None]] | None = None,
    client: str = "raw",
) -> LoadResult:
    """One connection per plan, each cycling through its requests until `duration` is up.

    An answer counts as a failure unless it is a 200 whose body equals `expected[key]` byte
    for byte, up to its `extensions` (the query cost's bucket moves from answer to
    answer). `before_each` runs before each request, outside its latency.
    """
    answers = {key: answer_of(body) for key, body in expected.items()}
    url = httpx.URL(base_url)
    host, port = url.host, url.port or 80
    shared = httpx.AsyncClient(
        base_url=base_url,
        timeout=30.0,
        limits=httpx.Limits(max_connections=len(plans), max_keepalive_connections=len(plans)),
    )
    senders: list[Sender] = [
        HttpxSender(shared) if client == "httpx" else RawConnection(host, port) for _ in plans
    ]
    result = LoadResult()

    async def connection(sender: Sender, plan: Sequence[Request], deadline: float) -> None:
        sent = 0
        while time.perf_counter() < deadline:
            request = plan[sent % len(plan)]
            sent += 1
            if before_each is not None:
                await before_each(request)
            begin = time.perf_counter()
            try:
                status, body = await sender.send(request)
            except (OSError, ValueError, asyncio.IncompleteReadError, httpx.HTTPError) as error:
                status, body = 0, repr(error).encode()
            result.latencies.append(time.perf_counter() - begin)
            result.requests += 1
            if status != 200 or answer_of(body) != answers[request.key]:
                result.failures += 1
                result.first_failure = result.first_failure or f"{status}: {body[:300]!r}"

    cpu = time.process_time()
    begin = time.perf_counter()
    try:
        async with asyncio.TaskGroup() as group:
            for sender, plan in zip(senders, plans, strict=True):
                group.create_task(connection(sender, plan, begin + duration))
        # The answers in flight at the deadline count, and so does the time they took.
        result.seconds = time.perf_counter() - begin
        result.client_cpu = time.process_time() - cpu
    finally:
        for sender in senders:
            await sender.close()
        await shared.aclose()
    return result
