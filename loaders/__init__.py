"""Per-request DataLoaders: one per key, created for each request or operation (never shared),
each batching a tick's loads into one cache read and one MongoDB query for the misses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from aiodataloader import DataLoader
from beanie import PydanticObjectId

from loaders.cache import ObjectCache
from loaders.task import (
    TotalKey,
    load_task_counts,
    load_task_pages,
    load_task_probes,
    load_task_totals,
    load_tasks,
)
from loaders.user import load_users
from models.task import TaskDocument, TaskRef
from models.task_query import BoundaryProbe, TaskPageQuery
from models.task_reads import StatusCounts, TaskPage
from models.user import UserProfile


@dataclass(frozen=True)
class Loaders:
    users: DataLoader[PydanticObjectId, UserProfile | None]
    tasks: DataLoader[TaskRef, TaskDocument | None]
    task_pages: DataLoader[TaskPageQuery, TaskPage]
    task_totals: DataLoader[TotalKey, int]  # tasks passing a filter
    task_probes: DataLoader[BoundaryProbe, bool]
    task_counts: DataLoader[PydanticObjectId, StatusCounts]  # per owner

    def forget_task_lists(self) -> None:
        """After a write: list reads made earlier in this request no longer hold."""
        for loader in (self.task_pages, self.task_totals, self.task_probes, self.task_counts):
            loader.clear_all()


def create_loaders(cache: ObjectCache) -> Loaders:
    def loader(name: str, load: Callable[..., Awaitable[list[Any]]]) -> DataLoader[Any, Any]:
        batch = partial(load, cache=cache)

        async def measured(keys: list[Any]) -> list[Any]:
            cache.metrics.dataloader_batch_size.labels(loader=name).observe(len(keys))
            return await batch(keys)

        return DataLoader(measured)

    return Loaders(
        users=loader("users", load_users),
        tasks=loader("tasks", load_tasks),
        task_pages=loader("task_pages", load_task_pages),
        task_totals=loader("task_totals", load_task_totals),
        task_probes=loader("task_probes", load_task_probes),
        task_counts=loader("task_counts", load_task_counts),
    )
