"""How cached values are written: compact JSON (orjson), read back into the same types."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from beanie import PydanticObjectId

from loaders.cache import Codec
from models.task import TaskDocument, task_from_cache
from models.task_reads import StatusCounts, TaskPage
from models.user import UserProfile


def _default(value: Any) -> Any:
    if isinstance(value, PydanticObjectId):
        return str(value)
    raise TypeError(f"cannot cache a {type(value).__name__}")


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default)


def _task_fields(task: TaskDocument) -> dict[str, Any]:
    fields: dict[str, Any] = task.model_dump(
        by_alias=True, exclude={"revision_id"}, exclude_none=True
    )
    return fields


def _encode_user(user: UserProfile) -> bytes:
    return _dumps([user.id, user.email, user.name, user.tier, user.created_at])


def _decode_user(raw: bytes) -> UserProfile:
    user_id, email, name, tier, created_at = orjson.loads(raw)
    return UserProfile(
        id=PydanticObjectId(user_id),
        email=email,
        name=name,
        tier=tier,
        created_at=datetime.fromisoformat(created_at),
    )


def _encode_page(page: TaskPage) -> bytes:
    # The count leads, so that a Lua script reads it without parsing the page
    # (transport/executed_lane.py).
    tasks = [_task_fields(task) for task in page.documents]
    return _dumps({"n": len(tasks), "tasks": tasks, "more": page.has_more})


def _decode_page(raw: bytes) -> TaskPage:
    value = orjson.loads(raw)
    documents = [task_from_cache(task) for task in value["tasks"]]
    return TaskPage(documents=documents, has_more=value["more"])


def _encode_counts(counts: StatusCounts) -> bytes:
    return _dumps([counts.todo, counts.in_progress, counts.done])


def _decode_counts(raw: bytes) -> StatusCounts:
    todo, in_progress, done = orjson.loads(raw)
    return StatusCounts(todo=todo, in_progress=in_progress, done=done)


USER = Codec(encode=_encode_user, decode=_decode_user)
TASK = Codec(
    encode=lambda task: _dumps(_task_fields(task)),
    decode=lambda raw: task_from_cache(orjson.loads(raw)),
)
TASK_PAGE = Codec(encode=_encode_page, decode=_decode_page)
COUNT = Codec(encode=lambda count: b"%d" % count, decode=int)
FLAG = Codec(encode=lambda flag: b"1" if flag else b"0", decode=lambda raw: raw == b"1")
STATUS_COUNTS = Codec(encode=_encode_counts, decode=_decode_counts)
