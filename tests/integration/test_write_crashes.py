"""A process dying in the middle of a write. Between the task's write and its event nothing is
committed (one transaction); after both, before the cache heard of it, readers still see the
write. tests/integration/test_write_kill.py kills a real process at the first point."""

from __future__ import annotations

from typing import Any

import pytest
from beanie import PydanticObjectId

import models.task_commits
import resolvers.task
from models.task import TaskDocument
from models.task_event import events_after
from tests.integration.schema_client import SchemaClient

CREATE = (
    "mutation($t: String!, $k: String) { createTask(input: {title: $t, idempotencyKey: $k}) "
    "{ id version } }"
)
UPDATE = (
    "mutation($id: ID!, $t: String!, $v: Int) { updateTask(input: {id: $id, title: $t, "
    "expectedVersion: $v}) { version } }"
)
READ = "query($id: ID!) { task(id: $id) { title version } }"
DELETE = "mutation($id: ID!) { deleteTask(id: $id) }"


class ProcessDied(Exception):  # noqa: N818 -- stands for the process's death
    pass


async def dies(*_: Any, **__: Any) -> None:
    raise ProcessDied


async def test_an_update_whose_process_died_before_the_cache_heard_is_still_read(
    graphql: SchemaClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = PydanticObjectId()
    created = await graphql.execute(CREATE, {"t": "first"}, viewer_id=owner)
    task_id = created.data["createTask"]["id"]
    assert (await graphql.execute(READ, {"id": task_id}, viewer_id=owner)).data == {
        "task": {"title": "first", "version": 1}
    }  # now cached

    with monkeypatch.context() as patched:
        patched.setattr(resolvers.task, "write_through_task", dies)
        died = await graphql.execute(
            UPDATE, {"id": task_id, "t": "second", "v": 1}, viewer_id=owner
        )
    assert died.codes == ["INTERNAL_SERVER_ERROR"]

    read = await graphql.execute(READ, {"id": task_id}, viewer_id=owner)
    assert read.data == {"task": {"title": "second", "version": 2}}
    again = await graphql.execute(UPDATE, {"id": task_id, "t": "third", "v": 2}, viewer_id=owner)
    assert again.data == {"updateTask": {"version": 3}}


async def test_a_create_that_dies_before_its_event_leaves_neither_and_its_retry_makes_both(
    graphql: SchemaClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = PydanticObjectId()
    variables = {"t": "once", "k": f"key-{PydanticObjectId()}"}

    with monkeypatch.context() as patched:
        patched.setattr(models.task_commits, "append_event", dies)
        died = await graphql.execute(CREATE, variables, viewer_id=owner)
    assert died.codes == ["INTERNAL_SERVER_ERROR"]
    assert await TaskDocument.find({"owner_id": owner}).count() == 0
    assert await events_after(owner, 0) == []

    retried = await graphql.execute(CREATE, variables, viewer_id=owner)
    assert retried.codes == []
    assert await TaskDocument.find({"owner_id": owner}).count() == 1
    logged = await events_after(owner, 0)
    assert [event.type for event in logged] == ["CREATED"]

    # Retried again: the same task, and no second event.
    again = await graphql.execute(CREATE, variables, viewer_id=owner)
    assert again.data == retried.data
    assert len(await events_after(owner, 0)) == 1


async def test_an_update_or_delete_that_dies_before_its_event_changes_nothing(
    graphql: SchemaClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = PydanticObjectId()
    created = await graphql.execute(CREATE, {"t": "kept"}, viewer_id=owner)
    task_id = created.data["createTask"]["id"]

    with monkeypatch.context() as patched:
        patched.setattr(models.task_commits, "append_event", dies)
        updated = await graphql.execute(
            UPDATE, {"id": task_id, "t": "changed", "v": 1}, viewer_id=owner
        )
        deleted = await graphql.execute(DELETE, {"id": task_id}, viewer_id=owner)
    assert updated.codes == deleted.codes == ["INTERNAL_SERVER_ERROR"]
    assert (await graphql.execute(READ, {"id": task_id}, viewer_id=owner)).data == {
        "task": {"title": "kept", "version": 1}
    }
    assert [event.type for event in await events_after(owner, 0)] == ["CREATED"]
