"""The per-request loaders on the real database and cache: one batch per tick, de-duplicated,
answers in key order, batch sizes recorded, and a failing key failing alone."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from beanie import PydanticObjectId

from loaders import create_loaders
from loaders.cache import ObjectCache
from models import task_reads
from models.task import TaskDocument
from models.task_query import TaskFilterSpec, TaskPageQuery, TaskSort
from models.task_reads import StatusCounts, TaskPage
from models.task_writes import NewTask, insert_task
from observability.metrics import TaskqlMetrics

pytestmark = pytest.mark.usefixtures("models_db")


async def add_task(owner: PydanticObjectId, title: str, status: str = "TODO") -> TaskDocument:
    created = await insert_task(
        NewTask(
            owner_id=owner,
            title=title,
            description=None,
            status=status,  # type: ignore[arg-type]
            priority="MEDIUM",
            tags=(),
            due_at=None,
        ),
        idempotency_key=None,
        now=datetime.now(UTC),
    )
    return created.task


def batch_sizes(metrics: TaskqlMetrics, loader: str) -> tuple[float, float]:
    """(batches, keys) the loader has recorded."""
    samples = {
        sample.name: sample.value
        for family in metrics.registry.collect()
        if family.name == "taskql_dataloader_batch_size"
        for sample in family.samples
        if sample.labels.get("loader") == loader
    }
    return (
        samples["taskql_dataloader_batch_size_count"],
        samples["taskql_dataloader_batch_size_sum"],
    )


def page_of(owner: PydanticObjectId, limit: int = 10) -> TaskPageQuery:
    return TaskPageQuery(owner_id=owner, filter=TaskFilterSpec(), sort=TaskSort(), limit=limit)


async def test_loads_in_one_tick_are_one_batch_of_distinct_keys_in_order(
    cache: ObjectCache, metrics: TaskqlMetrics
) -> None:
    owners = [PydanticObjectId() for _ in range(3)]
    for index, owner in enumerate(owners):
        for _ in range(index + 1):
            await add_task(owner, f"task of owner {index}")
    loaders = create_loaders(cache)
    asked = [owners[2], owners[0], owners[2], owners[1], owners[0]]
    counts = await asyncio.gather(*(loaders.task_counts.load(owner) for owner in asked))
    assert [count.total for count in counts] == [3, 1, 3, 2, 1]
    assert batch_sizes(metrics, "task_counts") == (1, 3)  # one batch of three distinct owners


async def test_loaders_are_per_request_and_later_ticks_batch_again(
    cache: ObjectCache, metrics: TaskqlMetrics
) -> None:
    owner = PydanticObjectId()
    await add_task(owner, "only")
    first, second = create_loaders(cache), create_loaders(cache)
    await first.task_counts.load(owner)
    await first.task_counts.load(owner)  # memoised within the request
    await second.task_counts.load(owner)
    assert batch_sizes(metrics, "task_counts") == (2, 2)


async def test_a_failing_key_fails_alone(
    cache: ObjectCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    healthy, broken = PydanticObjectId(), PydanticObjectId()
    await add_task(healthy, "fine")
    real = task_reads.find_task_page

    async def failing_for_one_owner(query: TaskPageQuery) -> TaskPage:
        if query.owner_id == broken:
            raise RuntimeError("this owner's shard is on fire")
        return await real(query)

    monkeypatch.setattr("loaders.task.find_task_page", failing_for_one_owner)
    loaders = create_loaders(cache)
    good, bad = await asyncio.gather(
        loaders.task_pages.load(page_of(healthy)),
        loaders.task_pages.load(page_of(broken)),
        return_exceptions=True,
    )
    assert isinstance(good, TaskPage)
    assert [task.title for task in good.documents] == ["fine"]
    assert isinstance(bad, RuntimeError)
    # The failure was not cached: the next request asks the database again.
    monkeypatch.setattr("loaders.task.find_task_page", real)
    retried = await create_loaders(cache).task_pages.load(page_of(broken))
    assert retried.documents == []


async def test_counts_cover_every_status(cache: ObjectCache) -> None:
    owner = PydanticObjectId()
    for status in ("TODO", "TODO", "IN_PROGRESS", "DONE"):
        await add_task(owner, status, status)
    counts = await create_loaders(cache).task_counts.load(owner)
    assert counts == StatusCounts(todo=2, in_progress=1, done=1)
