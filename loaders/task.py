"""Task loaders: by owner and id, and the list reads of a request (pages, filtered totals,
boundary probes, per-status counts), each through the cache; every distinct key is read
once however many fields ask for it (ownership is checked by the caller)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar, cast

from beanie import PydanticObjectId

from loaders import codecs
from loaders.cache import CacheKind, ObjectCache
from loaders.cache_keys import versioned
from models.task import TaskDocument, TaskRef, find_tasks
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
T = TypeVar("T")


async def _each(queries: Iterable[Awaitable[T]]) -> list[T | Exception]:
    """Distinct list queries run side by side; one that fails fails only its own key."""
    results = await asyncio.gather(*queries, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, Exception):
            raise result  # cancellation is not a key's failure
    return cast(list[T | Exception], results)


def digest(kind: str, key: object) -> str:
    """A short stable name for a list query (its dataclass repr lists every field)."""
    return f"{kind}:{hashlib.blake2b(repr(key).encode(), digest_size=16).hexdigest()}"


async def load_tasks(
    refs: list[TaskRef],
    *,
    cache: ObjectCache,
    fetch: Callable[[list[TaskRef]], Awaitable[dict[TaskRef, TaskDocument]]] = find_tasks,
) -> list[TaskDocument | None]:
    return await cache.versioned(
        CacheKind.TASK,
        refs,
        key_of=lambda keys, owner, task_id: keys.task(owner, task_id),
        version_of=lambda task: task.version,
        fetch=fetch,
        codec=codecs.TASK,
    )


async def load_task_pages(
    queries: list[TaskPageQuery], *, cache: ObjectCache
) -> list[TaskPage | Exception]:
    async def fetch(missing: list[TaskPageQuery]) -> list[TaskPage | Exception]:
        # Distinct pages cannot share one keyset query: they run side by side instead.
        return await _each(find_task_page(query) for query in missing)

    return await cache.generational(
        CacheKind.TASK_LIST,
        queries,
        owner_of=lambda query: query.owner_id,
        key_of=lambda keys, query: keys.task_list(query.owner_id, digest("page", query)),
        fetch=fetch,
        codec=codecs.TASK_PAGE,
    )


async def load_task_totals(keys: list[TotalKey], *, cache: ObjectCache) -> list[int | Exception]:
    async def fetch(missing: list[TotalKey]) -> list[int | Exception]:
        return await _each(count_tasks(owner, spec) for owner, spec in missing)

    return await cache.generational(
        CacheKind.TASK_LIST,
        keys,
        owner_of=lambda key: key[0],
        key_of=lambda cache_keys, key: cache_keys.task_list(key[0], digest("total", key[1])),
        fetch=fetch,
        codec=codecs.COUNT,
    )


async def load_task_probes(
    probes: list[BoundaryProbe], *, cache: ObjectCache
) -> list[bool | Exception]:
    async def fetch(missing: list[BoundaryProbe]) -> list[bool | Exception]:
        return await _each(task_beyond_exists(probe) for probe in missing)

    return await cache.generational(
        CacheKind.TASK_LIST,
        probes,
        owner_of=lambda probe: probe.owner_id,
        key_of=lambda keys, probe: keys.task_list(probe.owner_id, digest("probe", probe)),
        fetch=fetch,
        codec=codecs.FLAG,
    )


async def load_task_counts(
    owner_ids: list[PydanticObjectId], *, cache: ObjectCache
) -> list[StatusCounts | Exception]:
    async def fetch(missing: list[PydanticObjectId]) -> list[StatusCounts | Exception]:
        counts = await count_by_status(missing)
        return [counts[owner] for owner in missing]

    return await cache.generational(
        CacheKind.TASK_COUNTS,
        owner_ids,
        owner_of=lambda owner: owner,
        key_of=lambda keys, owner: keys.task_counts(owner),
        fetch=fetch,
        codec=codecs.STATUS_COUNTS,
    )


async def write_through_task(cache: ObjectCache, task: TaskDocument) -> None:
    """After MongoDB acknowledged a create or update: the new version, for every instance."""
    assert task.id is not None
    await cache.task_written(
        task.owner_id, task.id, versioned(task.version, codecs.TASK.encode(task))
    )
