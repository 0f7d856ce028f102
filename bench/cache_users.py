"""The seeded users of the cache benchmark: signed in, their prepared request, the answer it
must get, and how the load generator makes their next read a cache miss.

Imports the project (`loaders.cache_keys`, `schema.node`, `seed`) for the cache's key layout,
global ids and the demo accounts, so the benchmark follows them when they change.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from loadgen import Request
from stack import ROOT

sys.path.insert(0, str(ROOT))

from beanie import PydanticObjectId

from loaders.cache_keys import GENERATION_TTL_SECONDS, CacheKeys
from schema.node import decode_global_id
from seed.command import DEMO_PASSWORD
from seed.generate import demo_email
from storage.redis import RedisClient as Redis

PAGE_SIZE = 50
QUERY = f"{{ tasks(first: {PAGE_SIZE}) {{ nodes {{ owner {{ name taskCounts {{ total }} }} }} }} }}"
LOGIN = """
mutation($input: LoginInput!) { login(input: $input) { accessToken user { id name } } }
"""
FIRST_TASK = "{ tasks(first: 1) { nodes { id version } } }"
RENAME = """
mutation($input: UpdateTaskInput!) { updateTask(input: $input) { id version } }
"""


@dataclass(frozen=True)
class User:
    number: int
    name: str
    owner: PydanticObjectId
    token: str

    @property
    def request(self) -> Request:
        headers = (("Content-Type", "application/json"), ("Authorization", f"Bearer {self.token}"))
        body = orjson.dumps({"query": QUERY})
        return Request(key=str(self.number), path="/graphql", headers=headers, body=body)


async def sign_in(http: httpx.AsyncClient, base_url: str, *, count: int) -> list[User]:
    users = []
    for number in range(1, count + 1):
        variables = {
            "input": {"email": demo_email(number, prefix="demo"), "password": DEMO_PASSWORD}
        }
        data = await graphql(http, base_url, LOGIN, variables)
        login = data["login"]
        _, (owner,) = decode_global_id(login["user"]["id"], expected_type="User")
        users.append(User(number, login["user"]["name"], owner, login["accessToken"]))
    return users


async def graphql(
    http: httpx.AsyncClient,
    base_url: str,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    reply = await http.post(
        f"{base_url}/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    body = reply.json()
    if reply.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"{query.strip()[:60]}... answered {reply.status_code}: {body}")
    data: dict[str, Any] = body["data"]
    return data


def check_answer(body: bytes, user: User, *, tasks_per_user: int) -> None:
    """The answer is right: a full page, every owner the user, with the seeded total."""
    answer = orjson.loads(body)
    if answer.get("errors"):
        raise RuntimeError(f"user {user.number}: errors {answer['errors']}")
    nodes = answer["data"]["tasks"]["nodes"]
    expected = {"name": user.name, "taskCounts": {"total": tasks_per_user}}
    if len(nodes) != min(PAGE_SIZE, tasks_per_user):
        raise RuntimeError(f"user {user.number}: {len(nodes)} nodes, not {PAGE_SIZE}")
    wrong = [node for node in nodes if node["owner"] != expected]
    if wrong:
        raise RuntimeError(f"user {user.number}: owner {wrong[0]['owner']}, not {expected}")


async def write_one_task(http: httpx.AsyncClient, base_url: str, user: User) -> None:
    """A real write through the API (a new title: no count moves)."""
    data = await graphql(http, base_url, FIRST_TASK, token=user.token)
    task = data["tasks"]["nodes"][0]
    changes = {
        "id": task["id"],
        "expectedVersion": task["version"],
        "title": "Renamed by the benchmark",
    }
    await graphql(http, base_url, RENAME, {"input": changes}, token=user.token)


class CacheRetirer:
    """Makes a user's next read miss every cache entry it touches, from the outside.

    `retire` does what a task write does to the owner (a new random generation: every cached
    page, total and count of the owner is retired) and deletes the user's profile entry, which
    no write retires (only its TTL): the state of a fresh cache for that user. `touch` costs
    the same round trip and changes nothing, for the scenarios that must stay warm.
    """

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.keys = CacheKeys(0)

    async def retire(self, user: User) -> None:
        # Raw commands: a cluster pipeline routes them by key (both keys share the user's tag).
        async with self.redis.pipeline(transaction=False) as pipe:
            generation = os.urandom(8).hex().encode()
            pipe.execute_command(
                "SET",
                self.keys.generation(user.owner),
                generation,
                "PX",
                GENERATION_TTL_SECONDS * 1000,
            )
            pipe.execute_command("DEL", self.keys.user(user.owner))
            await pipe.execute()

    async def touch(self, user: User) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.execute_command("EXISTS", self.keys.generation(user.owner))
            pipe.execute_command("EXISTS", self.keys.user(user.owner))
            await pipe.execute()
