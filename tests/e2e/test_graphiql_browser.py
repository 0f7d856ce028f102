"""GraphiQL in headless Chromium: it renders and runs operations with nothing but this server.

Every request to another origin is aborted and recorded, so a page that needed a CDN (or any
other host) would fail here exactly as it would on a machine without network.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from playwright.async_api import Browser, Page, Request, Route, WebSocket, async_playwright

from tests.e2e.api import Api, without_cost
from tests.e2e.server_process import ServerProcess

pytestmark = pytest.mark.e2e

# Without the background-networking switches Chromium calls Google hosts on its own.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
RESULT = ".result-window .CodeMirror"
WAIT_SECONDS = 10.0


def chromium_binary() -> str | None:
    found = shutil.which("chromium")
    if found is None and Path("/usr/bin/chromium").exists():
        found = "/usr/bin/chromium"
    return found


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    binary = chromium_binary()
    if binary is None:
        pytest.skip("no Chromium: install the Debian package `chromium` (.ci/run does)")
    # Playwright gives every launch a fresh, temporary profile; it never downloads a browser.
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=binary, args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class Traffic:
    """What one page asked for, what was refused, and what went wrong."""

    origin: str
    requested: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)
    frames_sent: list[str] = field(default_factory=list)
    frame_sent: asyncio.Event = field(default_factory=asyncio.Event)
    graphql_requests: list[Request] = field(default_factory=list)

    def is_ours(self, url: str) -> bool:
        # The server under test speaks plain HTTP, and its websocket shares host and port.
        parts = urlsplit(url)
        return parts.scheme in {"http", "ws"} and parts.netloc == urlsplit(self.origin).netloc

    async def route(self, route: Route) -> None:
        url = route.request.url
        if self.is_ours(url):
            await route.continue_()
        else:
            self.refused.append(url)
            await route.abort()

    def on_request(self, request: Request) -> None:
        self.requested.append(request.url)
        if urlsplit(request.url).path == "/graphql" and request.method == "POST":
            self.graphql_requests.append(request)

    def on_websocket(self, websocket: WebSocket) -> None:
        # Attached while the socket's first event is dispatched: no frame is missed.
        self.websockets.append(websocket.url)
        websocket.on("framesent", self.on_frame_sent)

    def on_frame_sent(self, payload: str | bytes) -> None:
        self.frames_sent.append(payload if isinstance(payload, str) else payload.decode())
        self.frame_sent.set()

    def foreign(self) -> list[str]:
        loaded = self.requested + self.websockets
        return [
            url for url in loaded if not (self.is_ours(url) or url.startswith(("data:", "blob:")))
        ]


async def open_graphiql(
    browser: Browser, server: ServerProcess, **params: str
) -> tuple[Page, Traffic]:
    context = await browser.new_context()
    page = await context.new_page()
    traffic = Traffic(origin=server.base_url)
    await context.route("**/*", traffic.route)
    page.on("request", traffic.on_request)
    page.on("requestfailed", lambda request: traffic.failed.append(request.url))
    page.on("response", lambda reply: reply.status >= 400 and traffic.failed.append(reply.url))
    page.on("pageerror", lambda error: traffic.page_errors.append(str(error)))
    page.on("websocket", traffic.on_websocket)
    query = f"?{urlencode(params)}" if params else ""
    await page.goto(f"{server.base_url}/graphql{query}")
    await page.locator(QUERY_EDITOR).wait_for(timeout=WAIT_SECONDS * 1000)
    return page, traffic


async def set_headers(page: Page, headers: dict[str, str]) -> None:
    await page.get_by_role("button", name="Headers", exact=True).click()
    editor = page.locator(".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror")
    await editor.evaluate(
        "(element, text) => element.CodeMirror.setValue(text)", json.dumps(headers)
    )


async def editor_text(page: Page, selector: str) -> str:
    text: str = await page.locator(selector).evaluate("element => element.CodeMirror.getValue()")
    return text


async def run_and_read(page: Page) -> Any:
    await page.locator(".graphiql-execute-button").click()
    await page.wait_for_function(
        "selector => document.querySelector(selector)?.CodeMirror.getValue().trim() !== ''",
        arg=RESULT,
        timeout=WAIT_SECONDS * 1000,
    )
    return json.loads(await editor_text(page, RESULT))


async def first_frame(traffic: Traffic) -> dict[str, Any]:
    async with asyncio.timeout(WAIT_SECONDS):
        await traffic.frame_sent.wait()
    frame: dict[str, Any] = json.loads(traffic.frames_sent[0])
    return frame


async def test_the_page_renders_with_files_from_this_server_only(
    browser: Browser, api_server: ServerProcess
) -> None:
    page, traffic = await open_graphiql(browser, api_server)
    await page.wait_for_load_state("networkidle")

    assert await page.locator(".graphiql-container").is_visible()
    assert await page.locator(".graphiql-execute-button").is_visible()
    assert "query Me" in await editor_text(page, QUERY_EDITOR)  # our welcome, nothing run
    assert any("/graphiql/vendor/graphiql@" in url for url in traffic.requested)
    assert traffic.foreign() == []
    assert traffic.refused == []
    assert traffic.failed == []
    assert traffic.page_errors == []


async def test_a_prefilled_query_runs_signed_in(
    browser: Browser, api_server: ServerProcess, api: Api
) -> None:
    user = await api.register()
    page, traffic = await open_graphiql(browser, api_server, query="{ me { email } }")
    assert await editor_text(page, QUERY_EDITOR) == "{ me { email } }"

    await set_headers(page, {"Authorization": f"Bearer {user.access_token}"})
    result = await run_and_read(page)

    assert without_cost(result) == {"data": {"me": {"email": user.email}}}
    sent = await traffic.graphql_requests[-1].all_headers()
    assert sent["authorization"] == f"Bearer {user.access_token}"
    assert traffic.foreign() == []
    assert traffic.failed == []
    assert traffic.page_errors == []


async def test_a_subscription_opens_our_websocket_and_sends_authorization_in_init(
    browser: Browser, api_server: ServerProcess, api: Api
) -> None:
    user = await api.register()
    subscription = "subscription Watch { taskEvents { type } }"
    websocket_url = f"ws://{urlsplit(api_server.base_url).netloc}/graphql"

    page, anonymous = await open_graphiql(browser, api_server, query=subscription)
    await page.locator(".graphiql-execute-button").click()
    assert await first_frame(anonymous) == {"type": "connection_init", "payload": {}}
    await page.context.close()

    page, signed_in = await open_graphiql(browser, api_server, query=subscription)
    await set_headers(page, {"Authorization": f"Bearer {user.access_token}", "X-Other": "1"})
    await page.locator(".graphiql-execute-button").click()
    assert await first_frame(signed_in) == {
        "type": "connection_init",
        "payload": {"Authorization": f"Bearer {user.access_token}"},
    }

    assert anonymous.websockets == signed_in.websockets == [websocket_url]
    assert anonymous.foreign() == signed_in.foreign() == []
