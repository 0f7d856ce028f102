"""A production server: no GraphiQL, no introspection, no field suggestions, CORS only for
the configured origins (HTTP and websockets)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator

import httpx
import pytest
from pymongo import MongoClient
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.e2e.api import without_cost
from tests.e2e.server_process import ServerProcess

pytestmark = pytest.mark.e2e

APP_ORIGIN = "https://app.example.com"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,*/*;q=0.8"


@pytest.fixture(scope="module")
def production_server(mongodb_url: str, redis_url: str) -> Iterator[ServerProcess]:
    database = f"taskql_prod_{uuid.uuid4().hex[:8]}"
    env = {
        "TASKQL_ENV": "production",
        "MONGODB_URL": mongodb_url,
        "REDIS_URL": redis_url,
        "MONGODB_DB": database,
        "JWT_SECRET": secrets.token_urlsafe(48),
        "TASKQL_CORS_ORIGINS": APP_ORIGIN,
    }
    with ServerProcess(env=env) as server:
        yield server
    with MongoClient(mongodb_url) as client:
        client.drop_database(database)


def graphql(server: ServerProcess, query: str, **headers: str) -> httpx.Response:
    return httpx.post(f"{server.base_url}/graphql", json={"query": query}, headers=headers)


def test_introspection_is_refused(production_server: ServerProcess) -> None:
    for query in ("{ __schema { queryType { name } } }", '{ __type(name: "Task") { name } }'):
        reply = graphql(production_server, query)
        assert reply.status_code == 200
        body = reply.json()
        assert "data" not in body
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    typename = graphql(production_server, "{ __typename }").json()
    assert without_cost(typename) == {"data": {"__typename": "Query"}}


def test_validation_messages_carry_no_suggestions(
    production_server: ServerProcess, api_server: ServerProcess
) -> None:
    query = "{ me { emial } }"
    development = graphql(api_server, query).json()["errors"][0]["message"]
    production = graphql(production_server, query).json()["errors"][0]["message"]
    assert "Did you mean" in development
    assert production == "Cannot query field 'emial' on type 'User'."
    enum = "{ tasks(filter: {status: [DON]}) { totalCount } }"
    assert "Did you mean" not in graphql(production_server, enum).json()["errors"][0]["message"]


def test_graphiql_is_off(production_server: ServerProcess) -> None:
    reply = httpx.get(f"{production_server.base_url}/graphql", headers={"Accept": BROWSER_ACCEPT})
    assert "html" not in reply.headers["content-type"]
    assert reply.status_code == 400
    assert reply.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert httpx.get(f"{production_server.base_url}/graphiql/").status_code == 404


def test_cors_allows_only_the_configured_origins(production_server: ServerProcess) -> None:
    def preflight(origin: str) -> httpx.Response:
        return httpx.options(
            f"{production_server.base_url}/graphql",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )

    allowed = preflight(APP_ORIGIN)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == APP_ORIGIN
    refused = preflight("https://evil.example.net")
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    simple = graphql(production_server, "{ __typename }", Origin="https://evil.example.net")
    assert "access-control-allow-origin" not in simple.headers


def test_websockets_from_other_origins_are_refused(production_server: ServerProcess) -> None:
    url = f"ws://127.0.0.1:{production_server.port}/graphql"
    with connect(
        url,
        subprotocols=["graphql-transport-ws"],
        origin=APP_ORIGIN,  # type: ignore[arg-type]
    ) as socket:
        assert socket.subprotocol == "graphql-transport-ws"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, subprotocols=["graphql-transport-ws"], origin="https://evil.example.net")  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
