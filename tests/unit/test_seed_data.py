"""Demo data generation: deterministic per seed, within every input rule, and varied enough
to show off every status, priority, order and filter."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache

from bson import ObjectId

from auth.credentials import check_email, check_name
from models.task import PRIORITY_RANK, title_key
from schema.task_rules import check_description, normalise_tags, normalise_title
from seed.documents import task_document, user_document
from seed.generate import (
    PRIORITIES,
    STATUSES,
    DemoTask,
    SeedPlan,
    demo_email,
    demo_tasks,
    demo_user,
    demo_users,
)

NOW = datetime(2026, 5, 17, 14, 3, 27, 123_000, tzinfo=UTC)
PLAN = SeedPlan(users=20, tasks_per_user=100, now=NOW)


def generate(plan: SeedPlan) -> list[DemoTask]:
    return [task for user in demo_users(plan) for task in demo_tasks(plan, user=user)]


@cache
def everything() -> list[DemoTask]:
    """PLAN's tasks, generated once for the tests that only read them."""
    return generate(PLAN)


def test_the_same_seed_gives_the_same_data() -> None:
    assert demo_users(PLAN) == demo_users(replace(PLAN))
    assert generate(PLAN) == generate(replace(PLAN))


def test_another_seed_gives_other_data() -> None:
    other = replace(PLAN, random_seed=PLAN.random_seed + 1)
    assert [user.name for user in demo_users(other)] != [user.name for user in demo_users(PLAN)]
    assert generate(other) != everything()


def test_a_users_data_does_not_depend_on_how_many_are_seeded() -> None:
    small = replace(PLAN, users=3, tasks_per_user=10)
    third = demo_user(small, number=3)
    assert third == demo_users(PLAN)[2]
    assert list(demo_tasks(small, user=third)) == list(demo_tasks(PLAN, user=third))[:10]


def test_users_have_valid_normalised_emails_and_names() -> None:
    users = demo_users(replace(PLAN, email_prefix="team"))
    assert [user.email for user in users[:2]] == ["team-1@example.com", "team-2@example.com"]
    assert len({user.email for user in users}) == len(users)
    for user in users:
        assert check_email(user.email) == user.email
        assert check_name(user.name) == user.name
    assert demo_email(7, prefix="Demo") == "demo-7@example.com"


def test_every_value_obeys_the_input_rules() -> None:
    for task in everything():
        assert normalise_title(task.title, field="title") == task.title
        assert check_description(task.description, field="description") == task.description
        assert task.description != ""
        assert normalise_tags(task.tags, field="tags") == task.tags
        assert len(task.tags) <= 5
        assert task.status in STATUSES
        assert task.priority in PRIORITIES
        assert task.edits >= 0


def test_dates_are_utc_milliseconds_in_a_believable_order() -> None:
    users = {user.number: user for user in demo_users(PLAN)}
    for user in users.values():
        assert user.created_at < NOW - timedelta(days=180)
    for task in everything():
        for moment in (task.created_at, task.updated_at, task.due_at):
            if moment is not None:
                assert moment.tzinfo is UTC
                assert moment.microsecond % 1000 == 0
        assert NOW - timedelta(days=180) <= task.created_at <= task.updated_at <= NOW
        assert (task.updated_at == task.created_at) or task.edits > 0
        if task.due_at is not None:
            assert task.due_at > task.created_at


def test_the_data_covers_every_status_priority_and_shape() -> None:
    tasks = everything()
    statuses = Counter(task.status for task in tasks)
    assert set(statuses) == set(STATUSES)
    # Believable proportions: a real backlog, neither all done nor all open.
    assert all(0.15 < statuses[status] / len(tasks) < 0.55 for status in STATUSES)
    assert {task.priority for task in tasks} == set(PRIORITIES)
    assert {len(task.tags) for task in tasks} == {0, 1, 2, 3, 4, 5}
    assert any(task.due_at is None for task in tasks)
    assert any(task.due_at is not None and task.due_at < NOW for task in tasks)
    assert any(task.due_at is not None and task.due_at > NOW for task in tasks)
    assert any(task.description is None for task in tasks)
    assert any(task.description is not None and "\n\n" in task.description for task in tasks)
    assert max(len(task.description or "") for task in tasks) > 2_000
    assert any(task.edits == 0 for task in tasks)
    assert any(task.edits > 1 for task in tasks)


def test_titles_are_short_and_long_and_not_only_ascii() -> None:
    titles = {task.title for task in everything()}
    assert min(len(title) for title in titles) <= 3
    assert max(len(title) for title in titles) > 150
    assert len(titles) > 100
    assert any(not title.isascii() for title in titles)
    # Titles that only case folding orders right ("Straße" and "STRASSE" sort together).
    assert any(title_key(title) != title.lower() for title in titles)
    assert any(title[0].islower() for title in titles)


def test_documents_carry_the_derived_fields() -> None:
    owner = ObjectId()
    task = next(t for t in everything() if t.due_at is None and t.description is None)
    stored = task_document(task, owner_id=owner)
    assert "due_at" not in stored
    assert "description" not in stored
    assert stored["due_missing"] is True
    assert stored["title_key"] == title_key(task.title)
    assert stored["priority_rank"] == PRIORITY_RANK[task.priority]
    assert stored["version"] == 1 + task.edits
    dated = next(t for t in everything() if t.due_at is not None and t.description)
    stored = task_document(dated, owner_id=owner)
    assert (stored["due_at"], stored["due_missing"]) == (dated.due_at, False)
    assert stored["description"] == dated.description
    user = demo_users(PLAN)[0]
    stored_user = user_document(user, password_hash="hash")
    assert stored_user["password_changed_at"] == stored_user["created_at"] == user.created_at
