"""Task writes: each one a single atomic MongoDB operation, conditional where it must be, and
part of the caller's transaction when given its `session` (models/task_commits.py).

Values arrive validated and normalised (titles trimmed, datetimes UTC at millisecond
precision); the derived sort keys (`title_key`, `priority_rank`, `due_missing`) are set here,
always in the same write as the values they follow.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict

from beanie import PydanticObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from models.task import (
    PRIORITY_RANK,
    TaskDocument,
    TaskPriorityValue,
    TaskStatusValue,
    parse_task,
    title_key,
)

IDEMPOTENCY_WINDOW = timedelta(hours=24)
# Each retry follows a concurrent change to the same key (a delete or an expiry): a handful
# is plenty, and the bound keeps a pathological loop from spinning.
_INSERT_ATTEMPTS = 5


@dataclass(frozen=True)
class NewTask:
    owner_id: PydanticObjectId
    title: str
    description: str | None = None
    status: TaskStatusValue = "TODO"
    priority: TaskPriorityValue = "MEDIUM"
    tags: tuple[str, ...] = ()
    due_at: datetime | None = None


@dataclass(frozen=True)
class Created:
    task: TaskDocument
    # False when an earlier call with the same idempotency key had created it.
    created: bool


class TaskChanges(TypedDict, total=False):
    """Fields to set; None clears description or dueAt."""

    title: str
    description: str | None
    status: TaskStatusValue
    priority: TaskPriorityValue
    tags: list[str]
    due_at: datetime | None


class UpdateFailure(enum.Enum):
    NOT_FOUND = "not_found"
    VERSION_MISMATCH = "version_mismatch"


def _document(task: NewTask, *, idempotency_key: str | None, now: datetime) -> TaskDocument:
    return TaskDocument(
        owner_id=task.owner_id,
        title=task.title,
        title_key=title_key(task.title),
        description=task.description,
        status=task.status,
        priority=task.priority,
        priority_rank=PRIORITY_RANK[task.priority],
        tags=list(task.tags),
        due_at=task.due_at,
        due_missing=task.due_at is None,
        created_at=now,
        updated_at=now,
        version=1,
        idempotency_key=idempotency_key,
    )


async def insert_task(
    task: NewTask,
    *,
    idempotency_key: str | None,
    now: datetime,
    session: AsyncClientSession | None = None,
) -> Created:
    """Insert a task, or return the one an earlier call with the same key created.

    The unique index on (owner, key) decides between racing calls: exactly one insert wins,
    the others read the winner. A key older than the window is released by unsetting it on
    its old task (only if still there), then the insert is tried again. In a transaction
    (`session`) a lost race aborts it: the transaction's rerun reads the winner.
    """
    collection = TaskDocument.get_pymongo_collection()
    for _ in range(_INSERT_ATTEMPTS):
        if idempotency_key is not None:
            earlier = await collection.find_one(
                {"owner_id": task.owner_id, "idempotency_key": idempotency_key}, session=session
            )
            if earlier is not None:
                if earlier["created_at"] > now - IDEMPOTENCY_WINDOW:
                    return Created(task=parse_task(earlier), created=False)
                await collection.update_one(
                    # The owner makes it a single-shard write on a cluster sharded by owner.
                    {
                        "_id": earlier["_id"],
                        "owner_id": task.owner_id,
                        "idempotency_key": idempotency_key,
                    },
                    {"$unset": {"idempotency_key": ""}},
                    session=session,
                )
        document = _document(task, idempotency_key=idempotency_key, now=now)
        try:
            await document.insert(session=session)
        except DuplicateKeyError:
            if idempotency_key is None or session is not None:
                raise
            continue  # a racing call took the key: read its task
        return Created(task=document, created=True)
    raise RuntimeError(f"idempotency key kept changing hands over {_INSERT_ATTEMPTS} attempts")


def update_document(changes: TaskChanges, *, now: datetime) -> dict[str, Any]:
    """The update operators for `changes`: values, their sort keys, a fresh updatedAt, and
    the version incremented by one."""
    assigned: dict[str, Any] = {"updated_at": now}
    cleared: dict[str, Any] = {}
    if "title" in changes:
        assigned["title"] = changes["title"]
        assigned["title_key"] = title_key(changes["title"])
    if "description" in changes:
        description = changes["description"]
        if description is None:
            cleared["description"] = ""
        else:
            assigned["description"] = description
    if "status" in changes:
        assigned["status"] = changes["status"]
    if "priority" in changes:
        assigned["priority"] = changes["priority"]
        assigned["priority_rank"] = PRIORITY_RANK[changes["priority"]]
    if "tags" in changes:
        assigned["tags"] = list(changes["tags"])
    if "due_at" in changes:
        due_at = changes["due_at"]
        assigned["due_missing"] = due_at is None
        if due_at is None:
            cleared["due_at"] = ""
        else:
            assigned["due_at"] = due_at
    update: dict[str, Any] = {"$set": assigned, "$inc": {"version": 1}}
    if cleared:
        update["$unset"] = cleared
    return update


async def update_task(
    task_id: PydanticObjectId,
    *,
    owner_id: PydanticObjectId,
    changes: TaskChanges,
    expected_version: int | None,
    now: datetime,
    session: AsyncClientSession | None = None,
) -> TaskDocument | UpdateFailure:
    """Apply `changes` in one conditional write: the owner's task, at `expected_version` when
    given. Nothing is read before the write, so no concurrent update can be lost."""
    condition: dict[str, Any] = {"_id": task_id, "owner_id": owner_id}
    if expected_version is not None:
        condition["version"] = expected_version
    collection = TaskDocument.get_pymongo_collection()
    raw = await collection.find_one_and_update(
        condition,
        update_document(changes, now=now),
        return_document=ReturnDocument.AFTER,
        session=session,
    )
    if raw is not None:
        return parse_task(raw)
    if expected_version is None:
        return UpdateFailure.NOT_FOUND
    # Only to name the failure: the write above already decided that nothing changes.
    exists = await collection.find_one(
        {"_id": task_id, "owner_id": owner_id}, projection={"_id": True}, session=session
    )
    return UpdateFailure.NOT_FOUND if exists is None else UpdateFailure.VERSION_MISMATCH


async def delete_task(
    task_id: PydanticObjectId,
    *,
    owner_id: PydanticObjectId,
    session: AsyncClientSession | None = None,
) -> bool:
    """True when the owner's task existed and is now gone."""
    result = await TaskDocument.get_pymongo_collection().delete_one(
        {"_id": task_id, "owner_id": owner_id}, session=session
    )
    return result.deleted_count == 1
