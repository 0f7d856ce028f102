"""SIGTERM on a serving instance: it stops accepting, finishes what is in flight within its
deadline, and closes websockets with 1001 so that clients reconnect elsewhere and resume."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from pymongo import MongoClient

from tests.e2e.api import Api
from tests.e2e.server_process import ServerProcess
from tests.e2e.test_subscriptions import (
    closed_with,
    initialise,
    raw_socket,
    server_env,
    start,
    wait_for_active,
)

pytestmark = pytest.mark.e2e

EVENTS = "subscription { taskEvents { type cursor } }"
CREATE = 'mutation { createTask(input: {title: "in flight"}) { id title } }'


@pytest.fixture
def database(mongodb_url: str) -> Iterator[str]:
    name = f"taskql_shutdown_{uuid.uuid4().hex[:8]}"
    yield name
    with MongoClient[dict[str, Any]](mongodb_url) as client:
        client.drop_database(name)


def _start_request(server: ServerProcess, body: bytes, authorization: str) -> socket.socket:
    """A POST whose headers and all but the last byte of its body are sent: in flight."""
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    head = (
        "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: {authorization}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    connection.sendall(head.encode() + body[:-1])
    return connection


def _finish_request(connection: socket.socket, body: bytes) -> tuple[bytes, dict[str, Any]]:
    connection.sendall(body[-1:])
    answer = b""
    while chunk := connection.recv(65536):
        answer += chunk
    connection.close()
    head, _, payload = answer.partition(b"\r\n\r\n")
    parsed: dict[str, Any] = orjson.loads(payload)
    return head, parsed


def _refuses_connections(port: int, *, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return True
        time.sleep(0.05)
    return False


async def test_sigterm_finishes_in_flight_requests_and_closes_websockets_with_1001(
    mongodb_url: str, redis_url: str, database: str
) -> None:
    env = server_env(mongodb_url=mongodb_url, redis_url=redis_url, database=database)
    with ServerProcess(env=env) as server:
        api = Api(server)
        user = await api.register()
        body = orjson.dumps({"query": CREATE})
        in_flight = _start_request(server, body, f"Bearer {user.access_token}")
        async with raw_socket(api) as websocket:
            await initialise(websocket, user)
            await start(websocket, "events", EVENTS)
            await wait_for_active(1, api)
            assert server.process is not None
            server.process.terminate()

            assert await closed_with(websocket) == 1001
        assert await asyncio.to_thread(_refuses_connections, server.port, within=5.0)

        head, answer = await asyncio.to_thread(_finish_request, in_flight, body)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert answer["data"]["createTask"]["title"] == "in flight"
        assert server.process.wait(timeout=15) == 0
        await api.close()

    # The acknowledged write is durable: another instance reads it.
    with ServerProcess(env=env) as other:
        api = Api(other)
        # Same signing key: the user's token is good here too.
        reply = await api.post("{ tasks { nodes { id title } } }", headers=user.headers)
        assert reply.data["tasks"]["nodes"] == [answer["data"]["createTask"]]
        await api.close()


def test_a_request_that_never_finishes_is_cut_at_the_deadline(
    mongodb_url: str, redis_url: str, database: str
) -> None:
    env = server_env(
        mongodb_url=mongodb_url,
        redis_url=redis_url,
        database=database,
        TASKQL_SHUTDOWN_TIMEOUT="1",
    )
    with ServerProcess(env=env) as server:
        stalled = _start_request(server, orjson.dumps({"query": "{ __typename }"}), "")
        assert server.process is not None
        started = time.monotonic()
        server.process.terminate()
        assert server.process.wait(timeout=15) == 0
        assert time.monotonic() - started < 8
        with contextlib.suppress(OSError):
            stalled.close()
