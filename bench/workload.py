"""What the harness sends, built against a running taskql before any timing: seeded users
signed in, every chosen scenario's requests, and taskql's answers to the requests checked.

Users are split so that no scenario sees another's writes: user 1 is read by `hello` and
`list-warm` (and exported for the Node peers), the next `mix_users` are `mix`'s (it writes),
the rest (the cold users, at most `cold_users`) are `list-cold`'s and the cache scenarios'.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import common  # noqa: F401 -- puts the project on sys.path
import httpx
import orjson
from scenarios import (
    CACHE_READ,
    HELLO,
    LIST,
    PAGE,
    PAGE_SIZE,
    WRITE,
    WRITES_PER_READS,
    Call,
    Scenario,
    evenly,
    graphql_body,
    interleave,
)

from schema.node import decode_global_id
from seed.command import DEMO_PASSWORD
from seed.generate import demo_email

LOGIN = "mutation Login($input: LoginInput!) { login(input: $input) { accessToken user { id } } }"
CURSORS = (
    "query Cursors($after: String) { tasks(first: 100, after: $after) "
    "{ edges { cursor } pageInfo { hasNextPage endCursor } } }"
)
CHECKED_COLD_CALLS = 10  # list-cold's calls compared with taskql's before timing


@dataclass(frozen=True)
class SignedIn:
    user_id: str  # the MongoDB id, hex
    token: str


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes


@dataclass
class Workload:
    scenarios: dict[str, Scenario]
    references: dict[Call, Answer]  # taskql's answer to every call that is checked
    warm_user: SignedIn
    cold_users: list[SignedIn]


class Builder:
    """Talks to one taskql server (the reference) over HTTP."""

    def __init__(self, http: httpx.Client, base_url: str) -> None:
        self.http, self.url = http, f"{base_url}/graphql"
        self.references: dict[Call, Answer] = {}

    def post(self, call: Call) -> Answer:
        headers = {"Content-Type": "application/json"}
        headers |= {"Authorization": call.authorization} if call.token else {}
        reply = self.http.post(self.url, content=call.body, headers=headers)
        return Answer(reply.status_code, reply.headers.get("content-type", ""), reply.content)

    def data(self, call: Call) -> dict[str, Any]:
        answer = self.post(call)
        if answer.status != 200 or orjson.loads(answer.body).get("errors"):
            raise RuntimeError(f"taskql answered {answer.status}: {answer.body[:300]!r}")
        data: dict[str, Any] = orjson.loads(answer.body)["data"]
        return data

    def checked(self, calls: list[Call]) -> tuple[Call, ...]:
        """The calls, taskql's answer to each kept as the reference."""
        self.references |= {call: self.post(call) for call in calls}
        return tuple(calls)

    def sign_in(self, number: int) -> SignedIn:
        login = {"email": demo_email(number, prefix="demo"), "password": DEMO_PASSWORD}
        found = self.data(Call("", graphql_body(LOGIN, {"input": login})))["login"]
        _, (user_id,) = decode_global_id(found["user"]["id"], expected_type="User")
        return SignedIn(str(user_id), found["accessToken"])

    def page_starts(self, user: SignedIn) -> list[str | None]:
        """The `after` of every page of PAGE_SIZE of the user's tasks (None: the first)."""
        cursors: list[str] = []
        after: str | None = None
        while True:
            found = self.data(Call(user.token, graphql_body(CURSORS, {"after": after})))["tasks"]
            cursors += [edge["cursor"] for edge in found["edges"]]
            if not found["pageInfo"]["hasNextPage"]:
                return [None, *cursors[PAGE_SIZE - 1 : -1 : PAGE_SIZE]]
            after = found["pageInfo"]["endCursor"]

    def build(
        self, *, users: int, mix_users: int, cold_users: int, wanted: Collection[str]
    ) -> Workload:
        warm = self.sign_in(1)
        hello, page = Call(warm.token, graphql_body(HELLO)), Call(warm.token, graphql_body(LIST))
        scenarios = {
            "hello": Scenario("hello", (hello,), self.checked([hello])),
            "list-warm": Scenario("list-warm", (page,), self.checked([page]), True, True),
        }
        cold = [
            self.sign_in(n)
            for n in range(2 + mix_users, min(users, 1 + mix_users + cold_users) + 1)
        ]
        if "list-cold" in wanted:
            pages = [
                [Call(u.token, graphql_body(PAGE, {"after": a})) for a in self.page_starts(u)]
                for u in cold
            ]
            calls = tuple(interleave(pages))
            checks = self.checked(evenly(list(calls), CHECKED_COLD_CALLS))
            scenarios["list-cold"] = Scenario("list-cold", calls, checks, True, True)
        if {"cache-read", "cache-cold"} & set(wanted):
            body = graphql_body(CACHE_READ)
            reads = self.checked([Call(user.token, body, user.user_id) for user in cold])
            scenarios["cache-read"] = Scenario("cache-read", reads, reads)
            scenarios["cache-cold"] = Scenario("cache-cold", reads, reads, retire=True)
        if mix_users:
            scenarios["mix"] = self.mix([self.sign_in(n) for n in range(2, 2 + mix_users)])
        return Workload(scenarios, self.references, warm, cold)

    def mix(self, users: list[SignedIn]) -> Scenario:
        """Blocks of nine reads (of the users in turn) and one write (of the block's user)."""
        writes, reads = WRITES_PER_READS
        read_calls = [Call(user.token, graphql_body(LIST)) for user in users]
        calls: list[Call] = []
        for number, user in enumerate(users):
            first = self.data(read_calls[number])["tasks"]["edges"][0]["node"]
            variables = {"input": {"id": first["id"], "title": "Written by the benchmark"}}
            calls += [read_calls[(number + i) % len(users)] for i in range(reads)]
            calls += [Call(user.token, graphql_body(WRITE, variables))] * writes
        checks = (read_calls[0], calls[reads])  # a read, and the first user's write
        return Scenario("mix", tuple(calls), checks, compare_data=False)
