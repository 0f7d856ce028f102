"""The Redis object cache through real servers: MongoDB commands per request cold and warm, two
instances sharing one `python server.py services` that never read each other's writes stale,
and many readers racing one writer ending on the latest version (Redis outages: in
test_object_cache_outage.py)."""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from pymongo import MongoClient
from redis.asyncio import Redis as AsyncRedis

from loaders.cache_keys import EPOCH_KEY, EPOCH_WIDTH, CacheKeys, unversioned
from schema.node import decode_global_id, decode_task_id
from tests.e2e.api import Api, SignedInUser
from tests.e2e.server_process import ServerProcess
from tests.e2e.services_process import running_services
from tests.e2e.test_metrics import deltas, scrape, total

pytestmark = pytest.mark.e2e

# Budgets far above what these tests spend: they measure the cache, not the throttle.
GENEROUS_TIERS = json.dumps(
    {"user": {"capacity": 1_000_000, "restore_rate": 1_000_000, "max_query": 100_000}}
)
STATUSES = ("TODO", "IN_PROGRESS", "DONE")

CREATE = (
    "mutation($input: CreateTaskInput!) { createTask(input: $input) { id title status version } }"
)
UPDATE = (
    "mutation($input: UpdateTaskInput!) { updateTask(input: $input) { id title status version } }"
)
DELETE = "mutation($id: ID!) { deleteTask(id: $id) }"
OWNER_PAGE = "query($n: Int) { tasks(first: $n) { nodes { owner { name taskCounts { total } } } } }"
# The task, a page listing it, and the owner's counts: three kinds of cache entries at once.
EVERYTHING = """
query($id: ID!) {
  task(id: $id) { id title status version }
  tasks(first: 100) { totalCount nodes { id title status version } }
  me { taskCounts { todo inProgress done total } }
}
"""

Task = dict[str, Any]


def store_env(
    *, mongodb_url: str, redis_url: str, database: str, secret: str
) -> dict[str, str | None]:
    return {
        "MONGODB_URL": mongodb_url,
        "REDIS_URL": redis_url,
        "MONGODB_DB": database,
        "JWT_SECRET": secret,
        "TASKQL_COST_TIERS": GENEROUS_TIERS,
        "TASKQL_CACHE": "1",
    }


async def ok(api: Api, query: str, variables: dict[str, Any], user: SignedInUser) -> Any:
    reply = await api.post(query, variables, token=user.access_token)
    assert reply.status == 200, reply.body
    assert reply.errors == [], reply.errors
    return reply.data


async def create_tasks(api: Api, user: SignedInUser, count: int) -> list[Task]:
    """`count` tasks, statuses in turn, five createTask mutations per HTTP batch."""
    created: list[Task] = []
    for start in range(0, count, 5):
        batch = [
            {
                "query": CREATE,
                "variables": {"input": {"title": f"task {n}", "status": STATUSES[n % 3]}},
            }
            for n in range(start, min(start + 5, count))
        ]
        reply = await api.http.post(api.url, json=batch, headers=user.headers)
        assert reply.status_code == 200
        for result in reply.json():
            assert "errors" not in result, result
            created.append(result["data"]["createTask"])
    return created


@dataclass
class SharedStores:
    mongodb_url: str
    redis_url: str
    env: dict[str, str | None]


@pytest.fixture(scope="module")
def shared_stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedStores]:
    """`python server.py services`, as an operator runs it for several instances; its stores,
    and every database in them, end with it."""
    with running_services(tmp_path_factory.mktemp("services")) as (_, urls):
        mongodb_url, redis_url = urls["MONGODB_URL"], urls["REDIS_URL"]
        database, secret = f"taskql_cache_{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(48)
        server_env = store_env(
            mongodb_url=mongodb_url, redis_url=redis_url, database=database, secret=secret
        )
        yield SharedStores(mongodb_url, redis_url, server_env)


@pytest.fixture(scope="module")
def instances(shared_stores: SharedStores) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two instances on the shared stores: same database, same signing key."""
    with ServerProcess(env=shared_stores.env) as a, ServerProcess(env=shared_stores.env) as b:
        yield a, b


@pytest.fixture
async def apis(instances: tuple[ServerProcess, ServerProcess]) -> Any:
    a, b = Api(instances[0]), Api(instances[1])
    yield a, b
    await a.close()
    await b.close()


def evict_owner_entries(redis_url: str, user: SignedInUser) -> None:
    """Drops every cache entry of one owner (as eviction or expiry would)."""
    _, (owner_id,) = decode_global_id(user.id)
    with redis.Redis.from_url(redis_url) as client:
        keys = list(client.scan_iter(match=f"*{{{owner_id}}}*", count=1000))
        assert client.delete(*keys) == len(keys) > 0


async def test_database_commands_per_request_cold_and_warm(
    apis: tuple[Api, Api],
    instances: tuple[ServerProcess, ServerProcess],
    shared_stores: SharedStores,
) -> None:
    api, _ = apis
    server = instances[0]
    user = await api.register(name="Grace Hopper")
    tasks = await create_tasks(api, user, 105)

    async def read(first: int) -> dict[str, float]:
        before = scrape(server)
        data = await ok(api, OWNER_PAGE, {"n": first}, user)
        after = scrape(server)
        nodes = data["tasks"]["nodes"]
        assert len(nodes) == first
        assert all(
            node == {"owner": {"name": "Grace Hopper", "taskCounts": {"total": 105}}}
            for node in nodes
        )
        return deltas(before, after, "taskql_db_commands_total", source="request")

    for first in (10, 50, 100):
        # Cold: nothing of this owner cached (never read, evicted, or expired): the page, the
        # owner (one `$in` for all 100 nodes) and the counts (one aggregate).
        evict_owner_entries(shared_stores.redis_url, user)
        cold = await read(first)
        assert sum(cold.values()) <= 4
        assert cold == {"find": 2, "aggregate": 1}
        assert await read(first) == {}
        # The first read of this page after a write: the page and the counts again, the
        # owner (immutable through the API) stays cached.
        change = {"id": tasks[first]["id"], "title": f"renamed before first {first}"}
        await ok(api, UPDATE, {"input": change}, user)
        assert await read(first) == {"find": 1, "aggregate": 1}
        assert await read(first) == {}


def counts_of(model: dict[str, Task]) -> dict[str, int]:
    statuses = [task["status"] for task in model.values()]
    return {
        "todo": statuses.count("TODO"),
        "inProgress": statuses.count("IN_PROGRESS"),
        "done": statuses.count("DONE"),
        "total": len(statuses),
    }


def stale_parts(data: dict[str, Any], model: dict[str, Task], task_id: str) -> list[str]:
    """What a read shows that differs from the acknowledged writes: empty when nothing."""
    stale = []
    if data["task"] != model.get(task_id):
        stale.append(f"task {data['task']} instead of {model.get(task_id)}")
    page = {node["id"]: node for node in data["tasks"]["nodes"]}
    if page != model or data["tasks"]["totalCount"] != len(model):
        stale.append(f"page of {len(page)} (total {data['tasks']['totalCount']}), not {len(model)}")
    if data["me"]["taskCounts"] != counts_of(model):
        stale.append(f"counts {data['me']['taskCounts']} instead of {counts_of(model)}")
    return stale


def task_lookups(samples: Any, result: str) -> float:
    return total(samples, "taskql_cache_requests_total", kind="task", result=result)


async def write_one(
    api: Api, user: SignedInUser, model: dict[str, Task], rng: random.Random, n: int
) -> str:
    """One random write (rename, status change, create or delete) applied to `model`; the id
    of the task it wrote."""
    kind = rng.choice(["title", "title", "status", "status", "create", "delete"])
    if len(model) < 5:
        kind = "create"
    elif len(model) > 25:
        kind = "delete"
    if kind == "create":
        status = rng.choice(STATUSES)
        data = await ok(api, CREATE, {"input": {"title": f"write {n}", "status": status}}, user)
        created: Task = data["createTask"]
        assert (created["status"], created["version"]) == (status, 1)
        model[created["id"]] = created
        return str(created["id"])
    task_id = rng.choice(sorted(model))
    if kind == "delete":
        assert (await ok(api, DELETE, {"id": task_id}, user))["deleteTask"] == task_id
        del model[task_id]
        return task_id
    old = model[task_id]
    change: dict[str, Any] = {"title": f"write {n}"}
    if kind == "status":
        change = {"status": rng.choice([s for s in STATUSES if s != old["status"]])}
    data = await ok(api, UPDATE, {"input": {"id": task_id, **change}}, user)
    updated: Task = data["updateTask"]
    assert updated == {**old, **change, "version": old["version"] + 1}
    model[task_id] = updated
    return task_id


async def test_a_write_on_one_instance_is_read_at_once_on_the_other(
    apis: tuple[Api, Api], instances: tuple[ServerProcess, ServerProcess]
) -> None:
    user = await apis[0].register()
    model = {task["id"]: task for task in await create_tasks(apis[0], user, 10)}
    first = next(iter(model))
    # Warm on both: the second read of each instance is served by the shared cache alone.
    for api, server in zip(apis, instances, strict=True):
        assert stale_parts(await ok(api, EVERYTHING, {"id": first}, user), model, first) == []
        before = scrape(server)
        assert stale_parts(await ok(api, EVERYTHING, {"id": first}, user), model, first) == []
        assert deltas(before, scrape(server), "taskql_db_commands_total", source="request") == {}

    scraped = [scrape(server) for server in instances]
    rng = random.Random(20_261_128)
    stale: list[str] = []
    for n in range(200):
        writer, reader = (apis[0], apis[1]) if n % 2 == 0 else (apis[1], apis[0])
        task_id = await write_one(writer, user, model, rng, n)
        data = await ok(reader, EVERYTHING, {"id": task_id}, user)
        stale.extend(f"pair {n}: {part}" for part in stale_parts(data, model, task_id))
    assert stale == []
    # Every read found the task written through by the other instance (or its tombstone).
    for server, earlier in zip(instances, scraped, strict=True):
        now = scrape(server)
        assert task_lookups(now, "hit") - task_lookups(earlier, "hit") == 100
        assert task_lookups(now, "miss") - task_lookups(earlier, "miss") == 0
        assert total(now, "taskql_cache_requests_total", result="error") == 0


RACE_READ = """
query($id: ID!) { task(id: $id) { version } tasks(first: 1) { nodes { version } } }
"""


async def test_readers_racing_one_writer_end_with_the_latest_version_cached(
    apis: tuple[Api, Api], shared_stores: SharedStores
) -> None:
    user = await apis[0].register()
    (task,) = await create_tasks(apis[0], user, 1)
    owner_id, task_id = decode_task_id(task["id"], field="id")
    rng = random.Random(61)
    wrong: list[str] = []

    async def read(api: Api, *, floor: int) -> int:
        """The task's version; wrong when older than a write acknowledged before the read."""
        data = await ok(api, RACE_READ, {"id": task["id"]}, user)
        version, (listed,) = data["task"]["version"], data["tasks"]["nodes"]
        if version < floor or listed["version"] < floor:
            wrong.append(f"read {version} (listed {listed['version']}) after {floor}")
        return int(version)

    async def write(version: int) -> None:
        # Lands at a random point of the readers' misses, MongoDB reads and fills.
        await asyncio.sleep(rng.uniform(0, 0.02))
        change = {"id": task["id"], "title": f"version {version}"}
        data = await ok(apis[version % 2], UPDATE, {"input": change}, user)
        assert data["updateTask"]["version"] == version

    latest = 61
    async with AsyncRedis.from_url(shared_stores.redis_url) as client:
        key = CacheKeys(int(await client.get(EPOCH_KEY) or 0)).task(owner_id, task_id)
        for version in range(2, latest + 1):
            # Evicted (as expiry would) while no fill is in flight: the readers on both
            # instances miss, read MongoDB and fill, racing the writer's write-through.
            await client.delete(key)
            readers = (read(api, floor=version - 1) for api in apis for _ in range(6))
            await asyncio.gather(write(version), *readers)
            # A fill that read before the write must not have replaced it.
            for api in apis:
                await read(api, floor=version)
        cached = await client.get(key)
    assert wrong == []
    # The cache holds the last version, and so does every instance, and MongoDB.
    assert isinstance(cached, bytes)
    body = cached[EPOCH_WIDTH:]  # after the epoch the value was written under
    assert (int(body[:12]), unversioned(body) is not None) == (latest, True)
    for api in apis:
        data = await ok(api, RACE_READ, {"id": task["id"]}, user)
        assert data == {"task": {"version": latest}, "tasks": {"nodes": [{"version": latest}]}}
    mongo: MongoClient[dict[str, Any]] = MongoClient(shared_stores.mongodb_url)
    with mongo:
        stored = mongo[str(shared_stores.env["MONGODB_DB"])]["tasks"].find_one({"_id": task_id})
    assert stored is not None
    assert (stored["version"], stored["title"]) == (latest, f"version {latest}")
