"""Create and update inputs as validated model values (pure: the rules, no I/O)."""

from __future__ import annotations

import strawberry
from beanie import PydanticObjectId

from models.task_writes import NewTask, TaskChanges
from schema.errors import bad_input
from schema.task import CreateTaskInput, UpdateTaskInput
from schema.task_inputs import given
from schema.task_rules import (
    check_description,
    check_idempotency_key,
    normalise_tags,
    normalise_title,
)

_NOT_NULL = ("title", "status", "priority", "tags")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def new_task(value: CreateTaskInput, *, owner_id: PydanticObjectId) -> NewTask:
    """The task to create; an explicit null status, priority or tags means the default."""
    return NewTask(
        owner_id=owner_id,
        title=normalise_title(value.title, field="input.title"),
        description=(
            check_description(value.description, field="input.description")
            if given(value.description)
            else None
        ),
        status=value.status.value if given(value.status) else "TODO",
        priority=value.priority.value if given(value.priority) else "MEDIUM",
        tags=normalise_tags(value.tags, field="input.tags") if given(value.tags) else (),
        due_at=value.due_at if given(value.due_at) else None,
    )


def idempotency_key(value: CreateTaskInput) -> str | None:
    if not given(value.idempotency_key):
        return None
    return check_idempotency_key(value.idempotency_key, field="input.idempotencyKey")


def task_changes(value: UpdateTaskInput) -> TaskChanges:
    """The fields to change: those given. Null clears description or dueAt, and is refused for
    the others; naming no field at all is refused too."""
    for name in _NOT_NULL:
        if getattr(value, name) is None:
            raise bad_input(f"input.{_camel(name)}", f"`{_camel(name)}` cannot be null.")
    changes: TaskChanges = {}
    if given(value.title):
        changes["title"] = normalise_title(value.title, field="input.title")
    if value.description is not strawberry.UNSET:
        changes["description"] = check_description(value.description, field="input.description")
    if given(value.status):
        changes["status"] = value.status.value
    if given(value.priority):
        changes["priority"] = value.priority.value
    if given(value.tags):
        changes["tags"] = list(normalise_tags(value.tags, field="input.tags"))
    if value.due_at is not strawberry.UNSET:
        changes["due_at"] = value.due_at
    if not changes:
        raise bad_input("input", "Name at least one field to change besides `id`.")
    return changes
