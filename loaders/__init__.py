"""Per-request DataLoaders: one per key, created for each request or operation (never shared),
each batching a tick's loads into one cache read and one MongoDB query for the misses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cached_property, partial
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


class Loaders:
    """The loaders of one request or operation, each built on first use: most operations
    touch one or two, and a subscription builds a fresh set for every event."""

    def __init__(self, cache: ObjectCache) -> None:
        self._cache = cache

    @cached_property
    def users(self) -> DataLoader[PydanticObjectId, UserProfile | None]:
        return self._loader("users", load_users)

    @cached_property
    def tasks(self) -> DataLoader[TaskRef, TaskDocument | None]:
        return self._loader("tasks", load_tasks)

    @cached_property
    def task_pages(self) -> DataLoader[TaskPageQuery, TaskPage]:
        return self._loader("task_pages", load_task_pages)

    @cached_property
    def task_totals(self) -> DataLoader[TotalKey, int]:
        """Tasks passing a filter."""
        return self._loader("task_totals", load_task_totals)

    @cached_property
    def task_probes(self) -> DataLoader[BoundaryProbe, bool]:
        return self._loader("task_probes", load_task_probes)

    @cached_property
    def task_counts(self) -> DataLoader[PydanticObjectId, StatusCounts]:
        """Per owner."""
        return self._loader("task_counts", load_task_counts)

    def forget_task_lists(self) -> None:
        """After a write: list reads made earlier in this request no longer hold."""
        for name in ("task_pages", "task_totals", "task_probes", "task_counts"):
            built: DataLoader[Any, Any] | None = self.__dict__.get(name)
            if built is not None:
                built.clear_all()

    def _loader(self, name: str, load: Callable[..., Awaitable[list[Any]]]) -> DataLoader[Any, Any]:
        cache = self._cache
        batch = partial(load, cache=cache)

        async def measured(keys: list[Any]) -> list[Any]:
            cache.metrics.dataloader_batch_size.labels(loader=name).observe(len(keys))
            return await batch(keys)

        return DataLoader(measured)


def create_loaders(cache: ObjectCache) -> Loaders:
    return Loaders(cache)
