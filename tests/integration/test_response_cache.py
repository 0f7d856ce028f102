"""Whole-response caching through `schema.execute` on real Redis and the real database: a
repeated query skips execution, a write retires every response computed before it, and what
must not be kept (other operations, errors, `rateLimit`, anonymous callers) is not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from beanie import PydanticObjectId

from loaders.cache_keys import CacheKind, tombstone
from schema.extensions.response_cache import response_key
from tests.integration.schema_client import SchemaClient

LIST = "query($n: Int) { tasks(first: $n) { nodes { title version } totalCount } }"
CREATE = "mutation($t: String!) { createTask(input: {title: $t}) { id } }"
RENAME = "mutation($id: ID!, $t: String!) { updateTask(input: {id: $id, title: $t}) { version } }"


@pytest.fixture
async def client(graphql: SchemaClient) -> AsyncIterator[SchemaClient]:
    yield graphql
    await graphql.redis.delete(*(await graphql.redis.keys("tq:c*:*response*")) or ["none"])


def responses(client: SchemaClient, result: str) -> float:
    counter = client.metrics.cache_requests.labels(kind="response", result=result)
    return float(counter._value.get())


def list_reads(client: SchemaClient) -> float:
    counter = client.metrics.cache_requests
    return sum(
        float(counter.labels(kind="task_list", result=result)._value.get())
        for result in ("hit", "miss", "error")
    )


async def create(client: SchemaClient, owner: PydanticObjectId, title: str) -> str:
    created = await client.execute(CREATE, {"t": title}, viewer_id=owner)
    assert created.codes == []
    task_id: str = created.data["createTask"]["id"]
    return task_id


async def titles(client: SchemaClient, owner: PydanticObjectId, first: int = 10) -> Any:
    executed = await client.execute(LIST, {"n": first}, viewer_id=owner)
    assert executed.codes == []
    return executed.data["tasks"]


async def test_a_repeated_query_is_answered_without_executing(client: SchemaClient) -> None:
    owner = PydanticObjectId()
    await create(client, owner, "one")
    first = await client.execute(LIST, {"n": 10}, viewer_id=owner)
    reads = list_reads(client)
    second = await client.execute(LIST, {"n": 10}, viewer_id=owner)
    assert second.data == first.data
    assert responses(client, "hit") == 1
    assert list_reads(client) == reads  # no resolver ran
    # Priced and charged as when it executed.
    assert second.result.extensions is not None
    assert first.result.extensions is not None
    assert (
        second.result.extensions["cost"]["actualQueryCost"]
        == first.result.extensions["cost"]["actualQueryCost"]
    )


async def test_a_write_retires_the_responses_computed_before_it(client: SchemaClient) -> None:
    owner = PydanticObjectId()
    task_id = await create(client, owner, "before")
    assert (await titles(client, owner))["nodes"] == [{"title": "before", "version": 1}]

    renamed = await client.execute(RENAME, {"id": task_id, "t": "after"}, viewer_id=owner)
    assert renamed.codes == []
    assert (await titles(client, owner))["nodes"] == [{"title": "after", "version": 2}]

    await create(client, owner, "second")
    assert (await titles(client, owner))["totalCount"] == 2


async def test_variables_and_owners_have_entries_of_their_own(client: SchemaClient) -> None:
    owner, other = PydanticObjectId(), PydanticObjectId()
    for title in ("a", "b"):
        await create(client, owner, title)
    assert len((await titles(client, owner, first=1))["nodes"]) == 1
    assert len((await titles(client, owner, first=2))["nodes"]) == 2
    assert (await titles(client, other, first=2))["nodes"] == []
    assert responses(client, "hit") == 0


@pytest.mark.parametrize(
    "query",
    [
        "{ rateLimit { remaining } }",
        "{ me { id } rateLimit { remaining } }",
        '{ task(id: "not-an-id") { id } }',  # answered with an error
    ],
)
async def test_what_must_not_be_kept_is_executed_every_time(
    client: SchemaClient, query: str
) -> None:
    owner = PydanticObjectId()
    for _ in range(2):
        await client.execute(query, viewer_id=owner)
    assert responses(client, "hit") == 0


async def test_anonymous_callers_are_never_cached(client: SchemaClient) -> None:
    for _ in range(2):
        assert (await client.execute("{ me { id } }")).data == {"me": None}
    assert responses(client, "hit") + responses(client, "miss") == 0


async def test_a_response_computed_before_a_write_is_never_kept(client: SchemaClient) -> None:
    owner = PydanticObjectId()
    item = (owner, "digest")
    cache = client.cache
    payload, generation = await cache.owned_entry(CacheKind.RESPONSE, item, key_of=response_key)
    assert payload is None
    assert generation is not None
    # A write lands while the response is being computed...
    await cache.task_written(owner, PydanticObjectId(), tombstone())
    # ...so the response, computed from what was read before it, is refused.
    await cache.keep_owned_entry(
        CacheKind.RESPONSE, item, b"{}", generation=generation, key_of=response_key
    )
    assert (await cache.owned_entry(CacheKind.RESPONSE, item, key_of=response_key))[0] is None
    # Under the current generation it is kept.
    _, current = await cache.owned_entry(CacheKind.RESPONSE, item, key_of=response_key)
    assert current is not None
    await cache.keep_owned_entry(
        CacheKind.RESPONSE, item, b"{}", generation=current, key_of=response_key
    )
    assert (await cache.owned_entry(CacheKind.RESPONSE, item, key_of=response_key))[0] == b"{}"
