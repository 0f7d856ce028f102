"""What the harness sends, built against a running taskql before any timing: seeded users
signed in, every scenario's requests, and taskql's answers to the requests that are checked.

Users are split so that no scenario sees another's writes: user 1 is read by `hello` and
`list-warm` (and exported for the Node peers), the next `mix_users` are `mix`'s (it writes),
the rest are `list-cold`'s.
"""

from __future__ import annotations

import base64
import sys
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from scenarios import (
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
from stack import ROOT

sys.path.insert(0, str(ROOT))

from seed.command import DEMO_PASSWORD
from seed.generate import demo_email

LOGIN = (
    "mutation Login($input: LoginInput!) { login(input: $input) { accessToken user { id name } } }"
)
CURSORS = (
    "query Cursors($after: String) { tasks(first: 100, after: $after) "
    "{ edges { cursor } pageInfo { hasNextPage endCursor } } }"
)
WRITTEN_TITLE = "Written by the benchmark"


@dataclass(frozen=True)
class SignedIn:
    number: int
    user_id: str  # the MongoDB id, hex
    name: str
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


@dataclass(frozen=True)
class UserSplit:
    """Which seeded user numbers each group of scenarios uses."""

    warm: int
    mix: list[int]
    cold: list[int]

    @classmethod
    def of(cls, *, users: int, mix_users: int, cold_users: int) -> UserSplit:
        if users < mix_users + 2:
            raise ValueError(f"need at least {mix_users + 2} seeded users (1 warm, mix, 1+ cold)")
        first_cold = 2 + mix_users
        last_cold = min(users, first_cold + cold_users - 1)
        return cls(
            warm=1,
            mix=list(range(2, first_cold)),
            cold=list(range(first_cold, last_cold + 1)),
        )


def raw_user_id(global_id: str) -> str:
    """The MongoDB id inside a User's global id (base64url of `User:<hex>`)."""
    decoded = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
    kind, _, raw = decoded.partition(":")
    if kind != "User":
        raise ValueError(f"not a User id: {global_id}")
    return raw


class Builder:
    """Talks to one taskql server (the reference) over HTTP."""

    def __init__(self, http: httpx.Client, base_url: str) -> None:
        self.http = http
        self.url = f"{base_url}/graphql"

    def post(self, call: Call) -> Answer:
        headers = {"Content-Type": "application/json"}
        if call.token:
            headers["Authorization"] = call.authorization
        reply = self.http.post(self.url, content=call.body, headers=headers)
        return Answer(reply.status_code, reply.headers.get("content-type", ""), reply.content)

    def data(self, call: Call) -> dict[str, Any]:
        answer = self.post(call)
        found = orjson.loads(answer.body)
        if answer.status != 200 or found.get("errors"):
            raise RuntimeError(f"taskql answered {answer.status}: {answer.body[:300]!r}")
        data: dict[str, Any] = found["data"]
        return data

    def sign_in(self, number: int) -> SignedIn:
        variables = {
            "input": {"email": demo_email(number, prefix="demo"), "password": DEMO_PASSWORD}
        }
        login = self.data(Call("", graphql_body(LOGIN, variables)))["login"]
        user = login["user"]
        return SignedIn(number, raw_user_id(user["id"]), user["name"], login["accessToken"])

    def page_starts(self, user: SignedIn) -> list[str | None]:
        """The `after` of every page of PAGE_SIZE of the user's tasks (None: the first)."""
        cursors: list[str] = []
        after: str | None = None
        while True:
            body = graphql_body(CURSORS, {"after": after})
            found = self.data(Call(user.token, body))["tasks"]
            cursors += [edge["cursor"] for edge in found["edges"]]
            if not found["pageInfo"]["hasNextPage"]:
                break
            after = found["pageInfo"]["endCursor"]
        return [None, *cursors[PAGE_SIZE - 1 : -1 : PAGE_SIZE]]

    def build(self, split: UserSplit, *, check_sample: int) -> Workload:
        references: dict[Call, Answer] = {}

        def checked(calls: list[Call]) -> tuple[Call, ...]:
            for call in calls:
                references[call] = self.post(call)
            return tuple(calls)

        warm = self.sign_in(split.warm)
        hello, page = Call(warm.token, graphql_body(HELLO)), Call(warm.token, graphql_body(LIST))
        scenarios = {
            "hello": Scenario("hello", (hello,), checked([hello])),
            "list-warm": Scenario(
                "list-warm", (page,), checked([page]), every_connection_count=True
            ),
        }
        cold_users = [self.sign_in(number) for number in split.cold]
        pages = [
            [
                Call(user.token, graphql_body(PAGE, {"after": after}))
                for after in self.page_starts(user)
            ]
            for user in cold_users
        ]
        cold = interleave(pages)
        scenarios["list-cold"] = Scenario(
            "list-cold",
            tuple(cold),
            checked(evenly(cold, check_sample)),
            every_connection_count=True,
        )
        if split.mix:
            scenarios["mix"] = self._mix([self.sign_in(number) for number in split.mix])
        return Workload(scenarios, references, warm, cold_users)

    def _mix(self, users: list[SignedIn]) -> Scenario:
        """Blocks of nine reads (of the users in turn) and one write (of the block's user)."""
        writes, reads = WRITES_PER_READS
        read_calls = [Call(user.token, graphql_body(LIST)) for user in users]
        calls: list[Call] = []
        checks: list[Call] = [read_calls[0]]
        for number, user in enumerate(users):
            first = self.data(read_calls[number])["tasks"]["edges"][0]["node"]
            variables = {"input": {"id": first["id"], "title": WRITTEN_TITLE}}
            write = Call(user.token, graphql_body(WRITE, variables))
            checks += [write] if number == 0 else []
            calls += [read_calls[(number + i) % len(users)] for i in range(reads)]
            calls += [write] * writes
        return Scenario("mix", tuple(calls), tuple(checks), compare_data=False)
