"""Redis failing under two running instances, as a hung node, a partition or a failover looks:
a single Redis frozen with SIGSTOP, one Redis Cluster master frozen, and one cluster master
killed with SIGKILL while its replica is promoted. Every request succeeds, a hang costs
milliseconds (the guard skips the node, its probe runs in the background), every read shows
every acknowledged write, and once Redis is back the cache is used again within seconds.

Each test prints its latency figures (run with `-s` to see them)."""

from __future__ import annotations

import asyncio
import random
import secrets
import signal
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pymongo import MongoClient

from cost.budget import KEY_PREFIX as BUDGET_PREFIX
from loaders.cache_keys import CacheKeys
from schema.node import decode_global_id
from storage.embedded import start_redis
from storage.embedded_cluster import EmbeddedCluster
from tests.e2e.api import Api, SignedInUser
from tests.e2e.server_process import ServerProcess
from tests.e2e.test_metrics import deltas, scrape, total
from tests.e2e.test_object_cache import (
    EVERYTHING,
    Task,
    create_tasks,
    ok,
    stale_parts,
    store_env,
    write_one,
)

pytestmark = pytest.mark.e2e

REQUESTS = 40
RECOVERY_SECONDS = 5.0


@dataclass
class Fleet:
    """Two instances on the same stores, one user and the model of their acknowledged tasks."""

    apis: tuple[Api, Api]
    user: SignedInUser
    model: dict[str, Task]
    latencies: list[float] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    @property
    def budget_key(self) -> str:
        _, (owner_id,) = decode_global_id(self.user.id)
        return f"{BUDGET_PREFIX}{{user:{owner_id}}}"

    @property
    def owner_key(self) -> str:
        """A key in the user's hash-tag slot (every cache entry of theirs lives there)."""
        _, (owner_id,) = decode_global_id(self.user.id)
        return CacheKeys(0).generation(owner_id)  # type: ignore[arg-type]

    async def step(self, n: int) -> None:
        """One timed request on instance n % 2: a write every fourth request, else a read that
        must show every write acknowledged so far (made on either instance)."""
        api = self.apis[n % 2]
        started = time.perf_counter()
        if n % 4 == 3:
            await write_one(api, self.user, self.model, self.rng, n)
            self.latencies.append(time.perf_counter() - started)
            return
        data = await ok(api, EVERYTHING, {"id": self.rng.choice(sorted(self.model))}, self.user)
        self.latencies.append(time.perf_counter() - started)
        stale = stale_parts(data, self.model, data["task"]["id"])
        assert stale == [], f"request {n} on instance {n % 2}: {stale}"

    async def readiness(self) -> list[str]:
        replies = [await api.http.get(f"{api.server.base_url}/readyz") for api in self.apis]
        return [reply.json()["dependencies"]["redis"] for reply in replies]

    async def cache_serves_everything(self) -> bool:
        """A repeated read answered by Redis alone, on both instances."""
        task_id = sorted(self.model)[0]
        for api in self.apis:
            data = await ok(api, EVERYTHING, {"id": task_id}, self.user)
            assert stale_parts(data, self.model, task_id) == []
            before = scrape(api.server)
            data = await ok(api, EVERYTHING, {"id": task_id}, self.user)
            assert stale_parts(data, self.model, task_id) == []
            used = deltas(before, scrape(api.server), "taskql_db_commands_total", source="request")
            if used:
                return False
        return True

    async def until_cache_serves(self) -> float:
        started = time.monotonic()
        while not await self.cache_serves_everything():
            assert time.monotonic() - started < RECOVERY_SECONDS, "the cache was not used again"
            await asyncio.sleep(0.05)
        return time.monotonic() - started


def report(what: str, latencies: list[float]) -> tuple[float, float]:
    ordered = sorted(latencies)
    median = statistics.median(ordered)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    print(  # noqa: T201 -- the figures of the closing note
        f"\n{what}: {len(ordered)} requests, median {median * 1000:.1f} ms, "
        f"p95 {p95 * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms"
    )
    return median, p95


@pytest.fixture
def database(mongodb_url: str) -> Iterator[str]:
    name = f"taskql_failures_{uuid.uuid4().hex[:8]}"
    yield name
    with MongoClient(mongodb_url) as mongo:  # type: ignore[var-annotated]
        mongo.drop_database(name)


def fleet_env(mongodb_url: str, redis_url: str, database: str) -> dict[str, str | None]:
    return store_env(
        mongodb_url=mongodb_url,
        redis_url=redis_url,
        database=database,
        secret=secrets.token_urlsafe(48),
    )


@asynccontextmanager
async def open_fleet(env: dict[str, str | None]) -> AsyncIterator[Fleet]:
    with ServerProcess(env=env) as a, ServerProcess(env=env) as b:
        apis = (Api(a), Api(b))
        try:
            user = await apis[0].register()
            model = {task["id"]: task for task in await create_tasks(apis[0], user, 8)}
            fleet = Fleet(apis, user, model)
            assert await fleet.cache_serves_everything()  # warm on both
            yield fleet
        finally:
            for api in apis:
                await api.close()


async def frozen_run(
    fleet: Fleet,
    *,
    freeze: Callable[[], None],
    thaw: Callable[[], None],
    budget_frozen: bool = True,
) -> None:
    """REQUESTS sequential mixed requests over both instances while Redis (or the node of
    the user's keys) is frozen."""
    local_before = sum(
        total(scrape(api.server), "taskql_ratelimit_local_decisions_total") for api in fleet.apis
    )
    freeze()
    try:
        for n in range(REQUESTS):
            await fleet.step(n)
        assert "ok" not in await fleet.readiness()  # degraded (or down) on both
        local_after = sum(
            total(scrape(api.server), "taskql_ratelimit_local_decisions_total")
            for api in fleet.apis
        )
        if budget_frozen:  # (on a cluster the bucket may live on a master not frozen)
            assert local_after > local_before  # budgets still limit, per process meanwhile
    finally:
        thaw()


async def test_a_frozen_redis_costs_milliseconds_and_nothing_stale_after(
    tmp_path: Path, mongodb_url: str, database: str
) -> None:
    redis = start_redis(tmp_path)
    env = fleet_env(mongodb_url, redis.url, database)
    try:
        async with open_fleet(env) as fleet:
            await frozen_run(
                fleet,
                freeze=lambda: redis.process.send_signal(signal.SIGSTOP),
                thaw=lambda: redis.process.send_signal(signal.SIGCONT),
            )
            median, p95 = report("single Redis frozen (SIGSTOP)", fleet.latencies)
            assert median < 0.050
            assert p95 < 0.300
            back = await fleet.until_cache_serves()
            print(f"cache used again {back:.2f} s after SIGCONT")  # noqa: T201
            # Both instances bumped the epoch on recovery: writes on either one still retire
            # what the other cached (the race that once left a count wrong for minutes).
            for n in range(8):
                await write_one(fleet.apis[n % 2], fleet.user, fleet.model, fleet.rng, 100 + n)
                for api in fleet.apis:
                    for task_id in sorted(fleet.model)[:2]:
                        data = await ok(api, EVERYTHING, {"id": task_id}, fleet.user)
                        assert stale_parts(data, fleet.model, task_id) == []
            assert await fleet.readiness() == ["ok", "ok"]
    finally:
        redis.process.send_signal(signal.SIGCONT)
        redis.close()


async def test_a_frozen_cluster_master_costs_milliseconds(
    mongodb_url: str, database: str, redis_cluster: EmbeddedCluster
) -> None:
    redis_cluster.wait_until_healthy(replicas=True)
    env = fleet_env(mongodb_url, redis_cluster.url, database)
    try:
        async with open_fleet(env) as fleet:
            frozen = redis_cluster.master_of_key(fleet.owner_key)
            await frozen_run(
                fleet,
                freeze=lambda: frozen.process.send_signal(signal.SIGSTOP),
                thaw=lambda: frozen.process.send_signal(signal.SIGCONT),
                budget_frozen=redis_cluster.master_of_key(fleet.budget_key) is frozen,
            )
            median, p95 = report("one cluster master frozen (SIGSTOP)", fleet.latencies)
            assert median < 0.050
            assert p95 < 0.300
            redis_cluster.wait_until_healthy()  # resumed, or replaced by its replica
            back = await fleet.until_cache_serves()
            print(f"cache used again {back:.2f} s after SIGCONT")  # noqa: T201
    finally:
        for node in redis_cluster.nodes:
            if node.alive:
                node.process.send_signal(signal.SIGCONT)
        redis_cluster.wait_until_healthy(replicas=True)


async def test_a_killed_cluster_master_fails_over_without_a_failed_request(
    mongodb_url: str, database: str, redis_cluster: EmbeddedCluster
) -> None:
    redis_cluster.wait_until_healthy(replicas=True)
    env = fleet_env(mongodb_url, redis_cluster.url, database)
    victim = None
    try:
        async with open_fleet(env) as fleet:
            victim = redis_cluster.master_of_key(fleet.owner_key)
            n = 0
            killed_at = 0.0
            started = time.monotonic()
            # Mixed load, sequential and checked, until well after the replica's promotion.
            while time.monotonic() - started < 8.0:
                if killed_at == 0.0 and n == 20:
                    victim.kill()
                    killed_at = time.monotonic()
                await fleet.step(n)
                n += 1
            _, p95 = report("cluster master killed (SIGKILL), failover", fleet.latencies)
            assert killed_at, "the load ended before the kill"
            assert p95 < 0.300
            redis_cluster.wait_until_healthy()
            back = await fleet.until_cache_serves()
            since_kill = time.monotonic() - killed_at
            print(  # noqa: T201
                f"{since_kill:.1f} s of load since the kill; cache serving again in {back:.2f} s"
            )
            assert back < RECOVERY_SECONDS
    finally:
        if victim is not None and not victim.alive:
            victim.restart()
        redis_cluster.wait_until_healthy(replicas=True)
