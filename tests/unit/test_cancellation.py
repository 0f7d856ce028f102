"""A task cancelled just as the operation its `wait_for` awaits completes is still cancelled."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from storage import cancellation

WaitFor = Callable[[Awaitable[Any], float | None], Awaitable[Any]]


async def _cancelled_as_it_completes(wait_for: WaitFor) -> bool:
    inner: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(wait_for(inner, 10))
    await asyncio.sleep(0)  # the task now waits for `inner`
    inner.set_result("written")
    task.cancel()  # in the same tick
    try:
        await task
    except asyncio.CancelledError:
        return True
    return False


async def test_the_cancellation_propagates() -> None:
    assert await _cancelled_as_it_completes(cancellation.wait_for)


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="fixed in Python 3.12")
async def test_python_3_11_loses_it() -> None:
    # Why the module exists: should this ever pass, the module can go.
    assert not await _cancelled_as_it_completes(cancellation._original_wait_for)


async def test_a_timeout_still_raises_and_a_result_is_returned() -> None:
    with pytest.raises(TimeoutError):
        await cancellation.wait_for(asyncio.sleep(1), 0.01)
    with pytest.raises(TimeoutError):
        await cancellation.wait_for(asyncio.sleep(1), 0)
    assert await cancellation.wait_for(asyncio.sleep(0, "done"), 1) == "done"
    assert await cancellation.wait_for(asyncio.sleep(0, "done"), None) == "done"


def test_keep_cancellations_installs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asyncio, "wait_for", cancellation._original_wait_for)
    cancellation.keep_cancellations()
    fixed = sys.version_info >= (3, 12)
    assert asyncio.wait_for is (cancellation._original_wait_for if fixed else cancellation.wait_for)
