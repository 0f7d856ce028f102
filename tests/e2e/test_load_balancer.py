"""Three instances behind the project's own nginx config (docker/nginx/nginx.conf, rendered on
loopback), spoken to through nginx only: routing, request ids and body limits; then one
instance killed with SIGKILL under load, with subscriptions open. Nothing acknowledged may be
lost, only requests in flight on the killed instance may fail, and every subscription ends up
with every event exactly once, those that were on the killed instance by resuming from their
cursor through nginx.

Set TASKQL_LB_REPORT to a file path to get the kill test's figures as JSON there too."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import orjson
import psutil  # type: ignore[import-untyped]
import pytest
import websockets
from beanie import PydanticObjectId
from prometheus_client.parser import text_string_to_metric_families
from pymongo import MongoClient
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from events.cursor import decode_cursor, encode_cursor
from schema.node import decode_global_id, encode_global_id
from tests.e2e.nginx_process import NginxProcess, nginx_binary
from tests.e2e.server_process import ServerProcess
from tests.e2e.test_subscriptions import server_env

pytestmark = pytest.mark.e2e

INSTANCES = 3
PROTOCOL = Subprotocol("graphql-transport-ws")
WAIT = 15.0

REGISTER = """mutation($input: RegisterInput!) {
  register(input: $input) { accessToken user { id name } } }"""
CREATE = """mutation($input: CreateTaskInput!) { createTask(input: $input) { id title version } }"""
UPDATE = """mutation($input: UpdateTaskInput!) { updateTask(input: $input) { id title version } }"""
DELETE = "mutation($id: ID!) { deleteTask(id: $id) }"
TASK = "query($id: ID!) { task(id: $id) { id title version } }"
TASKS = "query($n: Int) { tasks(first: $n) { totalCount nodes { id version } } }"
EVENTS = """subscription($after: String) {
  taskEvents(after: $after) { type taskId cursor task { id title version } } }"""


# --- the stack: three instances on shared stores, nginx in front -------------------------------


@dataclass
class Stack:
    nginx: NginxProcess
    servers: list[ServerProcess]
    database: str
    mongodb_url: str

    @property
    def url(self) -> str:
        return f"{self.nginx.base_url}/graphql"

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")


@pytest.fixture
async def stack(tmp_path: Path, mongodb_url: str, redis_url: str) -> AsyncIterator[Stack]:
    if nginx_binary() is None:
        pytest.skip("no nginx: install the Debian package `nginx` (.ci/run does)")
    database = f"taskql_lb_{uuid.uuid4().hex[:8]}"
    # Unlimited tiers: every client comes from nginx's address, and the load must never be
    # throttled.
    env = server_env(mongodb_url=mongodb_url, redis_url=redis_url, database=database)
    servers = [ServerProcess(env=dict(env)) for _ in range(INSTANCES)]
    nginx: NginxProcess | None = None
    try:
        await asyncio.gather(*(asyncio.to_thread(server.start) for server in servers))
        upstreams = [f"127.0.0.1:{server.port}" for server in servers]
        nginx = NginxProcess(upstreams=upstreams, runtime_dir=tmp_path / "nginx").start()
        yield Stack(nginx=nginx, servers=servers, database=database, mongodb_url=mongodb_url)
    finally:
        if nginx is not None:
            nginx.stop()
        await asyncio.gather(*(asyncio.to_thread(server.stop) for server in servers))
        client: MongoClient[dict[str, Any]] = MongoClient(mongodb_url)
        with client:
            client.drop_database(database)


async def register(http: httpx.AsyncClient, stack: Stack) -> tuple[str, str]:
    """A new user, signed up through nginx: its global id and access token."""
    variables = {
        "input": {
            "email": f"lb-{uuid.uuid4().hex[:12]}@example.test",
            "password": f"pw-{uuid.uuid4().hex}",
            "name": "Balanced",
        }
    }
    reply = await http.post(stack.url, json={"query": REGISTER, "variables": variables})
    body = reply.json()
    assert reply.status_code == 200, body
    assert "errors" not in body, body
    return body["data"]["register"]["user"]["id"], body["data"]["register"]["accessToken"]


async def subscriptions_active(http: httpx.AsyncClient, server: ServerProcess) -> float:
    """`taskql_subscriptions_active` of one instance, asked directly (nginx hides /metrics)."""
    reply = await http.get(f"{server.base_url}/metrics")
    assert reply.status_code == 200
    return sum(
        sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
        if sample.name == "taskql_subscriptions_active"
    )


async def logged(nginx: NginxProcess, request_id: str) -> dict[str, Any]:
    """The access log's entry for `request_id`: nginx writes it once the response is out,
    so possibly a moment after the client has it."""
    deadline = time.monotonic() + WAIT
    while True:
        for entry in nginx.access_log():
            if entry["request_id"] == request_id:
                return entry
        assert time.monotonic() < deadline, f"{request_id} never logged by nginx"
        await asyncio.sleep(0.02)


# --- routing ------------------------------------------------------------------------------------


async def test_nginx_spreads_requests_and_keeps_ids_limits_and_private_routes(
    stack: Stack,
) -> None:
    async with httpx.AsyncClient(timeout=WAIT) as http:
        graphql = {"query": "{ __typename }"}
        ids = [uuid.uuid4().hex for _ in range(3 * INSTANCES)]
        for request_id in ids:
            reply = await http.post(stack.url, json=graphql, headers={"X-Request-ID": request_id})
            assert reply.status_code == 200, reply.text
        # Least connections with no request open: each instance in turn.
        answered = {(await logged(stack.nginx, request_id))["upstream_addr"] for request_id in ids}
        assert answered == {f"127.0.0.1:{server.port}" for server in stack.servers}

        # The client's request id reaches the app (it logs it) and comes back, exactly once.
        sent = f"lb-{uuid.uuid4().hex}"
        reply = await http.post(stack.url, json=graphql, headers={"X-Request-ID": sent})
        assert reply.headers.get_list("x-request-id") == [sent]
        assert sum(sent in server.log() for server in stack.servers) == 1
        # Without one (or with one the app would not take), nginx's own, the same everywhere.
        for headers in ({}, {"X-Request-ID": "x" * 129}):
            reply = await http.post(stack.url, json=graphql, headers=headers)
            (made,) = reply.headers.get_list("x-request-id")
            assert re.fullmatch("[0-9a-f]{32}", made), made
            assert sum(made in server.log() for server in stack.servers) == 1
        entry = await logged(stack.nginx, made)
        assert entry["upstream_addr"] in {f"127.0.0.1:{server.port}" for server in stack.servers}
        assert float(entry["upstream_response_time"]) >= 0

        # nginx's own liveness; readiness from an instance; metrics not exposed.
        reply = await http.get(f"{stack.nginx.base_url}/healthz")
        assert (reply.status_code, reply.text) == (200, "ok\n")
        reply = await http.get(f"{stack.nginx.base_url}/readyz")
        assert reply.status_code == 200
        assert reply.json()["status"] == "ok"
        reply = await http.get(f"{stack.nginx.base_url}/metrics")
        assert reply.status_code == 404
        assert "taskql_" not in reply.text
        assert reply.headers.get_list("x-request-id") != []

        # Over 1 MiB: the app's JSON 413; far over it: the same JSON, from nginx.
        too_large = {
            "errors": [
                {
                    "message": "The request body is over 1 MiB.",
                    "extensions": {"code": "BAD_USER_INPUT", "field": "body"},
                }
            ]
        }
        for size, answered_by_app in ((1024 * 1024 + 10, True), (4 * 1024 * 1024, False)):
            request_id = uuid.uuid4().hex
            body = orjson.dumps({"query": "{ __typename }", "variables": {"pad": "x" * size}})
            reply = await http.post(
                stack.url,
                content=body,
                headers={"Content-Type": "application/json", "X-Request-ID": request_id},
            )
            assert reply.status_code == 413
            assert reply.headers["content-type"].startswith("application/json")
            assert reply.json() == too_large
            assert reply.headers.get_list("x-request-id") == [request_id]
            entry = await logged(stack.nginx, request_id)
            assert (entry["upstream_addr"] not in ("", "-")) is answered_by_app, entry


# --- the kill -----------------------------------------------------------------------------------

WRITERS = 6
READERS = 3
SUBSCRIPTIONS = 3
MAX_SUBSCRIPTIONS = 5  # the contract's default per user
UPDATES_PER_TASK = 2
CREATE_ATTEMPTS = 5
KILL_AFTER_WRITES = 60
WRITES_AFTER_KILL = 150
# Requests may fail only if they were sent before the kill, or in the instant after it
# (nginx reusing a kept-alive connection to the dead instance before it sees it close).
FAILURE_WINDOW = 1.0
LOAD_TIMEOUT = 40.0
TRUNCATED = "peer closed connection without sending complete message body"


@dataclass
class Attempt:
    client: str
    operation: str
    started: float
    ended: float
    status: int | None
    failure: str | None  # None: an answer with data and no errors


@dataclass
class Write:
    key: str
    operation: Literal["create", "update"]
    title: str
    version: int  # the version this write makes
    task_id: str | None
    acknowledged: bool
    retried: bool = False  # a create acknowledged on a retry with its idempotency key


@dataclass
class TaskState:
    """What the writer knows of one task: its last acknowledged content, and the write whose
    outcome it does not know (it then leaves the task alone)."""

    key: str
    task_id: str
    title: str
    version: int
    uncertain: Write | None = None


@dataclass
class Load:
    attempts: list[Attempt] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    tasks: dict[str, TaskState] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    stale_reads: list[str] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    kill_now: asyncio.Event = field(default_factory=asyncio.Event)
    enough: asyncio.Event = field(default_factory=asyncio.Event)
    killed_at: float | None = None
    acknowledged_after_kill: int = 0

    def acknowledged(self) -> None:
        count = sum(write.acknowledged for write in self.writes)
        if count >= KILL_AFTER_WRITES:
            self.kill_now.set()
        if self.killed_at is not None:
            self.acknowledged_after_kill += 1
            if self.acknowledged_after_kill >= WRITES_AFTER_KILL:
                self.enough.set()


class Client:
    """One user's HTTP client through nginx, recording every request's outcome."""

    def __init__(self, name: str, stack: Stack, token: str, load: Load) -> None:
        self.name = name
        self.url = stack.url
        self.load = load
        self.http = httpx.AsyncClient(timeout=WAIT, headers={"Authorization": f"Bearer {token}"})

    async def call(
        self, operation: str, query: str, variables: dict[str, Any], *, get: bool = False
    ) -> dict[str, Any] | None:
        """The operation's data, or None when it did not answer with data and no errors."""
        started = time.monotonic()
        status: int | None = None
        data: dict[str, Any] | None = None
        try:
            if get:
                params = {"query": query, "variables": orjson.dumps(variables).decode()}
                reply = await self.http.get(self.url, params=params)
            else:
                reply = await self.http.post(
                    self.url, json={"query": query, "variables": variables}
                )
            status = reply.status_code
            body = reply.json() if status == 200 else None
            if body is not None and not body.get("errors") and body.get("data") is not None:
                data = body["data"]
                failure = None
            else:
                failure = reply.text[:300]
        except (httpx.HTTPError, ValueError) as error:
            failure = repr(error)
        ended = time.monotonic()
        self.load.attempts.append(Attempt(self.name, operation, started, ended, status, failure))
        return data

    async def close(self) -> None:
        await self.http.aclose()


async def write_tasks(client: Client, load: Load) -> None:
    """Creates tasks and updates each a few times, one write at a time, until told to stop."""
    number = 0
    while not load.stop.is_set():
        number += 1
        key = f"{client.name}-{number}"
        state = await create_task(client, load, key)
        for version in range(2, 2 + UPDATES_PER_TASK):
            title = f"{key} v{version}"
            variables = {"input": {"id": state.task_id, "expectedVersion": version - 1}}
            variables["input"]["title"] = title
            data = await client.call("updateTask", UPDATE, variables)
            write = Write(key, "update", title, version, state.task_id, data is not None)
            load.writes.append(write)
            if data is None:
                state.uncertain = write  # it may have run: leave the task alone
                break
            assert data["updateTask"] == {"id": state.task_id, "title": title, "version": version}
            state.title, state.version = title, version
            load.acknowledged()


async def create_task(client: Client, load: Load, key: str) -> TaskState:
    """A create retried with its idempotency key until acknowledged, as a careful client does."""
    title = f"{key} v1"
    variables = {"input": {"title": title, "idempotencyKey": key}}
    for attempt in range(CREATE_ATTEMPTS):
        data = await client.call("createTask", CREATE, variables)
        if data is None:
            load.writes.append(Write(key, "create", title, 1, None, acknowledged=False))
            continue
        created = data["createTask"]
        assert (created["title"], created["version"]) == (title, 1), created
        load.writes.append(Write(key, "create", title, 1, created["id"], True, attempt > 0))
        state = TaskState(key, created["id"], title, 1)
        load.tasks[key] = state
        load.acknowledged()
        return state
    raise AssertionError(f"{key}: create never acknowledged; {load.attempts[-CREATE_ATTEMPTS:]}")


async def read_tasks(client: Client, load: Load, rng: random.Random) -> None:
    """Reads over GET (idempotent: nginx may pass it on): an acknowledged write is visible."""
    while not load.stop.is_set():
        known = [(s.task_id, s.version) for s in load.tasks.values()]
        task_id, version = rng.choice(known)
        data = await client.call("task", TASK, {"id": task_id}, get=True)
        if data is not None and (data["task"] is None or data["task"]["version"] < version):
            load.stale_reads.append(f"{task_id}: read {data['task']}, acknowledged v{version}")
        await client.call("tasks", TASKS, {"n": 10}, get=True)


class Subscription:
    """taskEvents through nginx; on any disconnect it reconnects through nginx and resumes from
    the last cursor it received."""

    def __init__(self, name: str, stack: Stack, token: str, after: str) -> None:
        self.name = name
        self.url = stack.ws_url
        self.token = token
        self.cursor = after
        self.events: list[dict[str, Any]] = []
        self.connections = 0
        self.drops: list[str] = []
        self.problems: list[Any] = []
        self.changed = asyncio.Condition()
        self.instance: int | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"subscription {self.name}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait_until(self, what: str, condition: Callable[[Subscription], bool]) -> None:
        async def waiting() -> None:
            async with self.changed:
                await self.changed.wait_for(lambda: condition(self) or bool(self.problems))

        try:
            await asyncio.wait_for(waiting(), WAIT)
        except TimeoutError:
            raise AssertionError(
                f"{self.name}: not {what} within {WAIT} s; {len(self.events)} events, "
                f"drops {self.drops}, problems {self.problems}"
            ) from None
        assert self.problems == [], (self.name, self.problems)

    @property
    def last_seq(self) -> int:
        return decode_cursor(self.cursor)

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError) as error:
                self.drops.append(repr(error))
            except AssertionError as error:  # the server said something unexpected
                self.problems.append(repr(error))
                await self._notify()
                return
            await self._notify()
            await asyncio.sleep(0.05)  # a moment between attempts, as any client waits

    async def _listen(self) -> None:
        async with websockets.connect(
            self.url, subprotocols=[PROTOCOL], proxy=None, open_timeout=WAIT
        ) as socket:
            self.connections += 1
            init = {"Authorization": f"Bearer {self.token}"}
            await socket.send(orjson.dumps({"type": "connection_init", "payload": init}).decode())
            ack = orjson.loads(await asyncio.wait_for(socket.recv(), WAIT))
            assert ack["type"] == "connection_ack", ack
            payload = {"query": EVENTS, "variables": {"after": self.cursor}}
            subscribe = {"id": "events", "type": "subscribe", "payload": payload}
            await socket.send(orjson.dumps(subscribe).decode())
            async for raw in socket:
                message = orjson.loads(raw)
                if message.get("type") == "next" and not message["payload"].get("errors"):
                    event = message["payload"]["data"]["taskEvents"]
                    self.events.append(event)
                    self.cursor = event["cursor"]
                elif message.get("type") == "ping":
                    await socket.send(orjson.dumps({"type": "pong"}).decode())
                else:
                    self.problems.append(message)
                await self._notify()


async def locate(http: httpx.AsyncClient, servers: list[ServerProcess], before: list[float]) -> int:
    """The instance whose open subscriptions grew by one since `before` (within WAIT)."""
    deadline = time.monotonic() + WAIT
    while True:
        now = [await subscriptions_active(http, server) for server in servers]
        grown = [i for i, (b, n) in enumerate(zip(before, now, strict=True)) if n == b + 1]
        if sum(now) == sum(before) + 1 and len(grown) == 1:
            return grown[0]
        assert time.monotonic() < deadline, f"no instance counted the subscription: {now}"
        await asyncio.sleep(0.05)


def summary_of(
    load: Load, subscriptions: list[Subscription], findings: Findings, *, victim: int
) -> dict[str, Any]:
    assert load.killed_at is not None
    failed = [attempt for attempt in load.attempts if attempt.failure is not None]
    return {
        "concurrent_clients": WRITERS + READERS,
        "requests_sent": len(load.attempts),
        "requests_failed": len(failed),
        "failed_as": sorted(failure_kind(attempt) for attempt in failed),
        "failed_sent_ms_after_kill": [
            round((attempt.started - load.killed_at) * 1000) for attempt in failed
        ],
        "writes_acknowledged": sum(write.acknowledged for write in load.writes),
        "acknowledged_writes_found": findings.acknowledged_found,
        "writes_failed": sum(not write.acknowledged for write in load.writes),
        "failed_writes_committed": findings.failed_but_committed,
        "failed_writes_committed_without_event": findings.failed_but_committed_without_event,
        "killed_instance_subscriptions": sum(sub.instance == victim for sub in subscriptions),
        "events_per_subscription": [len(sub.events) for sub in subscriptions],
        "reconnects": [sub.connections - 1 for sub in subscriptions],
    }


async def test_an_instance_killed_under_load_loses_nothing_acknowledged(stack: Stack) -> None:
    load = Load()
    findings = Findings()
    servers = stack.servers
    async with httpx.AsyncClient(timeout=WAIT) as http:
        user_id, token = await register(http, stack)
        _, (owner,) = decode_global_id(user_id)
        setup = Client("setup", stack, token, load)
        first = await setup.call("createTask", CREATE, {"input": {"title": "first"}})
        assert first is not None
        # A new user's log starts at sequence 1: from there, every subscription gets every
        # event, whenever it starts listening.
        after = encode_cursor(1)

        subscriptions: list[Subscription] = []
        for n in range(SUBSCRIPTIONS):
            before = [await subscriptions_active(http, server) for server in servers]
            subscription = Subscription(f"sub{n}", stack, token, after)
            subscription.start()
            subscriptions.append(subscription)
            subscription.instance = await locate(http, servers, before)
        try:
            # Queries and mutations through nginx, heard by every subscription.
            task_id = first["createTask"]["id"]
            update = {"input": {"id": task_id, "title": "first, renamed"}}
            assert await setup.call("updateTask", UPDATE, update) is not None
            doomed = await setup.call("createTask", CREATE, {"input": {"title": "doomed"}})
            assert doomed is not None
            assert await setup.call("deleteTask", DELETE, {"id": doomed["createTask"]["id"]})
            load.deleted.add(doomed["createTask"]["id"])
            listed = await setup.call("tasks", TASKS, {"n": 10}, get=True)
            assert listed is not None
            assert listed["tasks"]["totalCount"] == 1
            load.tasks["first"] = TaskState("first", task_id, "first, renamed", 2)
            for subscription in subscriptions:
                await subscription.wait_until("caught up", lambda s: s.last_seq == 4)

            # The instance to kill: one holding subscriptions, few enough that they can all
            # come back at once (a killed instance's slots stay taken until they expire).
            held = [sum(sub.instance == i for sub in subscriptions) for i in range(INSTANCES)]
            candidates = [
                i for i in range(INSTANCES) if 0 < held[i] <= MAX_SUBSCRIPTIONS - SUBSCRIPTIONS
            ]
            assert candidates, f"subscriptions per instance: {held}"
            victim = max(candidates, key=lambda i: held[i])
            survivors = [server for i, server in enumerate(servers) if i != victim]
            process = servers[victim].process
            assert process is not None
            # One process is the whole instance: WORKERS=1 serves in-process, and with the
            # store URLs given it started no embedded store.
            assert await asyncio.to_thread(child_pids, process.pid) == []

            writers = [Client(f"w{n}", stack, token, load) for n in range(WRITERS)]
            readers = [Client(f"r{n}", stack, token, load) for n in range(READERS)]
            started = time.monotonic()
            jobs = [asyncio.create_task(write_tasks(client, load)) for client in writers]
            jobs += [
                asyncio.create_task(read_tasks(client, load, random.Random(n)))
                for n, client in enumerate(readers)
            ]
            try:
                await until(load.kill_now, jobs, what="the writes before the kill")
                load.killed_at = time.monotonic()
                process.kill()  # SIGKILL
                await asyncio.to_thread(process.wait)
                moved = [sub for sub in subscriptions if sub.instance == victim]
                for subscription in moved:
                    await subscription.wait_until("reconnected", lambda s: s.connections >= 2)
                await until(load.enough, jobs, what="the writes after the kill")
            finally:
                load.stop.set()
                await asyncio.wait_for(asyncio.gather(*jobs), LOAD_TIMEOUT)
                for client in [*writers, *readers]:
                    await client.close()
            seconds = time.monotonic() - started
            assert await all_subscriptions_on(http, survivors) == SUBSCRIPTIONS

            stored = await check_tasks(
                stack, load, findings, owner=owner, token=token, survivor=survivors[0]
            )
            log = read_event_log(stack, owner)
            check_events(load, log, findings, stored=stored)
            await check_subscriptions(subscriptions, log, setup=setup)
            check_failures(load)
            assert [sub.connections for sub in subscriptions] == [
                2 if sub.instance == victim else 1 for sub in subscriptions
            ], [sub.drops for sub in subscriptions]
            assert load.stale_reads == []
        finally:
            for subscription in subscriptions:
                await subscription.close()
            await setup.close()

    report = summary_of(load, subscriptions, findings, victim=victim)
    report["nginx_failovers"] = sum("," in e["upstream_addr"] for e in stack.nginx.access_log())
    report["load_seconds"] = round(seconds, 2)
    print("\nload balancer:", " ".join(f"{key}={value}" for key, value in report.items()))  # noqa: T201
    destination = os.environ.get("TASKQL_LB_REPORT")
    if destination:
        text = orjson.dumps(report, option=orjson.OPT_INDENT_2)
        await asyncio.to_thread(Path(destination).write_bytes, text)


async def until(event: asyncio.Event, jobs: list[asyncio.Task[None]], *, what: str) -> None:
    """Until `event` is set; a client that stopped on an error fails the test at once."""
    waiting = asyncio.create_task(event.wait())
    try:
        await asyncio.wait(
            [waiting, *jobs], timeout=LOAD_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        waiting.cancel()
    for job in jobs:
        if job.done():
            job.result()  # raises what stopped it
    assert event.is_set(), f"{what} did not happen within {LOAD_TIMEOUT} s"


def child_pids(pid: int) -> list[int]:
    return [child.pid for child in psutil.Process(pid).children(recursive=True)]


async def all_subscriptions_on(http: httpx.AsyncClient, servers: list[ServerProcess]) -> float:
    return sum([await subscriptions_active(http, server) for server in servers])


# --- what must hold afterwards ----------------------------------------------------------------

Row = tuple[int, str, str, str | None, int | None]  # seq, type, task id, title, version


def _mongo(stack: Stack) -> MongoClient[dict[str, Any]]:
    return MongoClient(stack.mongodb_url)


def read_event_log(stack: Stack, owner: PydanticObjectId) -> list[Row]:
    """The user's event log, straight from MongoDB, as subscriptions render it."""
    with _mongo(stack) as client:
        raw = client[stack.database]["task_events"].find({"owner_id": owner}, sort=[("seq", 1)])
        return [
            (
                event["seq"],
                event["type"],
                encode_global_id("Task", owner, event["task_id"]),
                event["task"] and event["task"]["title"],
                event["task"] and event["task"]["version"],
            )
            for event in raw
        ]


def row_of(event: dict[str, Any]) -> Row:
    task = event["task"]
    return (
        decode_cursor(event["cursor"]),
        event["type"],
        event["taskId"],
        task and task["title"],
        task and task["version"],
    )


@dataclass
class Findings:
    """What the checks saw of the writes that failed in flight."""

    acknowledged_found: int = 0
    failed_but_committed: int = 0
    failed_but_committed_without_event: int = 0  # as the README says it may happen


async def check_tasks(
    stack: Stack,
    load: Load,
    findings: Findings,
    *,
    owner: PydanticObjectId,
    token: str,
    survivor: ServerProcess,
) -> dict[str, tuple[str, int]]:
    """Every task exists once, holding its last acknowledged content (or, when a write of it
    failed in flight, possibly that write's), in MongoDB and read by id through nginx and from
    a surviving instance directly. Returns what MongoDB holds, by task id."""
    with _mongo(stack) as client:
        stored = {
            str(encode_global_id("Task", owner, doc["_id"])): (doc["title"], doc["version"])
            for doc in client[stack.database]["tasks"].find({"owner_id": owner})
        }
    keys = [title.rsplit(" v", 1)[0] for title, _ in stored.values()]
    assert sorted(keys) == sorted(set(keys)), "a create ran twice"
    assert set(stored) == {state.task_id for state in load.tasks.values()}
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=WAIT, headers=headers) as http:
        for state in load.tasks.values():
            content = stored[state.task_id]
            acknowledged = (state.title, state.version)
            failed = state.uncertain
            if content != acknowledged:
                assert failed is not None, (state, content)
                assert content == (failed.title, failed.version), (state, content)
                findings.failed_but_committed += 1
            for base in (stack.nginx.base_url, survivor.base_url):
                payload = {"query": TASK, "variables": {"id": state.task_id}}
                reply = await http.post(f"{base}/graphql", json=payload)
                task = reply.json()["data"]["task"]
                read = (task["title"], task["version"])
                assert read == content, (base, state, task, content)
    return stored


def check_events(
    load: Load, log: list[Row], findings: Findings, *, stored: dict[str, tuple[str, int]]
) -> None:
    """The log holds one event per acknowledged write, with its content, and only events of
    tasks that were written; an event of a write that failed in flight means it committed.
    The sequence has no gap."""
    assert [row[0] for row in log] == list(range(1, len(log) + 1)), "a gap in the sequence"
    count: dict[tuple[str, str, str | None, int | None], int] = {}
    for _, kind, task_id, title, version in log:
        count[kind, task_id, title, version] = count.get((kind, task_id, title, version), 0) + 1
    assert {row[2] for row in log} <= set(stored) | load.deleted
    for write in load.writes:
        kind = "CREATED" if write.operation == "create" else "UPDATED"
        events = count.get((kind, write.task_id or "", write.title, write.version), 0)
        if write.acknowledged:
            # A retried create's event is the first attempt's, or, when that one died before
            # appending it, the retry's.
            assert events == 1, (write, events)
        elif write.task_id is not None:  # an update that failed in flight
            assert events <= 1, (write, events)
            committed = stored[write.task_id] == (write.title, write.version)
            assert committed or events == 0, ("an event of a write MongoDB lacks", write)
            findings.failed_but_committed_without_event += committed and events == 0
        findings.acknowledged_found += write.acknowledged
    for key in {write.key for write in load.writes if write.operation == "create"}:
        title = f"{key} v1"
        created = [row for row in log if row[1] == "CREATED" and row[3] == title]
        assert len(created) <= 1, created


async def check_subscriptions(
    subscriptions: list[Subscription], log: list[Row], *, setup: Client
) -> None:
    """Each subscription received the log after its starting cursor, in order, each event
    once, and nothing after it but the next write."""
    last = log[-1][0]
    for subscription in subscriptions:
        await subscription.wait_until("caught up", lambda s: s.last_seq >= last)
        assert [row_of(event) for event in subscription.events] == log[1:], subscription.name
    sentinel = await setup.call("createTask", CREATE, {"input": {"title": "sentinel"}})
    assert sentinel is not None
    expected = (last + 1, "CREATED", sentinel["createTask"]["id"], "sentinel", 1)
    for subscription in subscriptions:
        await subscription.wait_until("given the sentinel", lambda s: s.last_seq > last)
        assert [row_of(event) for event in subscription.events[len(log) - 1 :]] == [expected]


def failure_kind(attempt: Attempt) -> str:
    """`502`: nginx's answer when the instance died before its response began; `truncated`:
    it died between sending the response's headers and its body, which nginx had already
    passed on (so it cannot try another instance); else what the client saw."""
    if attempt.status is not None:
        return str(attempt.status)
    if TRUNCATED in (attempt.failure or ""):
        return "truncated"
    return attempt.failure or ""


def check_failures(load: Load) -> None:
    """Only requests in flight when the instance died failed: no more than there are
    clients, each sent before the kill or just after it, each nginx's 502 or an answer cut
    short, and never a GET with a 502."""
    assert load.killed_at is not None
    failed = [attempt for attempt in load.attempts if attempt.failure is not None]
    assert len(failed) <= WRITERS + READERS, failed
    for attempt in failed:
        assert failure_kind(attempt) in {"502", "truncated"}, attempt
        assert attempt.ended >= load.killed_at, ("failed before the kill", attempt)
        assert attempt.started <= load.killed_at + FAILURE_WINDOW, ("failed late", attempt)
        if attempt.client.startswith("r"):
            # A GET is idempotent: until its response has begun, nginx passes it on.
            assert failure_kind(attempt) == "truncated", attempt
