"""X-Forwarded-For is believed only from trusted proxies, named by address or by network."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from starlette.requests import HTTPConnection

from schema.client_address import client_address
from settings import Settings


def _connection(peer: str, forwarded: str | None = None) -> HTTPConnection:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return HTTPConnection({"type": "http", "headers": headers, "client": (peer, 1234)})


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("10.1.2.3", "203.0.113.9", ("10.0.0.0/8",), "203.0.113.9"),
        ("10.1.2.3", "203.0.113.9, 10.9.9.9", ("10.0.0.0/8",), "203.0.113.9"),
        ("192.0.2.1", "203.0.113.9", ("10.0.0.0/8",), "192.0.2.1"),
        ("127.0.0.1", "203.0.113.9", ("127.0.0.1",), "203.0.113.9"),
        ("::1", "2001:db8::7", ("::1/128",), "2001:db8::7"),
        ("10.1.2.3", None, ("10.0.0.0/8",), "10.1.2.3"),
    ],
)
def test_the_client_is_the_last_hop_no_trusted_proxy_added(
    peer: str, forwarded: str | None, trusted: tuple[str, ...], expected: str
) -> None:
    assert client_address(_connection(peer, forwarded), trusted_proxies=trusted) == expected


def test_a_trusted_proxy_that_is_not_an_address_is_refused_at_startup() -> None:
    with pytest.raises(ValidationError, match="neither an IP address nor a network"):
        Settings(TASKQL_TRUSTED_PROXIES="10.0.0.0/8,nginx")
