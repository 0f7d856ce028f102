"""Redis failing under a running server: requests keep succeeding from MongoDB, readiness says
degraded, and once Redis is back no entry written before the outage is served stale."""

from __future__ import annotations

import asyncio
import secrets
import signal
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from pymongo import MongoClient

from loaders.cache_keys import EPOCH_KEY, EPOCH_WIDTH, CacheKeys
from schema.node import decode_task_id
from storage.embedded import EmbeddedServer, start_redis
from tests.e2e.api import Api, SignedInUser
from tests.e2e.server_process import ServerProcess
from tests.e2e.test_metrics import deltas, scrape, total
from tests.e2e.test_object_cache import (
    EVERYTHING,
    UPDATE,
    Task,
    create_tasks,
    ok,
    stale_parts,
    store_env,
)

pytestmark = pytest.mark.e2e

RECOVERY_TIMEOUT = 10.0


@dataclass
class Outage:
    redis: EmbeddedServer
    server: ServerProcess
    api: Api
    user: SignedInUser
    model: dict[str, Task]

    def signal_redis(self, signum: int) -> None:
        self.redis.process.send_signal(signum)  # nothing once it has exited

    async def everything(self, task_id: str) -> dict[str, Any]:
        data: dict[str, Any] = await ok(self.api, EVERYTHING, {"id": task_id}, self.user)
        return data

    async def fresh(self, task_id: str) -> None:
        """A read of the task, its page and the counts shows every acknowledged write."""
        assert stale_parts(await self.everything(task_id), self.model, task_id) == []

    async def update(self, task_id: str, **change: Any) -> None:
        data = await ok(self.api, UPDATE, {"input": {"id": task_id, **change}}, self.user)
        old = self.model[task_id]
        assert data["updateTask"] == {**old, **change, "version": old["version"] + 1}
        self.model[task_id] = data["updateTask"]

    async def readiness(self) -> tuple[int, Any]:
        reply = await self.api.http.get(f"{self.server.base_url}/readyz")
        return reply.status_code, reply.json()

    def epoch_bumped(self) -> bool:
        """Whether the server has retired every entry older than the outage."""
        with redis.Redis.from_url(self.redis.url) as client:
            return bool(client.get(EPOCH_KEY) == b"1")

    def cache_errors(self) -> float:
        return total(scrape(self.server), "taskql_cache_requests_total", result="error")


@pytest.fixture
async def outage(tmp_path: Path, mongodb_url: str) -> AsyncIterator[Outage]:
    """A server on a Redis of this test's own (so that it can fail), with three tasks cached."""
    own_redis = start_redis(tmp_path)
    database = f"taskql_outage_{uuid.uuid4().hex[:8]}"
    env = store_env(
        mongodb_url=mongodb_url,
        redis_url=own_redis.url,
        database=database,
        secret=secrets.token_urlsafe(48),
    )
    try:
        with ServerProcess(env=env) as server:
            api = Api(server)
            try:
                user = await api.register()
                model = {task["id"]: task for task in await create_tasks(api, user, 3)}
                setup = Outage(own_redis, server, api, user, model)
                first = next(iter(model))
                await setup.fresh(first)
                before = scrape(server)
                await setup.fresh(first)  # warm: the cache alone answers
                grown = deltas(before, scrape(server), "taskql_db_commands_total", source="request")
                assert grown == {}
                yield setup
            finally:
                await api.close()
    finally:
        own_redis.process.send_signal(signal.SIGCONT)  # a stopped process ignores SIGTERM
        own_redis.close()
        mongo: MongoClient[dict[str, Any]] = MongoClient(mongodb_url)
        with mongo:
            mongo.drop_database(database)


async def test_redis_paused_then_back_serves_nothing_written_before_the_outage(
    outage: Outage,
) -> None:
    target, other = list(outage.model)[:2]
    errors_before = outage.cache_errors()
    outage.signal_redis(signal.SIGSTOP)  # connections hang; its data stays
    try:
        # The first request waits out the client's socket timeout, then the breaker opens.
        await outage.fresh(target)
        # Writes while the breaker is open: their invalidations cannot reach Redis.
        await outage.update(target, title="written during the outage")
        await outage.update(other, status="DONE")
        await outage.fresh(target)
        await outage.fresh(other)
        assert await outage.readiness() == (
            200,
            {"status": "degraded", "dependencies": {"mongodb": "ok", "redis": "down"}},
        )
        assert outage.cache_errors() > errors_before
    finally:
        outage.signal_redis(signal.SIGCONT)

    # Redis still holds the pre-outage entries of `other` (its task entry, version 1): served
    # now, they would be stale. The server's background probe retires them (epoch bump) and
    # replays the invalidations it owes before any request reads Redis again.
    owner_id, other_id = decode_task_id(other, field="id")
    with redis.Redis.from_url(outage.redis.url) as client:
        cached = client.get(CacheKeys(0).task(owner_id, other_id))
        assert cached is None or int(cached[EPOCH_WIDTH : EPOCH_WIDTH + 12]) == 1
    # Every read from now on is fresh: from MongoDB until the probe finds Redis back, then
    # from the cache once the server has retired every entry older than its outage.
    deadline = time.monotonic() + RECOVERY_TIMEOUT
    while (await outage.readiness())[1]["status"] != "ok" or not outage.epoch_bumped():
        assert time.monotonic() < deadline, "the cache was never used again"
        await outage.fresh(target)
        await outage.fresh(other)
        await asyncio.sleep(0.1)
    for task in (target, other):
        await outage.fresh(task)  # fills the new epoch's entries
        before = scrape(outage.server)
        await outage.fresh(task)
        after = scrape(outage.server)
        assert deltas(before, after, "taskql_db_commands_total", source="request") == {}
    # Both writes of the outage had to wait; the epoch bump retired what they could not.
    assert total(scrape(outage.server), "taskql_cache_invalidations_delayed_total") == 2


async def test_redis_stopped_requests_keep_succeeding(outage: Outage) -> None:
    target, other = list(outage.model)[:2]
    errors_before = outage.cache_errors()
    outage.redis.close()
    for n in range(3):
        await outage.update(target, title=f"written without Redis {n}")
        await outage.fresh(target)
    await outage.update(other, status="DONE")
    await outage.fresh(other)
    assert await outage.readiness() == (
        200,
        {"status": "degraded", "dependencies": {"mongodb": "ok", "redis": "down"}},
    )
    assert outage.cache_errors() > errors_before
    assert outage.server.get("/healthz").status_code == 200
