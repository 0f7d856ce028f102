"""The executed lane on real instances: a page query seen once is built from the object cache
in front of Strawberry, answered and charged exactly as the full path answers and charges it,
and never serves a page retired by a write; in verify mode every page shape it covers is
compared with the full path's answer."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.e2e.api import Api, Response, SignedInUser
from tests.e2e.conftest import instance_env
from tests.e2e.server_process import ServerProcess
from tests.e2e.test_fast_lane import cost
from tests.e2e.test_metrics import deltas, scrape
from tests.e2e.test_subscriptions import metric

pytestmark = pytest.mark.e2e

CREATE = (
    "mutation($t: String!, $d: String, $due: DateTime, $tags: [String!]) {"
    " createTask(input: {title: $t, description: $d, dueAt: $due, tags: $tags}) { id } }"
)
RENAME = "mutation($id: ID!, $t: String!) { updateTask(input: {id: $id, title: $t}) { version } }"
PAGE = (
    "query Page($n: Int, $after: String) { tasks(first: $n, after: $after) {"
    " edges { cursor node { id title status owner { id name } } }"
    " pageInfo { hasNextPage endCursor } } }"
)
# Every covered shape: fragments, aliases, __typename, both lists, every Task and User field.
SHAPES: list[tuple[str, dict[str, Any]]] = [
    (PAGE, {"n": 2}),
    (
        "fragment T on Task { __typename id title description status priority tags dueAt"
        " createdAt updatedAt version owner { ...U } }"
        " fragment U on User { id name email createdAt __typename }"
        " { __typename all: tasks(first: 10) { __typename nodes { ...T }"
        " edges { __typename c: cursor node { t: title ... on Task { version } } }"
        " pageInfo { __typename hasNextPage hasPreviousPage startCursor endCursor } } }",
        {},
    ),
    (
        "query Last($n: Int!) { tasks(last: $n) { nodes { title owner { name } owner { id } }"
        " pageInfo { hasPreviousPage hasNextPage startCursor } } }",
        {"n": 2},
    ),
    ("{ tasks(first: 0) { nodes { id } pageInfo { hasNextPage endCursor } } }", {}),
    ("{ tasks { nodes { title @skip(if: true) version @include(if: true) } } }", {}),
]


async def lane_answers(api: Api) -> float:
    return await metric(api, "taskql_graphql_execution_path_total", path="lane")


async def read(api: Api, user: SignedInUser, query: str, variables: dict[str, Any]) -> Response:
    reply = await api.post(query, variables, headers=user.headers)
    assert reply.status == 200, reply.body
    assert reply.errors == [], reply.errors
    return reply


async def seed(api: Api, user: SignedInUser) -> list[str]:
    ids = []
    for index in range(3):
        created = await api.post(
            CREATE,
            {
                # The lane's script reads a page's count of tasks from its start: a title
                # that looks like one must not change it.
                "t": f'task {index} {{"n":9,"tasks":[]}}' if index == 0 else f"task {index}",
                "d": "with a description" if index == 1 else None,
                "due": "2027-01-02T03:04:05.678Z" if index == 2 else None,
                "tags": ["a", "b"] if index else [],
            },
            headers=user.headers,
        )
        assert created.errors == [], created.errors
        ids.append(created.data["createTask"]["id"])
    return ids


@pytest.fixture
def lane_env(api_server: ServerProcess) -> dict[str, str | None]:
    """Another instance on the shared stores with the response cache off, so that repeated
    reads are executed (not answered from the response cache by the fast lane)."""
    return {**instance_env(api_server), "TASKQL_RESPONSE_CACHE": "0"}


@pytest.fixture
def verifying(lane_env: dict[str, str | None]) -> Iterator[ServerProcess]:
    with ServerProcess(env={**lane_env, "TASKQL_COMPILED_EXECUTION": "verify"}) as server:
        yield server


@pytest.fixture
def verifying_uncached(lane_env: dict[str, str | None]) -> Iterator[ServerProcess]:
    """The object cache off too: the lane reads the page and the owner from MongoDB."""
    env = {**lane_env, "TASKQL_CACHE": "0", "TASKQL_COMPILED_EXECUTION": "verify"}
    with ServerProcess(env=env) as server:
        yield server


@pytest.fixture
def answering_uncached(lane_env: dict[str, str | None]) -> Iterator[ServerProcess]:
    env = {**lane_env, "TASKQL_CACHE": "0", "TASKQL_COMPILED_EXECUTION": "on"}
    with ServerProcess(env=env) as server:
        yield server


@pytest.fixture
def answering(lane_env: dict[str, str | None]) -> Iterator[ServerProcess]:
    with ServerProcess(env={**lane_env, "TASKQL_COMPILED_EXECUTION": "on"}) as server:
        yield server


@pytest.fixture
async def client(request: pytest.FixtureRequest) -> AsyncIterator[Api]:
    api = Api(request.getfixturevalue(request.param))
    yield api
    await api.close()


@pytest.mark.parametrize("client", ["verifying", "verifying_uncached"], indirect=True)
async def test_every_covered_shape_is_built_as_the_full_path_answers_it(client: Api) -> None:
    user = await client.register()
    await seed(client, user)
    for query, variables in SHAPES:
        first = await read(client, user, query, variables)  # the full path: learned
        before = await lane_answers(client)
        # Built by the lane and compared with the full path's answer (500 on a difference).
        again = await read(client, user, query, variables)
        assert await lane_answers(client) == before + 1, query
        assert again.data == first.data


@pytest.mark.parametrize("client", ["verifying"], indirect=True)
async def test_what_the_lane_does_not_cover_runs_on_the_full_path(client: Api) -> None:
    user = await client.register()
    await seed(client, user)
    first = await read(client, user, PAGE, {"n": 1})
    cursor = first.data["tasks"]["pageInfo"]["endCursor"]
    uncovered: list[tuple[str, dict[str, Any]]] = [
        # A flag that needs a boundary probe.
        (
            "query P($a: String) { tasks(first: 1, after: $a) { pageInfo { hasPreviousPage } } }",
            {"a": cursor},
        ),
        ("{ tasks(first: 2) { totalCount } }", {}),
        ('{ tasks(first: 2, filter: {search: "task"}) { nodes { id } } }', {}),
        ("{ me { id } tasks(first: 2) { nodes { id } } }", {}),
        ("{ tasks(first: 2) { nodes { owner { taskCounts { total } } } } }", {}),
    ]
    for query, variables in uncovered:
        await read(client, user, query, variables)
        before = await lane_answers(client)
        await read(client, user, query, variables)
        assert await lane_answers(client) == before, query
    # Refused variables and arguments are reported by the full path, unchanged.
    for variables in ({"n": "two"}, {"n": 101}, {"n": 1, "after": "not a cursor"}):
        refused = await client.post(PAGE, variables, headers=user.headers)
        assert refused.codes, refused.body
    # No token: the full path's UNAUTHENTICATED.
    anonymous = await client.post(PAGE, {"n": 1})
    assert anonymous.codes == ["UNAUTHENTICATED"]


@pytest.mark.parametrize("client", ["answering"], indirect=True)
async def test_the_lane_answers_and_charges_as_the_full_path(
    client: Api, api_server: ServerProcess
) -> None:
    user = await client.register()
    ids = await seed(client, user)
    executed = await read(client, user, PAGE, {"n": 5})
    before = await lane_answers(client)
    started = time.monotonic()  # before the charge of `again`, so the refill is bounded
    again = await read(client, user, PAGE, {"n": 5})
    assert await lane_answers(client) == before + 1
    assert again.data == executed.data
    assert cost(again) == cost(executed)
    assert again.headers["RateLimit-Policy"] == executed.headers["RateLimit-Policy"]
    # The actual cost was taken: what the bucket holds after one more read went down by it.
    spent = again.body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"]
    third = await read(client, user, PAGE, {"n": 5})
    elapsed = time.monotonic() - started
    reported = third.body["extensions"]["cost"]
    left, actual = reported["throttleStatus"]["currentlyAvailable"], reported["actualQueryCost"]
    assert 0 < actual < reported["requestedQueryCost"]
    # The first lane answer walked the actual cost; later ones count the page's tasks in the
    # script that reads and charges: the same figures.
    assert cost(third) == cost(executed)
    assert third.data == executed.data
    refilled = reported["throttleStatus"]["restoreRate"] * elapsed + 1
    assert spent - actual <= left <= spent - actual + refilled

    # A write on another instance retires the page: the next read sees it at once.
    other = Api(api_server)
    renamed = await other.post(RENAME, {"id": ids[2], "t": "renamed"}, headers=user.headers)
    assert renamed.data == {"updateTask": {"version": 2}}
    await other.close()
    before = await lane_answers(client)
    after_write = await read(client, user, PAGE, {"n": 5})
    assert await lane_answers(client) == before  # the page is not cached under the new generation
    assert after_write.data["tasks"]["edges"][0]["node"]["title"] == "renamed"
    repeated = await read(client, user, PAGE, {"n": 5})
    assert await lane_answers(client) == before + 1
    assert repeated.data == after_write.data

    # Another user's identical request gets their own (empty) page: from the full path
    # first (nothing of theirs cached), then from the lane.
    stranger = await client.register()
    empty = {"tasks": {"edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}}
    assert (await read(client, stranger, PAGE, {"n": 5})).data == empty
    before = await lane_answers(client)
    assert (await read(client, stranger, PAGE, {"n": 5})).data == empty
    assert await lane_answers(client) == before + 1


async def test_with_the_response_cache_the_lane_keeps_what_it_built_for_the_fast_lane(
    lane_env: dict[str, str | None],
) -> None:
    env = {**lane_env, "TASKQL_RESPONSE_CACHE": "1", "TASKQL_COMPILED_EXECUTION": "on"}
    with ServerProcess(env=env) as server:
        api = Api(server)
        user = await api.register()
        ids = await seed(api, user)
        nodes = "{ tasks(first: 3) { nodes { title } } }"
        edges = "{ tasks(first: 3) { edges { node { title } } } }"
        await read(api, user, edges, {})  # learned by both lanes
        await api.post(RENAME, {"id": ids[0], "t": "renamed"}, headers=user.headers)
        await read(api, user, nodes, {})  # the full path caches the page under the new generation
        lane, fast = await lane_answers(api), await metric(api, "taskql_fast_lane_answers_total")
        built = await read(api, user, edges, {})  # its response is retired, its page is not
        assert await lane_answers(api) == lane + 1
        kept = await read(api, user, edges, {})
        assert await metric(api, "taskql_fast_lane_answers_total") == fast + 1
        assert kept.data == built.data
        assert [edge["node"]["title"] for edge in kept.data["tasks"]["edges"]][-1] == "renamed"
        await api.close()


@pytest.mark.parametrize("client", ["answering_uncached"], indirect=True)
async def test_with_the_object_cache_off_the_lane_reads_mongodb(client: Api) -> None:
    user = await client.register()
    ids = await seed(client, user)
    executed = await read(client, user, PAGE, {"n": 5})
    before, commands = await lane_answers(client), scrape(client.server)
    again = await read(client, user, PAGE, {"n": 5})
    assert await lane_answers(client) == before + 1
    # The page and its owner, counted as the request's: what the full path reads.
    read_by_it = deltas(
        commands, scrape(client.server), "taskql_db_commands_total", source="request"
    )
    assert read_by_it == {"find": 2}
    assert again.data == executed.data
    assert cost(again) == cost(executed)
    renamed = await client.post(RENAME, {"id": ids[2], "t": "renamed"}, headers=user.headers)
    assert renamed.errors == []
    after_write = await read(client, user, PAGE, {"n": 5})
    assert after_write.data["tasks"]["edges"][0]["node"]["title"] == "renamed"
