"""The whole-response cache on two real instances: a repeated read is answered from it, and a
write on the other instance is read right after it (no response computed before is served)."""

from __future__ import annotations

import pytest

from tests.e2e.api import Api, SignedInUser
from tests.e2e.server_process import ServerProcess
from tests.e2e.test_subscriptions import metric

pytestmark = pytest.mark.e2e

LIST = "{ tasks(first: 5) { nodes { title version } totalCount } }"
CREATE = "mutation($t: String!) { createTask(input: {title: $t}) { id } }"
RENAME = "mutation($id: ID!, $t: String!) { updateTask(input: {id: $id, title: $t}) { version } }"


async def page(api: Api, user: SignedInUser) -> object:
    reply = await api.post(LIST, headers=user.headers)
    assert reply.errors == []
    return reply.data["tasks"]


async def test_reads_are_cached_and_a_write_on_another_instance_is_read_right_after(
    api: Api, second_instance: ServerProcess
) -> None:
    other = Api(second_instance)
    user = await api.register()
    created = await api.post(CREATE, {"t": "first"}, headers=user.headers)
    task_id = created.data["createTask"]["id"]

    hits = await metric(api, "taskql_cache_requests_total", kind="response", result="hit")
    assert await page(api, user) == {"nodes": [{"title": "first", "version": 1}], "totalCount": 1}
    assert await page(api, user) == {"nodes": [{"title": "first", "version": 1}], "totalCount": 1}
    after = await metric(api, "taskql_cache_requests_total", kind="response", result="hit")
    assert after == hits + 1

    renamed = await other.post(RENAME, {"id": task_id, "t": "second"}, headers=user.headers)
    assert renamed.data == {"updateTask": {"version": 2}}
    assert await page(api, user) == {"nodes": [{"title": "second", "version": 2}], "totalCount": 1}
    await other.post(CREATE, {"t": "third"}, headers=user.headers)
    assert (await page(api, user))["totalCount"] == 2  # type: ignore[index]
    await other.close()
