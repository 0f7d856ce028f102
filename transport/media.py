"""Content negotiation for GraphQL over HTTP: which media type a client gets back.

The GraphQL-over-HTTP spec lets a client ask for `application/graphql-response+json`, whose
status codes say whether the request was executed; `application/json` stays the default so
clients written before that media type keep working.
"""

from __future__ import annotations

from enum import StrEnum


class MediaType(StrEnum):
    JSON = "application/json"
    GRAPHQL_RESPONSE = "application/graphql-response+json"
    HTML = "text/html"


def _ranges(accept: str) -> list[tuple[str, float]]:
    """The media ranges of an Accept header with their q-values, in the order given."""
    ranges: list[tuple[str, float]] = []
    for part in accept.split(","):
        name, *parameters = (piece.strip() for piece in part.split(";"))
        if not name:
            continue
        quality = 1.0
        for parameter in parameters:
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranges.append((name.lower(), quality))
    return ranges


def _quality(media_type: MediaType, ranges: list[tuple[str, float]]) -> tuple[float, int]:
    """How much the client wants `media_type`: (q-value, specificity of the matching range)."""
    kind = media_type.value.split("/")[0]
    best = (0.0, -1)
    for name, quality in ranges:
        if name == media_type.value:
            specificity = 2
        elif name == f"{kind}/*":
            specificity = 1
        elif name == "*/*":
            specificity = 0
        else:
            continue
        # The most specific range decides a media type's quality (RFC 9110 §12.5.1).
        if specificity > best[1]:
            best = (quality, specificity)
    return best


def response_media_type(accept: str | None) -> MediaType:
    """The JSON flavour to answer with: the new media type only when the client prefers it."""
    if not accept:
        return MediaType.JSON
    ranges = _ranges(accept)
    modern, specificity = _quality(MediaType.GRAPHQL_RESPONSE, ranges)
    legacy, _ = _quality(MediaType.JSON, ranges)
    # Named explicitly: a bare */* keeps the legacy default.
    if specificity == 2 and modern > 0 and modern >= legacy:
        return MediaType.GRAPHQL_RESPONSE
    return MediaType.JSON


def prefers_html(accept: str | None) -> bool:
    """True when a browser navigates here: text/html is named and ranks above every JSON type."""
    if not accept:
        return False
    ranges = _ranges(accept)
    html, specificity = _quality(MediaType.HTML, ranges)
    if html <= 0 or specificity < 2:
        # A bare */* (curl, fetch) is not a request for a page.
        return False
    json = max(_quality(kind, ranges)[0] for kind in (MediaType.JSON, MediaType.GRAPHQL_RESPONSE))
    return html > json or (html == json and _named_first(ranges))


def _named_first(ranges: list[tuple[str, float]]) -> bool:
    for name, _ in ranges:
        if name == MediaType.HTML.value:
            return True
        if name in (MediaType.JSON.value, MediaType.GRAPHQL_RESPONSE.value):
            return False
    return True
