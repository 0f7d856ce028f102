"""Events on the wire between instances (the Redis doorbell carries the whole event)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from beanie import PydanticObjectId
from bson import ObjectId

from models.task_event import TaskEventRecord


def _default(value: Any) -> Any:
    if isinstance(value, ObjectId):
        return {"$oid": str(value)}
    raise TypeError(f"cannot encode {type(value).__name__}")


def _restore(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$oid"}:
            return PydanticObjectId(value["$oid"])
        if set(value) == {"$date"}:
            return datetime.fromisoformat(value["$date"])
        return {key: _restore(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_restore(item) for item in value]
    return value


def _dates(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$date": value.isoformat()}
    if isinstance(value, dict):
        return {key: _dates(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_dates(item) for item in value]
    return value


def encode_event(event: TaskEventRecord) -> bytes:
    return orjson.dumps(
        _dates(
            {
                "owner_id": event.owner_id,
                "seq": event.seq,
                "type": event.type,
                "task_id": event.task_id,
                "task": event.task,
                "at": event.at,
            }
        ),
        default=_default,
    )


def decode_event(raw: bytes | str) -> TaskEventRecord:
    value = _restore(orjson.loads(raw))
    return TaskEventRecord(
        owner_id=value["owner_id"],
        seq=int(value["seq"]),
        type=value["type"],
        task_id=value["task_id"],
        task=value["task"],
        at=value["at"],
    )
