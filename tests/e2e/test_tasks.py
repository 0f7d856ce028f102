"""Tasks through a real server: every query and mutation, the input rules and error codes,
isolation between users, filters, orders, and pagination in both directions."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from gql import GraphQLRequest

from tests.e2e.api import Api, SignedInUser

pytestmark = pytest.mark.e2e

FIELDS = "id title description status priority tags dueAt createdAt updatedAt version"
CREATE = f"mutation($input: CreateTaskInput!) {{ createTask(input: $input) {{ {FIELDS} }} }}"
UPDATE = f"mutation($input: UpdateTaskInput!) {{ updateTask(input: $input) {{ {FIELDS} }} }}"
DELETE = "mutation($id: ID!) { deleteTask(id: $id) }"
TASK = f"query($id: ID!) {{ task(id: $id) {{ {FIELDS} owner {{ id email }} }} }}"
NODE = "query($id: ID!) { node(id: $id) { id ... on Task { title } } }"
PAGE = """
query($first: Int, $after: String, $last: Int, $before: String, $filter: TaskFilter,
      $orderBy: TaskOrder) {
  tasks(first: $first, after: $after, last: $last, before: $before, filter: $filter,
        orderBy: $orderBy) {
    edges { cursor node { id title priority dueAt } }
    nodes { id }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    totalCount
  }
}
"""
# Well formed (owner and task ids), naming no task.
MISSING_ID = (
    base64.urlsafe_b64encode(b"Task:65f000000000000000000009:65f000000000000000000001")
    .decode()
    .rstrip("=")
)


async def create(api: Api, user: SignedInUser, **fields: Any) -> dict[str, Any]:
    reply = await api.post(CREATE, {"input": fields}, token=user.access_token)
    assert reply.errors == [], reply.errors
    task: dict[str, Any] = reply.data["createTask"]
    return task


async def page(api: Api, user: SignedInUser, **arguments: Any) -> dict[str, Any]:
    reply = await api.post(PAGE, arguments, token=user.access_token)
    assert reply.errors == [], reply.errors
    connection: dict[str, Any] = reply.data["tasks"]
    return connection


def refused(reply: Any, code: str, field: str | None = None) -> None:
    assert reply.codes == [code], reply.errors
    if field is not None:
        assert reply.errors[0]["extensions"].get("field") == field, reply.errors


async def test_create_read_update_delete(api: Api) -> None:
    user = await api.register()
    async with api.gql_session(user) as session:
        created = (
            await session.execute(
                GraphQLRequest(CREATE, variable_values={"input": {"title": " A "}})
            )
        )["createTask"]
        assert created["title"] == "A"
        assert (created["status"], created["priority"], created["tags"]) == ("TODO", "MEDIUM", [])
        assert (created["description"], created["dueAt"], created["version"]) == (None, None, 1)
        assert created["createdAt"] == created["updatedAt"]

        full = {
            "title": "Full",
            "description": "words",
            "status": "IN_PROGRESS",
            "priority": "URGENT",
            "tags": [" x", "y", "x "],
            "dueAt": "2026-12-24T18:30:00.123+01:00",
        }
        task = (await session.execute(GraphQLRequest(CREATE, variable_values={"input": full})))[
            "createTask"
        ]
        assert task["tags"] == ["x", "y"]
        assert task["dueAt"] == "2026-12-24T17:30:00.123Z"

        read = (await session.execute(GraphQLRequest(TASK, variable_values={"id": task["id"]})))[
            "task"
        ]
        assert {k: read[k] for k in task} == task
        assert read["owner"] == {"id": user.id, "email": user.email}
        node = (await session.execute(GraphQLRequest(NODE, variable_values={"id": task["id"]})))[
            "node"
        ]
        assert node == {"id": task["id"], "title": "Full"}

        cleared = (
            await session.execute(
                GraphQLRequest(
                    UPDATE,
                    variable_values={
                        "input": {"id": task["id"], "description": None, "dueAt": None}
                    },
                )
            )
        )["updateTask"]
        assert (cleared["description"], cleared["dueAt"], cleared["version"]) == (None, None, 2)
        assert (cleared["title"], cleared["tags"], cleared["createdAt"]) == (
            "Full",
            ["x", "y"],
            task["createdAt"],
        )
        changed = (
            await session.execute(
                GraphQLRequest(
                    UPDATE,
                    variable_values={
                        "input": {
                            "id": task["id"],
                            "expectedVersion": 2,
                            "title": "Renamed",
                            "status": "DONE",
                        }
                    },
                )
            )
        )["updateTask"]
        assert (changed["title"], changed["status"], changed["version"]) == ("Renamed", "DONE", 3)

        deleted = await session.execute(GraphQLRequest(DELETE, variable_values={"id": task["id"]}))
        assert deleted == {"deleteTask": task["id"]}
        gone = await session.execute(GraphQLRequest(TASK, variable_values={"id": task["id"]}))
        assert gone == {"task": None}
    refused(await api.post(DELETE, {"id": task["id"]}, token=user.access_token), "NOT_FOUND")
    stale = {"input": {"id": created["id"], "expectedVersion": 7, "title": "x"}}
    refused(await api.post(UPDATE, stale, token=user.access_token), "CONFLICT")
    unchanged = await api.post(TASK, {"id": created["id"]}, token=user.access_token)
    assert unchanged.data["task"]["version"] == 1


async def test_every_task_operation_needs_a_signed_in_user(api: Api) -> None:
    for query, variables in [
        (PAGE, {}),
        (TASK, {"id": MISSING_ID}),
        (NODE, {"id": MISSING_ID}),
        (CREATE, {"input": {"title": "t"}}),
        (UPDATE, {"input": {"id": MISSING_ID, "title": "t"}}),
        (DELETE, {"id": MISSING_ID}),
    ]:
        refused(await api.post(query, variables), "UNAUTHENTICATED")
    reply = await api.post(PAGE, {"first": 500}, token="not-a-token")
    refused(reply, "UNAUTHENTICATED")


@pytest.mark.parametrize(
    ("query", "variables", "field"),
    [
        (CREATE, {"input": {"title": "   "}}, "input.title"),
        (CREATE, {"input": {"title": "x" * 201}}, "input.title"),
        (CREATE, {"input": {"title": "t", "description": "d" * 10_001}}, "input.description"),
        (CREATE, {"input": {"title": "t", "tags": [str(n) for n in range(21)]}}, "input.tags"),
        (CREATE, {"input": {"title": "t", "tags": ["x" * 33]}}, "input.tags"),
        (CREATE, {"input": {"title": "t", "idempotencyKey": "k" * 65}}, "input.idempotencyKey"),
        (UPDATE, {"input": {"id": MISSING_ID}}, "input"),
        (UPDATE, {"input": {"id": MISSING_ID, "expectedVersion": 1}}, "input"),
        (UPDATE, {"input": {"id": MISSING_ID, "title": None}}, "input.title"),
        (UPDATE, {"input": {"id": MISSING_ID, "status": None}}, "input.status"),
        (UPDATE, {"input": {"id": MISSING_ID, "priority": None}}, "input.priority"),
        (UPDATE, {"input": {"id": MISSING_ID, "tags": None}}, "input.tags"),
        (UPDATE, {"input": {"id": "garbage", "title": "t"}}, "input.id"),
        (DELETE, {"id": "garbage"}, "id"),
        (TASK, {"id": "garbage"}, "id"),
        (TASK, {"id": "VXNlcjo2NWYwMDAwMDAwMDAwMDAwMDAwMDAwMDE"}, "id"),  # a User's id
        (NODE, {"id": "%%%"}, "id"),
        (PAGE, {"first": 101}, "first"),
        (PAGE, {"first": -1}, "first"),
        (PAGE, {"last": 101}, "last"),
        (PAGE, {"first": 1, "last": 1}, "last"),
        (PAGE, {"after": "garbage"}, "after"),
        (PAGE, {"before": "WyJ0MSJd"}, "before"),
        (PAGE, {"filter": {"search": "s" * 101}}, "filter.search"),
        (PAGE, {"filter": {"tags": [" "]}}, "filter.tags"),
    ],
)
async def test_input_rules_are_bad_user_input(
    api: Api, signed_in: SignedInUser, query: str, variables: dict[str, Any], field: str
) -> None:
    reply = await api.post(query, variables, token=signed_in.access_token)
    assert reply.status == 200
    refused(reply, "BAD_USER_INPUT", field)


@pytest.fixture(scope="module")
def _user_cache() -> dict[str, SignedInUser]:
    return {}


@pytest.fixture
async def signed_in(api: Api, _user_cache: dict[str, SignedInUser]) -> SignedInUser:
    if "user" not in _user_cache:
        _user_cache["user"] = await api.register()
    return _user_cache["user"]


async def test_a_cursor_is_valid_only_for_its_own_order(api: Api) -> None:
    user = await api.register()
    await create(api, user, title="one")
    await create(api, user, title="two")
    by_title = await page(api, user, first=1, orderBy={"field": "TITLE"})
    cursor = by_title["pageInfo"]["endCursor"]
    wrong = await api.post(
        PAGE,
        {"first": 1, "after": cursor, "orderBy": {"field": "PRIORITY"}},
        token=user.access_token,
    )
    refused(wrong, "BAD_USER_INPUT", "after")
    flipped = {"field": "TITLE", "direction": "ASC"}
    wrong = await api.post(
        PAGE, {"last": 1, "before": cursor, "orderBy": flipped}, token=user.access_token
    )
    refused(wrong, "BAD_USER_INPUT", "before")
    right = await page(api, user, first=1, after=cursor, orderBy={"field": "TITLE"})
    assert [e["node"]["title"] for e in right["edges"]] == ["one"]


async def test_other_users_tasks_do_not_exist_for_them(api: Api) -> None:
    owner, stranger = await api.register(), await api.register(name="Eve")
    task = await create(api, owner, title="secret", status="DONE")
    await create(api, owner, title="also secret")
    for query in (TASK, NODE):
        reply = await api.post(query, {"id": task["id"]}, token=stranger.access_token)
        assert reply.errors == []
        assert next(iter(reply.data.values())) is None
    update = {"input": {"id": task["id"], "title": "mine now"}}
    refused(await api.post(UPDATE, update, token=stranger.access_token), "NOT_FOUND")
    update["input"]["expectedVersion"] = 1
    refused(await api.post(UPDATE, update, token=stranger.access_token), "NOT_FOUND")
    refused(await api.post(DELETE, {"id": task["id"]}, token=stranger.access_token), "NOT_FOUND")
    assert (await page(api, stranger))["totalCount"] == 0

    profile = """
    query($id: ID!) { node(id: $id) { ... on User {
      email
      tasks(first: 5) { nodes { id } edges { cursor } totalCount
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor } }
      taskCounts { todo inProgress done total } } } }
    """
    seen = await api.post(profile, {"id": owner.id}, token=stranger.access_token)
    assert seen.errors == []
    assert seen.data["node"] == {
        "email": None,
        "tasks": {
            "nodes": [],
            "edges": [],
            "totalCount": 0,
            "pageInfo": {
                "hasNextPage": False,
                "hasPreviousPage": False,
                "startCursor": None,
                "endCursor": None,
            },
        },
        "taskCounts": {"todo": 0, "inProgress": 0, "done": 0, "total": 0},
    }
    own = await api.post(profile, {"id": owner.id}, token=owner.access_token)
    assert own.data["node"]["email"] == owner.email
    assert own.data["node"]["tasks"]["totalCount"] == 2
    assert own.data["node"]["taskCounts"] == {"todo": 1, "inProgress": 0, "done": 1, "total": 2}
    unchanged = await api.post(TASK, {"id": task["id"]}, token=owner.access_token)
    assert unchanged.data["task"]["title"] == "secret"


async def test_filters_combine_and_search_is_literal(api: Api) -> None:
    user = await api.register()
    specs = [
        {"title": "Pay (a+b)* bills?", "tags": ["home", "money"], "priority": "HIGH"},
        {"title": "pay AXB bills", "tags": ["home"], "priority": "HIGH"},
        {"title": "Call", "description": "re: PAY (A+B)* BILLS? soon", "tags": ["money", "home"]},
        {"title": "Dentist", "dueAt": "2026-07-01T09:00:00Z", "tags": ["health"]},
        {"title": "Boundary", "dueAt": "2026-07-02T00:00:00Z", "status": "DONE"},
        {"title": "Later", "dueAt": "2026-08-01T00:00:00Z", "priority": "LOW"},
    ]
    for spec in specs:
        await create(api, user, **spec)

    async def titles(**filter_: Any) -> list[str]:
        found = await page(
            api, user, filter=filter_, orderBy={"field": "TITLE", "direction": "ASC"}
        )
        assert found["totalCount"] == len(found["nodes"])
        return [edge["node"]["title"] for edge in found["edges"]]

    assert await titles(search="(A+B)* BILLS?") == ["Call", "Pay (a+b)* bills?"]
    assert await titles(search=".*") == []
    assert await titles(search="(a+b)*", priority=["HIGH"]) == ["Pay (a+b)* bills?"]
    assert await titles(tags=["money", "home"]) == ["Call", "Pay (a+b)* bills?"]
    assert await titles(tags=["home"], search="pay a") == ["pay AXB bills"]
    assert await titles(status=["DONE"]) == ["Boundary"]
    assert await titles(status=[]) == []
    # dueAfter is inclusive, dueBefore exclusive; tasks without a due date are left out.
    window = {"dueAfter": "2026-07-01T09:00:00Z", "dueBefore": "2026-07-02T00:00:00Z"}
    assert await titles(**window) == ["Dentist"]
    assert await titles(dueAfter="2026-07-02T00:00:00Z") == ["Boundary", "Later"]
    assert await titles(dueBefore="2026-07-02T00:00:01+00:00", priority=["MEDIUM"]) == [
        "Boundary",
        "Dentist",
    ]
    counts = await api.post(
        "{ me { taskCounts { todo inProgress done total } } }", token=user.access_token
    )
    assert counts.data["me"]["taskCounts"] == {"todo": 5, "inProgress": 0, "done": 1, "total": 6}


async def test_orders_follow_the_sdl_rules(api: Api) -> None:
    user = await api.register()
    for title, priority, due in [
        ("beta", "LOW", None),
        ("Alpha", "URGENT", "2026-05-01T00:00:00Z"),
        ("alpha", "MEDIUM", None),
        ("Gamma", "HIGH", "2026-04-01T00:00:00Z"),
        ("delta", "URGENT", "2026-05-01T00:00:00Z"),
    ]:
        await create(api, user, title=title, priority=priority, dueAt=due)
    ranks = {"LOW": 0, "MEDIUM": 1, "HIGH": 2, "URGENT": 3}
    for direction in ("ASC", "DESC"):
        order = {"direction": direction}
        reverse = direction == "DESC"
        by_priority = (await page(api, user, orderBy={"field": "PRIORITY", **order}))["edges"]
        got = [ranks[e["node"]["priority"]] for e in by_priority]
        assert got == sorted(got, reverse=reverse)
        by_title = (await page(api, user, orderBy={"field": "TITLE", **order}))["edges"]
        got_titles = [e["node"]["title"].lower() for e in by_title]
        assert got_titles == sorted(got_titles, reverse=reverse)
        by_due = (await page(api, user, orderBy={"field": "DUE_AT", **order}))["edges"]
        dues = [e["node"]["dueAt"] for e in by_due]
        assert dues[3:] == [None, None]
        assert dues[:3] == sorted(dues[:3], reverse=reverse)


async def test_page_info_and_defaults(api: Api) -> None:
    user = await api.register()
    await asyncio.gather(*(create(api, user, title=f"t{n}") for n in range(23)))
    default = await page(api, user)
    assert len(default["edges"]) == 20
    assert default["totalCount"] == 23
    assert default["pageInfo"]["hasNextPage"]
    assert not default["pageInfo"]["hasPreviousPage"]
    assert [e["node"]["id"] for e in default["edges"]] == [n["id"] for n in default["nodes"]]
    assert default["pageInfo"]["startCursor"] == default["edges"][0]["cursor"]
    empty = await page(api, user, first=0)
    assert empty["edges"] == []
    assert empty["pageInfo"]["hasNextPage"]
    assert empty["pageInfo"]["startCursor"] is None
    tail = await page(api, user, first=20, after=default["pageInfo"]["endCursor"])
    assert len(tail["edges"]) == 3
    assert not tail["pageInfo"]["hasNextPage"]
    assert tail["pageInfo"]["hasPreviousPage"]
    # Between two cursors: the tasks strictly inside, and both flags exact.
    edges = default["edges"]
    inside = await page(api, user, first=10, after=edges[2]["cursor"], before=edges[6]["cursor"])
    assert [n["id"] for n in inside["nodes"]] == [e["node"]["id"] for e in edges[3:6]]
    assert inside["pageInfo"]["hasNextPage"]
    assert inside["pageInfo"]["hasPreviousPage"]
    last = await page(api, user, last=2, before=edges[2]["cursor"])
    assert [n["id"] for n in last["nodes"]] == [e["node"]["id"] for e in edges[:2]]
    assert not last["pageInfo"]["hasPreviousPage"]
    assert last["pageInfo"]["hasNextPage"]
