"""Tasks: the root fields. Only the owner sees or changes a task; to anyone else it does not
exist (null for reads, NOT_FOUND for writes)."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry
from beanie import PydanticObjectId

from loaders.task import write_through_task
from models.task import TaskDocument
from models.task_commits import change_task, remove_task
from models.task_commits import create_task as create_document
from models.task_event import TaskEventRecord
from models.task_writes import UpdateFailure
from resolvers.task_changes import idempotency_key, new_task, task_changes
from schema.context import Info
from schema.errors import TaskqlError, not_found
from schema.node import decode_task_id, encode_global_id
from schema.scalars import to_utc_millis
from schema.task import (
    CreateTaskInput,
    Task,
    TaskConnection,
    TaskListArguments,
    UpdateTaskInput,
    task_connection,
)
from schema.task_inputs import given


def _now() -> datetime:
    return to_utc_millis(datetime.now(UTC))


async def visible_task(
    info: Info,
    owner_id: PydanticObjectId,
    task_id: PydanticObjectId,
    *,
    viewer_id: PydanticObjectId,
) -> Task | None:
    """The task if it exists and is the viewer's; None otherwise (the two look alike)."""
    if owner_id != viewer_id:
        return None
    document: TaskDocument | None = await info.context.loaders.tasks.load((owner_id, task_id))
    return None if document is None else Task.from_document(document)


async def task(info: Info, id: strawberry.ID) -> Task | None:
    viewer_id = info.context.require_viewer()
    owner_id, task_id = decode_task_id(id, field="id")
    return await visible_task(info, owner_id, task_id, viewer_id=viewer_id)


async def tasks(info: Info, arguments: TaskListArguments) -> TaskConnection:
    viewer_id = info.context.require_viewer()
    return await task_connection(info, owner_id=viewer_id, arguments=arguments)


async def _written(info: Info, document: TaskDocument, *, event: TaskEventRecord | None) -> Task:
    """MongoDB has the write and its event: now the cache (for every instance), the event's
    announcement (none for a retried create) and this request's loaders."""
    assert document.id is not None
    await write_through_task(info.context.cache, document)
    if event is not None:
        await info.context.events.announce(event)
    ref = (document.owner_id, document.id)
    info.context.loaders.tasks.clear(ref).prime(ref, document)
    info.context.loaders.forget_task_lists()
    return Task.from_document(document)


async def create_task(info: Info, input: CreateTaskInput) -> Task:
    viewer_id = info.context.require_viewer()
    values = new_task(input, owner_id=viewer_id)
    committed = await create_document(
        values,
        idempotency_key=idempotency_key(input),
        now=_now(),
        transactions=info.context.transactions,
    )
    return await _written(info, committed.task, event=committed.event)


async def update_task(info: Info, input: UpdateTaskInput) -> Task:
    viewer_id = info.context.require_viewer()
    owner_id, task_id = decode_task_id(input.id, field="input.id")
    changes = task_changes(input)
    if owner_id != viewer_id:
        raise not_found()
    await info.context.cache.task_changing(owner_id, task_id)
    outcome = await change_task(
        task_id,
        owner_id=viewer_id,
        changes=changes,
        expected_version=input.expected_version if given(input.expected_version) else None,
        now=_now(),
        transactions=info.context.transactions,
    )
    if outcome is UpdateFailure.NOT_FOUND:
        raise not_found()
    if outcome is UpdateFailure.VERSION_MISMATCH:
        raise TaskqlError(
            "CONFLICT",
            "The task changed since that version: read it again, then retry.",
            field="input.expectedVersion",
        )
    return await _written(info, outcome.task, event=outcome.event)


async def delete_task(info: Info, id: strawberry.ID) -> strawberry.ID:
    viewer_id = info.context.require_viewer()
    owner_id, task_id = decode_task_id(id, field="id")
    if owner_id != viewer_id:
        raise not_found()
    await info.context.cache.task_changing(owner_id, task_id)
    event = await remove_task(
        task_id, owner_id=viewer_id, now=_now(), transactions=info.context.transactions
    )
    if event is None:
        raise not_found()
    await info.context.cache.task_deleted(owner_id, task_id)
    await info.context.events.announce(event)
    ref = (owner_id, task_id)
    info.context.loaders.tasks.clear(ref).prime(ref, None)
    info.context.loaders.forget_task_lists()
    return encode_global_id("Task", owner_id, task_id)
