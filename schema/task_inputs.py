"""The input types of tasks, and how a list's filter and order become a model query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, TypeGuard, TypeVar

import strawberry

from models.task_query import TaskFilterSpec, TaskSort
from schema.task_enums import OrderDirection, TaskOrderField, TaskPriority, TaskStatus
from schema.task_rules import check_search, normalise_tags

_T = TypeVar("_T")


def given(value: _T | None) -> TypeGuard[_T]:
    """Neither omitted (UNSET) nor null."""
    return value is not None and value is not strawberry.UNSET


@strawberry.input(description="Conditions a task must all meet to be listed.")
class TaskFilter:
    status: list[TaskStatus] | None = strawberry.field(
        default=strawberry.UNSET, description="Any of these statuses."
    )
    priority: list[TaskPriority] | None = strawberry.field(
        default=strawberry.UNSET, description="Any of these priorities."
    )
    search: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="A case-insensitive substring of the title or the description, matched "
        "literally (never as a pattern).",
    )
    tags: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Tasks carrying all of these tags."
    )
    due_before: datetime | None = strawberry.field(
        default=strawberry.UNSET,
        description="Tasks due strictly before this instant; tasks without dueAt are left out.",
    )
    due_after: datetime | None = strawberry.field(
        default=strawberry.UNSET,
        description="Tasks due at or after this instant; tasks without dueAt are left out.",
    )

    def to_spec(self, *, field: str = "filter") -> TaskFilterSpec:
        search = check_search(self.search, field=f"{field}.search") if given(self.search) else None
        return TaskFilterSpec(
            statuses=(tuple(s.value for s in self.status) if given(self.status) else None),
            priorities=(tuple(p.value for p in self.priority) if given(self.priority) else None),
            tags=normalise_tags(self.tags, field=f"{field}.tags") if given(self.tags) else (),
            search=search or None,
            due_before=self.due_before if given(self.due_before) else None,
            due_after=self.due_after if given(self.due_after) else None,
        )


@strawberry.input(description="The order of a task list.")
class TaskOrder:
    field: TaskOrderField = strawberry.field(
        default=TaskOrderField.CREATED_AT, description="The value tasks are sorted by."
    )
    direction: OrderDirection = strawberry.field(
        default=OrderDirection.DESC, description="Ascending or descending."
    )

    def to_sort(self) -> TaskSort:
        return TaskSort(
            field=self.field.value,
            descending=self.direction is OrderDirection.DESC,
        )


# The arguments of every task connection (Query.tasks, User.tasks), described once.
FirstArgument = Annotated[
    int | None, strawberry.argument(description="Up to this many tasks (0 to 100).")
]
AfterArgument = Annotated[
    str | None, strawberry.argument(description="Only tasks after this cursor.")
]
LastArgument = Annotated[
    int | None,
    strawberry.argument(description="The last this many tasks (0 to 100); not with first."),
]
BeforeArgument = Annotated[
    str | None, strawberry.argument(description="Only tasks before this cursor.")
]
FilterArgument = Annotated[
    TaskFilter | None,
    strawberry.argument(description="Only tasks meeting all of these conditions."),
]
OrderArgument = Annotated[
    TaskOrder | None, strawberry.argument(description="The order; newest first when omitted.")
]


@dataclass(frozen=True)
class TaskListArguments:
    """The arguments of a task list field (`Query.tasks`, `User.tasks`); omitted ones are UNSET."""

    first: int | None
    after: str | None
    last: int | None
    before: str | None
    filter: TaskFilter | None
    order_by: TaskOrder | None


def filter_spec(value: TaskFilter | None) -> TaskFilterSpec:
    return value.to_spec() if given(value) else TaskFilterSpec()


def task_sort(value: TaskOrder | None) -> TaskSort:
    return value.to_sort() if given(value) else TaskSort()


@strawberry.input(description="A new task; only the title is required.")
class CreateTaskInput:
    idempotency_key: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="A retry with the same key (per user, within 24 hours) returns the task the "
        "first call created and creates nothing.",
    )
    title: str = strawberry.field(description="1 to 200 characters once trimmed.")
    description: str | None = strawberry.field(
        default=strawberry.UNSET, description="Free text, at most 10,000 characters."
    )
    status: TaskStatus | None = strawberry.field(
        default=TaskStatus.TODO, description="Where the task stands; null means the default."
    )
    priority: TaskPriority | None = strawberry.field(
        default=TaskPriority.MEDIUM, description="How pressing it is; null means the default."
    )
    tags: list[str] | None = strawberry.field(
        default_factory=list,
        description="At most 20 tags of 1 to 32 characters, trimmed; duplicates are dropped.",
    )
    due_at: datetime | None = strawberry.field(
        default=strawberry.UNSET, description="When the task is due."
    )


@strawberry.input(
    description="Only the fields given are changed; an explicit null clears description or dueAt."
)
class UpdateTaskInput:
    id: strawberry.ID = strawberry.field(description="The task to change.")
    expected_version: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="If given and not equal to the stored version, nothing is written and the "
        "error code is CONFLICT.",
    )
    title: str | None = strawberry.field(
        default=strawberry.UNSET, description="A new title (not null), 1 to 200 characters."
    )
    description: str | None = strawberry.field(
        default=strawberry.UNSET, description="A new description; null clears it."
    )
    status: TaskStatus | None = strawberry.field(
        default=strawberry.UNSET, description="A new status (not null)."
    )
    priority: TaskPriority | None = strawberry.field(
        default=strawberry.UNSET, description="A new priority (not null)."
    )
    tags: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="The new tags, replacing all (not null)."
    )
    due_at: datetime | None = strawberry.field(
        default=strawberry.UNSET, description="A new due date; null clears it."
    )
