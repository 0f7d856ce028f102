"""The server's log on a real process: one JSON object per line, one line per operation with
its request id, user, type, name, duration, cost and outcome; never a secret or a document."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from pymongo import MongoClient

from tests.e2e.api import Api
from tests.e2e.server_process import ServerProcess
from tests.e2e.test_subscriptions import initialise, raw_socket, server_env

pytestmark = pytest.mark.e2e

CREATE = "mutation CreateOne($input: CreateTaskInput!) { createTask(input: $input) { id } }"
LOGIN = (
    "mutation SignIn($e: String!, $p: String!) { login(input: {email: $e, password: $p}) "
    "{ accessToken refreshToken } }"
)
REFRESH = "mutation Renew($t: String!) { refreshToken(refreshToken: $t) { accessToken } }"


@pytest.fixture
def server(mongodb_url: str, redis_url: str) -> Iterator[ServerProcess]:
    database = f"taskql_logs_{uuid.uuid4().hex[:8]}"
    env = server_env(mongodb_url=mongodb_url, redis_url=redis_url, database=database)
    with ServerProcess(env=env) as process:
        yield process
    with MongoClient[dict[str, Any]](mongodb_url) as client:
        client.drop_database(database)


def _database_id(global_id: str) -> str:
    """The log names users by database id; the API by Relay global id ("User:<id>")."""
    padded = global_id + "=" * (-len(global_id) % 4)
    kind, _, database_id = base64.urlsafe_b64decode(padded).decode().partition(":")
    assert kind == "User"
    return database_id


def _lines(server: ServerProcess) -> list[dict[str, Any]]:
    entries = []
    for line in server.log().splitlines():
        entry = orjson.loads(line)  # every line is one JSON object
        assert isinstance(entry, dict), line
        assert {"time", "level", "message"} <= entry.keys(), line
        entries.append(entry)
    return entries


async def test_one_line_per_operation_with_its_request_id_user_and_cost(
    server: ServerProcess,
) -> None:
    api = Api(server)
    user = await api.register()
    created = await api.post(
        CREATE,
        {"input": {"title": "a secret plan"}},
        headers={**user.headers, "X-Request-ID": "trace-42"},
    )
    assert created.headers["x-request-id"] == "trace-42"
    anonymous = await api.post("{ __typename }")
    generated = anonymous.headers["x-request-id"]
    await api.close()

    operations = {
        entry["request_id"]: entry
        for entry in _lines(server)
        if entry["message"] == "graphql operation"
    }
    assert operations["trace-42"] == {
        **operations["trace-42"],
        "level": "info",
        "user_id": _database_id(user.id),
        "operation_type": "mutation",
        "operation_name": None,
        "outcome": "ok",
        "requested_cost": 11,
        "actual_cost": 11,
    }
    assert operations["trace-42"]["duration_ms"] > 0
    assert len(generated) >= 16
    assert operations[generated]["user_id"] is None
    assert operations[generated]["operation_type"] == "query"


async def test_a_websocket_is_logged_when_it_closes(server: ServerProcess) -> None:
    api = Api(server)
    user = await api.register()
    async with raw_socket(api, additional_headers={"X-Request-ID": "socket-9"}) as websocket:
        await initialise(websocket, user)
    await api.close()
    deadline = time.monotonic() + 5
    while not (closed := [e for e in _lines(server) if e.get("request_id") == "socket-9"]):
        assert time.monotonic() < deadline, "no log line for the websocket"
        await asyncio.sleep(0.05)
    (entry,) = closed
    assert entry["message"] == "websocket closed"
    assert entry["user_id"] == _database_id(user.id)
    assert entry["duration_ms"] > 0


async def test_no_password_token_or_document_reaches_the_log(server: ServerProcess) -> None:
    api = Api(server)
    user = await api.register(name="Grace Hopper")
    wrong = await api.post(LOGIN, {"e": user.email, "p": "not-" + user.password})
    assert wrong.codes == ["INVALID_CREDENTIALS"]
    login = await api.post(LOGIN, {"e": user.email, "p": user.password})
    tokens = login.data["login"]
    renewed = await api.post(REFRESH, {"t": tokens["refreshToken"]})
    created = await api.post(
        CREATE,
        {"input": {"title": "title-7f3a", "description": "body-91c2"}},
        token=user.access_token,
    )
    broken = await api.post("{ tasks { nodes { nope } } }", token=user.access_token)
    await api.close()
    assert created.errors == []
    assert broken.errors

    log = server.log()
    assert "graphql operation" in log
    secrets = [
        user.password,
        user.access_token,
        user.refresh_token,
        tokens["accessToken"],
        tokens["refreshToken"],
        renewed.data["refreshToken"]["accessToken"],
        "title-7f3a",
        "body-91c2",
        "Grace Hopper",
        user.email,
    ]
    for secret in secrets:
        assert secret not in log
