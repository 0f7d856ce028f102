"""Demo values as the raw documents the app itself stores, for a bulk insert.

Beanie's `insert_many` runs no event actions and validating 100,000 models costs seconds, so
the loader writes plain dicts. They must be exactly what `models.user.create_user` and
`models.task_writes.insert_task` (plus `edits` calls of `update_task`) leave in MongoDB:
the derived sort keys come from the models' own helpers, optional values are absent rather
than null (both documents use `keep_nulls = False`), and a test compares the two field by field.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from models.task import PRIORITY_RANK, title_key
from seed.generate import DemoTask, DemoUser


def user_document(user: DemoUser, *, password_hash: str) -> dict[str, Any]:
    return {
        "email": user.email,
        "password_hash": password_hash,
        "name": user.name,
        "tier": "user",
        "created_at": user.created_at,
        "password_changed_at": user.created_at,
    }


def task_document(task: DemoTask, *, owner_id: ObjectId) -> dict[str, Any]:
    document: dict[str, Any] = {
        "owner_id": owner_id,
        "title": task.title,
        "title_key": title_key(task.title),
    }
    if task.description is not None:
        document["description"] = task.description
    document.update(
        status=task.status,
        priority=task.priority,
        priority_rank=PRIORITY_RANK[task.priority],
        tags=list(task.tags),
    )
    if task.due_at is not None:
        document["due_at"] = task.due_at
    document.update(
        due_missing=task.due_at is None,
        created_at=task.created_at,
        updated_at=task.updated_at,
        # A task starts at version 1 and every accepted update adds exactly 1.
        version=1 + task.edits,
    )
    return document
