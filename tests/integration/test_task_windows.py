"""Pages in the default order read as windows of creation time (models/task_windows.py):
whatever the process's hints say (none, learned, stale either way, tasks deleted since), every
page equals a Python sort of the owner's tasks, and a learned hint keeps the read to the page."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from beanie import PydanticObjectId

from models import task_windows
from models.task import TaskDocument
from models.task_query import Keyset, TaskFilterSpec, TaskPageQuery, TaskSort, keyset_of
from models.task_reads import find_task_page
from models.task_windows import EPOCH, WindowHints
from tests.integration.test_task_queries import _task, reference

BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
PAGE = 7


@pytest.fixture
async def owner(models_db: str) -> PydanticObjectId:
    """40 tasks an hour apart, but for 6 that share one instant (ties inside a window)."""
    rng = random.Random(11)
    me = PydanticObjectId()
    for index in range(40):
        task = _task(me, rng, index)
        task.created_at = BASE + timedelta(hours=20 if 20 <= index < 26 else index)
        await task.insert()
    await _task(PydanticObjectId(), rng, 0).insert()  # another owner's
    return me


@pytest.fixture
def hints(monkeypatch: pytest.MonkeyPatch) -> WindowHints:
    fresh = WindowHints()
    monkeypatch.setattr(task_windows, "HINTS", fresh)
    return fresh


async def walk(owner: PydanticObjectId) -> list[PydanticObjectId]:
    """Every page of PAGE tasks, newest first, checking has_more on the way."""
    seen: list[PydanticObjectId] = []
    after: Keyset | None = None
    while True:
        page = await find_task_page(
            TaskPageQuery(
                owner_id=owner, filter=TaskFilterSpec(), sort=TaskSort(), limit=PAGE, after=after
            )
        )
        seen += [d.id for d in page.documents if d.id is not None]
        if not page.has_more:
            return seen
        after = keyset_of(page.documents[-1], TaskSort())


async def expected(owner: PydanticObjectId) -> list[PydanticObjectId]:
    return reference(await TaskDocument.find({"owner_id": owner}).to_list(), TaskSort())


Stale = Callable[[WindowHints, PydanticObjectId], None]


def too_new(hints: WindowHints, owner: PydanticObjectId) -> None:
    key = (owner, PAGE + 1)
    hints.floors[key] = datetime.now(UTC) + timedelta(days=1)
    hints.spans[key] = timedelta(milliseconds=1)


def too_old(hints: WindowHints, owner: PydanticObjectId) -> None:
    key = (owner, PAGE + 1)
    hints.floors[key] = EPOCH + timedelta(days=1)
    hints.spans[key] = timedelta(days=3650)


@pytest.mark.parametrize("stale", [None, too_new, too_old], ids=["learned", "too-new", "too-old"])
async def test_every_page_is_exact_whatever_the_hints(
    owner: PydanticObjectId, hints: WindowHints, stale: Stale | None
) -> None:
    assert await walk(owner) == await expected(owner)  # no hints: learned on the way
    assert hints.floors
    assert hints.spans
    if stale is not None:
        stale(hints, owner)
    assert await walk(owner) == await expected(owner)


async def test_tasks_deleted_or_added_since_the_hint_change_nothing(
    owner: PydanticObjectId, hints: WindowHints, models_db: str
) -> None:
    await walk(owner)
    newest = await expected(owner)
    for task_id in newest[:4]:  # the learned first window now holds fewer than a page
        await TaskDocument.find_one({"_id": task_id}).delete()
    assert await walk(owner) == await expected(owner)
    rng = random.Random(5)
    for index in range(3):  # and more than a page
        task = _task(owner, rng, index)
        task.created_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=index)
        await task.insert()
    assert await walk(owner) == await expected(owner)


async def test_a_learned_hint_reads_about_one_page(
    owner: PydanticObjectId, hints: WindowHints, monkeypatch: pytest.MonkeyPatch
) -> None:
    await walk(owner)
    reads: list[dict[str, Any]] = []
    original = task_windows.read_newest

    async def recorded(read: Any, *args: Any, **kwargs: Any) -> Any:
        async def recording(*bounds: dict[str, Any], limit: int) -> list[dict[str, Any]]:
            reads.append(bounds[0]["created_at"])
            return await read(*bounds, limit=limit)

        return await original(recording, *args, **kwargs)

    monkeypatch.setattr("models.task_reads.read_newest", recorded)
    assert await walk(owner) == await expected(owner)
    # Six pages, each first read one window starting above 1970 (the learned floor or span);
    # a short window (after the tied instant, at the list's end) reads at most two more.
    firsts = [window for window in reads if "$gte" in window and "$lt" in window]
    assert reads[0]["$gte"] > EPOCH
    assert all(window["$gte"] > EPOCH for window in firsts)
    assert len(reads) <= 6 + 2 * 2
