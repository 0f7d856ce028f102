"""Compiled execution through `schema.execute`: covered queries run on their plan and answer
what graphql-core answers; the rest, and anything that meets an error, run on graphql-core;
verify mode refuses to answer when the two paths differ."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
from beanie import PydanticObjectId

from schema.compiled import runner
from tests.integration.schema_client import SchemaClient

LIST = (
    "query($n: Int) { tasks(first: $n) { edges { cursor node { id title status tags "
    "createdAt owner { id name } } } pageInfo { hasNextPage endCursor } totalCount } }"
)
CREATE = 'mutation($t: String!) { createTask(input: {title: $t, tags: ["a", "b"]}) { id } }'
REGISTER = "mutation($i: RegisterInput!) { register(input: $i) { user { id } } }"


@pytest.fixture
def mode() -> str:
    return "on"


@pytest.fixture
async def client(
    mongodb_url: str,
    models_db: str,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> AsyncIterator[SchemaClient]:
    monkeypatch.setenv("TASKQL_RESPONSE_CACHE", "0")  # every query executes
    monkeypatch.setenv("TASKQL_COMPILED_EXECUTION", mode)
    opened = SchemaClient.open(mongodb_url=mongodb_url, database=models_db, redis_url=redis_url)
    try:
        yield opened
    finally:
        await opened.close()


def paths(client: SchemaClient) -> dict[str, float]:
    counter = client.metrics.execution_paths
    return {
        path: float(counter.labels(path=path)._value.get())
        for path in ("compiled", "fallback", "graphql_core")
    }


async def user_with_tasks(client: SchemaClient, count: int) -> PydanticObjectId:
    email = f"{PydanticObjectId()}@example.test"
    reply = await client.execute(
        REGISTER, {"i": {"email": email, "password": "pw-long-enough-1", "name": "Plan"}}
    )
    assert reply.codes == []
    global_id: str = reply.data["register"]["user"]["id"]
    decoded = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
    owner = PydanticObjectId(decoded.partition(":")[2])
    for index in range(count):
        assert (await client.execute(CREATE, {"t": f"task {index}"}, viewer_id=owner)).codes == []
    return owner


async def test_a_covered_query_runs_on_its_plan(client: SchemaClient) -> None:
    owner = await user_with_tasks(client, 3)
    before = paths(client)
    executed = await client.execute(LIST, {"n": 2}, viewer_id=owner)
    assert executed.codes == []
    page = executed.data["tasks"]
    assert [edge["node"]["title"] for edge in page["edges"]] == ["task 2", "task 1"]
    assert page["edges"][0]["node"]["owner"]["name"] == "Plan"
    assert page["edges"][0]["node"]["tags"] == ["a", "b"]
    assert page["pageInfo"]["hasNextPage"] is True
    assert page["totalCount"] == 3
    after = paths(client)
    assert after["compiled"] == before["compiled"] + 1


@pytest.mark.parametrize("mode", ["verify"])
async def test_both_paths_answer_byte_for_byte_alike(client: SchemaClient) -> None:
    owner = await user_with_tasks(client, 4)
    queries = [
        (LIST, {"n": 3}),
        ("{ me { id name createdAt taskCounts { todo total } } }", {}),
        ("{ me { ...Me } } fragment Me on User { name tasks(first: 1) { nodes { title } } }", {}),
        ("{ a: tasks(first: 1) { nodes { title } } b: tasks(last: 1) { nodes { title } } }", {}),
        ("{ tasks { nodes { title @skip(if: true) id __typename } } }", {}),
    ]
    for query, variables in queries:
        executed = await client.execute(query, variables, viewer_id=owner)
        assert executed.codes == [], (query, executed.result.errors)
    assert paths(client)["compiled"] == len(queries)


async def test_errors_are_reported_by_graphql_core(client: SchemaClient) -> None:
    executed = await client.execute(
        '{ tasks(first: 1, after: "nonsense") { nodes { id } } }', viewer_id=PydanticObjectId()
    )
    assert executed.codes == ["BAD_USER_INPUT"]
    signed_out = await client.execute(LIST, {"n": 1})
    assert signed_out.codes == ["UNAUTHENTICATED"]
    assert paths(client)["fallback"] == 2


@pytest.mark.parametrize(
    "query",
    [
        '{ node(id: "VGFzazox") { id } }',  # an interface
        "query($s: Boolean!) { me { id @skip(if: $s) } }",  # a condition from a variable
        "{ __schema { queryType { name } } }",  # introspection
    ],
)
async def test_what_no_plan_covers_runs_on_graphql_core(client: SchemaClient, query: str) -> None:
    await client.execute(query, {"s": False}, viewer_id=PydanticObjectId())
    assert paths(client)["graphql_core"] == 1
    assert paths(client)["compiled"] == 0


@pytest.mark.parametrize("mode", ["verify"])
async def test_verify_mode_refuses_a_difference(
    client: SchemaClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = await user_with_tasks(client, 1)
    leaf = runner.PlanRunner._leaf

    def wrong(shape: Any, value: Any) -> Any:
        serialized = leaf(shape, value)
        return serialized + "!" if serialized == "task 0" else serialized

    monkeypatch.setattr(runner.PlanRunner, "_leaf", staticmethod(wrong))
    executed = await client.execute(LIST, {"n": 1}, viewer_id=owner)
    assert "INTERNAL_SERVER_ERROR" in executed.codes
