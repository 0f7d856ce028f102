"""A process dying in the middle of a write: after MongoDB has the write but before the cache
or the event log heard of it. Readers still see the write, and a retried create logs the event
the dead call could not."""

from __future__ import annotations

from typing import Any

import pytest
from beanie import PydanticObjectId

import resolvers.task
from events.bus import EventBus
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


class ProcessDied(Exception):  # noqa: N818 -- stands for the process's death
    pass


async def test_an_update_whose_process_died_before_the_cache_heard_is_still_read(
    graphql: SchemaClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = PydanticObjectId()
    created = await graphql.execute(CREATE, {"t": "first"}, viewer_id=owner)
    task_id = created.data["createTask"]["id"]
    assert (await graphql.execute(READ, {"id": task_id}, viewer_id=owner)).data == {
        "task": {"title": "first", "version": 1}
    }  # now cached

    async def dies(*_: Any, **__: Any) -> None:
        raise ProcessDied

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


async def test_a_retried_create_logs_the_event_its_dead_first_call_could_not(
    graphql: SchemaClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = PydanticObjectId()
    variables = {"t": "once", "k": f"key-{PydanticObjectId()}"}

    async def dies(*_: Any, **__: Any) -> None:
        raise ProcessDied

    with monkeypatch.context() as patched:
        patched.setattr(EventBus, "publish", dies)
        died = await graphql.execute(CREATE, variables, viewer_id=owner)
    assert died.codes == ["INTERNAL_SERVER_ERROR"]
    assert await events_after(owner, 0) == []

    retried = await graphql.execute(CREATE, variables, viewer_id=owner)
    assert retried.codes == []
    logged = await events_after(owner, 0)
    assert [event.type for event in logged] == ["CREATED"]

    # Retried again, with the event logged: nothing more.
    assert (await graphql.execute(CREATE, variables, viewer_id=owner)).codes == []
    assert len(await events_after(owner, 0)) == 1
