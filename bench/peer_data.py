"""The seeded data the Node peers serve from memory: some users and their tasks, read straight
from the bench database and written as the JSON file bench/peers/shared.mjs loads."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo import MongoClient

EPOCH = datetime(1970, 1, 1)  # PyMongo reads dates as naive UTC datetimes
MILLISECOND = timedelta(milliseconds=1)


def task_entry(document: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(document["_id"]),
        "title": document["title"],
        "status": document["status"],
        "created_ms": (document["created_at"] - EPOCH) // MILLISECOND,
    }


def export_users(*, mongodb_url: str, database: str, user_ids: Sequence[str], path: Path) -> int:
    """Writes the users' names and tasks to `path`; the number of tasks written."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_url)
    try:
        db = client[database]
        users = []
        for user_id in user_ids:
            owner = ObjectId(user_id)
            user = db["users"].find_one({"_id": owner})
            if user is None:
                raise RuntimeError(f"user {user_id} is not in {database}")
            tasks = [task_entry(task) for task in db["tasks"].find({"owner_id": owner})]
            users.append({"id": user_id, "name": user["name"], "tasks": tasks})
    finally:
        client.close()
    path.write_text(json.dumps({"users": users}), encoding="utf-8")
    return sum(len(user["tasks"]) for user in users)
