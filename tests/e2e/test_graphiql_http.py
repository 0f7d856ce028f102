"""GraphiQL over plain HTTP: a browser's GET never executes; every file the page names is ours."""

from __future__ import annotations

import uuid
from html.parser import HTMLParser

import httpx
import pytest

from tests.e2e.api import Api

pytestmark = pytest.mark.e2e

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css"}


class AssetLinks(HTMLParser):
    """The URLs a page's <script src> and <link href> elements load."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href"}.get(tag)
        for name, value in attrs:
            if name == wanted and value is not None:
                self.urls.append(value)


async def graphiql_page(api: Api, **params: str) -> httpx.Response:
    reply = await api.http.get(api.url, params=params, headers={"Accept": BROWSER_ACCEPT})
    if reply.status_code == 503:
        pytest.fail(f"GraphiQL's files are missing on the server: {reply.text}")
    return reply


async def test_a_browser_get_gets_the_page_and_never_executes(api: Api) -> None:
    email = f"never-{uuid.uuid4().hex[:12]}@example.test"
    mutation = (
        f'mutation {{ register(input: {{email: "{email}", password: "correct horse battery", '
        f'name: "<b>Eve</b>"}}) {{ accessToken }} }}'
    )

    reply = await graphiql_page(api, query=mutation)

    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/html")
    assert "<b>Eve</b>" not in reply.text
    assert email in reply.text  # pre-filled, as JSON inside the page
    assert "default-src 'none'" in reply.headers["content-security-policy"]
    # Had the GET run the mutation, this email would now be taken.
    registered = await api.post(
        "mutation($i: RegisterInput!) { register(input: $i) { user { email } } }",
        {"i": {"email": email, "password": "correct horse battery", "name": "Eve"}},
    )
    assert registered.errors == []
    assert registered.data["register"]["user"]["email"] == email


async def test_a_query_cannot_break_out_of_the_page(api: Api) -> None:
    hostile = "{ __typename } # </script><script>alert(1)</script><!--"

    reply = await graphiql_page(api, query=hostile)

    assert reply.status_code == 200
    assert "<script>alert(1)" not in reply.text
    assert "\\u003c/script\\u003e\\u003cscript\\u003ealert(1)" in reply.text


async def test_every_file_the_page_names_is_served_here_with_long_caching(api: Api) -> None:
    parser = AssetLinks()
    parser.feed((await graphiql_page(api)).text)
    urls = [url for url in parser.urls if not url.startswith("data:")]

    assert len(urls) >= 7  # GraphiQL, its plugin, React, ReactDOM, our script and styles
    for url in urls:
        assert url.startswith("/graphiql/"), url
        reply = await api.http.get(f"{api.server.base_url}{url}")
        assert reply.status_code == 200, url
        suffix = url[url.rindex(".") :]
        assert reply.headers["content-type"].startswith(CONTENT_TYPES[suffix]), url
        assert "immutable" in reply.headers["cache-control"], url
        assert reply.content


@pytest.mark.parametrize(
    "path",
    [
        "/graphiql/vendor/react@18.2.0/package.json",  # in the tarball, not in the manifest
        "/graphiql/vendor/.stamp",
        "/graphiql/vendor/react@18.2.0/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/graphiql/vendor/react@18.1.0/umd/react.production.min.js",
        "/graphiql/static/taskql-graphiql.000000000000.js",
        "/graphiql/static/page.py",
    ],
)
async def test_nothing_else_is_served_under_the_prefix(api: Api, path: str) -> None:
    reply = await api.http.get(f"{api.server.base_url}{path}")
    assert reply.status_code == 404


async def test_a_get_asking_for_json_still_executes(api: Api) -> None:
    reply = await api.http.get(
        api.url, params={"query": "{ __typename }"}, headers={"Accept": "application/json"}
    )
    assert reply.status_code == 200
    assert reply.json()["data"] == {"__typename": "Query"}
