"""Task events as subscriptions deliver them."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from events.cursor import encode_cursor
from models.task import TaskDocument
from models.task_event import TaskEventRecord
from schema.node import encode_global_id
from schema.task import Task


@strawberry.enum(description="What happened to the task.")
class TaskEventType(Enum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"


@strawberry.type(description="One committed change of one of the signed-in user's tasks.")
class TaskEvent:
    type: TaskEventType = strawberry.field(description="Created, updated or deleted.")
    task_id: strawberry.ID = strawberry.field(description="The task's global id.")
    task: Task | None = strawberry.field(
        description="The task as it is after the change; null for DELETED."
    )
    cursor: str = strawberry.field(
        description="Opaque, increasing per user: pass it as `after` to resume without losing "
        "events (kept 24 hours)."
    )
    at: datetime = strawberry.field(description="When the change was committed.")

    @classmethod
    def from_record(cls, record: TaskEventRecord) -> TaskEvent:
        task = None
        if record.task is not None:
            task = Task.from_document(TaskDocument.model_validate(record.task))
        return cls(
            type=TaskEventType(record.type),
            task_id=encode_global_id("Task", record.owner_id, record.task_id),
            task=task,
            cursor=encode_cursor(record.seq),
            at=record.at,
        )
