"""Python 3.11's `asyncio.wait_for` loses a cancellation that arrives in the same tick as the
operation it waits for completes (CPython gh-86296; 3.12 rebuilt it on `asyncio.timeout`).

redis-py sends every command through it (our clients set a socket timeout), and PyMongo every
read and write. A task cancelled at that moment carries on as if nothing happened, and whoever
awaits its end waits forever: the event hub, cancelled while its first connection's PING was
being written, kept the lifespan's shutdown (and so the whole process) from ever finishing.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")

_original_wait_for = asyncio.wait_for


async def wait_for(awaitable: Awaitable[T], timeout: float | None) -> T:  # noqa: ASYNC109
    """`asyncio.wait_for` as Python 3.12 has it: the caller's cancellation always propagates."""
    if timeout is not None and timeout <= 0:
        # Python 3.12 kept this path as it was.
        return await _original_wait_for(awaitable, timeout)
    async with asyncio.timeout(timeout):
        return await awaitable


def keep_cancellations() -> None:
    """Give this process Python 3.12's `asyncio.wait_for` (a no-op from 3.12 on)."""
    if sys.version_info < (3, 12):
        # The stub also admits generator-based coroutines, which Python 3.11 no longer has.
        asyncio.wait_for = wait_for  # type: ignore[assignment]
