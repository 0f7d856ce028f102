"""Page plans (schema/compiled/page_plan.py): which documents they cover, and the data they
build from the object cache's JSON, written as the schema's types write it. (The executed
lane's e2e tests compare whole answers with the full path's.)"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import strawberry
from beanie import PydanticObjectId
from graphql import parse

from loaders import codecs
from models.task import task_from_storage
from models.task_query import TaskSort
from models.task_reads import TaskPage
from models.user import UserProfile
from schema.compiled.page_plan import NeedsRead, PagePlan, compile_page_plan
from schema.compiled.plan import NotCovered
from schema.node import encode_global_id
from schema.pagination import decode_cursor

OWNER = PydanticObjectId()
CREATED = datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=UTC)


def plan_of(schema: strawberry.Schema, query: str, name: str | None = None) -> PagePlan:
    return compile_page_plan(schema._schema, parse(query), name)


def cached_page(count: int, *, more: bool) -> dict[str, Any]:
    """A page as the object cache holds it: encoded by the codec, decoded as JSON."""
    tasks = [
        task_from_storage(
            {
                "_id": PydanticObjectId(),
                "owner_id": OWNER,
                "title": f"task {index}",
                "status": "IN_PROGRESS",
                "priority": "HIGH",
                "priority_rank": 2,
                "tags": ["x"],
                "due_at": CREATED if index == 0 else None,
                "created_at": CREATED,
                "updated_at": CREATED,
                "version": 3,
                "title_key": f"task {index}",
            }
        )
        for index in range(count)
    ]
    raw = codecs.TASK_PAGE.encode(TaskPage(documents=tasks, has_more=more))
    assert raw.startswith(b'{"n":%d,' % count)  # the count the lane's script reads
    value: dict[str, Any] = orjson.loads(raw)
    return value


def cached_profile() -> list[Any]:
    profile = UserProfile(
        id=OWNER, email="ada@example.test", name="Ada", tier="user", created_at=CREATED
    )
    value: list[Any] = orjson.loads(codecs.USER.encode(profile))
    return value


@pytest.mark.parametrize(
    "query",
    [
        "{ tasks(first: 2) { totalCount } }",
        '{ tasks(first: 2, filter: {search: "x"}) { nodes { id } } }',
        "{ tasks(first: 2, orderBy: {field: TITLE}) { nodes { id } } }",
        "{ me { id } tasks { nodes { id } } }",
        "{ a: tasks { nodes { id } } b: tasks { nodes { id } } }",
        "{ tasks { nodes { owner { taskCounts { total } } } } }",
        "{ tasks { nodes { owner { tasks { nodes { id } } } } } }",
        "query($s: Boolean!) { tasks { nodes { id @skip(if: $s) } } }",
        "{ me { id } }",
        "mutation { logoutAll }",
    ],
)
def test_what_is_not_a_plain_page_of_the_viewers_tasks_is_not_covered(
    schema: strawberry.Schema, query: str
) -> None:
    with pytest.raises(NotCovered):
        plan_of(schema, query)


def test_a_page_is_built_as_the_schema_writes_it(schema: strawberry.Schema) -> None:
    plan = plan_of(
        schema,
        "query P($n: Int) { __typename tasks(first: $n) { edges { cursor node { id status"
        " priority dueAt createdAt description tags owner { id name email createdAt } } }"
        " nodes { t: title version } pageInfo { hasNextPage hasPreviousPage endCursor } } }",
        "P",
    )
    assert plan.needs == {"owner", "next", "previous"}
    asked = plan.page_query(schema._schema, OWNER, {"n": 2})
    assert asked is not None
    query, sizes = asked
    assert (query.limit, query.backward, query.after, sizes) == (2, False, None, (2, None))
    page = cached_page(2, more=True)
    data = plan.data(query, page, cached_profile(), viewer=OWNER)

    first_id = page["tasks"][0]["_id"]
    owner = {
        "id": encode_global_id("User", OWNER),
        "name": "Ada",
        "email": "ada@example.test",
        "createdAt": "2026-12-01T10:00:00.123Z",
    }
    edge = data["tasks"]["edges"][0]
    assert data["__typename"] == "Query"
    assert edge["node"] == {
        "id": encode_global_id("Task", OWNER, PydanticObjectId(first_id)),
        "status": "IN_PROGRESS",
        "priority": "HIGH",
        "dueAt": "2026-12-01T10:00:00.123Z",
        "createdAt": "2026-12-01T10:00:00.123Z",
        "description": None,
        "tags": ["x"],
        "owner": owner,
    }
    assert data["tasks"]["edges"][1]["node"]["dueAt"] is None
    keyset = decode_cursor(edge["cursor"], sort=TaskSort(), field="after")
    assert (str(keyset.id), keyset.value) == (first_id, CREATED.replace(microsecond=123000))
    assert data["tasks"]["nodes"] == [{"t": "task 0", "version": 3}, {"t": "task 1", "version": 3}]
    assert data["tasks"]["pageInfo"] == {
        "hasNextPage": True,
        "hasPreviousPage": False,
        "endCursor": data["tasks"]["edges"][1]["cursor"],
    }
    # Someone else's profile shows no email (the page is always the viewer's own).
    other = plan.data(query, page, cached_profile(), viewer=PydanticObjectId())
    assert other["tasks"]["edges"][0]["node"]["owner"]["email"] is None


def test_a_flag_beyond_a_cursor_needs_a_probe(schema: strawberry.Schema) -> None:
    plan = plan_of(
        schema,
        "query P($a: String) { tasks(first: 1, after: $a) { pageInfo { hasPreviousPage } } }",
    )
    cursor = base64.urlsafe_b64encode(
        orjson.dumps(["t1", "CREATED_AT", "DESC", 0, str(PydanticObjectId())])
    ).decode()
    asked = plan.page_query(schema._schema, OWNER, {"a": cursor})
    assert asked is not None
    assert plan.may_probe(asked[0])
    with pytest.raises(NeedsRead):
        plan.data(asked[0], cached_page(1, more=False), None, viewer=OWNER)
    first = plan.page_query(schema._schema, OWNER, {})
    assert first is not None
    assert not plan.may_probe(first[0])
    assert plan.data(first[0], cached_page(1, more=False), None, viewer=OWNER) == {
        "tasks": {"pageInfo": {"hasPreviousPage": False}}
    }


@pytest.mark.parametrize(
    "variables", [{"n": "two"}, {"n": 101}, {"n": -1}, {"n": 1, "a": "not a cursor"}]
)
def test_refused_variables_and_arguments_are_left_to_the_full_path(
    schema: strawberry.Schema, variables: dict[str, Any]
) -> None:
    plan = plan_of(
        schema, "query P($n: Int, $a: String) { tasks(first: $n, after: $a) { nodes { id } } }"
    )
    assert plan.page_query(schema._schema, OWNER, variables) is None
