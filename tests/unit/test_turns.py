"""Turns per key: one caller at a time for a key, others free, nothing kept once idle."""

from __future__ import annotations

import asyncio

from storage.turns import Turns


async def test_callers_of_one_key_take_turns_and_other_keys_do_not_wait() -> None:
    turns = Turns()
    inside: dict[str, int] = {"a": 0, "b": 0}
    most: dict[str, int] = {"a": 0, "b": 0}

    async def visit(key: str) -> None:
        async with turns.of(key):
            inside[key] += 1
            most[key] = max(most[key], inside[key])
            await asyncio.sleep(0.001)
            inside[key] -= 1

    started = asyncio.gather(*(visit(key) for key in "abababab"))
    await asyncio.sleep(0)
    assert len(turns) == 2
    await started
    assert most == {"a": 1, "b": 1}
    assert len(turns) == 0


async def test_a_failing_caller_passes_the_turn_on() -> None:
    turns = Turns()

    async def fails() -> None:
        async with turns.of("k"):
            raise ValueError

    results = await asyncio.gather(fails(), fails(), return_exceptions=True)
    assert all(isinstance(result, ValueError) for result in results)
    assert len(turns) == 0
