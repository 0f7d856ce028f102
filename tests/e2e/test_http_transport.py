"""GraphQL over HTTP through a real server: CONTRACT.md's status-code table for both media
types, GET, batches, the body limit, malformed requests, request ids and CORS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from beanie import PydanticObjectId

from schema.node import decode_global_id, encode_global_id
from tests.e2e.api import Api, SignedInUser, without_cost

pytestmark = pytest.mark.e2e

JSON = "application/json"
MODERN = "application/graphql-response+json"
MIB = 1024 * 1024
CREATE = "mutation($title: String!) { createTask(input: {title: $title}) { id title version } }"
TITLES = "{ tasks(orderBy: {field: CREATED_AT, direction: ASC}) { nodes { title } totalCount } }"


async def post(
    api: Api, body: Any, *, accept: str | None = None, user: SignedInUser | None = None
) -> httpx.Response:
    headers = {"Content-Type": JSON}
    if accept is not None:
        headers["Accept"] = accept
    if user is not None:
        headers.update(user.headers)
    return await api.http.post(api.url, content=orjson.dumps(body), headers=headers)


def codes(body: Any) -> list[str]:
    return [error["extensions"]["code"] for error in body["errors"]]


async def titles(api: Api, user: SignedInUser) -> list[str]:
    reply = await api.post(TITLES, token=user.access_token)
    return [node["title"] for node in reply.data["tasks"]["nodes"]]


@pytest.mark.parametrize("accept", [None, JSON, MODERN])
async def test_an_executed_operation_is_200_with_data(api: Api, accept: str | None) -> None:
    reply = await post(api, {"query": "{ me { id } }"}, accept=accept)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == f"{accept or JSON}; charset=utf-8"
    assert without_cost(reply.json()) == {"data": {"me": None}}
    assert reply.json()["extensions"]["cost"]["requestedQueryCost"] == 1


@pytest.mark.parametrize(
    ("request_body", "code"),
    [
        ({"query": "{ me { id }"}, "GRAPHQL_PARSE_FAILED"),
        ({"query": ""}, "GRAPHQL_PARSE_FAILED"),
        ({"query": "{ me { nope } }"}, "GRAPHQL_VALIDATION_FAILED"),
        (
            {
                "query": "query($n: Int) { tasks(first: $n) { totalCount } }",
                "variables": {"n": "x"},
            },
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            {"query": "query($n: Int!) { tasks(first: $n) { totalCount } }", "variables": {}},
            "GRAPHQL_VALIDATION_FAILED",
        ),
        ({"query": "query A { me { id } } query B { me { id } }"}, "GRAPHQL_VALIDATION_FAILED"),
    ],
)
async def test_request_errors_are_200_as_json_and_400_as_graphql_response(
    api: Api, request_body: dict[str, Any], code: str
) -> None:
    legacy = await post(api, request_body, accept=JSON)
    modern = await post(api, request_body, accept=MODERN)
    assert (legacy.status_code, modern.status_code) == (200, 400)
    assert modern.headers["content-type"].startswith(MODERN)
    for reply in (legacy, modern):
        body = reply.json()
        assert "data" not in body, body
        assert codes(body) == [code]
        assert body["errors"][0]["message"]


async def test_field_errors_are_executed_200_for_both_media_types(api: Api) -> None:
    user = await api.register()
    _, (owner,) = decode_global_id(user.id)
    missing = encode_global_id("Task", owner, PydanticObjectId())
    query = {"query": "query($id: ID!) { task(id: $id) { id } }", "variables": {"id": "%%%"}}
    for accept in (JSON, MODERN):
        reply = await post(api, query, accept=accept, user=user)
        assert reply.status_code == 200
        assert reply.json()["data"] == {"task": None}
        assert codes(reply.json()) == ["BAD_USER_INPUT"]
    query["variables"] = {"id": missing}
    reply = await post(api, query, accept=MODERN, user=user)
    assert (reply.status_code, without_cost(reply.json())) == (200, {"data": {"task": None}})


async def test_get_runs_queries_with_json_encoded_variables(api: Api) -> None:
    user = await api.register(name="Getter")
    reply = await api.http.get(
        api.url,
        params={
            "query": "query($first: Int) { me { name tasks(first: $first) { totalCount } } }",
            "variables": orjson.dumps({"first": 1}).decode(),
        },
        headers=user.headers,
    )
    assert reply.status_code == 200
    assert without_cost(reply.json()) == {
        "data": {"me": {"name": "Getter", "tasks": {"totalCount": 0}}}
    }


@pytest.mark.parametrize("accept", [JSON, MODERN])
async def test_get_refuses_mutations_with_400_and_changes_nothing(api: Api, accept: str) -> None:
    user = await api.register()
    reply = await api.http.get(
        api.url,
        params={"query": 'mutation { createTask(input: {title: "via GET"}) { id } }'},
        headers={**user.headers, "Accept": accept},
    )
    assert reply.status_code == 400
    assert codes(reply.json()) == ["BAD_USER_INPUT"]
    assert "POST" in reply.json()["errors"][0]["message"]
    assert await titles(api, user) == []


async def test_get_without_a_query_is_400(api: Api) -> None:
    reply = await api.http.get(api.url, headers={"Accept": JSON})
    assert reply.status_code == 400
    assert reply.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "query"}


async def test_a_subscription_over_http_is_refused(api: Api) -> None:
    reply = await post(api, {"query": "subscription { __typename }"})
    assert reply.status_code == 400
    assert codes(reply.json()) == ["BAD_USER_INPUT"]
    assert "websocket" in reply.json()["errors"][0]["message"]


async def test_a_batch_of_five_runs_in_order_each_with_its_own_result(api: Api) -> None:
    user = await api.register()
    batch = [{"query": CREATE, "variables": {"title": f"step {index}"}} for index in range(4)]
    batch.append({"query": TITLES})
    reply = await post(api, batch, user=user)
    assert reply.status_code == 200
    results = reply.json()
    assert isinstance(results, list)
    assert len(results) == 5
    assert [item["data"]["createTask"]["title"] for item in results[:4]] == [
        f"step {index}" for index in range(4)
    ]
    # The last operation ran after the four writes, in the order they were sent.
    assert results[4]["data"]["tasks"] == {
        "nodes": [{"title": f"step {index}"} for index in range(4)],
        "totalCount": 4,
    }


async def test_a_batch_reports_each_operation_on_its_own(api: Api) -> None:
    user = await api.register()
    batch = [
        {"query": CREATE, "variables": {"title": "kept"}},
        {"query": "{ nope }"},
        {"query": CREATE, "variables": {"title": "   "}},
        {"query": "{ me { id } }"},
    ]
    reply = await post(api, batch, accept=MODERN, user=user)
    assert reply.status_code == 200
    first, invalid, rejected, me = reply.json()
    assert first["data"]["createTask"]["title"] == "kept"
    assert "data" not in invalid
    assert codes(invalid) == ["GRAPHQL_VALIDATION_FAILED"]
    assert codes(rejected) == ["BAD_USER_INPUT"]
    assert without_cost(me) == {"data": {"me": {"id": user.id}}}
    assert await titles(api, user) == ["kept"]
    # Each operation was priced and charged on its own.
    assert [item["extensions"]["cost"]["requestedQueryCost"] for item in reply.json()] == [
        11,
        0,
        11,
        1,
    ]


@pytest.mark.parametrize("size", [0, 6])
async def test_an_empty_or_oversized_batch_is_400_and_nothing_runs(api: Api, size: int) -> None:
    user = await api.register()
    batch = [{"query": CREATE, "variables": {"title": f"t{index}"}} for index in range(size)]
    reply = await post(api, batch, user=user)
    assert reply.status_code == 400
    body = reply.json()
    assert isinstance(body, dict)
    assert codes(body) == ["QUERY_TOO_COMPLEX"]
    assert await titles(api, user) == []


async def test_a_malformed_item_refuses_the_whole_batch(api: Api) -> None:
    user = await api.register()
    batch = [{"query": CREATE, "variables": {"title": "never"}}, {"query": 7}]
    reply = await post(api, batch, user=user)
    assert reply.status_code == 400
    assert reply.json()["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "[1].query",
    }
    assert await titles(api, user) == []


def padded(size: int) -> bytes:
    """A valid request body of exactly `size` bytes (JSON allows trailing whitespace)."""
    body = orjson.dumps({"query": "{ __typename }"})
    return body + b" " * (size - len(body))


async def test_a_body_of_exactly_one_mib_is_served(api: Api) -> None:
    reply = await api.http.post(api.url, content=padded(MIB), headers={"Content-Type": JSON})
    assert reply.status_code == 200
    assert without_cost(reply.json()) == {"data": {"__typename": "Query"}}


async def test_a_body_over_one_mib_is_413(api: Api) -> None:
    user = await api.register()
    body = orjson.dumps({"query": CREATE, "variables": {"title": "too big"}})
    body += b" " * (MIB + 1 - len(body))
    headers = {"Content-Type": JSON, **user.headers}
    reply = await api.http.post(api.url, content=body, headers=headers)
    assert reply.status_code == 413
    assert reply.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "body"}
    assert await titles(api, user) == []


async def test_a_chunked_body_over_one_mib_is_413(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        body = padded(MIB + 1)
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    reply = await api.http.post(api.url, content=chunks(), headers={"Content-Type": JSON})
    assert "content-length" not in reply.request.headers
    assert reply.status_code == 413


@pytest.mark.parametrize(
    ("content", "content_type", "field"),
    [
        (b"{not json", JSON, "body"),
        (b'"{ me { id } }"', JSON, "body"),
        (b'{"query": 1}', JSON, "query"),
        (b'{"query": "{ me { id } }", "variables": [1]}', JSON, "variables"),
        (b'{"query": "{ me { id } }"}', "text/plain", "Content-Type"),
        (b"query={me{id}}", "application/x-www-form-urlencoded", "Content-Type"),
    ],
)
@pytest.mark.parametrize("accept", [JSON, MODERN])
async def test_what_is_not_a_graphql_request_is_400(
    api: Api, content: bytes, content_type: str, field: str, accept: str
) -> None:
    reply = await api.http.post(
        api.url, content=content, headers={"Content-Type": content_type, "Accept": accept}
    )
    assert reply.status_code == 400
    assert reply.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


async def test_request_ids_are_echoed_or_made(api: Api) -> None:
    sent = await api.http.post(
        api.url, json={"query": "{ me { id } }"}, headers={"X-Request-ID": "abc-123"}
    )
    assert sent.headers["x-request-id"] == "abc-123"
    made = await api.http.post(api.url, json={"query": "{ me { id } }"})
    assert len(made.headers["x-request-id"]) == 32


async def test_development_allows_any_origin(api: Api) -> None:
    preflight = await api.http.options(
        api.url,
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed
    reply = await api.http.post(
        api.url, json={"query": "{ me { id } }"}, headers={"Origin": "http://localhost:5173"}
    )
    assert reply.headers["access-control-allow-origin"] == "*"
    exposed = {h.strip() for h in reply.headers["access-control-expose-headers"].split(",")}
    # A page on another origin may read its request id and where its budget stands.
    assert {"x-request-id", "ratelimit", "ratelimit-policy", "retry-after"} <= {
        h.lower() for h in exposed
    }
    assert reply.headers["RateLimit"].startswith('"anonymous";r=')
