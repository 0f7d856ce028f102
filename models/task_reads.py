"""Task list reads: keyset pages, filtered totals, boundary probes and per-status counts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from beanie import PydanticObjectId
from pymongo import ASCENDING

from models.task import TaskDocument, task_from_storage
from models.task_query import (
    BoundaryProbe,
    Keyset,
    RangeBound,
    Side,
    TaskFilterSpec,
    TaskPageQuery,
    bound_query,
    filter_query,
    range_bound,
    sort_spec,
)
from models.task_windows import read_newest, windowed


@dataclass(frozen=True)
class TaskPage:
    """Tasks in list order, and whether more lay beyond the last one asked for."""

    documents: list[TaskDocument]
    has_more: bool


@dataclass(frozen=True)
class StatusCounts:
    todo: int = 0
    in_progress: int = 0
    done: int = 0

    @property
    def total(self) -> int:
        return self.todo + self.in_progress + self.done


# Read beyond what a page needs in its one range read (RangeBound): the task at the position
# itself, usually still there.
TIE_SLACK = 1


def _with(conditions: dict[str, Any], *bounds: dict[str, Any]) -> dict[str, Any]:
    """All of them: each bound at the top level unless it repeats a field or is an `$or` (only
    top-level conditions use an index on SecantusDB; see RangeBound)."""
    merged = dict(conditions)
    rest: list[dict[str, Any]] = []
    for bound in bounds:
        if "$or" in bound or any(name in merged for name in bound):
            rest.append(bound)
        else:
            merged.update(bound)
    if rest:
        merged["$and"] = [*merged.get("$and", []), *rest]
    return merged


async def find_task_page(query: TaskPageQuery) -> TaskPage:
    """One query (two or three where many tasks share the position's sort value), one more
    task than asked for: that one only tells whether more exist."""
    conditions = filter_query(query.owner_id, query.filter)
    sort = sort_spec(query.sort, reverse=query.backward)
    wanted = query.limit + 1
    sides: list[tuple[Keyset, Side]] = []
    if query.after is not None:
        sides.append((query.after, "after"))
    if query.before is not None:
        sides.append((query.before, "before"))
    ranged = None
    if len(sides) == 1:
        ranged = range_bound(query.sort, sides[0][0], side=sides[0][1], inclusive=False)
    collection = TaskDocument.get_pymongo_collection()

    async def read(*bounds: dict[str, Any], limit: int) -> list[dict[str, Any]]:
        # One batch: past 101 documents a default first batch would take a getMore.
        found = collection.find(_with(conditions, *bounds)).sort(sort).limit(limit)
        return await found.batch_size(limit).to_list(None)

    raws = None
    if windowed(query):
        slack = 0 if ranged is None else TIE_SLACK
        raws = await read_newest(read, query, ranged, wanted=wanted, fetched=wanted + slack)
    if raws is None and ranged is not None:
        raws = await _read_ranged(read, ranged, sort, wanted)
    elif raws is None:
        exact = [bound_query(query.sort, k, side=side, inclusive=False) for k, side in sides]
        raws = await read(*exact, limit=wanted)
    found = [task_from_storage(raw) for raw in raws]
    documents = found[: query.limit]
    if query.backward:
        documents.reverse()
    return TaskPage(documents=documents, has_more=len(found) > query.limit)


async def count_tasks(owner_id: PydanticObjectId, spec: TaskFilterSpec) -> int:
    return await TaskDocument.get_pymongo_collection().count_documents(filter_query(owner_id, spec))


async def _read_ranged(
    read: Callable[..., Awaitable[list[dict[str, Any]]]],
    bound: RangeBound,
    sort: list[tuple[str, int]],
    wanted: int,
) -> list[dict[str, Any]]:
    """Up to `wanted` stored tasks beyond `bound`, in `sort`'s order, read as index ranges."""
    fetched = wanted + TIE_SLACK
    raws = await read(bound.reach, limit=fetched)
    kept = [raw for raw in raws if bound.holds(raw)]
    if len(kept) >= wanted or len(raws) < fetched:
        return kept[:wanted]
    # Tasks at the position's value filled the read: its exact parts, in list order.
    ties_first = bound.ascending == (sort[0][1] == ASCENDING)
    first, then = (bound.ties, bound.past) if ties_first else (bound.past, bound.ties)
    head = await read(first, limit=wanted)
    if len(head) >= wanted:
        return head
    return head + await read(then, limit=wanted - len(head))


async def task_beyond_exists(probe: BoundaryProbe) -> bool:
    conditions = filter_query(probe.owner_id, probe.filter)
    collection = TaskDocument.get_pymongo_collection()

    async def any_of(bound: dict[str, Any]) -> bool:
        found = await collection.find_one(_with(conditions, bound), projection={"_id": True})
        return found is not None

    ranged = range_bound(probe.sort, probe.keyset, side=probe.side, inclusive=True)
    if ranged is None:
        return await any_of(bound_query(probe.sort, probe.keyset, side=probe.side, inclusive=True))
    return await any_of(ranged.ties) or await any_of(ranged.past)


async def count_by_status(
    owner_ids: list[PydanticObjectId],
) -> dict[PydanticObjectId, StatusCounts]:
    """Every owner's tasks per status, in one aggregation; owners without tasks get zeros."""
    pipeline: list[dict[str, Any]] = [
        {"$match": {"owner_id": {"$in": owner_ids}}},
        {"$group": {"_id": {"owner": "$owner_id", "status": "$status"}, "n": {"$sum": 1}}},
    ]
    cursor = await TaskDocument.get_pymongo_collection().aggregate(pipeline)
    per_owner: dict[PydanticObjectId, dict[str, int]] = {owner: {} for owner in owner_ids}
    async for row in cursor:
        owner = PydanticObjectId(row["_id"]["owner"])
        per_owner.setdefault(owner, {})[str(row["_id"]["status"])] = int(row["n"])
    return {
        owner: StatusCounts(
            todo=counts.get("TODO", 0),
            in_progress=counts.get("IN_PROGRESS", 0),
            done=counts.get("DONE", 0),
        )
        for owner, counts in per_owner.items()
    }
