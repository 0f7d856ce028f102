"""The bulk loader: demo users, then their tasks in batches of unordered `insert_many`.

It writes straight to the collections the models are bound to (call `init_models` and
`ensure_indexes` first). A demo user whose email is already taken is skipped, tasks and all:
running the same seed twice adds nothing, and a real account that happens to have a demo
email is never touched. `remove_demo_users` deletes exactly the accounts a plan names (with
their tasks and refresh tokens), so a re-seed can start over.

Seeding bypasses the API, so it publishes no events and writes nothing through the cache;
the command retires the whole object cache afterwards (seed.command) when REDIS_URL is set.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from models.refresh_token import RefreshTokenDocument
from models.task import TaskDocument, TaskStatusValue
from models.user import UserDocument
from seed.documents import task_document, user_document
from seed.generate import STATUSES, DemoUser, SeedPlan, demo_tasks, demo_users

# Large enough that round trips do not dominate, small enough to keep memory flat.
TASK_BATCH = 5_000
# Bounds `$in` lists and insert batches of users.
USER_BATCH = 1_000
_DUPLICATE_KEY = 11000

Item = TypeVar("Item")


@dataclass(frozen=True)
class SeedResult:
    users_created: int
    users_skipped: int  # their email was taken already
    tasks_created: int
    tasks_by_status: dict[TaskStatusValue, int]


async def remove_demo_users(plan: SeedPlan) -> int:
    """Delete the plan's demo accounts with their tasks and refresh tokens; how many there were."""
    users = UserDocument.get_pymongo_collection()
    removed = 0
    for emails in _chunks([user.email for user in demo_users(plan)], size=USER_BATCH):
        found = users.find({"email": {"$in": emails}}, projection={"_id": True})
        ids = [document["_id"] async for document in found]
        if not ids:
            continue
        # Tasks and tokens first: an interrupted reset leaves no orphans behind a live user.
        await TaskDocument.get_pymongo_collection().delete_many({"owner_id": {"$in": ids}})
        tokens = RefreshTokenDocument.get_pymongo_collection()
        await tokens.delete_many({"user_id": {"$in": ids}})
        removed += (await users.delete_many({"_id": {"$in": ids}})).deleted_count
    return removed


async def load_demo_data(plan: SeedPlan, *, password_hash: str) -> SeedResult:
    """Insert the plan's users that do not exist yet, each with `plan.tasks_per_user` tasks."""
    candidates = demo_users(plan)
    owners: list[tuple[DemoUser, ObjectId]] = []
    for chunk in _chunks(candidates, size=USER_BATCH):
        owners.extend(await _insert_new_users(chunk, password_hash=password_hash))
    tasks_by_status: Counter[TaskStatusValue] = Counter()
    batches = _task_batches(plan, owners=owners, tally=tasks_by_status)
    tasks_created = await _insert_batches(TaskDocument.get_pymongo_collection(), batches)
    return SeedResult(
        users_created=len(owners),
        users_skipped=len(candidates) - len(owners),
        tasks_created=tasks_created,
        tasks_by_status={status: tasks_by_status[status] for status in STATUSES},
    )


async def _insert_new_users(
    users: Sequence[DemoUser], *, password_hash: str
) -> list[tuple[DemoUser, ObjectId]]:
    """Insert those whose email is free; the inserted ones with their new ids."""
    collection = UserDocument.get_pymongo_collection()
    emails = [user.email for user in users]
    found = collection.find({"email": {"$in": emails}}, projection={"email": True})
    taken = {document["email"] async for document in found}
    fresh = [user for user in users if user.email not in taken]
    if not fresh:
        return []
    documents = [user_document(user, password_hash=password_hash) for user in fresh]
    refused: set[int] = set()
    try:
        await collection.insert_many(documents, ordered=False)
    except BulkWriteError as error:
        # Someone registered one of these emails since the check above: skip it like the rest.
        errors = error.details.get("writeErrors", [])
        if any(failure.get("code") != _DUPLICATE_KEY for failure in errors):
            raise
        refused = {failure["index"] for failure in errors}
    # insert_many gives each document its `_id` before sending it.
    return [
        (user, document["_id"])
        for index, (user, document) in enumerate(zip(fresh, documents, strict=True))
        if index not in refused
    ]


def _task_batches(
    plan: SeedPlan, *, owners: Sequence[tuple[DemoUser, ObjectId]], tally: Counter[TaskStatusValue]
) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for user, owner_id in owners:
        for task in demo_tasks(plan, user=user):
            batch.append(task_document(task, owner_id=owner_id))
            tally[task.status] += 1
            if len(batch) == TASK_BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


async def _insert_batches(
    collection: AsyncCollection[dict[str, Any]], batches: Iterator[list[dict[str, Any]]]
) -> int:
    """Insert every batch; the next one is generated (in a thread) while this one is written,
    so generation and the database's work overlap instead of taking turns."""
    inserted = 0
    batch = await asyncio.to_thread(next, batches, None)
    while batch is not None:
        writing = asyncio.create_task(collection.insert_many(batch, ordered=False))
        try:
            batch = await asyncio.to_thread(next, batches, None)
        finally:
            # Never leave a write running unobserved, even when generation fails.
            result = await writing
        inserted += len(result.inserted_ids)
    return inserted


def _chunks(items: Sequence[Item], *, size: int) -> Iterator[list[Item]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
