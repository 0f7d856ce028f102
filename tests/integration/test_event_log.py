"""The per-user event log on the real database: concurrent appends for one user take exactly
1..n (no duplicate, no hole), users number independently, `events_after` pages in order,
`has_event` answers per user and sequence, and the collection carries its unique and 24-hour
TTL indexes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from models.task_event import (
    REPLAY_PAGE,
    TaskEventDocument,
    TaskEventRecord,
    append_event,
    events_after,
    has_event,
    latest_seq,
)

pytestmark = pytest.mark.usefixtures("models_db")


async def append(owner: PydanticObjectId, title: str = "t") -> TaskEventRecord:
    task_id = PydanticObjectId()
    return await append_event(
        owner_id=owner,
        type="CREATED",
        task_id=task_id,
        task={"_id": task_id, "title": title},
        at=datetime.now(UTC),
    )


async def test_empty_log_has_latest_zero_and_nothing_after() -> None:
    owner = PydanticObjectId()
    assert await latest_seq(owner) == 0
    assert await events_after(owner, 0) == []
    assert not await has_event(owner, 0)
    assert not await has_event(owner, 1)


async def test_concurrent_appends_take_exactly_one_to_fifty() -> None:
    owner = PydanticObjectId()
    records = await asyncio.wait_for(
        asyncio.gather(*(append(owner, f"task {index}") for index in range(50))), 30
    )

    assert sorted(event.seq for event in records) == list(range(1, 51))
    stored = await events_after(owner, 0, limit=1_000)
    assert [event.seq for event in stored] == list(range(1, 51))
    # Each stored event is the one its append returned (no number reused by two writes).
    by_seq = {event.seq: event for event in records}
    for event in stored:
        assert event.task_id == by_seq[event.seq].task_id
        assert event.task == by_seq[event.seq].task
    assert await latest_seq(owner) == 50
    assert (
        await TaskEventDocument.get_pymongo_collection().count_documents({"owner_id": owner}) == 50
    )


async def test_owners_number_independently() -> None:
    first, second = PydanticObjectId(), PydanticObjectId()
    interleaved = await asyncio.gather(*(append(first if i % 2 else second) for i in range(20)))

    assert sorted(e.seq for e in interleaved if e.owner_id == first) == list(range(1, 11))
    assert sorted(e.seq for e in interleaved if e.owner_id == second) == list(range(1, 11))
    third = PydanticObjectId()
    assert (await append(third)).seq == 1
    assert await latest_seq(first) == 10
    assert all(event.owner_id == first for event in await events_after(first, 0))


async def test_events_after_pages_in_order() -> None:
    owner = PydanticObjectId()
    other = PydanticObjectId()
    for _ in range(25):
        await append(owner)
    await append(other)

    pages: list[list[int]] = []
    after = 0
    while True:
        page = await events_after(owner, after, limit=10)
        if not page:
            break
        pages.append([event.seq for event in page])
        after = page[-1].seq
    assert pages == [list(range(1, 11)), list(range(11, 21)), list(range(21, 26))]

    assert [event.seq for event in await events_after(owner, 24)] == [25]
    assert await events_after(owner, 25) == []
    assert [event.seq for event in await events_after(owner, 0)] == list(range(1, 26))
    assert REPLAY_PAGE >= 25  # the default page holds them all


async def test_events_after_returns_the_stored_fields() -> None:
    owner = PydanticObjectId()
    task_id = PydanticObjectId()
    # Recent (the TTL index keeps 24 h), and to the millisecond, as stored.
    at = datetime.now(UTC).replace(microsecond=123_000)
    await append_event(owner_id=owner, type="DELETED", task_id=task_id, task=None, at=at)
    [event] = await events_after(owner, 0)
    assert event == TaskEventRecord(
        owner_id=owner, seq=1, type="DELETED", task_id=task_id, task=None, at=at
    )


async def test_has_event_answers_per_owner_and_sequence() -> None:
    owner, other = PydanticObjectId(), PydanticObjectId()
    for _ in range(3):
        await append(owner)

    assert [await has_event(owner, seq) for seq in range(5)] == [False, True, True, True, False]
    assert not await has_event(other, 1)


async def test_a_taken_sequence_cannot_be_inserted_twice() -> None:
    owner = PydanticObjectId()
    await append(owner)
    collection = TaskEventDocument.get_pymongo_collection()
    with pytest.raises(DuplicateKeyError):
        await collection.insert_one(
            {
                "owner_id": owner,
                "seq": 1,
                "type": "CREATED",
                "task_id": PydanticObjectId(),
                "task": None,
                "at": datetime.now(UTC),
            }
        )


async def test_indexes_unique_sequence_and_24_hour_ttl() -> None:
    info = await TaskEventDocument.get_pymongo_collection().index_information()

    assert info["at_ttl"]["key"] == [("at", 1)]
    assert info["at_ttl"]["expireAfterSeconds"] == 86400
    assert info["owner_seq_unique"]["key"] == [("owner_id", 1), ("seq", 1)]
    assert info["owner_seq_unique"]["unique"] is True
