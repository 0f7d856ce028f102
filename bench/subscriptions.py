"""How fast one user's task events reach many subscribers on two instances, and what an idle
subscriber costs in memory (`make bench-events`).

Two `server.py serve` (one worker each) on shared stores, one user registered through the API
(subscription and cost limits raised so nothing is refused). S websockets, one subscription
each (`graphql-transport-ws`, SUBSCRIPTION below), subscriber i on instance i % 2; writes
(`createTask`) over keep-alive HTTP/1.1, write i to instance i % 2, so half the events reach a
subscriber through the other instance's hub.
1. Memory: each server's RSS and open files before the S subscriptions (a warm-up subscriber
   per instance has come and gone) and once they are active and idle (--settle seconds).
2. One write at a time (--writes), each once every subscriber has the previous event: latency
   from the write's answer (and from its sending) to each event as this process reads it;
   negative ("early") when the event beats the answer. Events/s over the phase.
3. The same with --writers concurrent writers as fast as they can (--burst-writes).
Checks: every event reaches every subscriber exactly once (a phase waits --timeout seconds
after its last write), no socket is closed by the server, no GraphQL error; exits 1 otherwise.
The client (bench/loadgen.py, about 30 µs of CPU per event) shares the CPUs with the servers
and stores: the CPU table shows each one's share. --deflate offers permessage-deflate.
"""

from __future__ import annotations

import asyncio
import platform
import resource
import secrets
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from math import nan
from typing import Any

import common
import httpx
import orjson
import psutil  # type: ignore[import-untyped]  # no stubs in the lock file
import uvloop
from common import progress, table
from loadgen import Http, WebSocket
from stack import Child, Cpu, Meter, Stack, redis_version, samples, tree
from stats import percentile

SUBSCRIPTION = "subscription { taskEvents { type taskId cursor at } }"
WRITE = orjson.dumps({"query": 'mutation { createTask(input: {title: "t"}) { id } }'})
REGISTER = "mutation($input: RegisterInput!) { register(input: $input) { accessToken } }"
UNLIMITED = {"capacity": 1e9, "restore_rate": 1e9, "max_query": 1e9}
OPEN_AT_ONCE, OPEN_TIMEOUT, GOAL_P99_MS, NOISY = 50, 30.0, 100.0, 0.10


class Tally:
    """How many subscribers have each task's event; a future per task that a phase waits for."""

    def __init__(self, subscribers: int) -> None:
        self.subscribers, self.counts = subscribers, Counter[str]()
        self.waiters: dict[str, asyncio.Future[None]] = {}

    def arrived(self, task_id: str) -> None:
        self.counts[task_id] += 1
        waiter = self.waiters.get(task_id)
        if waiter and not waiter.done() and self.counts[task_id] >= self.subscribers:
            waiter.set_result(None)

    def complete(self, task_id: str) -> asyncio.Future[None]:
        if task_id not in self.waiters:
            waiter = self.waiters[task_id] = asyncio.get_running_loop().create_future()
            if self.counts[task_id] >= self.subscribers:
                waiter.set_result(None)
        return self.waiters[task_id]


class Subscriber:
    """One socket, one subscription: when each task's event arrived, and what went wrong."""

    def __init__(self, index: int, instance: int, tally: Tally, *, deflate: bool) -> None:
        self.index, self.instance, self.tally = index, instance, tally
        self.arrivals: dict[str, float] = {}  # task id -> perf_counter() when read
        self.duplicates = 0
        self.problems: list[str] = []
        self.acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.socket = WebSocket(self.on_message, self.on_close, deflate=deflate)
        self.closed = False

    async def open(self, base_url: str, token: str) -> WebSocket:
        """Connected, acknowledged, subscribed (the protocol has no answer to `subscribe`)."""
        await asyncio.wait_for(self.socket.open(base_url, "graphql-transport-ws"), OPEN_TIMEOUT)
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
        self.socket.send(orjson.dumps(init))
        await asyncio.wait_for(self.acked, OPEN_TIMEOUT)
        subscribe = {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}
        self.socket.send(orjson.dumps(subscribe))
        return self.socket

    def on_message(self, data: bytes, at: float) -> None:
        message = orjson.loads(data)
        kind, payload = message.get("type"), message.get("payload") or {}
        event = (payload.get("data") or {}).get("taskEvents") if kind == "next" else None
        if event and not payload.get("errors"):
            if event["taskId"] in self.arrivals:
                self.duplicates += 1
            else:
                self.arrivals[event["taskId"]] = at
                self.tally.arrived(event["taskId"])
        elif kind == "connection_ack" and not self.acked.done():
            self.acked.set_result(None)
        elif kind == "ping":
            self.socket.send(b'{"type":"pong"}')
        elif kind != "pong":
            self.problems.append(f"subscriber {self.index}: {kind}: {str(message)[:200]}")

    def on_close(self, code: int | None) -> None:
        if not self.acked.done():
            self.acked.set_exception(ConnectionError(f"closed with {code}"))
        if not self.socket.closing and not self.closed:
            self.problems.append(f"subscriber {self.index}: closed by the server: {code or 1006}")
        self.closed = True


@dataclass(frozen=True)
class Write:
    task_id: str
    instance: int
    sent: float
    acked: float


def ms(seconds: float) -> str:
    return f"{1000 * seconds:.1f}"


@dataclass
class Phase:
    """One phase's writes, what the subscribers got of them, and the CPU it took."""

    name: str
    writers: int
    writes: list[Write]
    timed_out: int  # writes whose events were not all in within the timeout
    cpu: Cpu
    subscribers: int = 0
    # Per event: the subscriber's instance, whether the write went to it, seconds from the
    # write's answer and from its sending to the event.
    events: list[tuple[int, bool, float, float]] = field(default_factory=list)
    last: list[float] = field(default_factory=list)  # per write: its answer -> its last event
    seconds: float = 0.0  # first write sent -> last event received
    duplicates: int = 0

    def account(self, subscribers: Sequence[Subscriber]) -> None:
        self.subscribers, end = len(subscribers), 0.0
        for write in self.writes:
            arrived = [
                (s, s.arrivals[write.task_id]) for s in subscribers if write.task_id in s.arrivals
            ]
            for subscriber, at in arrived:
                same = subscriber.instance == write.instance
                self.events.append((subscriber.instance, same, at - write.acked, at - write.sent))
            self.last.append(max([write.acked] + [at for _, at in arrived]) - write.acked)
            end = max(end, write.acked + self.last[-1])
        self.last.sort()
        self.seconds = end - min((write.sent for write in self.writes), default=end)
        self.duplicates = sum(subscriber.duplicates for subscriber in subscribers)

    @property
    def missing(self) -> int:
        return len(self.writes) * self.subscribers - len(self.events)

    @property
    def events_per_second(self) -> float:
        return len(self.events) / self.seconds if self.seconds else 0.0

    def latency(self, fraction: float) -> float:
        return 1000 * percentile(sorted(event[2] for event in self.events), fraction)

    def cpu_row(self) -> list[str]:
        """CPU seconds of the client, each server, MongoDB and Redis, and µs per event: per event
        a server delivered to its own subscribers; for the others, per event delivered."""
        *parts, client = self.cpu.seconds.values()
        total, by = len(self.events), Counter(event[0] for event in self.events)
        events = [total, *(by[i] for i in range(len(parts) - 2)), total, total]
        spent = zip([client, *parts], events, strict=True)
        cells = [f"{s:.2f} ({1e6 * s / n if n else nan:.0f})" for s, n in spent]
        return [self.name, *cells, f"{self.cpu.busy:.0%} ({self.cpu.others:.0%})"]

    def rows(self) -> list[list[str]]:
        """The latency table's rows: the phase, then its subscribers on the instance that took
        the write and on the other."""
        rows = []
        for side in (None, True, False):
            ack = sorted(event[2] for event in self.events if side in (None, event[1]))
            send = sorted(event[3] for event in self.events if side in (None, event[1]))
            name = "  same instance" if side else "  other"
            row = [name, str(self.subscribers // 2), str(len(ack)), ms(percentile(ack, 0.5))]
            row += [ms(percentile(ack, 0.99)), ms(max(ack, default=nan))]
            from_send = f"{ms(percentile(send, 0.5))} / {ms(percentile(send, 0.99))}"
            rows.append([*row, str(sum(value < 0 for value in ack)), from_send, "", "", "", ""])
        trips = sorted(write.acked - write.sent for write in self.writes)
        last = f"{ms(percentile(self.last, 0.5))} / {ms(max(self.last, default=nan))}"
        events = f"{len(self.events)}/{len(self.writes) * self.subscribers}"
        rate = f"{self.events_per_second:,.0f}"
        rows[0][:3] = [self.name, "all", events]
        rows[0][-4:] = [last, ms(percentile(trips, 0.5)), f"{self.seconds:.2f}", rate]
        return rows


class Bench:
    def __init__(self, arguments: Any, stack: Stack, servers: list[Child]) -> None:
        self.arguments, self.stack, self.servers = arguments, stack, servers
        self.http = httpx.AsyncClient(timeout=30.0)
        self.token = ""
        self.tally = Tally(arguments.subscribers)
        self.subscribers: list[Subscriber] = []
        self.sockets: list[WebSocket] = []
        self.writers: list[list[Http]] = []  # each writer's keep-alive connection per instance
        self.per_subscriber: list[str] = []
        self.checks: list[str] = []

    async def close(self) -> None:
        await asyncio.gather(*(socket.close() for socket in self.sockets), return_exceptions=True)
        for connection in (connection for writer in self.writers for connection in writer):
            await connection.close()
        await self.http.aclose()

    async def register(self) -> None:
        name = f"bench-{secrets.token_hex(6)}"
        variables = {"input": {"email": f"{name}@example.com", "name": name}}
        variables["input"]["password"] = secrets.token_urlsafe(16)
        reply = await self.http.post(
            f"{self.servers[0].base_url}/graphql", json={"query": REGISTER, "variables": variables}
        )
        if reply.status_code != 200 or reply.json().get("errors"):
            raise RuntimeError(f"register answered {reply.status_code}: {reply.text[:300]}")
        self.token = reply.json()["data"]["register"]["accessToken"]
        servers = [server.base_url for server in self.servers]
        self.writers = [list(map(Http, servers)) for _ in range(self.arguments.writers)]

    async def write(self, writer: list[Http], instance: int) -> Write:
        """A task created through the API, on that instance."""
        sent = time.perf_counter()
        status, body = await writer[instance].post(f"Bearer {self.token}", WRITE)
        acked, answer = time.perf_counter(), orjson.loads(body)
        if status != 200 or answer.get("errors"):
            raise RuntimeError(f"createTask answered {status}: {body[:300]!r}")
        return Write(answer["data"]["createTask"]["id"], instance, sent, acked)

    async def wait_active(self, expected: list[int]) -> None:
        """Until each server's `taskql_subscriptions_active` shows its share."""
        deadline = time.monotonic() + OPEN_TIMEOUT
        while True:
            counts = []
            for server in self.servers:
                found = samples((await self.http.get(f"{server.base_url}/metrics")).text)
                counts.append(int(found.get(("taskql_subscriptions_active", frozenset()), 0)))
            if counts == expected:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"subscriptions active {counts}, expected {expected}")
            await asyncio.sleep(0.2)

    async def subscribe(self, count: int, tally: Tally) -> tuple[list[Subscriber], list[WebSocket]]:
        subscribers = [
            Subscriber(i, i % len(self.servers), tally, deflate=self.arguments.deflate)
            for i in range(count)
        ]
        gate = asyncio.Semaphore(OPEN_AT_ONCE)

        async def one(subscriber: Subscriber) -> WebSocket:
            async with gate:
                return await subscriber.open(self.servers[subscriber.instance].base_url, self.token)

        opened = await asyncio.gather(*map(one, subscribers), return_exceptions=True)
        sockets = [socket for socket in opened if isinstance(socket, WebSocket)]
        self.sockets += sockets
        if failed := [error for error in opened if isinstance(error, BaseException)]:
            raise RuntimeError(f"{len(failed)} of {count} subscribers did not open: {failed[0]!r}")
        await self.wait_active(
            [len(subscribers[i :: len(self.servers)]) for i in range(len(self.servers))]
        )
        return subscribers, sockets

    async def warm_up(self) -> None:
        """A subscriber per instance gets one event, then goes: first-use costs land here."""
        tally = Tally(len(self.servers))
        subscribers, sockets = await self.subscribe(len(self.servers), tally)
        write = await self.write(self.writers[0], 0)
        await asyncio.wait_for(tally.complete(write.task_id), self.arguments.timeout)
        for socket in sockets:
            await socket.close()
            self.sockets.remove(socket)
        await self.wait_active([0] * len(self.servers))
        if problems := [problem for subscriber in subscribers for problem in subscriber.problems]:
            raise RuntimeError(f"warm-up: {'; '.join(problems[:3])}")

    async def memory(self) -> list[str]:
        processes = [psutil.Process(server.pid) for server in self.servers]
        await asyncio.sleep(1.0)
        before = [(process.memory_info().rss, process.num_fds()) for process in processes]
        client = psutil.Process().memory_info().rss
        began = time.perf_counter()
        self.subscribers, _ = await self.subscribe(self.arguments.subscribers, self.tally)
        opened = time.perf_counter() - began
        progress(f"{len(self.sockets)} subscriptions active in {opened:.1f} s; settling...")
        await asyncio.sleep(self.arguments.settle)
        client = psutil.Process().memory_info().rss - client
        rows, self.per_subscriber = [], []
        for number, (server, process, (rss, fds)) in enumerate(
            zip(self.servers, processes, before, strict=True)
        ):
            share = sum(subscriber.instance == number for subscriber in self.subscribers)
            after, limit = process.memory_info().rss, process.rlimit(psutil.RLIMIT_NOFILE)[0]
            self.per_subscriber.append(f"{server.name} {(after - rss) / share / 1024:.1f} KiB")
            rows.append([server.name, str(share), f"{rss / 2**20:.1f}", f"{after / 2**20:.1f}"])
            rows[-1] += [
                f"{(after - rss) / share / 1024:.1f}",
                f"{fds} -> {process.num_fds()} (limit {limit})",
            ]
        deflated = sum(subscriber.socket.inflater is not None for subscriber in self.subscribers)
        header = ["instance", "subscriptions", "RSS before MiB", "RSS after MiB", "KiB / sub"]
        return [
            "## 1. Memory per idle subscriber",
            "",
            "Each server's RSS before the subscriptions were opened (after a warm-up subscriber had"
            " come and gone) and once they were active and idle; one subscription per socket.",
            "",
            *table([*header, "open fds"], rows),
            "",
            f"Opening them took {opened:.1f} s ({OPEN_AT_ONCE} at a time). This client's RSS grew"
            f" by {client / 2**20:.1f} MiB ({client / len(self.subscribers) / 1024:.1f} KiB per"
            f" socket). permessage-deflate in use on {deflated} of {len(self.subscribers)}"
            " sockets.",
        ]

    async def await_all(self, writes: Sequence[Write]) -> int:
        """Waits until every subscriber has every write's event; how many writes fell short."""
        if not (waiters := [self.tally.complete(write.task_id) for write in writes]):
            return 0
        done, _ = await asyncio.wait(waiters, timeout=self.arguments.timeout)
        return len(waiters) - len(done)

    async def phase(self, name: str, writers: int, count: int) -> Phase:
        """`count` writes, from `writers` writers as fast as they can (one: each once every
        subscriber has the last one's event)."""
        for subscriber in self.subscribers:
            subscriber.duplicates = 0
        meter = Meter({s.name: tree(s.pid) for s in self.servers} | self.stack.stores())
        numbers, writes, timed_out = iter(range(count)), [], 0

        async def writer(connections: list[Http]) -> None:
            nonlocal timed_out
            for number in numbers:
                writes.append(await self.write(connections, number % len(self.servers)))
                timed_out += await self.await_all(writes[-1:]) if writers == 1 else 0

        await asyncio.gather(*map(writer, self.writers[:writers]))
        timed_out += await self.await_all(writes)
        phase = Phase(name, writers, writes, timed_out, meter.read())
        phase.account(self.subscribers)
        progress(f"  {phase.rows()[0]}")
        return phase

    async def measure(self) -> list[str]:
        arguments = self.arguments
        progress("registering the user; warm-up subscriber per instance...")
        await self.register()
        await self.warm_up()
        progress(f"opening {arguments.subscribers} subscriptions...")
        memory = await self.memory()
        # The first event through every subscription, unmeasured: first-use costs land here.
        if await self.await_all([await self.write(self.writers[0], 0)]):
            raise RuntimeError("warm-up: the first event did not reach every subscriber")
        progress(f"phase 1: {arguments.writes} writes, one at a time...")
        first = await self.phase("one write at a time", 1, arguments.writes)
        progress(f"phase 2: {arguments.burst_writes} writes, {arguments.writers} writers...")
        name = f"as fast as possible, {arguments.writers} writers"
        second = await self.phase(name, arguments.writers, arguments.burst_writes)
        return self.report(memory, first, second)

    def report(self, memory: list[str], first: Phase, second: Phase) -> list[str]:
        count, phases = len(self.subscribers), (first, second)
        problems = [problem for subscriber in self.subscribers for problem in subscriber.problems]
        if problems:
            self.checks.append(f"{len(problems)} subscriber problems, the first: {problems[0]}")
        for phase in phases:
            if phase.missing:
                self.checks.append(
                    f"{phase.name}: {phase.missing} of {len(phase.writes) * count} events missing"
                    f" ({phase.timed_out} writes not fully delivered within the timeout)"
                )
            if phase.duplicates:
                self.checks.append(f"{phase.name}: {phase.duplicates} duplicate events")
        p50, p99 = first.latency(0.5), first.latency(0.99)
        verdict = "meets" if p99 <= GOAL_P99_MS and not first.missing else "MISSES"
        header = ["phase", "subscribers", "events", "p50 ms", "p99 ms", "max ms", "early"]
        header += ["p50 / p99 from send", "last event p50 / max", "write answer p50 ms"]
        parts = [server.name for server in self.servers] + ["mongodb", "redis"]
        cpu_rows = [phase.cpu_row() for phase in phases]
        noise = max(phase.cpu.others for phase in phases)
        return [
            "## Summary",
            "",
            f"- delivery latency, one write at a time (write acknowledged -> event received):"
            f" p50 **{p50:.1f} ms**, p99 **{p99:.1f} ms** ({verdict} the p99 <="
            f" {GOAL_P99_MS:.0f} ms goal).",
            f"- events delivered per second: **{first.events_per_second:,.0f}** one write at a"
            f" time, **{second.events_per_second:,.0f}** with {second.writers} concurrent writers.",
            f"- memory per idle subscriber (server RSS growth / its subscriptions):"
            f" {', '.join(self.per_subscriber)}.",
            "",
            *memory,
            "",
            "## 2. Delivery latency and throughput",
            "",
            LATENCY_NOTE,
            "",
            *table([*header, "wall s", "events/s"], first.rows() + second.rows()),
            "",
            "## 3. CPU during each phase",
            "",
            CPU_NOTE,
            "",
            *table(["phase", "client (this process)", *parts, "cpus busy (others)"], cpu_rows),
            *[
                "",
                f"NOISY: processes outside the benchmark took up to {noise:.0%} of the CPUs"
                " during a phase; latencies and rates are worse than on a quiet machine.",
            ]
            * (noise > NOISY),
            "",
            "## Checks",
            "",
            "- " + ("FAILED" if self.checks else "all passed"),
            *(f"- {check}" for check in self.checks),
            "",
            "## Server logs (warnings and errors)",
            "",
            *([f"- {line}" for line in self.stack.server_log()] or ["- none"]),
        ]


LATENCY_NOTE = (
    "Latency: ms from the write's HTTP answer (ack) to each subscriber's event, over every"
    " (write, subscriber) pair; `same instance`: subscribers on the instance that took the write;"
    " `early`: events read before their write's answer (negative latency). `from send`: from the"
    " moment the write was sent. `last event`: per write, from its answer to the last"
    " subscriber's event, median and max over writes. `write answer`: the write's HTTP round"
    " trip. events/s: events delivered / (first write sent -> last event received)."
)
CPU_NOTE = (
    "CPU seconds (user + system) per process; in brackets, µs per event: for a server, per event"
    " it delivered to its own subscribers; for the others, per event delivered. cpus busy: the"
    " whole machine over the phase; (others): processes outside the benchmark (other sessions'"
    " tests and benchmarks: their CPU is taken from this one's)."
)


async def run(arguments: Any, stack: Stack, servers: list[Child]) -> tuple[list[str], Bench]:
    bench = Bench(arguments, stack, servers)
    try:
        sections = await bench.measure()
    finally:
        progress("closing the subscriptions...")
        await bench.close()
    client = f"raw websocket client (bench/loadgen.py) on uvloop {version('uvloop')}, "
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    facts = common.facts(
        python=platform.python_version(),
        mongodb=stack.mongodb_kind,
        redis=await redis_version(stack.redis_url),
        servers=f"{len(servers)} x `server.py serve`, one worker each (uvicorn, websockets-sansio)",
        client=client + ("permessage-deflate offered" if arguments.deflate else "no compression"),
        limit=f"{soft}, {hard} (this process and the servers it starts)",
        load=f"{arguments.subscribers} subscribers of one user, one subscription per socket,"
        f" half on each instance; `{SUBSCRIPTION}`",
    )
    facts["open-file limit (soft, hard)"] = facts.pop("limit")
    facts["load"] = facts.pop("load")
    header = ["# Subscriptions benchmark (bench/subscriptions.py)", ""]
    return [*header, *(f"- {key}: {value}" for key, value in facts.items()), "", *sections], bench


def main() -> int:
    parser = common.parser(__doc__, common.RESULTS / "subscriptions.md")
    number, seconds = common.positive(int), common.positive(float)
    parser.add_argument("--subscribers", type=number, default=1000, help="one socket each")
    parser.add_argument("--writes", type=number, default=100, help="phase 1 writes")
    parser.add_argument("--burst-writes", type=number, default=100, help="phase 2 writes")
    parser.add_argument("--writers", type=number, default=10, help="phase 2 concurrent writers")
    parser.add_argument("--settle", type=seconds, default=3.0, help="idle seconds before RSS")
    parser.add_argument("--timeout", type=seconds, default=15.0, help="for a phase's events")
    parser.add_argument("--deflate", action="store_true", help="offer permessage-deflate")
    arguments = parser.parse_args()
    # A file per socket, and spare; the servers started from here inherit the limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < arguments.subscribers + 256:
        wanted = arguments.subscribers + 256
        limit = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    stack = Stack()
    try:
        progress("starting `server.py services`...")
        stack.start_services()
        env = {
            "JWT_SECRET": secrets.token_urlsafe(48),
            "JWT_ACCESS_TTL": str(24 * 3600),  # outlives any run
            "MONGODB_DB": "taskql_bench_events",
            "TASKQL_MAX_SUBSCRIPTIONS_PER_USER": str(arguments.subscribers + 10),
            "TASKQL_COST_TIERS": orjson.dumps({"user": UNLIMITED, "anonymous": UNLIMITED}).decode(),
        }
        progress("starting two servers...")
        servers = [stack.serve(name, env) for name in ("server A", "server B")]
        lines, bench = uvloop.run(run(arguments, stack, servers))
    finally:
        progress("stopping servers and services...")
        stack.close()
    print("\n".join(lines))
    common.write_report(arguments.output, "\n".join(lines))
    return 1 if bench.checks else 0


if __name__ == "__main__":
    common.run(main)
