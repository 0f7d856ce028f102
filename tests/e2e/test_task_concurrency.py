"""Concurrency through a real server: conditional updates lose nothing, racing creates with
one idempotency key make one task, and pages neither repeat nor skip while tasks are added."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.e2e.api import Api, SignedInUser

pytestmark = pytest.mark.e2e

CREATE = """
mutation($input: CreateTaskInput!) { createTask(input: $input) { id title version } }
"""
UPDATE = """
mutation($input: UpdateTaskInput!) { updateTask(input: $input) { id version tags } }
"""
READ = "query($id: ID!) { task(id: $id) { version } }"
COUNT = "{ tasks { totalCount } me { taskCounts { total } } }"


async def _create(api: Api, user: SignedInUser, **fields: Any) -> dict[str, Any]:
    reply = await api.post(
        CREATE, {"input": {"title": "shared", **fields}}, token=user.access_token
    )
    assert reply.errors == [], reply.errors
    task: dict[str, Any] = reply.data["createTask"]
    return task


async def _version(api: Api, user: SignedInUser, task_id: str) -> int:
    reply = await api.post(READ, {"id": task_id}, token=user.access_token)
    version: int = reply.data["task"]["version"]
    return version


async def test_one_of_many_updates_at_one_expected_version_wins(api: Api) -> None:
    user = await api.register()
    task = await _create(api, user)

    async def attempt(n: int) -> Any:
        change = {"id": task["id"], "expectedVersion": 1, "tags": [f"writer-{n}"]}
        return await api.post(UPDATE, {"input": change}, token=user.access_token)

    replies = await asyncio.gather(*(attempt(n) for n in range(50)))
    winners = [r for r in replies if not r.errors]
    assert len(winners) == 1
    assert winners[0].data["updateTask"]["version"] == 2
    assert sorted(code for r in replies for code in r.codes) == ["CONFLICT"] * 49
    assert await _version(api, user, task["id"]) == 2


async def test_retrying_writers_each_win_exactly_one_version(api: Api) -> None:
    user = await api.register()
    task = await _create(api, user)
    won: list[int] = []

    async def writer(n: int) -> None:
        for _ in range(100):
            version = await _version(api, user, task["id"])
            change = {"id": task["id"], "expectedVersion": version, "tags": [f"w{n}"]}
            reply = await api.post(UPDATE, {"input": change}, token=user.access_token)
            if not reply.errors:
                assert reply.data["updateTask"]["version"] == version + 1
                won.append(version + 1)
                return
            assert reply.codes == ["CONFLICT"]
        raise AssertionError("a writer never won")

    await asyncio.gather(*(writer(n) for n in range(8)))
    assert sorted(won) == list(range(2, 10))
    assert await _version(api, user, task["id"]) == 1 + len(won)


async def test_unconditional_concurrent_updates_are_all_counted(api: Api) -> None:
    user = await api.register()
    task = await _create(api, user)
    replies = await asyncio.gather(
        *(
            api.post(
                UPDATE, {"input": {"id": task["id"], "tags": [str(n)]}}, token=user.access_token
            )
            for n in range(50)
        )
    )
    assert all(not r.errors for r in replies)
    versions = sorted(r.data["updateTask"]["version"] for r in replies)
    assert versions == list(range(2, 52))
    assert await _version(api, user, task["id"]) == 51


async def test_racing_creates_with_one_idempotency_key_make_one_task(api: Api) -> None:
    user, other = await api.register(), await api.register()
    replies = await asyncio.gather(
        *(
            api.post(
                CREATE,
                {"input": {"title": f"try {n}", "idempotencyKey": "order-42"}},
                token=user.access_token,
            )
            for n in range(20)
        )
    )
    assert all(not r.errors for r in replies), [r.errors for r in replies]
    tasks = {r.data["createTask"]["id"]: r.data["createTask"] for r in replies}
    assert len(tasks) == 1
    counted = await api.post(COUNT, token=user.access_token)
    assert counted.data == {"tasks": {"totalCount": 1}, "me": {"taskCounts": {"total": 1}}}
    # The key belongs to its user: another one creates a task of their own.
    theirs = await _create(api, other, idempotencyKey="order-42")
    assert theirs["id"] not in tasks
    # A retry later returns the first task unchanged, and creates nothing.
    again = await _create(api, user, title="ignored", idempotencyKey="order-42")
    assert again == next(iter(tasks.values()))


PAGE = """
query($first: Int, $after: String, $last: Int, $before: String, $orderBy: TaskOrder) {
  tasks(first: $first, after: $after, last: $last, before: $before, orderBy: $orderBy) {
    nodes { id }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


async def _page(api: Api, user: SignedInUser, **arguments: Any) -> dict[str, Any]:
    reply = await api.post(PAGE, arguments, token=user.access_token)
    assert reply.errors == [], reply.errors
    connection: dict[str, Any] = reply.data["tasks"]
    return connection


async def _walk(
    api: Api, user: SignedInUser, *, order: dict[str, str], backward: bool, size: int
) -> tuple[list[str], list[dict[str, Any]]]:
    """Every page in one direction, inserting two tasks between pages."""
    seen: list[str] = []
    infos: list[dict[str, Any]] = []
    cursor: str | None = None
    for round_ in range(50):
        if backward:
            found = await _page(api, user, last=size, before=cursor, orderBy=order)
            seen = [n["id"] for n in found["nodes"]] + seen
        else:
            found = await _page(api, user, first=size, after=cursor, orderBy=order)
            seen += [n["id"] for n in found["nodes"]]
        infos.append(found["pageInfo"])
        more = found["pageInfo"]["hasPreviousPage" if backward else "hasNextPage"]
        if not more:
            return seen, infos
        cursor = found["pageInfo"]["startCursor" if backward else "endCursor"]
        await asyncio.gather(
            *(_create(api, user, title=f"late {round_}-{n} {chr(97 + n * 7)}") for n in range(2))
        )
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize(
    ("order", "backward"),
    [
        ({"field": "CREATED_AT", "direction": "ASC"}, False),
        ({"field": "CREATED_AT", "direction": "DESC"}, True),
        ({"field": "TITLE", "direction": "ASC"}, False),
        ({"field": "TITLE", "direction": "DESC"}, True),
    ],
)
async def test_pages_have_no_repeats_and_no_gaps_under_concurrent_inserts(
    api: Api, order: dict[str, str], backward: bool
) -> None:
    user = await api.register()
    await asyncio.gather(
        *(_create(api, user, title=f"task {n:02d} {chr(97 + n)}") for n in range(14))
    )
    initial = {n["id"] for n in (await _page(api, user, first=100))["nodes"]}
    seen, infos = await _walk(api, user, order=order, backward=backward, size=4)
    assert len(seen) == len(set(seen))
    assert initial <= set(seen)
    assert len(infos) >= 4
    # The flag of the far side of the cursor is exact: false only on the first page.
    far = "hasNextPage" if backward else "hasPreviousPage"
    assert [info[far] for info in infos] == [False] + [True] * (len(infos) - 1)
    near = "hasPreviousPage" if backward else "hasNextPage"
    assert [info[near] for info in infos] == [True] * (len(infos) - 1) + [False]
