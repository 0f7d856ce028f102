"""Task loaders: by id (one `$in` per tick), and the list reads of a request, each distinct key
queried once however many fields ask for it (ownership is checked by the caller)."""

from __future__ import annotations

import asyncio

from beanie import PydanticObjectId

from models.task import TaskDocument, find_tasks
from models.task_query import BoundaryProbe, TaskFilterSpec, TaskPageQuery
from models.task_reads import (
    StatusCounts,
    TaskPage,
    count_by_status,
    count_tasks,
    find_task_page,
    task_beyond_exists,
)

TotalKey = tuple[PydanticObjectId, TaskFilterSpec]


async def load_tasks(ids: list[PydanticObjectId]) -> list[TaskDocument | None]:
    found = await find_tasks(list(set(ids)))
    return [found.get(task_id) for task_id in ids]


async def load_task_pages(queries: list[TaskPageQuery]) -> list[TaskPage]:
    # Distinct pages cannot share one keyset query: they run side by side instead.
    return list(await asyncio.gather(*(find_task_page(query) for query in queries)))


async def load_task_totals(keys: list[TotalKey]) -> list[int]:
    return list(await asyncio.gather(*(count_tasks(owner, spec) for owner, spec in keys)))


async def load_task_probes(probes: list[BoundaryProbe]) -> list[bool]:
    return list(await asyncio.gather(*(task_beyond_exists(probe) for probe in probes)))


async def load_task_counts(owner_ids: list[PydanticObjectId]) -> list[StatusCounts]:
    counts = await count_by_status(list(set(owner_ids)))
    return [counts[owner] for owner in owner_ids]
