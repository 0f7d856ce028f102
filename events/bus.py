"""Publishing task events: appended to the user's log in MongoDB (what counts), then announced
on the user's Redis channel (a doorbell carrying the event; losing it loses nothing)."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from beanie import PydanticObjectId
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from events.codec import encode_event
from events.hub import EventHub, channel
from events.slots import SubscriptionSlots
from models.task_event import TaskEventRecord, TaskEventTypeValue, append_event
from storage.breaker import CircuitBreaker

log = logging.getLogger("taskql.events")

_REDIS_FAILURES = (RedisError, OSError, TimeoutError)
# Rendered events kept for the subscribers still working through them.
VIEWS_KEPT = 1_024
T = TypeVar("T")


class EventMetrics(Protocol):
    events_published: Counter


class EventBus:
    """One per process: the publisher, the hub that fans events out to this instance's
    subscribers, and the per-user subscription slots."""

    def __init__(self, redis: Redis, *, metrics: EventMetrics) -> None:
        self.redis = redis
        self.metrics = metrics
        self.breaker = CircuitBreaker()
        self.hub = EventHub(redis)
        self.slots = SubscriptionSlots(redis)
        self._views: OrderedDict[tuple[PydanticObjectId, int], object] = OrderedDict()
        self._executions: OrderedDict[Hashable, object] = OrderedDict()

    def start(self) -> None:
        self.hub.start()
        self.slots.start()

    async def close(self) -> None:
        await self.hub.close()
        await self.slots.close()

    def view(self, event: TaskEventRecord, render: Callable[[TaskEventRecord], T]) -> T:
        """`render(event)`, made once for all of this instance's subscribers of its user."""
        key = (event.owner_id, event.seq)
        made = self._views.get(key)
        if made is None:
            made = render(event)
            self._views[key] = made
            if len(self._views) > VIEWS_KEPT:
                self._views.popitem(last=False)
        return made  # type: ignore[return-value]

    def shared(self, key: Hashable, start: Callable[[], Awaitable[T]]) -> Awaitable[T]:
        """The one execution of `key` (an event for one user's document), started once."""
        running = self._executions.get(key)
        if running is None:
            running = start()
            self._executions[key] = running
            if len(self._executions) > VIEWS_KEPT:
                self._executions.popitem(last=False)
        return running  # type: ignore[return-value]

    async def publish(
        self,
        *,
        type: TaskEventTypeValue,
        owner_id: PydanticObjectId,
        task_id: PydanticObjectId,
        task: dict[str, Any] | None,
        at: datetime,
    ) -> TaskEventRecord:
        event = await append_event(owner_id=owner_id, type=type, task_id=task_id, task=task, at=at)
        self.metrics.events_published.labels(type=type).inc()
        if self.breaker.allows():
            try:
                await self.redis.publish(channel(owner_id), encode_event(event))
            except _REDIS_FAILURES as error:
                # Subscribers still get it: from the log, by polling or at the next event.
                log.warning("event not announced: %s", error)
                self.breaker.failed()
            else:
                self.breaker.succeeded()
        return event
