"""Loopback port choice for embedded servers that cannot report the port they bound."""

from __future__ import annotations

import socket


def free_loopback_port(host: str = "127.0.0.1") -> int:
    """A port free right now; the caller retries if another process takes it first."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def is_listening(host: str, port: int, *, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
