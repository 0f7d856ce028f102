"""GET /metrics on a real server: every family from startup, MongoDB commands by source, GraphQL
operations by outcome, the bearer token, and one scrape summing several workers."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from pymongo import MongoClient

from tests.e2e.api import Api
from tests.e2e.server_process import ServerProcess

pytestmark = pytest.mark.e2e

FAMILIES = {
    "taskql_graphql_requests": "counter",
    "taskql_graphql_request_duration_seconds": "histogram",
    "taskql_graphql_query_cost": "histogram",
    "taskql_cache_requests": "counter",
    "taskql_dataloader_batch_size": "histogram",
    "taskql_db_commands": "counter",
    "taskql_db_command_duration_seconds": "histogram",
    "taskql_subscriptions_active": "gauge",
    "taskql_events_published": "counter",
    "taskql_ratelimit_throttled": "counter",
    "taskql_ratelimit_local_decisions": "counter",
    "taskql_db_pool_connections_open": "gauge",
    "taskql_db_pool_connections_in_use": "gauge",
    "taskql_db_pool_checkout_failures": "counter",
}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: ServerProcess, *, token: str | None = None) -> Samples:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    reply = httpx.get(f"{server.base_url}/metrics", headers=headers, timeout=10.0)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name` over the series carrying `labels`."""
    wanted = set(labels.items())
    return sum(
        value for (sample, found), value in samples.items() if sample == name and wanted <= found
    )


def deltas(before: Samples, after: Samples, name: str, **labels: str) -> dict[str, float]:
    """Per command: how much `name` grew between two scrapes, among the series with `labels`."""
    grown: dict[str, float] = {}
    wanted = set(labels.items())
    for (sample, found), value in after.items():
        if sample == name and wanted <= found:
            change = value - before.get((sample, found), 0.0)
            if change:
                grown[dict(found)["command"]] = change
    return grown


def test_every_family_is_exposed_from_startup(api_server: ServerProcess) -> None:
    reply = httpx.get(f"{api_server.base_url}/metrics")
    assert reply.status_code == 200
    exposed = {family.name: family.type for family in text_string_to_metric_families(reply.text)}
    assert FAMILIES.items() <= exposed.items()


async def test_a_query_counts_exactly_its_own_commands_as_request(
    api: Api, api_server: ServerProcess
) -> None:
    user = await api.register()
    before = scrape(api_server)
    reply = await api.post(
        "{ tasks(first: 5) { nodes { id } totalCount } }", token=user.access_token
    )
    assert reply.errors == []
    after = scrape(api_server)
    # A cold read: the page is one `find` (one task more than asked, in the first batch: no
    # getMore), totalCount one count_documents, which the driver sends as `aggregate`.
    assert deltas(before, after, "taskql_db_commands_total", source="request") == {
        "find": 1,
        "aggregate": 1,
    }
    assert total(after, "taskql_db_command_duration_seconds_count", command="find") > 0

    assert api_server.get("/readyz").status_code == 200
    ready = scrape(api_server)
    assert deltas(after, ready, "taskql_db_commands_total", source="request") == {}
    background = deltas(after, ready, "taskql_db_commands_total", source="background")
    # The readiness check's one ping; beside it, at most the session lease's renewal (an
    # `update`) and its look for lapsed leases (a `find`), once a second
    # (storage/session_lease.py).
    assert background.pop("ping") == 1
    assert set(background) <= {"update", "find"}, background


async def test_operations_are_counted_by_type_and_outcome(
    api: Api, api_server: ServerProcess
) -> None:
    before = scrape(api_server)
    assert (await api.post("{ me { id } }")).errors == []
    assert (await api.post("{ nope }")).codes == ["GRAPHQL_VALIDATION_FAILED"]
    assert (await api.post("{ me {")).codes == ["GRAPHQL_PARSE_FAILED"]
    oversized = await api.http.post(api.url, json=[{"query": "{ me { id } }"}] * 6)
    assert oversized.status_code == 400
    after = scrape(api_server)

    def grown(operation_type: str, outcome: str) -> float:
        labels = {"operation_type": operation_type, "outcome": outcome}
        name = "taskql_graphql_requests_total"
        return total(after, name, **labels) - total(before, name, **labels)

    assert grown("query", "ok") == 1
    assert grown("query", "error") == 1  # did not validate
    assert grown("unknown", "error") == 1  # did not parse
    assert grown("unknown", "rejected") == 1  # a batch over 5: nothing ran
    durations = "taskql_graphql_request_duration_seconds_count"
    query_durations = total(after, durations, operation_type="query")
    assert query_durations - total(before, durations, operation_type="query") == 2


@pytest.fixture(scope="module")
def database(mongodb_url: str) -> Iterator[str]:
    name = f"taskql_metrics_{uuid.uuid4().hex[:8]}"
    yield name
    with MongoClient(mongodb_url) as client:
        client.drop_database(name)


def server_env(mongodb_url: str, redis_url: str, database: str) -> dict[str, str | None]:
    return {
        "MONGODB_URL": mongodb_url,
        "REDIS_URL": redis_url,
        "MONGODB_DB": database,
        "JWT_SECRET": secrets.token_urlsafe(48),
    }


def test_a_metrics_token_is_required_when_set(
    mongodb_url: str, redis_url: str, database: str
) -> None:
    token = secrets.token_urlsafe(24)
    env = {**server_env(mongodb_url, redis_url, database), "TASKQL_METRICS_TOKEN": token}
    with ServerProcess(env=env) as server:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
            refused = httpx.get(f"{server.base_url}/metrics", headers=headers)
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"].startswith("Bearer")
            assert "taskql_" not in refused.text
        assert "taskql_graphql_requests_total" in str(scrape(server, token=token))
        assert server.get("/healthz").status_code == 200  # nothing else needs it


def _requests_per_worker(directory: Path) -> list[float]:
    """Each worker's GraphQL operations, read from its own file."""
    served = []
    for path in sorted(directory.glob("counter_*.db")):
        for metric in MultiProcessCollector.merge([str(path)]):
            if metric.name == "taskql_graphql_requests":
                served.append(sum(sample.value for sample in metric.samples))
    return served


async def _post_on_new_connections(server: ServerProcess, count: int) -> None:
    async def one() -> None:
        # A connection each: the workers share the listening socket, each takes some.
        async with httpx.AsyncClient(timeout=30.0) as client:
            reply = await client.post(
                f"{server.base_url}/graphql", json={"query": "{ __typename }"}
            )
            assert reply.status_code == 200

    await asyncio.gather(*(one() for _ in range(count)))


def test_one_scrape_sums_every_worker(
    mongodb_url: str, redis_url: str, database: str, tmp_path: Path
) -> None:
    env = {**server_env(mongodb_url, redis_url, database), "TMPDIR": str(tmp_path)}
    with ServerProcess(env=env, workers=2) as server:
        (directory,) = tmp_path.glob("taskql-metrics-*")
        sent = 0
        for _ in range(20):
            asyncio.run(_post_on_new_connections(server, 20))
            sent += 20
            served = _requests_per_worker(directory)
            if len(served) == 2 and all(served):
                break
        assert len(served) == 2
        assert all(served), f"one worker served everything: {served}"
        assert sum(served) == sent
        samples = scrape(server)
        assert total(samples, "taskql_graphql_requests_total") == sent
        assert total(samples, "taskql_graphql_requests_total", outcome="ok") == sent
        # Every family, from both workers' files.
        families = {name for name, _ in samples}
        assert {"taskql_subscriptions_active", "taskql_ratelimit_throttled_total"} <= families
        # Each worker opened its own MongoDB connections at startup; the live gauges add up.
        opened = total(samples, "taskql_db_pool_connections_open")
        assert opened >= 2
        assert 0 <= total(samples, "taskql_db_pool_connections_in_use") <= opened
    assert not directory.exists()
