"""The client's address: X-Forwarded-For is believed only from configured trusted proxies,
given as addresses or networks (`10.0.0.0/8`: a load balancer whose pods change address)."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from functools import lru_cache

from starlette.requests import HTTPConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=16)
def _networks(trusted_proxies: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted_proxies)


@lru_cache(maxsize=4096)  # the same few peers (proxies, load balancers) on every request
def _trusted(address: str, trusted_proxies: tuple[str, ...]) -> bool:
    if not trusted_proxies:
        return False
    if address in trusted_proxies:
        return True
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in _networks(trusted_proxies))


def client_address(connection: HTTPConnection, *, trusted_proxies: Collection[str]) -> str:
    trusted = tuple(trusted_proxies)
    peer = connection.client.host if connection.client else "unknown"
    if not _trusted(peer, trusted):
        return peer
    forwarded = connection.headers.get("x-forwarded-for", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    # The right-most hop a trusted proxy did not add is the client.
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop
    return peer
