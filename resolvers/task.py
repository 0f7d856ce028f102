"""Tasks: the root fields. Only the owner sees or changes a task; to anyone else it does not
exist (null for reads, NOT_FOUND for writes)."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry
from beanie import PydanticObjectId

from loaders.task import write_through_task
from models.task import TaskDocument
from models.task_event import TaskEventTypeValue, has_created_event
from models.task_writes import UpdateFailure, insert_task
from models.task_writes import delete_task as delete_document
from models.task_writes import update_task as update_document
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


async def _written(info: Info, document: TaskDocument, *, event: TaskEventTypeValue | None) -> Task:
    """MongoDB has the write: now the cache (for every instance), its event (none for a
    retried create) and this request's loaders."""
    assert document.id is not None
    await write_through_task(info.context.cache, document)
    if event is not None:
        await info.context.events.publish(
            type=event,
            owner_id=document.owner_id,
            task_id=document.id,
            task=document.model_dump(by_alias=True),
            at=document.updated_at,
        )
    ref = (document.owner_id, document.id)
    info.context.loaders.tasks.clear(ref).prime(ref, document)
    info.context.loaders.forget_task_lists()
    return Task.from_document(document)


async def create_task(info: Info, input: CreateTaskInput) -> Task:
    viewer_id = info.context.require_viewer()
    values = new_task(input, owner_id=viewer_id)
    key = idempotency_key(input)
    created = await insert_task(values, idempotency_key=key, now=_now())
    event: TaskEventTypeValue | None = "CREATED"
    if not created.created:
        # A retry returns the first call's task. That call logged the event, unless it died
        # between its insert and its event: then this one logs it.
        assert created.task.id is not None
        if await has_created_event(viewer_id, created.task.id):
            event = None
    return await _written(info, created.task, event=event)


async def update_task(info: Info, input: UpdateTaskInput) -> Task:
    viewer_id = info.context.require_viewer()
    owner_id, task_id = decode_task_id(input.id, field="input.id")
    changes = task_changes(input)
    if owner_id != viewer_id:
        raise not_found()
    await info.context.cache.task_changing(owner_id, task_id)
    outcome = await update_document(
        task_id,
        owner_id=viewer_id,
        changes=changes,
        expected_version=input.expected_version if given(input.expected_version) else None,
        now=_now(),
    )
    if outcome is UpdateFailure.NOT_FOUND:
        raise not_found()
    if outcome is UpdateFailure.VERSION_MISMATCH:
        raise TaskqlError(
            "CONFLICT",
            "The task changed since that version: read it again, then retry.",
            field="input.expectedVersion",
        )
    return await _written(info, outcome, event="UPDATED")


async def delete_task(info: Info, id: strawberry.ID) -> strawberry.ID:
    viewer_id = info.context.require_viewer()
    owner_id, task_id = decode_task_id(id, field="id")
    if owner_id != viewer_id:
        raise not_found()
    await info.context.cache.task_changing(owner_id, task_id)
    if not await delete_document(task_id, owner_id=viewer_id):
        raise not_found()
    await info.context.cache.task_deleted(owner_id, task_id)
    await info.context.events.publish(
        type="DELETED", owner_id=owner_id, task_id=task_id, task=None, at=_now()
    )
    ref = (owner_id, task_id)
    info.context.loaders.tasks.clear(ref).prime(ref, None)
    info.context.loaders.forget_task_lists()
    return encode_global_id("Task", owner_id, task_id)
