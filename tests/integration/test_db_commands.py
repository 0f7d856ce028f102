"""What PyMongo's AsyncMongoClient publishes to our command listener, on the session's MongoDB."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiodataloader import DataLoader
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from observability.db_commands import CommandMetrics, commands_for_request
from observability.metrics import TaskqlMetrics
from storage.mongo import create_mongo_client, mongo_reachable


@dataclass
class Monitored:
    client: AsyncMongoClient[dict[str, Any]]
    db: AsyncDatabase[dict[str, Any]]
    metrics: TaskqlMetrics

    def counts(self) -> Counter[tuple[str, str]]:
        """Non-zero command counts by (command, source)."""
        counted: Counter[tuple[str, str]] = Counter()
        for metric in self.metrics.db_commands.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total") and sample.value:
                    key = (sample.labels["command"], sample.labels["source"])
                    counted[key] = int(sample.value)
        return counted


@pytest.fixture
async def monitored(mongodb_url: str) -> AsyncIterator[Monitored]:
    metrics = TaskqlMetrics()
    client = create_mongo_client(mongodb_url, event_listeners=[CommandMetrics(metrics)])
    name = f"test_commands_{uuid.uuid4().hex[:12]}"
    try:
        yield Monitored(client=client, db=client[name], metrics=metrics)
    finally:
        await client.drop_database(name)
        await client.close()


async def test_every_command_our_code_issues_is_published(monitored: Monitored) -> None:
    tasks = monitored.db.tasks
    with commands_for_request():
        await tasks.insert_many([{"n": n} for n in range(150)])
        await tasks.update_one({"n": 1}, {"$set": {"done": True}})
        await tasks.find_one_and_update({"n": 2}, {"$set": {"done": True}})
        assert await tasks.count_documents({"n": {"$lt": 10}}) == 10
        assert len([doc async for doc in tasks.find({})]) == 150  # 101, then the rest
        await tasks.delete_one({"n": 3})
    assert monitored.counts() == {
        ("insert", "request"): 1,
        ("update", "request"): 1,
        ("findAndModify", "request"): 1,
        ("aggregate", "request"): 1,  # count_documents is an aggregation
        ("find", "request"): 1,
        ("getMore", "request"): 1,
        ("delete", "request"): 1,
    }
    # The connection handshake and the monitors' heartbeats (hello) are not command events.
    assert await mongo_reachable(monitored.client)
    counts = monitored.counts()
    assert counts[("ping", "background")] == 1
    assert not any(command in {"hello", "isMaster"} for command, _ in counts)
    duration = monitored.metrics.db_command_duration.labels(command="insert")
    assert duration._sum.get() > 0


async def test_dataloader_batches_of_a_request_are_attributed_to_it(monitored: Monitored) -> None:
    tasks = monitored.db.tasks
    await tasks.insert_many([{"n": n} for n in range(5)])

    async def load(keys: list[int]) -> list[dict[str, Any] | None]:
        found = {doc["n"]: doc async for doc in tasks.find({"n": {"$in": keys}})}
        return [found.get(key) for key in keys]

    loader: DataLoader[int, dict[str, Any] | None] = DataLoader(load)
    with commands_for_request():
        first, missing = await loader.load_many([1, 9])
    assert first is not None
    assert missing is None
    assert monitored.counts() == {("insert", "background"): 1, ("find", "request"): 1}
