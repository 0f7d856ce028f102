"""One API server per test session, on the session's stores, in a database of its own."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Iterator

import orjson
import pytest
from pymongo import MongoClient

from tests.e2e.api import Api
from tests.e2e.redis_cluster import redis_cluster  # noqa: F401 -- a fixture for every e2e test
from tests.e2e.server_process import ServerProcess

UNLIMITED_TIER = {"capacity": 1e12, "restore_rate": 1e12, "max_query": 1e12}


@pytest.fixture(scope="session")
def api_server(mongodb_url: str, redis_url: str) -> Iterator[ServerProcess]:
    database = f"taskql_e2e_{uuid.uuid4().hex[:8]}"
    env = {
        "MONGODB_URL": mongodb_url,
        "REDIS_URL": redis_url,
        "MONGODB_DB": database,
        "JWT_SECRET": secrets.token_urlsafe(48),
        # Tests present distinct client addresses through X-Forwarded-For.
        "TASKQL_TRUSTED_PROXIES": "127.0.0.1",
        # Most tests sign up from one address; the query-cost tests run servers of their own.
        "TASKQL_COST_TIERS": orjson.dumps({"anonymous": UNLIMITED_TIER}).decode(),
    }
    with ServerProcess(env=env) as server:
        yield server
    with MongoClient(mongodb_url) as client:
        client.drop_database(database)


@pytest.fixture
async def api(api_server: ServerProcess) -> AsyncIterator[Api]:
    client = Api(api_server)
    yield client
    await client.close()


def instance_env(server: ServerProcess) -> dict[str, str | None]:
    """`server`'s environment without what makes it one instance: another on the same stores
    and signing key."""
    return {k: v for k, v in server.env.items() if k not in {"HOST", "PORT", "WORKERS"}}


@pytest.fixture
def second_instance(api_server: ServerProcess) -> Iterator[ServerProcess]:
    """A second API server beside the shared one, on the same stores and signing key."""
    with ServerProcess(env=instance_env(api_server)) as server:
        yield server
