"""MongoDB command monitoring: each completed command counted once, by the source that made it."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from aiodataloader import DataLoader

from observability.db_commands import CommandMetrics, commands_for_request, current_source
from observability.metrics import TaskqlMetrics


def _count(metrics: TaskqlMetrics, command: str, source: str) -> float:
    value: float = metrics.db_commands.labels(command=command, source=source)._value.get()
    return value


def _event(command: str, micros: int = 1_500) -> Any:
    return SimpleNamespace(command_name=command, duration_micros=micros)


def test_completed_commands_are_counted_and_timed_once() -> None:
    metrics = TaskqlMetrics()
    listener = CommandMetrics(metrics)
    listener.started(_event("find"))
    listener.succeeded(_event("find", 2_000))
    listener.failed(_event("aggregate", 5_000))
    listener.succeeded(_event("listCollections"))  # a command nobody listed is counted too
    assert _count(metrics, "find", "background") == 1
    assert _count(metrics, "aggregate", "background") == 1
    assert _count(metrics, "listCollections", "background") == 1
    duration = metrics.db_command_duration.labels(command="find")
    assert duration._sum.get() == 0.002


def test_commands_inside_the_block_are_for_a_request() -> None:
    metrics = TaskqlMetrics()
    listener = CommandMetrics(metrics)
    with commands_for_request():
        listener.succeeded(_event("find"))
    listener.succeeded(_event("ping"))
    assert _count(metrics, "find", "request") == 1
    assert _count(metrics, "find", "background") == 0
    assert _count(metrics, "ping", "background") == 1


async def test_the_mark_follows_tasks_and_dataloader_batches_started_in_the_block() -> None:
    seen: list[tuple[str, str]] = []

    async def batch(keys: list[int]) -> list[int]:
        seen.append(("batch", current_source()))
        return keys

    async def resolver(loader: DataLoader[int, int], key: int) -> int:
        return await loader.load(key)

    loader: DataLoader[int, int] = DataLoader(batch)
    with commands_for_request():
        # Loads that only enqueue keys here; the batch runs later, in a callback and a task
        # scheduled from this context, after the block has ended.
        pending = asyncio.gather(resolver(loader, 1), resolver(loader, 2))
        task = asyncio.create_task(asyncio.sleep(0, result=current_source()))
    assert current_source() == "background"
    assert await pending == [1, 2]
    assert await task == "request"
    assert seen == [("batch", "request")]

    background: DataLoader[int, int] = DataLoader(batch)
    await background.load(3)
    assert seen[-1] == ("batch", "background")
