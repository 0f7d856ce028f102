"""The per-user log of task events: what subscriptions replay and resume from.

Each user's events carry an increasing sequence, allocated as the log's highest plus one and
claimed by the insert itself (a unique index on owner and sequence): a sequence is only ever
taken by an event that exists, and an event is visible only after every smaller one is.
A TTL index keeps 24 hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from beanie import Document, PydanticObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

TaskEventTypeValue = Literal["CREATED", "UPDATED", "DELETED"]
RETENTION = timedelta(hours=24)
_APPEND_ATTEMPTS = 50
REPLAY_PAGE = 500


class TaskEventDocument(Document):
    owner_id: PydanticObjectId
    seq: int
    type: TaskEventTypeValue
    task_id: PydanticObjectId
    # The task as stored after the change (its document's fields); None for DELETED.
    task: dict[str, Any] | None = None
    at: datetime

    class Settings:
        name = "task_events"
        indexes = [
            IndexModel(
                [("owner_id", ASCENDING), ("seq", ASCENDING)], name="owner_seq_unique", unique=True
            ),
            IndexModel(
                [("at", ASCENDING)],
                name="at_ttl",
                expireAfterSeconds=int(RETENTION.total_seconds()),
            ),
        ]


@dataclass(frozen=True)
class TaskEventRecord:
    owner_id: PydanticObjectId
    seq: int
    type: TaskEventTypeValue
    task_id: PydanticObjectId
    task: dict[str, Any] | None
    at: datetime


def _record(raw: dict[str, Any]) -> TaskEventRecord:
    return TaskEventRecord(
        owner_id=raw["owner_id"],
        seq=int(raw["seq"]),
        type=raw["type"],
        task_id=raw["task_id"],
        task=raw.get("task"),
        at=raw["at"],
    )


async def latest_seq(
    owner_id: PydanticObjectId, *, session: AsyncClientSession | None = None
) -> int:
    """The owner's highest sequence in the log (0 when it holds none)."""
    collection = TaskEventDocument.get_pymongo_collection()
    raw = await collection.find_one(
        {"owner_id": owner_id},
        sort=[("seq", DESCENDING)],
        projection={"seq": 1},
        session=session,
    )
    return int(raw["seq"]) if raw is not None else 0


async def append_event(
    *,
    owner_id: PydanticObjectId,
    type: TaskEventTypeValue,
    task_id: PydanticObjectId,
    task: dict[str, Any] | None,
    at: datetime,
    session: AsyncClientSession | None = None,
) -> TaskEventRecord:
    """Append to the owner's log; in the caller's transaction when given its `session` (where
    a sequence taken meanwhile aborts the transaction, whose rerun takes the next)."""
    collection = TaskEventDocument.get_pymongo_collection()
    for _ in range(_APPEND_ATTEMPTS):
        seq = await latest_seq(owner_id, session=session) + 1
        raw = {
            "owner_id": owner_id,
            "seq": seq,
            "type": type,
            "task_id": task_id,
            "task": task,
            "at": at,
        }
        try:
            await collection.insert_one(raw, session=session)
        except DuplicateKeyError:
            if session is not None:
                raise
            continue  # another write of this owner took the number: take the next
        return _record(raw)
    raise RuntimeError(f"could not append an event after {_APPEND_ATTEMPTS} attempts")


async def events_after(
    owner_id: PydanticObjectId, seq: int, *, limit: int = REPLAY_PAGE
) -> list[TaskEventRecord]:
    """The owner's events with a sequence above `seq`, in order, at most `limit`."""
    collection = TaskEventDocument.get_pymongo_collection()
    cursor = collection.find(
        {"owner_id": owner_id, "seq": {"$gt": seq}}, sort=[("seq", ASCENDING)], limit=limit
    )
    return [_record(raw) async for raw in cursor]


async def has_event(owner_id: PydanticObjectId, seq: int) -> bool:
    collection = TaskEventDocument.get_pymongo_collection()
    return await collection.find_one({"owner_id": owner_id, "seq": seq}, {"_id": 1}) is not None
