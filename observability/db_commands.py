"""MongoDB command monitoring: every command the driver sends, counted and timed by source.

A command is made "for a request" when it runs inside `commands_for_request()`, which
schema/extensions/operation_scope.py wraps around each operation (HTTP and websocket alike).
The mark is a context variable, so it follows the work into the tasks the operation starts
(asyncio copies the context into every task and callback, which is how DataLoader batches run);
anything else (readiness pings, index creation at startup, cursor clean-up, log polling) is
"background". PyMongo publishes a command's events from the task that awaits it, so the
listener reads the mark of the code that made the command.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal

from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

from observability.metrics import TaskqlMetrics

CommandSource = Literal["request", "background"]

_source: ContextVar[CommandSource] = ContextVar("taskql_db_command_source", default="background")


@contextmanager
def commands_for_request() -> Iterator[None]:
    """Attribute the MongoDB commands made in this block, and in tasks it starts, to a request."""
    token = _source.set("request")
    try:
        yield
    finally:
        _source.reset(token)


def current_source() -> CommandSource:
    return _source.get()


class CommandMetrics(CommandListener):
    """Counts each command once it completes (succeeded or failed) and records its duration."""

    def __init__(self, metrics: TaskqlMetrics) -> None:
        self.metrics = metrics

    def started(self, event: CommandStartedEvent) -> None:
        # Counted on completion, with the driver's own round-trip time.
        return

    def succeeded(self, event: CommandSucceededEvent) -> None:
        self._record(event.command_name, event.duration_micros)

    def failed(self, event: CommandFailedEvent) -> None:
        self._record(event.command_name, event.duration_micros)

    def _record(self, command: str, duration_micros: int) -> None:
        self.metrics.db_commands.labels(command=command, source=_source.get()).inc()
        self.metrics.db_command_duration.labels(command=command).observe(duration_micros / 1e6)
