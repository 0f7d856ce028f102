"""Which media type a client gets, and when a GET is a browser asking for GraphiQL."""

from __future__ import annotations

import pytest

from transport.media import MediaType, prefers_html, response_media_type

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, MediaType.JSON),
        ("", MediaType.JSON),
        ("*/*", MediaType.JSON),
        ("application/json", MediaType.JSON),
        ("application/*", MediaType.JSON),
        ("application/graphql-response+json", MediaType.GRAPHQL_RESPONSE),
        ("application/graphql-response+json, application/json;q=0.9", MediaType.GRAPHQL_RESPONSE),
        ("application/json, application/graphql-response+json", MediaType.GRAPHQL_RESPONSE),
        ("application/json;q=1, application/graphql-response+json;q=0.5", MediaType.JSON),
        ("application/graphql-response+json;q=0", MediaType.JSON),
        ("application/graphql-response+json;q=oops", MediaType.JSON),
        ("text/plain", MediaType.JSON),
    ],
)
def test_response_media_type(accept: str | None, expected: MediaType) -> None:
    assert response_media_type(accept) is expected


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (BROWSER, True),
        ("text/html", True),
        ("text/html, application/json", True),
        ("application/json, text/html", False),
        ("application/json;q=0.5, text/html", True),
        ("text/html;q=0.5, application/json", False),
        ("text/html;q=0", False),
        ("*/*", False),
        ("text/*", False),
        ("application/json", False),
        (None, False),
        ("", False),
    ],
)
def test_prefers_html(accept: str | None, expected: bool) -> None:
    assert prefers_html(accept) is expected
