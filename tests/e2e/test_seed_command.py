"""`python server.py seed` as a developer runs it, then a real server serving what it seeded."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pymongo import MongoClient

from tests.e2e.api import Api
from tests.e2e.server_process import PROJECT_ROOT, ServerProcess

pytestmark = pytest.mark.e2e

USERS, TASKS_PER_USER = 3, 40
LOGIN = "mutation($input: LoginInput!) { login(input: $input) { accessToken } }"
COUNTS = """
{
  all: tasks { totalCount }
  todo: tasks(filter: {status: [TODO]}) { totalCount }
  inProgress: tasks(filter: {status: [IN_PROGRESS]}) { totalCount }
  done: tasks(filter: {status: [DONE]}) { totalCount }
  me { email taskCounts { todo inProgress done total } }
}
"""
SUMMARY = re.compile(r"tasks created: (\d+) \(TODO (\d+), IN_PROGRESS (\d+), DONE (\d+)\)")
CREDENTIALS = re.compile(r"sign in: (\S+)-1@example\.com to \S+, password: (\S+)")


@dataclass(frozen=True)
class Seeded:
    server: ServerProcess
    output: str
    # Per seeded email, the database's own count of each status.
    stored: dict[str, dict[str, int]]


def seed(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "server.py", "seed", *argv],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def stored_counts(mongodb_url: str, database: str) -> dict[str, dict[str, int]]:
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_url)
    with client:
        emails = {user["_id"]: user["email"] for user in client[database].users.find()}
        rows = client[database].tasks.aggregate(
            [{"$group": {"_id": {"owner": "$owner_id", "status": "$status"}, "n": {"$sum": 1}}}]
        )
        counts: dict[str, dict[str, int]] = {email: {} for email in emails.values()}
        for row in rows:
            counts[emails[row["_id"]["owner"]]][row["_id"]["status"]] = row["n"]
        return counts


@pytest.fixture(scope="module")
def seeded(mongodb_url: str, redis_url: str) -> Iterator[Seeded]:
    database = f"taskql_seed_{uuid.uuid4().hex[:8]}"
    stores = {"MONGODB_URL": mongodb_url, "MONGODB_DB": database}
    try:
        done = seed(
            "--users", str(USERS), "--tasks-per-user", str(TASKS_PER_USER),
            env={**os.environ, **stores},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        env: dict[str, str | None] = {
            **stores,
            "REDIS_URL": redis_url,
            "JWT_SECRET": secrets.token_urlsafe(48),
        }
        with ServerProcess(env=env) as server:
            yield Seeded(server, done.stdout, stored_counts(mongodb_url, database))
    finally:
        client: MongoClient[dict[str, Any]] = MongoClient(mongodb_url)
        with client:
            client.drop_database(database)


async def test_seeded_users_sign_in_and_see_their_tasks(seeded: Seeded) -> None:
    printed = SUMMARY.search(seeded.output)
    credentials = CREDENTIALS.search(seeded.output)
    assert printed is not None, seeded.output
    assert credentials is not None, seeded.output
    total, *by_status = (int(n) for n in printed.groups())
    assert total == USERS * TASKS_PER_USER
    assert f"users created: {USERS}" in seeded.output
    prefix, password = credentials.groups()
    api = Api(seeded.server)
    seen = [0, 0, 0]
    try:
        for number in range(1, USERS + 1):
            email = f"{prefix}-{number}@example.com"
            login = await api.post(LOGIN, {"input": {"email": email, "password": password}})
            assert login.errors == [], login.errors
            reply = await api.post(COUNTS, token=login.data["login"]["accessToken"])
            assert reply.errors == [], reply.errors
            data = reply.data
            counts = [data[alias]["totalCount"] for alias in ("todo", "inProgress", "done")]
            assert data["all"]["totalCount"] == sum(counts) == TASKS_PER_USER
            summary = data["me"]["taskCounts"]
            assert [summary["todo"], summary["inProgress"], summary["done"]] == counts
            stored = seeded.stored[email]
            assert counts == [stored.get(s, 0) for s in ("TODO", "IN_PROGRESS", "DONE")]
            seen = [a + b for a, b in zip(seen, counts, strict=True)]
    finally:
        await api.close()
    assert seen == by_status


def test_seeding_again_adds_nothing(seeded: Seeded, mongodb_url: str) -> None:
    database = seeded.server.env["MONGODB_DB"]
    again = seed("--users", str(USERS), env={**os.environ, **seeded.server.env})
    assert again.returncode == 0, again.stderr
    assert "users created: 0" in again.stdout
    assert f"users skipped (email taken, --reset recreates them): {USERS}" in again.stdout
    assert stored_counts(mongodb_url, database) == seeded.stored


def test_without_mongodb_url_it_refuses_with_directions() -> None:
    env = {key: value for key, value in os.environ.items() if key != "MONGODB_URL"}
    refused = seed("--users", "1", env=env)
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert "MONGODB_URL" in refused.stderr
    assert "python server.py services" in refused.stderr


async def test_a_reseed_retires_what_running_servers_cached(
    mongodb_url: str, redis_url: str
) -> None:
    database = f"taskql_reseed_{uuid.uuid4().hex[:8]}"
    stores = {"MONGODB_URL": mongodb_url, "MONGODB_DB": database, "REDIS_URL": redis_url}
    env = {**os.environ, **stores}
    try:
        assert seed("--users", "1", "--tasks-per-user", "3", env=env).returncode == 0
        with ServerProcess(env={**stores, "JWT_SECRET": secrets.token_urlsafe(48)}) as server:
            api = Api(server)
            try:
                login = await api.post(
                    LOGIN,
                    {"input": {"email": "demo-1@example.com", "password": "taskql-demo-password"}},
                )
                token = login.data["login"]["accessToken"]
                me = "{ me { email } }"
                assert (await api.post(me, token=token)).data == {
                    "me": {"email": "demo-1@example.com"}
                }  # now cached by the server
                # --reset deletes demo-1 (a new account takes the email): the old token's user
                # is gone, and the server must stop answering from what it cached.
                reseed = seed("--users", "1", "--tasks-per-user", "3", "--reset", env=env)
                assert reseed.returncode == 0, reseed.stderr
                deadline = asyncio.get_running_loop().time() + 10
                while (await api.post(me, token=token)).data != {"me": None}:
                    assert asyncio.get_running_loop().time() < deadline, "served from the cache"
                    await asyncio.sleep(0.2)
            finally:
                await api.close()
    finally:
        client: MongoClient[dict[str, Any]] = MongoClient(mongodb_url)
        with client:
            client.drop_database(database)
