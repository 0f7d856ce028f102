"""The seed loader against the session's MongoDB: what it stores is exactly what the app's own
writes store, the models' reads see it, and running it again adds nothing."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from beanie import PydanticObjectId
from bson import ObjectId

from auth.passwords import HASHER, verify_password
from models.refresh_token import RefreshTokenDocument, insert_token
from models.task import TaskDocument
from models.task_query import TaskFilterSpec, TaskPageQuery, TaskSort
from models.task_reads import count_by_status, count_tasks, find_task_page
from models.task_writes import NewTask, insert_task, update_task
from models.user import UserDocument, create_user, find_user_by_email
from seed.command import DEMO_PASSWORD
from seed.generate import DemoTask, DemoUser, SeedPlan, demo_tasks, demo_users
from seed.load import _insert_new_users, load_demo_data, remove_demo_users

NOW = datetime(2026, 5, 17, 14, 3, 27, 123_000, tzinfo=UTC)
PLAN = SeedPlan(users=3, tasks_per_user=30, now=NOW)


@cache
def password_hash() -> str:
    # Hashing is slow on purpose: once per test session is enough.
    return HASHER.hash(DEMO_PASSWORD)


async def raw_tasks(owner_id: ObjectId) -> list[dict[str, Any]]:
    cursor = TaskDocument.get_pymongo_collection().find({"owner_id": owner_id}).sort("_id", 1)
    return [document async for document in cursor]


async def owner_of(user: DemoUser) -> PydanticObjectId:
    stored = await find_user_by_email(user.email)
    assert stored is not None
    assert stored.id is not None
    return stored.id


async def written_by_the_app(task: DemoTask, *, owner_id: PydanticObjectId) -> None:
    """The same task made the way the API makes it: created, then edited `edits` times."""
    new = NewTask(
        owner_id=owner_id,
        title=task.title,
        description=task.description,
        status=task.status,
        priority=task.priority,
        tags=task.tags,
        due_at=task.due_at,
    )
    created = await insert_task(new, idempotency_key=None, now=task.created_at)
    assert created.task.id is not None
    for _ in range(task.edits):
        await update_task(
            created.task.id,
            owner_id=owner_id,
            changes={"status": task.status},
            expected_version=None,
            now=task.updated_at,
        )


async def test_seeded_tasks_are_what_the_app_itself_writes(models_db: str) -> None:
    await load_demo_data(PLAN, password_hash=password_hash())
    first = demo_users(PLAN)[0]
    owner_id = await owner_of(first)
    expected = list(demo_tasks(PLAN, user=first))
    assert {task.edits > 0 for task in expected} == {True, False}
    assert {task.due_at is None for task in expected} == {True, False}
    assert {task.description is None for task in expected} == {True, False}
    twin = PydanticObjectId()
    for task in expected:
        await written_by_the_app(task, owner_id=twin)

    def comparable(document: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in document.items() if key not in ("_id", "owner_id")}

    seeded = [comparable(document) for document in await raw_tasks(owner_id)]
    assert seeded == [comparable(document) for document in await raw_tasks(twin)]


async def test_seeded_users_are_what_registration_writes(models_db: str) -> None:
    await load_demo_data(PLAN, password_hash=password_hash())
    user = demo_users(PLAN)[0]
    await create_user(
        "twin@example.com", password_hash=password_hash(), name=user.name, at=user.created_at
    )
    collection = UserDocument.get_pymongo_collection()
    seeded = await collection.find_one({"email": user.email}, projection={"_id": False})
    twin = await collection.find_one({"email": "twin@example.com"}, projection={"_id": False})
    assert seeded is not None
    assert twin is not None
    assert seeded == {**twin, "email": user.email}
    stored = await find_user_by_email("  DEMO-1@Example.COM ")
    assert stored is not None
    assert await verify_password(stored.password_hash, DEMO_PASSWORD)


async def test_the_models_reads_see_every_seeded_task(models_db: str) -> None:
    result = await load_demo_data(PLAN, password_hash=password_hash())
    assert (result.users_created, result.users_skipped, result.tasks_created) == (3, 0, 90)
    assert await UserDocument.count() == 3
    assert await TaskDocument.count() == 90
    everything: Counter[str] = Counter()
    for user in demo_users(PLAN):
        owner_id = await owner_of(user)
        expected = list(demo_tasks(PLAN, user=user))
        statuses = Counter(task.status for task in expected)
        everything.update(statuses)
        counts = (await count_by_status([owner_id]))[owner_id]
        assert (counts.todo, counts.in_progress, counts.done) == (
            statuses["TODO"],
            statuses["IN_PROGRESS"],
            statuses["DONE"],
        )
        assert await count_tasks(owner_id, TaskFilterSpec()) == 30
        tagged = TaskFilterSpec(tags=("work",))
        assert await count_tasks(owner_id, tagged) == sum("work" in t.tags for t in expected)
        page = await find_task_page(
            TaskPageQuery(owner_id=owner_id, filter=TaskFilterSpec(), sort=TaskSort(), limit=100)
        )
        read = [
            (d.title, d.description, d.status, d.priority, d.tags, d.due_at, d.version)
            for d in page.documents
        ]
        newest_first = sorted(expected, key=lambda task: task.created_at, reverse=True)
        assert read == [
            (t.title, t.description, t.status, t.priority, list(t.tags), t.due_at, 1 + t.edits)
            for t in newest_first
        ]
    assert result.tasks_by_status == dict(everything)


async def test_seeding_again_skips_existing_users_and_their_tasks(models_db: str) -> None:
    await load_demo_data(PLAN, password_hash=password_hash())
    again = await load_demo_data(PLAN, password_hash=password_hash())
    assert (again.users_created, again.users_skipped, again.tasks_created) == (0, 3, 0)
    more = await load_demo_data(
        SeedPlan(users=4, tasks_per_user=30, now=NOW), password_hash=password_hash()
    )
    assert (more.users_created, more.users_skipped, more.tasks_created) == (1, 3, 30)
    assert await TaskDocument.count() == 120


async def test_a_duplicate_email_within_a_batch_is_skipped(models_db: str) -> None:
    user = demo_users(PLAN)[0]
    inserted = await _insert_new_users([user, user], password_hash="hash")
    assert [demo for demo, _ in inserted] == [user]
    assert await UserDocument.count() == 1


async def test_reset_removes_only_the_plans_users_with_their_data(models_db: str) -> None:
    await load_demo_data(PLAN, password_hash=password_hash())
    owner_id = await owner_of(demo_users(PLAN)[0])
    # Live for a day from the real clock, so that no TTL sweep removes it first.
    live = datetime.now(UTC) + timedelta(days=1)
    await insert_token(
        "token-hash",
        family_id=PydanticObjectId(),
        user_id=owner_id,
        created_at=NOW,
        expires_at=live,
    )
    someone = await create_user("someone@example.com", password_hash="h", name="S", at=NOW)
    assert someone.id is not None
    await insert_task(NewTask(owner_id=someone.id, title="Mine"), idempotency_key=None, now=NOW)

    assert await remove_demo_users(SeedPlan(users=2, tasks_per_user=0, now=NOW)) == 2
    assert await UserDocument.count() == 2  # demo-3 and someone
    assert await TaskDocument.count() == 30 + 1
    assert await RefreshTokenDocument.count() == 0
    assert await remove_demo_users(PLAN) == 1
    assert await TaskDocument.find({"owner_id": someone.id}).count() == 1
