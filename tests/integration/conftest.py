"""A fresh MongoDB database per test, on the session's server (real mongod or SecantusDB)."""

from __future__ import annotations

import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from loaders.cache import ObjectCache
from models import DOCUMENT_MODELS, bound_client, ensure_indexes
from observability.metrics import TaskqlMetrics
from storage.embedded import EmbeddedServer, start_redis
from storage.mongo import create_mongo_client, init_models
from storage.redis import create_redis_client
from storage.transactions import Transactions
from tests.integration.schema_client import SchemaClient


@pytest.fixture
async def mongo_db(mongodb_url: str) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongodb_url, serverSelectionTimeoutMS=5_000, uuidRepresentation="standard"
    )
    name = f"test_{uuid.uuid4().hex[:16]}"
    try:
        yield client[name]
    finally:
        await client.drop_database(name)
        await client.close()


@pytest.fixture
async def models_db(mongodb_url: str) -> AsyncIterator[str]:
    """Every Beanie document bound to a fresh database (its name), with all indexes."""
    client = create_mongo_client(mongodb_url)
    name = f"test_models_{uuid.uuid4().hex[:12]}"
    await init_models(client, database=name, models=DOCUMENT_MODELS)
    await ensure_indexes()
    try:
        yield name
    finally:
        await client.drop_database(name)
        await client.close()


@pytest.fixture
def transactions(models_db: str) -> Transactions:
    """Transactions on the client the documents are bound to (no lease: nothing reaps it)."""
    return Transactions(bound_client())


@pytest.fixture
async def graphql(mongodb_url: str, models_db: str, redis_url: str) -> AsyncIterator[SchemaClient]:
    """The schema executed in-process (`schema.execute`) on a fresh database and real Redis."""
    client = SchemaClient.open(mongodb_url=mongodb_url, database=models_db, redis_url=redis_url)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedServer]:
    """A redis-server of the test's own, to stop (SIGSTOP), kill or reconfigure."""
    server = start_redis(tmp_path)
    try:
        yield server
    finally:
        server.process.send_signal(signal.SIGCONT)  # a stopped process ignores SIGTERM
        server.close()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = create_redis_client(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def metrics() -> TaskqlMetrics:
    return TaskqlMetrics()


@pytest.fixture
def cache(redis: Redis, metrics: TaskqlMetrics) -> ObjectCache:
    """The object cache on the session's Redis, recording into its own metrics."""
    return ObjectCache(redis, metrics=metrics)
