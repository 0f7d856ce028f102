"""Announcing task events: each one is in the user's log in MongoDB already, committed with its
write (models/task_commits.py); the announcement on the user's Redis channel is a doorbell
carrying the event, and losing it loses nothing."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Protocol, TypeVar

from beanie import PydanticObjectId
from prometheus_client import Counter

from events.codec import encode_event
from events.hub import EventHub, channel
from events.slots import SubscriptionSlots
from models.task_event import TaskEventRecord
from storage.redis import RedisClient
from storage.redis_guard import UNAVAILABLE, RedisGuard

log = logging.getLogger("taskql.events")

# Rendered events kept for the subscribers still working through them.
VIEWS_KEPT = 1_024
T = TypeVar("T")


class EventMetrics(Protocol):
    events_published: Counter
    events_announced: Counter


class EventBus:
    """One per process: the publisher, the hub that fans events out to this instance's
    subscribers, and the per-user subscription slots."""

    def __init__(
        self, redis: RedisClient, *, metrics: EventMetrics, guard: RedisGuard | None = None
    ) -> None:
        self.redis = redis
        self.metrics = metrics
        self.guard = guard if guard is not None else RedisGuard(redis)
        self.hub = EventHub(redis, guard=self.guard)
        self.slots = SubscriptionSlots(redis, guard=self.guard)
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

    async def announce(self, event: TaskEventRecord) -> None:
        """Tell every instance's subscribers of the event's user about it (now in the log)."""
        self.metrics.events_published.labels(type=event.type).inc()
        # Subscribers get an unannounced event all the same: from the log, by polling.
        name = channel(event.owner_id)
        announced = await self.guard.run([name], lambda: self._announce(name, event))
        result = "sent" if announced is not UNAVAILABLE else "skipped"
        self.metrics.events_announced.labels(result=result).inc()

    async def _announce(self, name: str, event: TaskEventRecord) -> None:
        # Classic PUBLISH: on a cluster every node relays it to its subscribers, so each
        # instance's one subscription (on any node) hears every user. Sent to the node of
        # the channel's slot, so the breaker that guards it is that node's.
        cluster = self.guard.cluster
        if cluster is None:
            await self.redis.publish(name, encode_event(event))
            return
        node = cluster.nodes_manager.get_node_from_slot(cluster.keyslot(name))
        await cluster.execute_command("PUBLISH", name, encode_event(event), target_nodes=node)
