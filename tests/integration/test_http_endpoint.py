"""The HTTP endpoint in process: what it does around `schema.execute`, seen through a spy schema."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from auth.throttle import LocalCounters
from cost.budget import Budget, LocalBuckets
from loaders.cache import ObjectCache
from observability.metrics import TaskqlMetrics
from settings import Settings
from transport.http import GraphQLOverHttp
from transport.persisted_queries import PersistedQueries


class SpySchema:
    def __init__(self, *, fail: bool = False) -> None:
        self.calls: list[str] = []
        self.fail = fail

    async def execute(self, query: str, **_: Any) -> Any:
        self.calls.append(query)
        if self.fail:
            raise RuntimeError("secret internals")
        return SimpleNamespace(data={"ok": True}, errors=None, extensions=None)


def page(_: Request) -> Response:
    return HTMLResponse("<title>GraphiQL</title>")


def client(schema: SpySchema) -> httpx.AsyncClient:
    endpoint = GraphQLOverHttp(schema, graphiql=page)  # type: ignore[arg-type]
    app = Starlette(routes=[Route("/graphql", endpoint.handle, methods=["GET", "POST"])])
    metrics = TaskqlMetrics()
    app.state.taskql = SimpleNamespace(
        settings=Settings(),
        redis_guard=None,
        login_fallback=LocalCounters(),
        metrics=metrics,
        cache=ObjectCache(None, metrics=metrics),
        budget=Budget(None, local=LocalBuckets()),
        events=None,
        transactions=None,
        persisted=PersistedQueries(None),  # no query is persisted here
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_an_unexpected_failure_is_a_500_with_a_request_id_and_no_internals(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with client(SpySchema(fail=True)) as http:
        reply = await http.post(
            "/graphql", json={"query": "{ ok }"}, headers={"X-Request-ID": "req-1"}
        )
    assert reply.status_code == 500
    assert reply.json() == {
        "errors": [
            {
                "message": "Internal server error.",
                "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-1"},
            }
        ]
    }
    assert "secret internals" in caplog.text  # logged for operators, not sent to clients


async def test_a_browser_get_renders_the_ide_and_executes_nothing() -> None:
    schema = SpySchema()
    async with client(schema) as http:
        reply = await http.get(
            "/graphql",
            params={"query": "{ ok }"},
            headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"},
        )
        assert reply.text == "<title>GraphiQL</title>"
        assert schema.calls == []
        reply = await http.get("/graphql", params={"query": "{ ok }"})
    assert reply.json() == {"data": {"ok": True}}
    assert schema.calls == ["{ ok }"]


async def test_batch_items_run_one_after_another() -> None:
    schema = SpySchema()
    async with client(schema) as http:
        reply = await http.post("/graphql", json=[{"query": f"{{ n{i} }}"} for i in range(5)])
    assert reply.json() == [{"data": {"ok": True}}] * 5
    assert schema.calls == [f"{{ n{i} }}" for i in range(5)]
