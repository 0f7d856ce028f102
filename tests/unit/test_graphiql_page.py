"""GraphiQL's page: request values only as inert JSON, and a clear page when files are missing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

import graphiql.page
from graphiql.assets import FETCH_COMMAND
from graphiql.page import graphiql_response, graphiql_routes, render_page

HOSTILE = "</script><script>alert(1)</script><!-- & '\"\u2028"


def config_of(page: str) -> dict[str, object]:
    found = re.search(
        r'<script id="taskql-graphiql-config" type="application/json">(.*?)</script>', page
    )
    assert found is not None
    parsed: dict[str, object] = json.loads(found.group(1))
    return parsed


def test_prefill_reaches_the_page_only_as_escaped_json() -> None:
    prefill = {"query": HOSTILE, "variables": '{"a": "</script>"}', "operationName": None}

    page = render_page(endpoint="/graphql", prefill=prefill)

    assert "<script>alert(1)" not in page
    assert "<!-- &" not in page
    assert page.count("</script>") == page.count("<script")  # every element closes only itself
    assert config_of(page) == {"endpoint": "/graphql", **prefill}


def test_every_script_and_stylesheet_is_on_this_server() -> None:
    page = render_page(endpoint="/graphql", prefill={})
    urls = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert urls
    assert all(url.startswith("/graphiql/") or url == "data:," for url in urls), urls


async def test_missing_files_give_a_503_page_that_names_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(graphiql.page, "default_destination", lambda: tmp_path / "absent")
    app = Starlette(routes=[Route("/graphql", graphiql_response), *graphiql_routes()])

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        reply = await client.get("/graphql?query={me{id}}", headers={"Accept": "text/html"})
        asset = await client.get("/graphiql/vendor/react@18.2.0/umd/react.production.min.js")

    assert reply.status_code == 503
    assert reply.headers["content-type"].startswith("text/html")
    assert FETCH_COMMAND in reply.text
    assert "make run" in reply.text
    assert asset.status_code == 404
