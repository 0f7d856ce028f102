"""Task list reads: keyset pages, filtered totals, boundary probes and per-status counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from beanie import PydanticObjectId

from models.task import TaskDocument, task_from_storage
from models.task_query import (
    BoundaryProbe,
    TaskFilterSpec,
    TaskPageQuery,
    bound_query,
    filter_query,
    sort_spec,
)


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


def page_query(query: TaskPageQuery) -> dict[str, Any]:
    conditions = filter_query(query.owner_id, query.filter)
    bounds: list[dict[str, Any]] = []
    if query.after is not None:
        bounds.append(bound_query(query.sort, query.after, side="after", inclusive=False))
    if query.before is not None:
        bounds.append(bound_query(query.sort, query.before, side="before", inclusive=False))
    if bounds:
        conditions["$and"] = [*conditions.get("$and", []), *bounds]
    return conditions


async def find_task_page(query: TaskPageQuery) -> TaskPage:
    """One query, one more task than asked for: that one only tells whether more exist."""
    cursor = (
        TaskDocument.get_pymongo_collection()
        .find(page_query(query))
        .sort(sort_spec(query.sort, reverse=query.backward))
        .limit(query.limit + 1)
    )
    found = [task_from_storage(raw) async for raw in cursor]
    documents = found[: query.limit]
    if query.backward:
        documents.reverse()
    return TaskPage(documents=documents, has_more=len(found) > query.limit)


async def count_tasks(owner_id: PydanticObjectId, spec: TaskFilterSpec) -> int:
    return await TaskDocument.get_pymongo_collection().count_documents(filter_query(owner_id, spec))


async def task_beyond_exists(probe: BoundaryProbe) -> bool:
    conditions = filter_query(probe.owner_id, probe.filter)
    bound = bound_query(probe.sort, probe.keyset, side=probe.side, inclusive=True)
    conditions["$and"] = [*conditions.get("$and", []), bound]
    found = await TaskDocument.get_pymongo_collection().find_one(
        conditions, projection={"_id": True}
    )
    return found is not None


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
