"""The MongoDB client: PyMongo's AsyncMongoClient under Beanie, always reading from the primary."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from beanie import Document, init_beanie
from pymongo import AsyncMongoClient, ReadPreference
from pymongo.monitoring import CommandListener, ConnectionPoolListener

PING_TIMEOUT = 1.0


def create_mongo_client(
    url: str, *, event_listeners: Sequence[CommandListener | ConnectionPoolListener] = ()
) -> AsyncMongoClient[dict[str, Any]]:
    # Secondary reads would break read-your-writes, so the preference is pinned here.
    return AsyncMongoClient(
        url,
        event_listeners=list(event_listeners),
        read_preference=ReadPreference.PRIMARY,
        tz_aware=True,
        serverSelectionTimeoutMS=5_000,
        connectTimeoutMS=2_000,
        appname="taskql",
    )


async def init_models(
    client: AsyncMongoClient[dict[str, Any]], *, database: str, models: Sequence[type[Document]]
) -> None:
    await init_beanie(database=client[database], document_models=list(models))


async def mongo_reachable(client: AsyncMongoClient[dict[str, Any]]) -> bool:
    try:
        await asyncio.wait_for(client.admin.command("ping"), timeout=PING_TIMEOUT)
    except Exception:  # noqa: BLE001 -- any failure means "not reachable" to a health check
        return False
    return True
