"""The HTTP fast lane on two real instances: a repeated read is answered by one Redis script
(no GraphQL execution) with the same body and cost as the full path, charged to the budget,
and a write on the other instance is read right after it."""

from __future__ import annotations

import orjson
import pytest

from schema.node import decode_global_id
from tests.e2e.api import Api, Response, SignedInUser
from tests.e2e.server_process import ServerProcess
from tests.e2e.test_subscriptions import metric

pytestmark = pytest.mark.e2e

LIST = "query Page($n: Int!) { tasks(first: $n) { nodes { title version } totalCount } }"
CREATE = "mutation($t: String!) { createTask(input: {title: $t}) { id } }"
RENAME = "mutation($id: ID!, $t: String!) { updateTask(input: {id: $id, title: $t}) { version } }"


async def fast_answers(api: Api) -> float:
    return await metric(api, "taskql_fast_lane_answers_total")


async def read(api: Api, user: SignedInUser, first: int = 5) -> tuple[Response, float]:
    """The page, and how many fast-lane answers it took (0 or 1)."""
    before = await fast_answers(api)
    reply = await api.post(LIST, {"n": first}, headers=user.headers)
    assert reply.status == 200
    assert reply.errors == []
    return reply, await fast_answers(api) - before


def cost(reply: Response) -> dict[str, object]:
    reported = dict(reply.body["extensions"]["cost"])
    status = dict(reported.pop("throttleStatus"))
    available = status.pop("currentlyAvailable")
    assert isinstance(available, int)
    return {**reported, **status}


async def test_a_repeated_read_is_answered_by_the_fast_lane_exactly_as_by_the_full_path(
    api: Api, second_instance: ServerProcess
) -> None:
    other = Api(second_instance)
    user = await api.register()
    created = await api.post(CREATE, {"t": "first"}, headers=user.headers)
    task_id = created.data["createTask"]["id"]

    executed, fast = await read(api, user)
    assert fast == 0  # never seen: the full path runs it (and the cache keeps it)
    again, fast = await read(api, user)
    assert fast == 1
    assert again.body["data"] == executed.body["data"]
    assert again.data == {"tasks": {"nodes": [{"title": "first", "version": 1}], "totalCount": 1}}
    assert cost(again) == cost(executed)
    assert again.headers["RateLimit-Policy"] == executed.headers["RateLimit-Policy"]
    assert again.headers["RateLimit"].startswith('"user";r=')
    # Other variables are another request: the full path first.
    assert (await read(api, user, first=2))[1] == 0

    # A write on the other instance retires the cached response: read right after.
    renamed = await other.post(RENAME, {"id": task_id, "t": "second"}, headers=user.headers)
    assert renamed.data == {"updateTask": {"version": 2}}
    after_write, fast = await read(api, user)
    assert fast == 0
    assert after_write.data["tasks"]["nodes"] == [{"title": "second", "version": 2}]
    repeated, fast = await read(api, user)
    assert fast == 1
    assert repeated.body["data"] == after_write.body["data"]

    # Another user's identical request is never answered from this user's response.
    stranger = await api.register()
    theirs, fast = await read(api, stranger)
    assert theirs.data == {"tasks": {"nodes": [], "totalCount": 0}}
    await other.close()


async def test_the_fast_lane_charges_the_budget_and_refuses_nothing_itself(api: Api) -> None:
    user = await api.register()
    await read(api, user)
    _, fast = await read(api, user)
    assert fast == 1
    validated = await api.post(LIST, {"n": 5}, headers={**user.headers, "GraphQL-Cost": "validate"})
    assert "data" not in validated.body or validated.body["data"] is None  # priced, not run
    before = await fast_answers(api)
    remaining: list[int] = []
    for _ in range(20):  # back to back: the bucket refills less than they take
        reply = await api.post(LIST, {"n": 5}, headers=user.headers)
        remaining.append(reply.body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"])
    assert await fast_answers(api) - before == 20
    actual = cost(reply)["actualQueryCost"]
    assert isinstance(actual, int)
    assert actual >= 1
    assert remaining[-1] < remaining[0]


async def test_the_fast_lane_keeps_request_ids_and_leaves_browsers_to_cors(
    api: Api, api_server: ServerProcess
) -> None:
    user = await api.register()
    await read(api, user)
    before = await fast_answers(api)
    tagged = await api.post(LIST, {"n": 5}, headers={**user.headers, "X-Request-ID": "trace-7"})
    assert tagged.headers["X-Request-ID"] == "trace-7"
    assert tagged.headers["Content-Type"] == "application/json; charset=utf-8"
    (line,) = [orjson.loads(line) for line in api_server.log().splitlines() if '"trace-7"' in line]
    assert line["message"] == "graphql operation"
    assert (line["operation_type"], line["outcome"], line["user_id"]) == (
        "query",
        "ok",
        str(decode_global_id(user.id)[1][0]),
    )
    assert line["requested_cost"] >= line["actual_cost"] >= 1
    modern = await api.post(
        LIST,
        {"n": 5},
        headers={**user.headers, "Accept": "application/graphql-response+json"},
    )
    assert modern.headers["Content-Type"] == "application/graphql-response+json; charset=utf-8"
    assert modern.body["data"] == tagged.body["data"]
    assert await fast_answers(api) - before == 2

    browser = await api.post(
        LIST, {"n": 5}, headers={**user.headers, "Origin": "http://app.example"}
    )
    assert browser.headers["Access-Control-Allow-Origin"] in {"*", "http://app.example"}
    assert browser.body["data"] == tagged.body["data"]
    assert await fast_answers(api) - before == 2  # the full path answered it
