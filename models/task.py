"""Tasks. Every query names its owner: `owner_id` is the shard key at scale.

Sort helpers are stored beside the values they order, because the same queries must run on
MongoDB and on embedded SecantusDB (no collations, no computed sorts):
`title_key` (lower-cased title), `priority_rank` (LOW=0 … URGENT=3) and `due_missing`
(so tasks without a due date come last in both directions).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from beanie import Document, PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel

TaskStatusValue = Literal["TODO", "IN_PROGRESS", "DONE"]
TaskPriorityValue = Literal["LOW", "MEDIUM", "HIGH", "URGENT"]
PRIORITY_RANK: dict[str, int] = {"LOW": 0, "MEDIUM": 1, "HIGH": 2, "URGENT": 3}


def title_key(title: str) -> str:
    """The key TITLE sorts by: case folded (stronger than lower-casing: "Straße" = "STRASSE")."""
    return title.casefold()


def _owner_then(*fields: tuple[str, int]) -> list[tuple[str, int]]:
    return [("owner_id", ASCENDING), *fields]


class TaskDocument(Document):
    owner_id: PydanticObjectId
    title: str
    title_key: str
    description: str | None = None
    status: TaskStatusValue = "TODO"
    priority: TaskPriorityValue = "MEDIUM"
    priority_rank: int = 1
    tags: list[str] = Field(default_factory=list)
    due_at: datetime | None = None
    due_missing: bool = True
    created_at: datetime
    updated_at: datetime
    version: int = 1
    idempotency_key: str | None = None

    class Settings:
        name = "tasks"
        # Absent, not null: the idempotency index is partial on the key existing.
        keep_nulls = False
        indexes = [
            IndexModel(
                _owner_then(("status", ASCENDING), ("created_at", DESCENDING)),
                name="owner_status_created",
            ),
            IndexModel(
                _owner_then(("created_at", ASCENDING), ("_id", ASCENDING)), name="by_created"
            ),
            IndexModel(
                _owner_then(("updated_at", ASCENDING), ("_id", ASCENDING)), name="by_updated"
            ),
            IndexModel(
                _owner_then(("priority_rank", ASCENDING), ("_id", ASCENDING)), name="by_priority"
            ),
            IndexModel(_owner_then(("title_key", ASCENDING), ("_id", ASCENDING)), name="by_title"),
            # Due dates sort with `due_missing` always ascending, so each direction needs its
            # own index; the descending one is in DIRECTION_INDEXES (Beanie would merge them).
            IndexModel(
                _owner_then(("due_missing", ASCENDING), ("due_at", ASCENDING), ("_id", ASCENDING)),
                name="by_due_asc",
            ),
            IndexModel(_owner_then(("tags", ASCENDING)), name="owner_tags"),
            IndexModel(
                _owner_then(("idempotency_key", ASCENDING)),
                name="owner_idempotency_unique",
                unique=True,
                partialFilterExpression={"idempotency_key": {"$exists": True}},
            ),
        ]


# Beanie merges declared indexes that share field names whatever their directions, so these
# are created by `ensure_direction_indexes` after Beanie's own.
DIRECTION_INDEXES = [
    IndexModel(
        _owner_then(("due_missing", ASCENDING), ("due_at", DESCENDING), ("_id", DESCENDING)),
        name="by_due_desc",
    ),
]


async def ensure_direction_indexes() -> None:
    await TaskDocument.get_pymongo_collection().create_indexes(DIRECTION_INDEXES)


def parse_task(raw: Mapping[str, Any]) -> TaskDocument:
    """A task from a raw PyMongo document (for reads and writes that bypass Beanie's layer)."""
    document: TaskDocument = TaskDocument.model_validate(raw)
    return document


_CACHED_DATES = ("created_at", "updated_at", "due_at")
_FIELDS = frozenset(TaskDocument.model_fields) - {"id"}
_DEFAULTS: dict[str, Any] = {
    name: field.get_default(call_default_factory=True)
    for name, field in TaskDocument.model_fields.items()
    if not field.is_required()
}
# A mutable default is made afresh per task, as pydantic does (a list must not be shared);
# the others are immutable and shared.
_FRESH = {
    name: type(value) for name, value in _DEFAULTS.items() if isinstance(value, list | dict | set)
}
_PRIVATE_DEFAULTS = {
    name: attribute.get_default() for name, attribute in TaskDocument.__private_attributes__.items()
}
assert not any(isinstance(value, list | dict | set) for value in _PRIVATE_DEFAULTS.values())


def task_from_cache(fields: dict[str, Any]) -> TaskDocument:
    """A task from the object cache's JSON (written from a validated document, so only its
    ids and dates need converting). Skips validation: a page of 50 decodes in a fraction of
    the time."""
    values = dict(fields)
    for name in _CACHED_DATES:
        if name in values:
            values[name] = datetime.fromisoformat(values[name])
    return task_from_storage(values)


def task_from_storage(raw: Mapping[str, Any]) -> TaskDocument:
    """A task as MongoDB returns it. Only this code writes tasks, validated, so reads skip
    validation (the driver already gives ObjectIds and timezone-aware datetimes).

    Built the way pydantic's `model_construct` builds a model, without its per-field work:
    a page of 50 tasks is read on every list request, and this takes a third of the time.
    """
    values = _DEFAULTS.copy()
    for name, kind in _FRESH.items():
        values[name] = kind()
    values.update((name, value) for name, value in raw.items() if name in _FIELDS)
    values["id"] = PydanticObjectId(raw["_id"])
    values["owner_id"] = PydanticObjectId(raw["owner_id"])
    document = TaskDocument.__new__(TaskDocument)
    object.__setattr__(document, "__dict__", values)
    object.__setattr__(document, "__pydantic_fields_set__", set(values))
    object.__setattr__(document, "__pydantic_extra__", None)
    object.__setattr__(document, "__pydantic_private__", _PRIVATE_DEFAULTS.copy())
    return document


def fields_of(task: TaskDocument) -> dict[str, Any]:
    """The task's values by field name, for hot read paths: Beanie's `LazyModel` sends every
    attribute read through a Python `__getattribute__` (a 50-task page makes 800 of them)."""
    values: dict[str, Any] = object.__getattribute__(task, "__dict__")
    return values


TaskRef = tuple[PydanticObjectId, PydanticObjectId]
"""A task's owner and id: every lookup names the owner, so at scale it reaches one shard."""


async def find_tasks(refs: list[TaskRef]) -> dict[TaskRef, TaskDocument]:
    """Tasks by owner and id in one query; missing ones (or another owner's) are absent."""
    by_owner: dict[PydanticObjectId, list[PydanticObjectId]] = {}
    for owner_id, task_id in refs:
        by_owner.setdefault(owner_id, []).append(task_id)
    # `_id` first: SecantusDB tries a filter's keys in the order written (the owner first reads
    # every task of the owner, 40 ms for 250, against 8 for the ids' lookups).
    clauses = [{"_id": {"$in": ids}, "owner_id": owner} for owner, ids in by_owner.items()]
    query = clauses[0] if len(clauses) == 1 else {"$or": clauses}
    found: dict[TaskRef, TaskDocument] = {}
    async for raw in TaskDocument.get_pymongo_collection().find(query):
        task = task_from_storage(raw)
        assert task.id is not None
        found[(task.owner_id, task.id)] = task
    return found
