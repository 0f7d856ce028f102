"""Task writes committed with their events (models/task_commits.py), under concurrency: racing
creates with one idempotency key, racing updates of one owner, each event's sequence taken once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from beanie import PydanticObjectId

from models.task import TaskDocument
from models.task_commits import Committed, change_task, create_task, remove_task
from models.task_event import events_after
from models.task_writes import NewTask
from storage.transactions import Transactions

# Recent: the event log's TTL index (24 h) would delete older events while a test runs.
NOW = datetime.now(UTC).replace(microsecond=0)


async def test_racing_creates_with_one_key_commit_one_task_and_one_event(
    transactions: Transactions,
) -> None:
    owner = PydanticObjectId()
    new = NewTask(owner_id=owner, title="once")
    results = await asyncio.gather(
        *(
            create_task(new, idempotency_key="k-1", now=NOW, transactions=transactions)
            for _ in range(12)
        )
    )
    assert len({result.task.id for result in results}) == 1
    assert sum(result.event is not None for result in results) == 1
    assert await TaskDocument.find({"owner_id": owner}).count() == 1
    assert [event.type for event in await events_after(owner, 0)] == ["CREATED"]


async def test_racing_writes_of_one_owner_each_commit_their_own_event_in_order(
    transactions: Transactions,
) -> None:
    owner = PydanticObjectId()
    made = await create_task(
        NewTask(owner_id=owner, title="t"), idempotency_key=None, now=NOW, transactions=transactions
    )
    task_id = made.task.id
    assert task_id is not None
    changed = await asyncio.gather(
        *(
            change_task(
                task_id,
                owner_id=owner,
                changes={"tags": [str(n)]},
                expected_version=None,
                now=NOW,
                transactions=transactions,
            )
            for n in range(12)
        ),
        *(
            create_task(
                NewTask(owner_id=owner, title=f"c{n}"),
                idempotency_key=None,
                now=NOW,
                transactions=transactions,
            )
            for n in range(6)
        ),
    )
    assert all(isinstance(result, Committed) for result in changed)
    events = await events_after(owner, 0)
    assert [event.seq for event in events] == list(range(1, 20))
    versions = [event.task["version"] for event in events if event.type == "UPDATED" and event.task]
    assert sorted(versions) == list(range(2, 14))
    # Each event carries the task as its own write left it.
    assert versions == sorted(versions)

    assert (
        await remove_task(task_id, owner_id=owner, now=NOW, transactions=transactions) is not None
    )
    assert await remove_task(task_id, owner_id=owner, now=NOW, transactions=transactions) is None
    assert [event.type for event in await events_after(owner, 19)] == ["DELETED"]
