"""Task writes with their events: the write and its entry in the owner's event log commit in
one transaction, so no process dying between the two can leave a change subscribers never see.

One owner's writes conflict in the store (each takes the owner's next event sequence), and a
conflicting transaction is rerun from the start: within a process they take turns instead
(storage/transactions.py), so only writes of one owner on different instances ever conflict.

Both collections are sharded by owner: when an owner's `tasks` and `task_events` chunks live
on one shard (zones over the same owner ranges, docs/OPERATIONS.md) the transaction is
single-shard; otherwise it costs a two-phase commit, never correctness.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from beanie import PydanticObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from models.task import TaskDocument
from models.task_event import TaskEventRecord, TaskEventTypeValue, append_event
from models.task_writes import (
    NewTask,
    TaskChanges,
    UpdateFailure,
    delete_task,
    insert_task,
    update_task,
)
from storage.transactions import Transactions


@dataclass(frozen=True)
class Committed:
    task: TaskDocument
    # None for a retried create: the first call logged it.
    event: TaskEventRecord | None


async def _logged(
    session: AsyncClientSession, task: TaskDocument, type: TaskEventTypeValue
) -> TaskEventRecord:
    assert task.id is not None
    return await append_event(
        owner_id=task.owner_id,
        type=type,
        task_id=task.id,
        task=task.model_dump(by_alias=True),
        at=task.updated_at,
        session=session,
    )


async def create_task(
    task: NewTask,
    *,
    idempotency_key: str | None,
    now: datetime,
    transactions: Transactions,
) -> Committed:
    """The new task and its CREATED event, or the task an earlier call with the key made."""

    async def work(session: AsyncClientSession) -> Committed:
        created = await insert_task(task, idempotency_key=idempotency_key, now=now, session=session)
        if not created.created:
            return Committed(task=created.task, event=None)
        return Committed(task=created.task, event=await _logged(session, created.task, "CREATED"))

    return await transactions.run(task.owner_id, work)


async def change_task(
    task_id: PydanticObjectId,
    *,
    owner_id: PydanticObjectId,
    changes: TaskChanges,
    expected_version: int | None,
    now: datetime,
    transactions: Transactions,
) -> Committed | UpdateFailure:
    """The changed task and its UPDATED event, or why nothing changed."""

    async def work(session: AsyncClientSession) -> Committed | UpdateFailure:
        outcome = await update_task(
            task_id,
            owner_id=owner_id,
            changes=changes,
            expected_version=expected_version,
            now=now,
            session=session,
        )
        if isinstance(outcome, UpdateFailure):
            return outcome
        return Committed(task=outcome, event=await _logged(session, outcome, "UPDATED"))

    return await transactions.run(owner_id, work)


async def remove_task(
    task_id: PydanticObjectId,
    *,
    owner_id: PydanticObjectId,
    now: datetime,
    transactions: Transactions,
) -> TaskEventRecord | None:
    """The DELETED event of the owner's task, now gone; None when there was no such task."""

    async def work(session: AsyncClientSession) -> TaskEventRecord | None:
        if not await delete_task(task_id, owner_id=owner_id, session=session):
            return None
        return await append_event(
            owner_id=owner_id, type="DELETED", task_id=task_id, task=None, at=now, session=session
        )

    return await transactions.run(owner_id, work)
