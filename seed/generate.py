"""Demo data as plain values: pure, no I/O, deterministic.

Each user, and each user's task list, draws from a random stream of its own, named by the
run's seed and the user's number: the same seed and reference time always give the same
data, and one user's data does not depend on how many others are generated or skipped.
Every value already obeys the API's input rules (trimmed titles of 1-200 characters, at
most 20 distinct tags of 1-32 characters, descriptions of at most 10,000 characters), and
datetimes are UTC at millisecond precision, as MongoDB stores them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import get_args

from models.task import TaskPriorityValue, TaskStatusValue
from models.user import normalise_email
from schema.task_rules import DESCRIPTION_MAX, TITLE_MAX
from seed.vocabulary import (
    AREAS,
    FIRST_NAMES,
    GENERAL_TAGS,
    LAST_NAMES,
    SENTENCES,
    SHORT_TITLES,
    TITLE_QUALIFIERS,
    Area,
)

DEFAULT_RANDOM_SEED = 1
EMAIL_DOMAIN = "example.com"  # reserved for examples (RFC 2606): no mail reaches anyone
# Tasks are created over this window before the reference time; users joined before it.
HISTORY = timedelta(days=180)

STATUSES: tuple[TaskStatusValue, ...] = get_args(TaskStatusValue)
PRIORITIES: tuple[TaskPriorityValue, ...] = get_args(TaskPriorityValue)
PRIORITY_WEIGHTS = (25, 45, 22, 8)  # LOW, MEDIUM, HIGH, URGENT
TAG_COUNT_WEIGHTS = (25, 30, 22, 13, 6, 4)  # 0 to 5 tags
# Accepted updates after creation, per status: a task that moved on was edited to get there.
EDIT_CHANCE: dict[TaskStatusValue, float] = {"TODO": 0.25, "IN_PROGRESS": 0.85, "DONE": 0.9}
MAX_EDITS = 4


@dataclass(frozen=True)
class SeedPlan:
    """What to generate; `now` (UTC, milliseconds) anchors every date."""

    users: int
    tasks_per_user: int
    now: datetime
    random_seed: int = DEFAULT_RANDOM_SEED
    email_prefix: str = "demo"


@dataclass(frozen=True)
class DemoUser:
    number: int  # 1-based: demo-1@example.com is user 1
    email: str  # normalised, as the users collection keeps it
    name: str
    created_at: datetime


@dataclass(frozen=True)
class DemoTask:
    title: str
    description: str | None
    status: TaskStatusValue
    priority: TaskPriorityValue
    tags: tuple[str, ...]
    due_at: datetime | None
    created_at: datetime
    updated_at: datetime
    # Accepted updates since creation: the stored version is 1 + edits, as the API counts.
    edits: int


def demo_email(number: int, *, prefix: str) -> str:
    return normalise_email(f"{prefix}-{number}@{EMAIL_DOMAIN}")


def demo_users(plan: SeedPlan) -> list[DemoUser]:
    return [demo_user(plan, number=number) for number in range(1, plan.users + 1)]


def demo_user(plan: SeedPlan, *, number: int) -> DemoUser:
    rng = _stream(plan, number=number, purpose="user")
    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    joined = HISTORY + _millis(timedelta(days=rng.uniform(1, 200)))
    return DemoUser(
        number=number,
        email=demo_email(number, prefix=plan.email_prefix),
        name=name,
        created_at=plan.now - joined,
    )


def demo_tasks(plan: SeedPlan, *, user: DemoUser) -> Iterator[DemoTask]:
    """The user's tasks, one at a time (100,000 of them need not sit in memory at once)."""
    rng = _stream(plan, number=user.number, purpose="tasks")
    for _ in range(plan.tasks_per_user):
        yield _task(rng, now=plan.now)


def _stream(plan: SeedPlan, *, number: int, purpose: str) -> random.Random:
    # A string seed is hashed with SHA-512: stable across processes and Python versions,
    # unlike hash(). Demo data, not secrets: a cryptographic generator would only be slower.
    return random.Random(f"taskql-seed/{plan.random_seed}/{number}/{purpose}")  # noqa: S311


def _task(rng: random.Random, *, now: datetime) -> DemoTask:
    # Squaring skews ages towards the present: people create more than they finish.
    age = _millis(HISTORY * rng.random() ** 2)
    created_at = now - age
    status = _status(rng, age_fraction=age / HISTORY)
    area = rng.choice(AREAS)
    edits = rng.randint(1, MAX_EDITS) if rng.random() < EDIT_CHANCE[status] else 0
    updated_at = created_at + _millis((now - created_at) * rng.random()) if edits else created_at
    return DemoTask(
        title=_title(rng, area=area),
        description=_description(rng),
        status=status,
        priority=rng.choices(PRIORITIES, weights=PRIORITY_WEIGHTS)[0],
        tags=_tags(rng, area=area),
        due_at=_due_at(rng, created_at=created_at),
        created_at=created_at,
        updated_at=updated_at,
        edits=edits,
    )


def _status(rng: random.Random, *, age_fraction: float) -> TaskStatusValue:
    # Old tasks are mostly done; this week's mostly still to do.
    weights = (0.55 - 0.35 * age_fraction, 0.25 - 0.10 * age_fraction, 0.20 + 0.45 * age_fraction)
    return rng.choices(STATUSES, weights=weights)[0]


def _title(rng: random.Random, *, area: Area) -> str:
    roll = rng.random()
    if roll < 0.12:
        return rng.choice(SHORT_TITLES)
    title = rng.choice(area.titles)
    if roll < 0.85:
        return f"{title} {rng.choice(TITLE_QUALIFIERS)}" if rng.random() < 0.25 else title
    details = " ".join(rng.sample(SENTENCES, rng.randint(1, 4)))
    return _clip_words(f"{title} — {details}", limit=TITLE_MAX)


def _clip_words(text: str, *, limit: int) -> str:
    """At most `limit` characters, cut between words, with no trailing space."""
    if len(text) <= limit:
        return text
    return text[: limit + 1].rsplit(" ", 1)[0].rstrip(" ,;:—")


def _tags(rng: random.Random, *, area: Area) -> tuple[str, ...]:
    count = rng.choices(range(len(TAG_COUNT_WEIGHTS)), weights=TAG_COUNT_WEIGHTS)[0]
    general = 1 if count and rng.random() < 0.25 else 0
    specific = min(count - general, len(area.tags))
    # The two pools share no tag, so the result has no duplicates.
    return (*rng.sample(area.tags, specific), *rng.sample(GENERAL_TAGS, general))


def _description(rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.55:
        return None
    if roll < 0.90:
        return " ".join(rng.sample(SENTENCES, rng.randint(1, 3)))
    if roll < 0.99:
        count = rng.randint(2, 5)
        return "\n\n".join(" ".join(rng.sample(SENTENCES, rng.randint(2, 4))) for _ in range(count))
    return _checklist(rng, length=rng.randint(2_000, 12_000))


def _checklist(rng: random.Random, *, length: int) -> str:
    """A long markdown checklist; some run into the 10,000-character limit and stop there."""
    lines: list[str] = []
    size = 0
    while size < length:
        line = f"- [{rng.choice(' x')}] {rng.choice(SENTENCES)}"
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)[:DESCRIPTION_MAX]


def _due_at(rng: random.Random, *, created_at: datetime) -> datetime | None:
    if rng.random() < 0.35:
        return None
    days = rng.choice((1, 1, 2, 3, 5, 7, 7, 10, 14, 14, 21, 30, 45, 60, 90))
    day = created_at + timedelta(days=days)
    # People pick round times: first thing, noon, end of the working day, just before midnight.
    hour, minute = rng.choice(((9, 0), (12, 0), (17, 0), (17, 0), (17, 30), (23, 59)))
    return day.replace(hour=hour, minute=minute, second=0, microsecond=0)


def _millis(delta: timedelta) -> timedelta:
    return timedelta(milliseconds=delta // timedelta(milliseconds=1))
