"""Query cost through real servers on a real Redis: every response priced, budgets charged
before and refunded after, throttling with 429 and Retry-After, one budget shared by two
instances, callers kept apart, and a per-process bucket while Redis is down."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from pymongo import MongoClient

from schema.node import decode_global_id
from storage.embedded import start_redis
from tests.e2e.api import Api, Response, SignedInUser
from tests.e2e.server_process import PROJECT_ROOT, ServerProcess
from tests.e2e.test_metrics import scrape, total

pytestmark = pytest.mark.e2e

# Small budgets, slow to restore: a test drains one in a few requests and little comes back.
TIERS = {
    "anonymous": {"capacity": 40, "restore_rate": 1, "max_query": 40},
    "user": {"capacity": 60, "restore_rate": 1, "max_query": 50},
    "pro": {"capacity": 400, "restore_rate": 1, "max_query": 300},
}
CREATE = 'mutation { createTask(input: {title: "t"}) { id title } }'  # 11
COUNT = "{ tasks(first: 0) { totalCount } }"  # 2
BUDGET = "{ rateLimit { limit remaining cost restoreRate resetAt } }"  # 0
INTROSPECTION = "{ __schema { queryType { name } } }"  # 20


@dataclass
class Stack:
    """Two instances on one MongoDB database and one Redis."""

    first: Api
    second: Api
    mongodb_url: str
    database: str

    async def register(self, api: Api | None = None) -> SignedInUser:
        """A new user, signed up from an address of its own (sign-ups cost the anonymous tier)."""
        api = api or self.first
        return await api.register(name="Payer", headers={"X-Forwarded-For": fresh_address()})

    def stored_tasks(self, user: SignedInUser) -> int:
        _, (owner,) = decode_global_id(user.id)
        with MongoClient(self.mongodb_url) as client:
            return client[self.database]["tasks"].count_documents({"owner_id": owner})


def fresh_address() -> str:
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


def cost_env(*, mongodb_url: str, redis_url: str, database: str, secret: str) -> dict[str, str]:
    return {
        "MONGODB_URL": mongodb_url,
        "REDIS_URL": redis_url,
        "MONGODB_DB": database,
        "JWT_SECRET": secret,
        "TASKQL_TRUSTED_PROXIES": "127.0.0.1",
        "TASKQL_COST_TIERS": orjson.dumps(TIERS).decode(),
    }


@pytest.fixture(scope="module")
def servers(mongodb_url: str, redis_url: str) -> Iterator[tuple[ServerProcess, ServerProcess, str]]:
    database = f"taskql_cost_{uuid.uuid4().hex[:8]}"
    env = cost_env(
        mongodb_url=mongodb_url,
        redis_url=redis_url,
        database=database,
        secret=secrets.token_urlsafe(48),
    )
    with ServerProcess(env=dict(env)) as first, ServerProcess(env=dict(env)) as second:
        yield first, second, database
    with MongoClient(mongodb_url) as client:
        client.drop_database(database)


@pytest.fixture
async def stack(
    servers: tuple[ServerProcess, ServerProcess, str], mongodb_url: str
) -> AsyncIterator[Stack]:
    first, second, database = servers
    apis = Api(first), Api(second)
    try:
        yield Stack(*apis, mongodb_url=mongodb_url, database=database)
    finally:
        for api in apis:
            await api.close()


def cost(reply: Response) -> dict[str, Any]:
    extension: dict[str, Any] = reply.body["extensions"]["cost"]
    return extension


async def remaining(api: Api, user: SignedInUser) -> int:
    reply = await api.post(BUDGET, token=user.access_token)
    assert reply.errors == [], reply.errors
    left: int = reply.data["rateLimit"]["remaining"]
    return left


async def test_every_response_carries_its_cost_and_the_ratelimit_headers(stack: Stack) -> None:
    user = await stack.register()
    reply = await stack.first.post("{ tasks(first: 10) { nodes { id } } }", token=user.access_token)
    assert reply.errors == []
    assert cost(reply)["requestedQueryCost"] == 12
    assert cost(reply)["actualQueryCost"] == 2  # no tasks: refunded down to the connection
    assert cost(reply)["maximumQueryCost"] == 50
    status = cost(reply)["throttleStatus"]
    assert (status["maximumAvailable"], status["restoreRate"]) == (60, 1.0)
    assert 58 <= status["currentlyAvailable"] <= 60
    assert reply.headers["RateLimit-Policy"] == '"user";q=60;w=60'
    left = status["currentlyAvailable"]
    assert reply.headers["RateLimit"] in {f'"user";r={left};t={t}' for t in (1, 2, 3)}

    for broken, code in (
        ("{ tasks {", "GRAPHQL_PARSE_FAILED"),
        ("{ nope }", "GRAPHQL_VALIDATION_FAILED"),
    ):
        refused = await stack.first.post(broken, token=user.access_token)
        assert refused.codes == [code]
        assert cost(refused)["requestedQueryCost"] == 0
        assert cost(refused)["actualQueryCost"] == 0
        assert cost(refused)["throttleStatus"]["maximumAvailable"] == 60
        assert refused.headers["RateLimit-Policy"] == '"user";q=60;w=60'


async def test_rate_limit_reports_the_budget_after_the_operation_is_charged(stack: Stack) -> None:
    user = await stack.register()
    reply = await stack.first.post(
        "{ me { id } rateLimit { limit remaining cost restoreRate resetAt } }",
        token=user.access_token,
    )
    assert reply.errors == []
    budget = reply.data["rateLimit"]
    assert (budget["limit"], budget["cost"], budget["restoreRate"]) == (60, 1, 1.0)
    assert budget["remaining"] == 59
    assert budget["resetAt"].endswith("Z") or "+00:00" in budget["resetAt"]


async def test_a_burst_drains_the_budget_then_429_with_retry_after_and_nothing_written(
    stack: Stack,
) -> None:
    user = await stack.register()
    throttled_before = total(
        scrape(stack.first.server), "taskql_ratelimit_throttled_total", tier="user"
    )
    for _ in range(5):  # 5 x 11 of 60
        reply = await stack.first.post(CREATE, token=user.access_token)
        assert (reply.status, reply.errors) == (200, [])
    refused = await stack.first.post(CREATE, token=user.access_token)
    assert refused.status == 429
    assert refused.codes == ["THROTTLED"]
    assert "data" not in refused.body
    wait = refused.errors[0]["extensions"]["retryAfter"]
    assert 1 <= wait <= 7  # (11 - about 5 left) points at 1 per second
    assert int(refused.headers["Retry-After"]) == wait
    assert cost(refused)["requestedQueryCost"] == 11
    assert cost(refused)["actualQueryCost"] == 0
    assert stack.stored_tasks(user) == 5
    after = total(scrape(stack.first.server), "taskql_ratelimit_throttled_total", tier="user")
    assert after == throttled_before + 1
    # The refusal took nothing: what is left still pays for a cheap read.
    assert (await stack.first.post(COUNT, token=user.access_token)).data == {
        "tasks": {"totalCount": 5}
    }


async def test_a_query_over_the_per_query_maximum_is_refused_and_charges_nothing(
    stack: Stack,
) -> None:
    user = await stack.register()
    for accept, status in (("application/json", 200), ("application/graphql-response+json", 400)):
        reply = await stack.first.post(
            "{ tasks(first: 100) { nodes { id } } }",
            token=user.access_token,
            headers={"Accept": accept},
        )
        assert reply.status == status
        assert reply.codes == ["MAX_COST_EXCEEDED"]
        extensions = reply.errors[0]["extensions"]
        assert (extensions["cost"], extensions["maxCost"]) == (102, 50)
        assert "data" not in reply.body
    assert await remaining(stack.first, user) == 60


async def test_graphql_cost_validate_prices_without_running_or_charging(stack: Stack) -> None:
    user = await stack.register()
    reply = await stack.first.post(
        CREATE, token=user.access_token, headers={"GraphQL-Cost": "validate"}
    )
    assert reply.status == 200
    assert "data" not in reply.body
    assert reply.errors == []
    assert cost(reply)["requestedQueryCost"] == 11
    assert cost(reply)["actualQueryCost"] == 0
    assert cost(reply)["throttleStatus"]["currentlyAvailable"] == 60
    assert stack.stored_tasks(user) == 0
    assert await remaining(stack.first, user) == 60


async def test_two_instances_share_one_budget(stack: Stack) -> None:
    user = await stack.register()
    for _ in range(3):
        assert (await stack.first.post(CREATE, token=user.access_token)).errors == []
    left = await remaining(stack.second, user)
    assert 27 <= left <= 30  # 60 - 33, and a few seconds' restore at most
    for _ in range(2):
        assert (await stack.second.post(CREATE, token=user.access_token)).errors == []
    refused = await stack.first.post(CREATE, token=user.access_token)
    assert refused.codes == ["THROTTLED"]
    assert stack.stored_tasks(user) == 5


async def test_one_callers_spending_leaves_another_untouched(stack: Stack) -> None:
    spender, bystander = await stack.register(), await stack.register()
    for _ in range(5):
        await stack.first.post(CREATE, token=spender.access_token)
    assert (await stack.first.post(CREATE, token=spender.access_token)).codes == ["THROTTLED"]
    assert await remaining(stack.second, bystander) == 60

    # Anonymous callers pay per client address (from X-Forwarded-For of a trusted proxy).
    drained, fresh = fresh_address(), fresh_address()
    for expected in ([], [], ["THROTTLED"]):
        reply = await stack.first.post(INTROSPECTION, headers={"X-Forwarded-For": drained})
        assert reply.codes == expected
    reply = await stack.second.post(INTROSPECTION, headers={"X-Forwarded-For": fresh})
    assert reply.codes == []
    assert cost(reply)["throttleStatus"]["maximumAvailable"] == 40


async def promoted_to_pro(stack: Stack, user: SignedInUser) -> str:
    """A new access token for `user`, after their record moved to the pro tier."""
    _, (user_id,) = decode_global_id(user.id)
    with MongoClient(stack.mongodb_url) as client:
        client[stack.database]["users"].update_one({"_id": user_id}, {"$set": {"tier": "pro"}})
    login = await stack.first.post(
        "mutation($input: LoginInput!) { login(input: $input) { accessToken } }",
        {"input": {"email": user.email, "password": user.password}},
        headers={"X-Forwarded-For": fresh_address()},
    )
    token: str = login.data["login"]["accessToken"]
    return token


async def test_pro_users_pay_from_the_pro_tier(stack: Stack) -> None:
    user = await stack.register()
    token = await promoted_to_pro(stack, user)
    # The tier travels in the access token: the old one still pays as `user`.
    assert cost(await stack.first.post(BUDGET, token=user.access_token))["maximumQueryCost"] == 50
    reply = await stack.first.post("{ tasks(first: 100) { nodes { id } } }", token=token)
    assert reply.errors == []
    assert cost(reply)["maximumQueryCost"] == 300
    assert cost(reply)["throttleStatus"]["maximumAvailable"] == 400
    assert reply.headers["RateLimit-Policy"] == '"pro";q=400;w=400'


async def test_concurrent_requests_never_spend_more_than_the_budget(stack: Stack) -> None:
    user = await stack.register()
    query = "{ me { id taskCounts { total } } }"  # 2, and 2 actually
    started = time.monotonic()
    replies = await asyncio.gather(
        *(
            (stack.first if index % 2 else stack.second).post(query, token=user.access_token)
            for index in range(100)
        )
    )
    elapsed = time.monotonic() - started
    served = sum(1 for reply in replies if reply.errors == [])
    throttled = sum(1 for reply in replies if reply.codes == ["THROTTLED"])
    assert served + throttled == 100
    # Charged: 2 per served operation; the budget: 60, plus 1 per second of the burst.
    assert served * 2 <= 60 + elapsed * 1
    assert served >= 30  # and nothing was refused while points were left


async def test_without_redis_each_instance_limits_with_its_own_bucket(
    tmp_path: Path, mongodb_url: str
) -> None:
    own_redis = start_redis(tmp_path)
    database = f"taskql_cost_outage_{uuid.uuid4().hex[:8]}"
    env = cost_env(
        mongodb_url=mongodb_url,
        redis_url=own_redis.url,
        database=database,
        secret=secrets.token_urlsafe(48),
    )
    try:
        with ServerProcess(env=dict(env)) as server:
            api = Api(server)
            try:
                stack = Stack(api, api, mongodb_url=mongodb_url, database=database)
                user = await stack.register()
                own_redis.close()  # gone: connections are refused
                for _ in range(5):
                    reply = await api.post(CREATE, token=user.access_token)
                    assert (reply.status, reply.errors) == (200, [])
                    assert cost(reply)["requestedQueryCost"] == 11
                refused = await api.post(CREATE, token=user.access_token)
                assert refused.status == 429
                assert refused.codes == ["THROTTLED"]
                assert stack.stored_tasks(user) == 5
                decisions = total(scrape(server), "taskql_ratelimit_local_decisions_total")
                assert decisions >= 6
                assert "query-cost budgets are per process" in server.log()
            finally:
                await api.close()
    finally:
        own_redis.close()
        with MongoClient(mongodb_url) as client:
            client.drop_database(database)


def readme_cost_table() -> list[tuple[str, int, int]]:
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Query cost", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| `(.+?)` \| (\d+) \| (\d+) \|$", section, re.MULTILINE)
    return [(query, int(requested), int(actual)) for query, requested, actual in rows]


async def test_the_readme_cost_table_is_what_the_server_reports(stack: Stack) -> None:
    table = readme_cost_table()
    assert len(table) >= 8
    user = await stack.register()
    token = await promoted_to_pro(stack, user)  # room for the whole table at once
    for index in range(3):  # the table's user has 3 tasks
        create = f'mutation {{ createTask(input: {{title: "task {index}"}}) {{ id }} }}'
        assert (await stack.first.post(create, token=token)).errors == []
    measured = []
    for query, _, _ in table:
        reply = await stack.first.post(query, token=token)
        assert reply.errors == [], (query, reply.errors)
        measured.append((query, cost(reply)["requestedQueryCost"], cost(reply)["actualQueryCost"]))
    assert measured == table
