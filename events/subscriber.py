"""One subscription's inbox: a bounded queue the hub fills and the subscription drains.

A subscriber that falls further behind than its queue holds is not allowed to grow memory:
the hub calls its overflow handler (the transport closes the socket with 1013) and stops
filling it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from beanie import PydanticObjectId

from models.task_event import TaskEventRecord


class Subscriber:
    def __init__(
        self, owner_id: PydanticObjectId, *, capacity: int, on_overflow: Callable[[], None]
    ) -> None:
        self.owner_id = owner_id
        self.queue: asyncio.Queue[TaskEventRecord] = asyncio.Queue(maxsize=capacity)
        self.on_overflow = on_overflow
        self.overflowed = False

    def offer(self, event: TaskEventRecord) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            self.on_overflow()

    async def next(self) -> TaskEventRecord:
        return await self.queue.get()
