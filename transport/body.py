"""Reading a request body with a hard size limit, before anything parses it."""

from __future__ import annotations

from starlette.requests import Request

MAX_BODY_BYTES = 1024 * 1024


class BodyTooLarge(Exception):  # noqa: N818 -- reads as the HTTP outcome it names
    """The body is over the limit (HTTP 413)."""


async def read_limited_body(request: Request, *, limit: int = MAX_BODY_BYTES) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        # Refused without reading a byte of it.
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    # A chunked body declares no length: count while reading and stop at the limit.
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
