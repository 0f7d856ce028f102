"""Task queries and writes against the session's MongoDB (real mongod or SecantusDB).

Keyset pages, walked forward and backward for every order and direction, must equal a Python
sort of the same tasks (ties and missing due dates included); filters, counts and the atomic
writes are checked the same way.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import pytest
from beanie import PydanticObjectId

from models.task import PRIORITY_RANK, TaskDocument, title_key
from models.task_query import (
    BoundaryProbe,
    Keyset,
    SortField,
    TaskFilterSpec,
    TaskPageQuery,
    TaskSort,
    keyset_of,
)
from models.task_reads import count_by_status, count_tasks, find_task_page, task_beyond_exists
from models.task_writes import (
    NewTask,
    UpdateFailure,
    delete_task,
    insert_task,
    update_task,
)

BASE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TITLES = ["apple", "Apple", "APPLE", "banana", "Cherry", "cherry pie", "ß-street", "STRASSE", "z"]
STATUSES: list[Any] = ["TODO", "IN_PROGRESS", "DONE"]
PRIORITIES: list[Any] = ["LOW", "MEDIUM", "HIGH", "URGENT"]


def _task(owner: PydanticObjectId, rng: random.Random, index: int) -> TaskDocument:
    title = rng.choice(TITLES)
    priority = rng.choice(PRIORITIES)
    # Few distinct instants: many ties on every key.
    due = None if index % 3 == 0 else BASE + timedelta(days=rng.randint(0, 3))
    created = BASE + timedelta(minutes=rng.randint(0, 4))
    return TaskDocument(
        owner_id=owner,
        title=title,
        title_key=title_key(title),
        status=rng.choice(STATUSES),
        priority=priority,
        priority_rank=PRIORITY_RANK[priority],
        tags=rng.sample(["a", "b", "c"], rng.randint(0, 3)),
        due_at=due,
        due_missing=due is None,
        created_at=created,
        updated_at=created + timedelta(seconds=rng.randint(0, 2)),
    )


@pytest.fixture
async def owner(models_db: str) -> PydanticObjectId:
    rng = random.Random(7)
    mine, other = PydanticObjectId(), PydanticObjectId()
    for index in range(40):
        await _task(mine, rng, index).insert()
    for index in range(5):
        await _task(other, rng, index).insert()
    return mine


async def _all(owner: PydanticObjectId) -> list[TaskDocument]:
    return await TaskDocument.find({"owner_id": owner}).to_list()


def reference(documents: list[TaskDocument], sort: TaskSort) -> list[PydanticObjectId]:
    """Python's order: the SDL's rules, written out independently of the query code."""
    reverse = sort.descending

    def ids(items: list[TaskDocument], key: Any) -> list[PydanticObjectId]:
        return [d.id for d in sorted(items, key=key, reverse=reverse) if d.id is not None]

    if sort.field == "DUE_AT":
        present = [d for d in documents if d.due_at is not None]
        missing = [d for d in documents if d.due_at is None]
        return ids(present, lambda d: (d.due_at, d.id)) + ids(missing, lambda d: d.id)
    attribute = {
        "CREATED_AT": "created_at",
        "UPDATED_AT": "updated_at",
        "PRIORITY": "priority_rank",
        "TITLE": "title_key",
    }[sort.field]
    return ids(documents, lambda d: (getattr(d, attribute), d.id))


SORTS = [
    TaskSort(field=field, descending=descending)
    for field in get_args(SortField)
    for descending in (False, True)
]


@pytest.mark.parametrize("sort", SORTS, ids=lambda s: f"{s.field}-{s.descending}")
async def test_keyset_pages_walk_the_whole_list_in_both_directions(
    owner: PydanticObjectId, sort: TaskSort
) -> None:
    expected = reference(await _all(owner), sort)
    spec = TaskFilterSpec()

    forward: list[PydanticObjectId] = []
    after: Keyset | None = None
    while True:
        page = await find_task_page(
            TaskPageQuery(owner_id=owner, filter=spec, sort=sort, limit=7, after=after)
        )
        forward += [d.id for d in page.documents if d.id is not None]
        assert page.has_more == (len(forward) < len(expected))
        if not page.has_more:
            break
        after = keyset_of(page.documents[-1], sort)
    assert forward == expected

    backward: list[PydanticObjectId] = []
    before: Keyset | None = None
    while True:
        page = await find_task_page(
            TaskPageQuery(
                owner_id=owner, filter=spec, sort=sort, limit=6, backward=True, before=before
            )
        )
        backward = [d.id for d in page.documents if d.id is not None] + backward
        assert page.has_more == (len(backward) < len(expected))
        if not page.has_more:
            break
        before = keyset_of(page.documents[0], sort)
    assert backward == expected


@pytest.mark.parametrize("sort", SORTS, ids=lambda s: f"{s.field}-{s.descending}")
async def test_pages_between_two_cursors_and_boundary_probes(
    owner: PydanticObjectId, sort: TaskSort
) -> None:
    documents = {d.id: d for d in await _all(owner)}
    expected = reference(list(documents.values()), sort)
    spec = TaskFilterSpec()
    low, high = keyset_of(documents[expected[10]], sort), keyset_of(documents[expected[20]], sort)
    window = await find_task_page(
        TaskPageQuery(owner_id=owner, filter=spec, sort=sort, limit=100, after=low, before=high)
    )
    assert [d.id for d in window.documents] == expected[11:20]
    assert not window.has_more

    def probe(keyset: Keyset, side: Any) -> BoundaryProbe:
        return BoundaryProbe(owner_id=owner, filter=spec, sort=sort, keyset=keyset, side=side)

    first = keyset_of(documents[expected[0]], sort)
    last = keyset_of(documents[expected[-1]], sort)
    assert await task_beyond_exists(probe(first, "before"))  # the task itself counts
    assert await task_beyond_exists(probe(last, "after"))
    gone = Keyset(value=first.value, id=PydanticObjectId("f" * 24 if sort.descending else "0" * 24))
    assert not await task_beyond_exists(probe(gone, "before"))


async def test_filters_combine_and_counts_follow_them(owner: PydanticObjectId) -> None:
    documents = await _all(owner)
    spec = TaskFilterSpec(
        statuses=("TODO", "DONE"),
        priorities=("HIGH", "URGENT", "LOW"),
        tags=("a",),
        due_after=BASE + timedelta(days=1),
        due_before=BASE + timedelta(days=3),
    )
    wanted = {
        d.id
        for d in documents
        if d.status in ("TODO", "DONE")
        and d.priority in ("HIGH", "URGENT", "LOW")
        and "a" in d.tags
        and d.due_at is not None
        and BASE + timedelta(days=1) <= d.due_at < BASE + timedelta(days=3)
    }
    assert wanted, "the fixture should give this filter something to find"
    page = await find_task_page(
        TaskPageQuery(owner_id=owner, filter=spec, sort=TaskSort(), limit=100)
    )
    assert {d.id for d in page.documents} == wanted
    assert await count_tasks(owner, spec) == len(wanted)
    assert await count_tasks(owner, TaskFilterSpec(statuses=())) == 0
    assert await count_tasks(owner, TaskFilterSpec()) == 40


async def test_search_is_a_literal_case_insensitive_substring(models_db: str) -> None:
    me = PydanticObjectId()
    titles = ["Fix a.b (urgent)?", "fix aXb urgent", "Price: $5 [net]*", "Ünïcode ÄRGER", "plain"]
    for title in titles:
        await insert_task(NewTask(owner_id=me, title=title), idempotency_key=None, now=BASE)
    await insert_task(
        NewTask(owner_id=me, title="other", description="see A.B (URGENT)? now"),
        idempotency_key=None,
        now=BASE,
    )
    await insert_task(
        NewTask(owner_id=PydanticObjectId(), title="fix a.b (urgent)?"),
        idempotency_key=None,
        now=BASE,
    )

    async def found(search: str) -> set[str]:
        page = await find_task_page(
            TaskPageQuery(
                owner_id=me, filter=TaskFilterSpec(search=search), sort=TaskSort(), limit=100
            )
        )
        return {d.title for d in page.documents}

    assert await found("a.b (urgent)?") == {"Fix a.b (urgent)?", "other"}
    assert await found("$5 [NET]*") == {"Price: $5 [net]*"}
    assert await found("äRGER") == {"Ünïcode ÄRGER"}
    assert await found(".*") == set()
    assert await found("\\") == set()


async def test_counts_by_status_in_one_aggregation(owner: PydanticObjectId) -> None:
    documents = await _all(owner)
    nobody = PydanticObjectId()
    counts = await count_by_status([owner, nobody])
    assert counts[owner].todo == sum(d.status == "TODO" for d in documents)
    assert counts[owner].in_progress == sum(d.status == "IN_PROGRESS" for d in documents)
    assert counts[owner].done == sum(d.status == "DONE" for d in documents)
    assert counts[owner].total == 40
    assert counts[nobody].total == 0


async def test_racing_creates_with_one_key_make_one_task(models_db: str) -> None:
    me = PydanticObjectId()
    new = NewTask(owner_id=me, title="once")
    results = await asyncio.gather(
        *(insert_task(new, idempotency_key="k-1", now=BASE) for _ in range(20))
    )
    assert len({r.task.id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert await TaskDocument.find({"owner_id": me}).count() == 1
    # The key is per user.
    theirs = await insert_task(
        NewTask(owner_id=PydanticObjectId(), title="once"), idempotency_key="k-1", now=BASE
    )
    assert theirs.created


async def test_an_idempotency_key_expires_after_24_hours(models_db: str) -> None:
    me = PydanticObjectId()
    new = NewTask(owner_id=me, title="daily")
    first = await insert_task(new, idempotency_key="day", now=BASE)
    within = await insert_task(new, idempotency_key="day", now=BASE + timedelta(hours=23))
    assert within.task.id == first.task.id
    assert not within.created
    later = await insert_task(new, idempotency_key="day", now=BASE + timedelta(hours=25))
    assert later.created
    assert later.task.id != first.task.id
    again = await insert_task(new, idempotency_key="day", now=BASE + timedelta(hours=26))
    assert again.task.id == later.task.id
    assert not again.created
    # A deleted task frees its key.
    assert later.task.id is not None
    assert await delete_task(later.task.id, owner_id=me)
    fresh = await insert_task(new, idempotency_key="day", now=BASE + timedelta(hours=27))
    assert fresh.created


async def test_updates_are_conditional_and_count_versions(models_db: str) -> None:
    me = PydanticObjectId()
    created = await insert_task(
        NewTask(owner_id=me, title="t", description="d", due_at=BASE),
        idempotency_key=None,
        now=BASE,
    )
    task_id = created.task.id
    assert task_id is not None
    later = BASE + timedelta(seconds=1)
    updated = await update_task(
        task_id,
        owner_id=me,
        changes={"title": "New Title", "description": None, "due_at": None, "priority": "URGENT"},
        expected_version=1,
        now=later,
    )
    assert isinstance(updated, TaskDocument)
    assert (updated.title, updated.title_key, updated.priority_rank) == (
        "New Title",
        "new title",
        3,
    )
    assert updated.description is None
    assert updated.due_at is None
    assert updated.due_missing
    assert updated.version == 2
    assert updated.updated_at == later
    assert updated.created_at == BASE
    stale = await update_task(
        task_id, owner_id=me, changes={"title": "x"}, expected_version=1, now=later
    )
    assert stale is UpdateFailure.VERSION_MISMATCH
    stranger = await update_task(
        task_id, owner_id=PydanticObjectId(), changes={"title": "x"}, expected_version=2, now=later
    )
    assert stranger is UpdateFailure.NOT_FOUND
    assert not await delete_task(task_id, owner_id=PydanticObjectId())

    results = await asyncio.gather(
        *(
            update_task(
                task_id, owner_id=me, changes={"tags": [str(n)]}, expected_version=None, now=later
            )
            for n in range(30)
        )
    )
    assert sorted(r.version for r in results if isinstance(r, TaskDocument)) == list(range(3, 33))
    stored = await TaskDocument.get(task_id)
    assert stored is not None
    assert stored.version == 32


@pytest.mark.parametrize("sort", SORTS, ids=lambda s: f"{s.field}-{s.descending}")
async def test_pages_from_the_far_end_of_a_cursor_and_from_a_deleted_task(
    owner: PydanticObjectId, sort: TaskSort
) -> None:
    """A page read from its far end (`after` with `last`, `before` with `first`), where the
    tasks that share the position's sort value come last in the read, and a position whose
    task was deleted meanwhile."""
    documents = {d.id: d for d in await _all(owner)}
    expected = reference(list(documents.values()), sort)
    spec = TaskFilterSpec()
    for index in (0, 2, 9, 17, 30, 37, 39):
        at = keyset_of(documents[expected[index]], sort)
        tail = await find_task_page(
            TaskPageQuery(owner_id=owner, filter=spec, sort=sort, limit=4, backward=True, after=at)
        )
        assert [d.id for d in tail.documents] == expected[index + 1 :][-4:], index
        head = await find_task_page(
            TaskPageQuery(owner_id=owner, filter=spec, sort=sort, limit=4, before=at)
        )
        assert [d.id for d in head.documents] == expected[:index][:4], index

    deleted = documents[expected[12]]
    position = keyset_of(deleted, sort)
    await deleted.delete()
    rest = [task_id for task_id in expected if task_id != deleted.id]
    page = await find_task_page(
        TaskPageQuery(owner_id=owner, filter=spec, sort=sort, limit=5, after=position)
    )
    assert [d.id for d in page.documents] == rest[12:17]
    page = await find_task_page(
        TaskPageQuery(
            owner_id=owner, filter=spec, sort=sort, limit=5, backward=True, before=position
        )
    )
    assert [d.id for d in page.documents] == rest[7:12]


async def test_a_page_read_from_its_far_end_through_many_ties_keeps_list_order(
    models_db: str,
) -> None:
    """More tasks share the position's priority than the page asks for: the exact parts are
    read (those beyond the priority, those at it beyond the id) and kept in list order."""
    me = PydanticObjectId()
    for priority, count in (("LOW", 2), ("MEDIUM", 10), ("HIGH", 2)):
        for index in range(count):
            await insert_task(
                NewTask(owner_id=me, title=f"{priority} {index}", priority=priority),
                idempotency_key=None,
                now=BASE,
            )
    sort, spec = TaskSort(field="PRIORITY"), TaskFilterSpec()
    documents = {d.id: d for d in await _all(me)}
    expected = reference(list(documents.values()), sort)

    after = keyset_of(documents[expected[8]], sort)
    tail = await find_task_page(
        TaskPageQuery(owner_id=me, filter=spec, sort=sort, limit=10, backward=True, after=after)
    )
    assert [d.id for d in tail.documents] == expected[9:]
    before = keyset_of(documents[expected[5]], sort)
    head = await find_task_page(
        TaskPageQuery(owner_id=me, filter=spec, sort=sort, limit=10, before=before)
    )
    assert [d.id for d in head.documents] == expected[:5]
