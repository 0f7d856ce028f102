"""The client's address: X-Forwarded-For is believed only from configured trusted proxies."""

from __future__ import annotations

from collections.abc import Collection

from starlette.requests import HTTPConnection


def client_address(connection: HTTPConnection, *, trusted_proxies: Collection[str]) -> str:
    peer = connection.client.host if connection.client else "unknown"
    if peer not in trusted_proxies:
        return peer
    forwarded = connection.headers.get("x-forwarded-for", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    # The right-most hop a trusted proxy did not add is the client.
    for hop in reversed(hops):
        if hop not in trusted_proxies:
            return hop
    return peer
