"""Two instances on a real Redis Cluster (3 masters, 3 replicas): everything that uses Redis
works on it unchanged. Read-your-writes across instances through the cache, a subscription on
one instance hearing a write on the other, budgets, login throttles and persisted queries
shared; and no command or script ever spanned two slots (Redis refuses those with CROSSSLOT,
which the servers count as command errors: the last test asserts there were none)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pymongo import MongoClient

from storage.embedded_cluster import EmbeddedCluster
from tests.e2e.api import Api, SignedInUser
from tests.e2e.server_process import ServerProcess
from tests.e2e.test_auth import _assert_throttled, _client, _login
from tests.e2e.test_metrics import deltas, scrape, total
from tests.e2e.test_object_cache import EVERYTHING, UPDATE, create_tasks, ok, stale_parts
from tests.e2e.test_subscriptions import create, subscribed, take

pytestmark = pytest.mark.e2e

BUDGET = "{ rateLimit { remaining } }"
TIERS = json.dumps({"user": {"capacity": 100_000, "restore_rate": 1, "max_query": 10_000}})


def cluster_env(mongodb_url: str, cluster: EmbeddedCluster, database: str) -> dict[str, str]:
    return {
        "MONGODB_URL": mongodb_url,
        "REDIS_URL": cluster.url,
        "MONGODB_DB": database,
        "JWT_SECRET": secrets.token_urlsafe(48),
        "TASKQL_COST_TIERS": TIERS,
        "TASKQL_TRUSTED_PROXIES": "127.0.0.1",
    }


@pytest.fixture(scope="module")
def on_cluster(
    mongodb_url: str, redis_cluster: EmbeddedCluster
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    redis_cluster.wait_until_healthy(replicas=True)
    database = f"taskql_cluster_{uuid.uuid4().hex[:8]}"
    env = cluster_env(mongodb_url, redis_cluster, database)
    try:
        with ServerProcess(env=env) as a, ServerProcess(env=env) as b:
            yield a, b
    finally:
        with MongoClient(mongodb_url) as mongo:  # type: ignore[var-annotated]
            mongo.drop_database(database)


@pytest.fixture
async def apis(on_cluster: tuple[ServerProcess, ServerProcess]) -> AsyncIterator[tuple[Api, Api]]:
    a, b = Api(on_cluster[0]), Api(on_cluster[1])
    yield a, b
    await a.close()
    await b.close()


async def everything(api: Api, user: SignedInUser, task_id: str) -> dict[str, Any]:
    data: dict[str, Any] = await ok(api, EVERYTHING, {"id": task_id}, user)
    return data


async def test_writes_on_one_instance_are_read_at_once_on_the_other_from_the_cache(
    apis: tuple[Api, Api],
) -> None:
    a, b = apis
    users = [await a.register() for _ in range(6)]  # owners spread over the masters' slots
    for user in users:
        model = {task["id"]: task for task in await create_tasks(a, user, 3)}
        target = next(iter(model))
        assert stale_parts(await everything(b, user, target), model, target) == []
        reply = await ok(b, UPDATE, {"input": {"id": target, "title": "renamed on b"}}, user)
        model[target] = reply["updateTask"]
        for api in (a, b):
            assert stale_parts(await everything(api, user, target), model, target) == []
            assert await answered_by_the_cache(api, user, model, target)


async def answered_by_the_cache(
    api: Api, user: SignedInUser, model: dict[str, Any], target: str
) -> bool:
    """A repeated read that the cluster answers alone, MongoDB not asked (a few tries: a node
    this busy machine kept from answering within the deadline is skipped for a moment)."""
    for _ in range(10):
        before = scrape(api.server)
        assert stale_parts(await everything(api, user, target), model, target) == []
        after = scrape(api.server)
        if deltas(before, after, "taskql_db_commands_total", source="request") == {}:
            return True
        await asyncio.sleep(0.2)
    return False


async def test_a_subscriber_on_one_instance_hears_a_write_on_the_other(
    apis: tuple[Api, Api],
) -> None:
    a, b = apis
    user = await a.register()
    async with subscribed(a, user) as received:
        task_id = await create(b, user, "written on b")
        (event,) = await take(received, 1)
    assert (event["type"], event["taskId"]) == ("CREATED", task_id)


async def test_budgets_are_shared(apis: tuple[Api, Api]) -> None:
    a, b = apis
    user = await a.register()
    start = (await a.post(BUDGET, token=user.access_token)).data["rateLimit"]["remaining"]
    for _ in range(5):
        assert (await b.post("{ me { id } }", token=user.access_token)).errors == []
    after = (await a.post(BUDGET, token=user.access_token)).data["rateLimit"]["remaining"]
    assert start - after >= 5  # b's spending came out of the bucket a reads


async def test_login_throttles_are_shared(apis: tuple[Api, Api]) -> None:
    a, b = apis
    user = await a.register()
    address = _client()
    for attempt in range(5):
        reply = await _login(apis[attempt % 2], user.email, "wrong", headers=address)
        assert reply.codes == ["INVALID_CREDENTIALS"], reply.body
    _assert_throttled(await _login(b, user.email, user.password, headers=address))
    _assert_throttled(await _login(a, user.email, user.password, headers=address))


async def test_a_persisted_query_registered_on_one_instance_is_served_by_the_other(
    apis: tuple[Api, Api],
) -> None:
    a, b = apis
    user = await a.register(name="Cluster Cleo")
    query = "query Me { me { name } }" + f" # {uuid.uuid4()}"
    digest = hashlib.sha256(query.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    full = await a.http.post(
        a.url, json={"query": query, "extensions": extensions}, headers=user.headers
    )
    assert full.json()["data"] == {"me": {"name": "Cluster Cleo"}}
    by_hash = await b.http.post(b.url, json={"extensions": extensions}, headers=user.headers)
    assert by_hash.json() == {"data": {"me": {"name": "Cluster Cleo"}}} | (
        {"extensions": by_hash.json()["extensions"]} if "extensions" in by_hash.json() else {}
    )


async def test_the_executed_lane_reads_and_charges_in_one_slot(
    mongodb_url: str, redis_cluster: EmbeddedCluster
) -> None:
    """A page query answered by the executed lane (response cache off, plans on): its script
    reads the owner's page and profile and charges the budget on one master, as the full path
    answers and charges."""
    database = f"taskql_cluster_lane_{uuid.uuid4().hex[:8]}"
    env = cluster_env(mongodb_url, redis_cluster, database)
    env |= {"TASKQL_COMPILED_EXECUTION": "on", "TASKQL_RESPONSE_CACHE": "0"}
    page = "{ tasks(first: 5) { nodes { title owner { name } } pageInfo { hasNextPage } } }"
    try:
        with ServerProcess(env=env) as server:
            api = Api(server)
            users = [await api.register(name=f"Lane {n}") for n in range(4)]  # over the slots
            for user in users:
                await create_tasks(api, user, 3)
                executed = await api.post(page, headers=user.headers)
                lanes = total(scrape(server), "taskql_graphql_execution_path_total", path="lane")
                for _ in range(2):  # the first walks the actual cost, the second is one script
                    again = await api.post(page, headers=user.headers)
                    assert again.body["data"] == executed.body["data"]
                    costs = [r.body["extensions"]["cost"] for r in (again, executed)]
                    assert costs[0]["actualQueryCost"] == costs[1]["actualQueryCost"]
                after = total(scrape(server), "taskql_graphql_execution_path_total", path="lane")
                assert after == lanes + 2
            assert total(scrape(server), "taskql_redis_errors_total", kind="command") == 0
            await api.close()
    finally:
        with MongoClient(mongodb_url) as mongo:  # type: ignore[var-annotated]
            mongo.drop_database(database)


async def test_no_call_spanned_two_slots_and_every_master_holds_keys(
    apis: tuple[Api, Api], redis_cluster: EmbeddedCluster
) -> None:
    """Last in this module: whatever the tests above sent, Redis refused none of it (a
    cross-slot MGET or script is refused with CROSSSLOT), and no node is being skipped."""
    for api in apis:
        samples = scrape(api.server)
        refused = [line for line in api.server.log().splitlines() if "command failed" in line]
        assert total(samples, "taskql_redis_errors_total", kind="command") == 0, refused
        assert total(samples, "taskql_cache_requests_total", result="hit") > 0
        reply = await api.http.get(f"{api.server.base_url}/readyz")
        assert reply.json()["dependencies"]["redis"] == "ok"
    for master in redis_cluster.masters():
        with redis_cluster.node_for_port(master.port).client() as client:
            assert int(client.dbsize()) > 0  # the keys really were spread over the slots
