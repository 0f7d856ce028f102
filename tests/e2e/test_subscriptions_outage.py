"""Live task events on servers of their own: through a Redis outage (polled from the log, then
resumed from a cursor taken before it), a token expiring under an open socket, and a subscriber
that stops reading until its queue overflows."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import string
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from pymongo import MongoClient
from websockets.exceptions import ConnectionClosed

from storage.embedded import EmbeddedServer, redis_server_binary, start_redis
from storage.ports import is_listening
from storage.processes import spawn_tied
from tests.e2e.api import Api
from tests.e2e.server_process import ServerProcess
from tests.e2e.test_subscriptions import (
    EVENTS,
    WAIT,
    assert_still_serves,
    closed_with,
    create,
    initialise,
    raw_socket,
    server_env,
    start,
    subscribed,
    take,
    wait_for_active,
)

pytestmark = pytest.mark.e2e

RECOVERY_TIMEOUT = 15.0


@pytest.fixture
def database(mongodb_url: str) -> Iterator[str]:
    name = f"taskql_events_{uuid.uuid4().hex[:8]}"
    yield name
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_url)
    with client:
        client.drop_database(name)


# --- Redis down, then back on the same port ----------------------------------------------------


@dataclass
class OwnRedis:
    """A Redis of the test's own that can be killed and started again on the same port."""

    runtime_dir: Path
    server: EmbeddedServer

    @property
    def port(self) -> int:
        return int(self.server.url.rsplit(":", 1)[1].split("/", 1)[0])

    def kill(self) -> None:
        self.server.close()

    def restart(self) -> None:
        with (self.runtime_dir / "redis-again.log").open("ab") as log:
            process = spawn_tied(
                [
                    redis_server_binary(),
                    *("--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
                    *("--appendonly", "no", "--dir", str(self.runtime_dir), "--daemonize", "no"),
                ],
                stdout=log,
            )
        self.server = EmbeddedServer(self.server.url, process)
        deadline = time.monotonic() + RECOVERY_TIMEOUT
        while not is_listening("127.0.0.1", self.port):
            assert process.poll() is None, "redis-server could not start again on its port"
            assert time.monotonic() < deadline, "redis-server did not start again"
            time.sleep(0.05)


@dataclass
class Pair:
    first: Api
    second: Api
    redis: OwnRedis

    async def readiness(self, api: Api) -> dict[str, Any]:
        reply = await api.http.get(f"{api.server.base_url}/readyz")
        assert reply.status_code == 200
        body: dict[str, Any] = reply.json()
        return body

    async def wait_redis(self, state: str) -> None:
        deadline = time.monotonic() + RECOVERY_TIMEOUT
        for api in (self.first, self.second):
            while (await self.readiness(api))["dependencies"]["redis"] != state:
                assert time.monotonic() < deadline, f"Redis never reported {state}"
                await asyncio.sleep(0.1)


@pytest.fixture
async def pair(tmp_path: Path, mongodb_url: str, database: str) -> AsyncIterator[Pair]:
    """Two instances on the session's MongoDB and a Redis of this test's own."""
    own = OwnRedis(tmp_path, start_redis(tmp_path))
    env = server_env(mongodb_url=mongodb_url, redis_url=own.server.url, database=database)
    try:
        with ServerProcess(env=dict(env)) as first, ServerProcess(env=dict(env)) as second:
            apis = Api(first), Api(second)
            try:
                yield Pair(*apis, own)
            finally:
                for api in apis:
                    await api.close()
    finally:
        own.kill()


async def test_events_are_polled_while_redis_is_down_and_old_cursors_resume_after(
    pair: Pair,
) -> None:
    first, second = pair.first, pair.second
    user = await first.register()
    titles = {"down": [f"down {n}" for n in range(3)], "back": [f"back {n}" for n in range(2)]}
    async with subscribed(first, user, via="raw") as live:
        async with subscribed(second, user, via="gql") as early:
            await create(second, user, "before")
            (before,) = await take(early, 1)
        assert [event["task"]["title"] for event in await take(live, 1)] == ["before"]
        cursor = before["cursor"]

        pair.redis.kill()
        # A subscription started during the outage is admitted and fed from the log too.
        async with subscribed(second, user, via="raw") as during:
            for n, title in enumerate(titles["down"]):
                await create((first, second)[n % 2], user, title)
            await pair.wait_redis("down")  # so these came from the log, not through Redis
            for events in (live, during):
                got = await take(events, len(titles["down"]))
                assert [event["task"]["title"] for event in got] == titles["down"]

            pair.redis.restart()
            await pair.wait_redis("ok")
            for n, title in enumerate(titles["back"]):
                await create((second, first)[n % 2], user, title)
            for events in (live, during):
                got = await take(events, len(titles["back"]))
                assert [event["task"]["title"] for event in got] == titles["back"]

        # A cursor from before the outage replays all of it, then continues live.
        async with subscribed(second, user, after=cursor, via="gql") as resumed:
            replayed = await take(resumed, len(titles["down"]) + len(titles["back"]))
            assert [event["task"]["title"] for event in replayed] == (
                titles["down"] + titles["back"]
            )
            await create(first, user, "after")
            (after,) = await take(resumed, 1)
            assert after["task"]["title"] == "after"
        # And the subscriber that stayed through it got nothing twice.
        (after,) = await take(live, 1)
        assert after["task"]["title"] == "after"


# --- the token expires under an open socket ----------------------------------------------------


async def test_a_token_that_expires_while_connected_closes_the_socket_with_4403(
    mongodb_url: str, redis_url: str, database: str
) -> None:
    env = server_env(
        mongodb_url=mongodb_url, redis_url=redis_url, database=database, JWT_ACCESS_TTL="3"
    )
    with ServerProcess(env=env) as server:
        api = Api(server)
        try:
            user = await api.register()
            async with raw_socket(api) as ws:
                await initialise(ws, user)
                opened = time.monotonic()
                await assert_still_serves(ws, user, "me")
                await start(ws, "events", EVENTS)
                assert await closed_with(ws) == 4403
                assert time.monotonic() - opened < 8.0
        finally:
            await api.close()


# --- a subscriber that stops reading ------------------------------------------------------------

# Every event carries its task's description many times over: a few fill the socket's buffers.
COPIES = 20
HEAVY_EVENTS = (
    "subscription { taskEvents { cursor task { "
    + " ".join(f"d{n}: description" for n in range(COPIES))
    + " } } }"
)
CREATE_LONG = (
    "mutation($title: String!, $description: String!) "
    "{ createTask(input: {title: $title, description: $description}) { id } }"
)
BATCHES = 16


def long_description() -> str:
    """10,000 characters that do not compress."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(10_000))


def small_receive_buffer_socket(port: int) -> socket.socket:
    """A connected TCP socket whose kernel receive buffer is as small as allowed."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock


async def test_a_subscriber_that_stops_reading_is_closed_with_1013(
    mongodb_url: str, redis_url: str, database: str
) -> None:
    env = server_env(
        mongodb_url=mongodb_url,
        redis_url=redis_url,
        database=database,
        TASKQL_SUBSCRIBER_QUEUE="2",
    )
    with ServerProcess(env=env) as server:
        api = Api(server)
        try:
            user = await api.register()
            sock = small_receive_buffer_socket(server.port)
            # The client holds one frame at most, then stops reading from the socket.
            async with raw_socket(api, sock=sock, max_queue=1, compression=None) as ws:
                await initialise(ws, user)
                await start(ws, "heavy", HEAVY_EVENTS)
                await wait_for_active(1, api)
                await asyncio.sleep(0.2)
                written = 0
                for b in range(BATCHES):
                    body = [
                        {
                            "query": CREATE_LONG,
                            "variables": {
                                "title": f"long {b}.{i}",
                                "description": long_description(),
                            },
                        }
                        for i in range(5)
                    ]
                    reply = await api.http.post(api.url, json=body, headers=user.headers)
                    assert reply.status_code == 200
                    assert all("errors" not in result for result in reply.json())
                    written += len(body)
                received = 0
                with contextlib.suppress(ConnectionClosed):
                    while True:
                        message = orjson.loads(await asyncio.wait_for(ws.recv(), WAIT))
                        assert message["type"] == "next", message
                        received += 1
                assert ws.close_code == 1013
                assert received < written
        finally:
            await api.close()
