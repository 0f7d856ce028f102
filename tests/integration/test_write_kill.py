"""A real process SIGKILLed between a task's write and its event (models/task_commits.py): the
store has the write, uncommitted, and never gets the event. Neither may ever be seen, and the
create's retry under the same idempotency key must still make exactly one task and one event.

A dead client's transaction keeps its keys until the store aborts it (after 60 s on mongod and
SecantusDB alike): the dead process's lease (storage/session_lease.py) lets a live one abort
it as soon as the lease lapses, and the write waiting behind it goes on, within its timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from beanie import PydanticObjectId
from bson import Binary
from pymongo.errors import OperationFailure

from models import bound_client
from models.task import TaskDocument
from models.task_commits import Committed, change_task, create_task
from models.task_event import events_after
from models.task_writes import NewTask
from storage.session_lease import SessionLease
from storage.transactions import Transactions

PROJECT = Path(__file__).resolve().parents[2]
# Recent: the event log's TTL index (24 h) would delete older events while a test runs.
NOW = datetime.now(UTC).replace(microsecond=0)

# Runs one commit in a child process that kills itself the moment the write is sent and the
# event is about to be: it prints the session's id first.
CHILD = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from datetime import UTC, datetime
    from beanie import PydanticObjectId
    import models.task_commits as commits
    from models import DOCUMENT_MODELS
    from models.task_writes import NewTask
    from storage.mongo import create_mongo_client, init_models
    from storage.session_lease import SessionLease
    from storage.transactions import Transactions

    async def killed(**arguments):
        print(arguments["session"].session_id["id"].hex(), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    async def main(url, database, operation, owner, target):
        client = create_mongo_client(url)
        await init_models(client, database=database, models=DOCUMENT_MODELS)
        lease = SessionLease(client[database])
        await lease.start()
        transactions = Transactions(client, lease=lease)
        commits.append_event = killed
        owner, now = PydanticObjectId(owner), datetime.now(UTC)
        if operation == "create":
            new = NewTask(owner_id=owner, title="never half-made")
            await commits.create_task(
                new, idempotency_key=target, now=now, transactions=transactions
            )
        elif operation == "update":
            await commits.change_task(
                PydanticObjectId(target), owner_id=owner, changes={"title": "never"},
                expected_version=1, now=now, transactions=transactions,
            )
        else:
            await commits.remove_task(
                PydanticObjectId(target), owner_id=owner, now=now, transactions=transactions
            )

    asyncio.run(main(*sys.argv[1:]))
    """
)


def killed_between_write_and_event(
    mongodb_url: str, database: str, operation: str, owner: PydanticObjectId, target: str
) -> bytes:
    """Run `operation` in a child killed between its two steps; the dead session's id."""
    child = subprocess.run(
        [sys.executable, "-c", CHILD, mongodb_url, database, operation, str(owner), target],
        cwd=PROJECT,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    return bytes.fromhex(child.stdout.decode().strip())


async def still_waiting(write: asyncio.Task[Any]) -> bool:
    """Whether `write` is still waiting on the dead transaction after a second (it goes on)."""
    done, _ = await asyncio.wait({write}, timeout=1.0)
    return not done


async def reap_the_dead(database: str, dead: bytes) -> None:
    """What every live instance does at each renewal, with a lease short enough for a test."""
    lease = SessionLease(bound_client()[database], lease_seconds=0.2)
    lapsed = await lease.leases.find_one({"sessions": Binary(dead, 4)})
    assert lapsed is not None  # the child named its session before its transaction
    await asyncio.sleep(0.3)  # past the short lease
    assert await lease.reap() == 1
    assert await lease.leases.find_one({"_id": lapsed["_id"]}) is None


@pytest.fixture
async def dead_sessions() -> AsyncIterator[list[bytes]]:
    """Sessions of killed children; whatever a failing test left open is aborted after it."""
    dead: list[bytes] = []
    yield dead
    if dead:
        with contextlib.suppress(OperationFailure):
            await bound_client().admin.command(
                "killSessions", [{"id": Binary(lsid, 4)} for lsid in dead]
            )


async def test_a_create_killed_before_its_event_leaves_neither_and_its_retry_makes_one(
    models_db: str, mongodb_url: str, transactions: Transactions, dead_sessions: list[bytes]
) -> None:
    owner, key = PydanticObjectId(), f"key-{PydanticObjectId()}"
    dead = killed_between_write_and_event(mongodb_url, models_db, "create", owner, key)
    dead_sessions.append(dead)
    assert await TaskDocument.find({"owner_id": owner}).count() == 0
    assert await events_after(owner, 0) == []

    new = NewTask(owner_id=owner, title="made once")
    retry = asyncio.create_task(
        create_task(new, idempotency_key=key, now=NOW, transactions=transactions)
    )
    try:
        assert await still_waiting(retry)
        await reap_the_dead(models_db, dead)
        first = await retry
    finally:
        retry.cancel()
    again = await create_task(new, idempotency_key=key, now=NOW, transactions=transactions)
    assert first.event is not None
    assert again.event is None
    assert again.task.id == first.task.id
    assert await TaskDocument.find({"owner_id": owner}).count() == 1
    assert [(e.type, e.task_id) for e in await events_after(owner, 0)] == [
        ("CREATED", first.task.id)
    ]


async def test_an_update_or_delete_killed_before_its_event_changes_nothing(
    models_db: str, mongodb_url: str, transactions: Transactions, dead_sessions: list[bytes]
) -> None:
    owner = PydanticObjectId()
    made = await create_task(
        NewTask(owner_id=owner, title="kept"),
        idempotency_key=None,
        now=NOW,
        transactions=transactions,
    )
    task_id = made.task.id
    assert task_id is not None

    title = "kept"
    for version, operation in enumerate(("update", "delete"), start=1):
        dead = killed_between_write_and_event(
            mongodb_url, models_db, operation, owner, str(task_id)
        )
        dead_sessions.append(dead)
        stored = await TaskDocument.get(task_id)
        assert stored is not None
        assert (stored.title, stored.version) == (title, version), operation
        assert len(await events_after(owner, 0)) == version, operation

        title = f"after the dead {operation}"
        rename = asyncio.create_task(
            change_task(
                task_id,
                owner_id=owner,
                changes={"title": title},
                expected_version=version,
                now=NOW,
                transactions=transactions,
            )
        )
        try:
            assert await still_waiting(rename), operation
            await reap_the_dead(models_db, dead)
            changed = await rename
        finally:
            rename.cancel()
        assert isinstance(changed, Committed), operation
        assert changed.task.version == version + 1

    assert [e.type for e in await events_after(owner, 0)] == ["CREATED", "UPDATED", "UPDATED"]
