"""Queries over one websocket connection: each operation reads through fresh loaders, so a
long-lived connection never serves what an earlier operation read."""

from __future__ import annotations

import pytest
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from tests.e2e.api import Api

pytestmark = pytest.mark.e2e

TASK = "query($id: ID!) { task(id: $id) { title version } }"
COUNTS = "{ me { taskCounts { todo done } } }"


async def test_each_operation_on_a_connection_sees_the_latest_writes(api: Api) -> None:
    user = await api.register()
    created = await api.post(
        'mutation { createTask(input: {title: "first"}) { id } }', token=user.access_token
    )
    task_id = created.data["createTask"]["id"]
    transport = WebsocketsTransport(
        url=api.url.replace("http://", "ws://"),
        init_payload={"Authorization": f"Bearer {user.access_token}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    async with Client(transport=transport) as session:
        before = await session.execute(GraphQLRequest(TASK, variable_values={"id": task_id}))
        assert before == {"task": {"title": "first", "version": 1}}
        assert await session.execute(GraphQLRequest(COUNTS)) == {
            "me": {"taskCounts": {"todo": 1, "done": 0}}
        }
        changed = await api.post(
            'mutation($id: ID!) { updateTask(input: {id: $id, title: "second", status: DONE}) '
            "{ version } }",
            {"id": task_id},
            token=user.access_token,
        )
        assert changed.errors == []
        after = await session.execute(GraphQLRequest(TASK, variable_values={"id": task_id}))
        assert after == {"task": {"title": "second", "version": 2}}
        assert await session.execute(GraphQLRequest(COUNTS)) == {
            "me": {"taskCounts": {"todo": 0, "done": 1}}
        }
