"""The QueryCost extension through `schema.execute` on a real Redis: structural limits, the
price charged before execution and refunded after, `extensions.cost` and the RateLimit headers
on every result, refusals that charge nothing, and `GraphQL-Cost: validate`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from beanie import PydanticObjectId
from graphql import get_introspection_query

from tests.integration.schema_client import SchemaClient

TIERS = {
    "anonymous": {"capacity": 100, "restore_rate": 0.001, "max_query": 100},
    "user": {"capacity": 60, "restore_rate": 0.001, "max_query": 50},
    "pro": {"capacity": 500, "restore_rate": 0.001, "max_query": 400},
}


@pytest.fixture
async def client(mongodb_url: str, models_db: str, redis_url: str) -> AsyncIterator[SchemaClient]:
    opened = SchemaClient.open(
        mongodb_url=mongodb_url, database=models_db, redis_url=redis_url, cost_tiers=TIERS
    )
    try:
        yield opened
    finally:
        await opened.redis.delete(*(await opened.redis.keys("tq:cost:*")) or ["none"])
        await opened.close()


def cost_of(result: Any) -> dict[str, Any]:
    extension: dict[str, Any] = result.result.extensions["cost"]
    return extension


def nested(depth: int) -> str:
    """A query `depth` levels deep, counting the root field as 1."""
    inner = "id"
    levels = depth - 1
    # me(1) -> tasks(2) -> nodes(3) -> owner(4) -> tasks(5) -> ... each hop is 1 level.
    hops = ["tasks(first: 1)", "nodes", "owner"]
    selection = inner
    for index in reversed(range(levels - 1)):
        selection = f"{hops[index % 3]} {{ {selection} }}"
    return f"{{ me {{ {selection} }} }}"


@pytest.mark.parametrize(("depth", "refused"), [(10, False), (11, True)])
async def test_depth_over_ten_is_too_complex(
    client: SchemaClient, depth: int, refused: bool
) -> None:
    viewer = PydanticObjectId()
    executed = await client.execute(nested(depth), viewer_id=viewer)
    assert ("QUERY_TOO_COMPLEX" in executed.codes) is refused
    if refused:
        assert executed.data is None
        assert cost_of(executed)["requestedQueryCost"] == 0
        assert cost_of(executed)["throttleStatus"]["currentlyAvailable"] == 60


@pytest.mark.parametrize(("per_fragment", "refused"), [(9, False), (10, True)])
async def test_aliases_are_counted_with_fragments_expanded(
    client: SchemaClient, per_fragment: int, refused: bool
) -> None:
    # Three aliased fields, each spreading the fragment: 3 + 3 x 9 = 30, or 3 + 3 x 10 = 33.
    aliases = " ".join(f"a{index}: id" for index in range(per_fragment))
    fields = "a: me { ...F } b: me { ...F } c: me { ...F }"
    query = f"{{ {fields} }} fragment F on User {{ {aliases} }}"
    executed = await client.execute(query)
    assert executed.codes == (["QUERY_TOO_COMPLEX"] if refused else [])


async def test_over_two_thousand_tokens_is_too_complex_not_a_syntax_error(
    client: SchemaClient,
) -> None:
    query = "{ " + " ".join("__typename" for _ in range(2_001)) + " }"
    executed = await client.execute(query)
    assert executed.codes == ["QUERY_TOO_COMPLEX"]
    assert "cost" in executed.result.extensions


async def test_introspection_is_allowed_but_its_own_nesting_is_bounded(
    client: SchemaClient,
) -> None:
    full = await client.execute(get_introspection_query())
    assert full.codes == []
    assert cost_of(full)["requestedQueryCost"] == 20
    looping = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
    assert set((await client.execute(looping)).codes) == {"QUERY_TOO_COMPLEX"}


async def test_the_price_is_charged_then_refunded_down_to_the_actual_cost(
    client: SchemaClient,
) -> None:
    viewer = PydanticObjectId()
    executed = await client.execute(
        "{ tasks(first: 10) { nodes { id owner { name } } } rateLimit { remaining cost } }",
        viewer_id=viewer,
    )
    assert executed.codes == []
    # Charged 22 before running: rateLimit saw the bucket then.
    assert executed.data["rateLimit"] == {"remaining": 38, "cost": 22}
    cost = cost_of(executed)
    assert (cost["requestedQueryCost"], cost["actualQueryCost"]) == (22, 2)
    assert cost["throttleStatus"]["currentlyAvailable"] == 58
    headers = executed.context.response_headers
    assert headers is not None
    assert headers["RateLimit-Policy"] == '"user";q=60;w=60000'
    assert headers["RateLimit"].startswith('"user";r=58;t=')


async def test_refusals_charge_nothing(client: SchemaClient) -> None:
    viewer = PydanticObjectId()
    too_costly = await client.execute("{ tasks(first: 60) { nodes { id } } }", viewer_id=viewer)
    assert too_costly.codes == ["MAX_COST_EXCEEDED"]
    assert too_costly.result.errors[0].extensions == {  # type: ignore[index]
        "code": "MAX_COST_EXCEEDED",
        "cost": 62,
        "maxCost": 50,
    }
    assert cost_of(too_costly)["throttleStatus"]["currentlyAvailable"] == 60

    create = 'mutation { createTask(input: {title: "x"}) { id } }'  # 11
    for _ in range(5):
        assert (await client.execute(create, viewer_id=viewer)).codes == []
    refused = await client.execute(create, viewer_id=viewer)
    assert refused.codes == ["THROTTLED"]
    assert refused.result.errors[0].extensions["retryAfter"] >= 1  # type: ignore[index]
    assert cost_of(refused)["throttleStatus"]["currentlyAvailable"] == 5
    counted = await client.execute("{ tasks(first: 0) { totalCount } }", viewer_id=viewer)
    assert counted.data == {"tasks": {"totalCount": 5}}
    assert client.metrics.ratelimit_throttled.labels(tier="user")._value.get() == 1


async def test_validate_prices_without_running_or_charging(client: SchemaClient) -> None:
    viewer = PydanticObjectId()
    executed = await client.execute(
        'mutation { createTask(input: {title: "never"}) { id owner { id } } }',
        viewer_id=viewer,
        headers={"GraphQL-Cost": "validate"},
    )
    assert executed.result.errors is None
    assert executed.data is None
    assert (cost_of(executed)["requestedQueryCost"], cost_of(executed)["actualQueryCost"]) == (
        12,
        0,
    )
    counted = await client.execute("{ tasks(first: 0) { totalCount } }", viewer_id=viewer)
    assert counted.data == {"tasks": {"totalCount": 0}}
    assert cost_of(counted)["throttleStatus"]["currentlyAvailable"] == 58  # only the count paid


async def test_the_tier_comes_from_the_signed_in_users_token(client: SchemaClient) -> None:
    pro = await client.execute(
        "{ rateLimit { limit } }", viewer_id=PydanticObjectId(), viewer_tier="pro"
    )
    assert pro.data == {"rateLimit": {"limit": 500}}
    assert cost_of(pro)["maximumQueryCost"] == 400
    anonymous = await client.execute("{ rateLimit { limit } }")
    assert anonymous.data == {"rateLimit": {"limit": 100}}
    unknown = await client.execute(
        "{ rateLimit { limit } }", viewer_id=PydanticObjectId(), viewer_tier="anonymous"
    )
    assert unknown.data == {"rateLimit": {"limit": 60}}


async def test_each_caller_has_a_bucket_of_its_own(client: SchemaClient) -> None:
    spender, other = PydanticObjectId(), PydanticObjectId()
    for _ in range(5):
        await client.execute(
            'mutation { createTask(input: {title: "x"}) { id } }', viewer_id=spender
        )
    untouched = await client.execute("{ rateLimit { remaining } }", viewer_id=other)
    assert untouched.data == {"rateLimit": {"remaining": 60}}
