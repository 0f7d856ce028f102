"""A fresh MongoDB database per test, on the session's server (real mongod or the emulator)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

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
async def graphql(mongodb_url: str, redis_url: str) -> AsyncIterator[SchemaClient]:
    """The schema executed in-process (`schema.execute`) on a fresh database and real Redis."""
    client = await SchemaClient.open(mongodb_url=mongodb_url, redis_url=redis_url)
    try:
        yield client
    finally:
        await client.close()
