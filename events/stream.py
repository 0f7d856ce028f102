"""One subscription's events: the replay after its cursor, then live ones, each exactly once
and in sequence order. A live event further ahead than the next expected one means some were
missed (a lost doorbell): they are read from the log first."""

from __future__ import annotations

from collections.abc import AsyncIterator

from events.hub import EventHub
from events.subscriber import Subscriber
from models.task_event import REPLAY_PAGE, TaskEventRecord, events_after, latest_seq


async def task_events(
    hub: EventHub, subscriber: Subscriber, *, after: int | None
) -> AsyncIterator[TaskEventRecord]:
    owner = subscriber.owner_id
    # Listening first: whatever is committed from here on reaches the queue, so the replay
    # below and the live events overlap rather than leave a gap; the overlap is dropped.
    await hub.add(subscriber)
    try:
        last = after if after is not None else await latest_seq(owner)
        async for event in _from_log(subscriber, last):
            last = event.seq
            yield event
        while True:
            event = await subscriber.next()
            if event.seq <= last:
                continue
            if event.seq > last + 1:
                async for missed in _from_log(subscriber, last, before=event.seq):
                    last = missed.seq
                    yield missed
            if event.seq > last:
                last = event.seq
                yield event
    finally:
        hub.remove(subscriber)


async def _from_log(
    subscriber: Subscriber, after: int, *, before: int | None = None
) -> AsyncIterator[TaskEventRecord]:
    """The log's events after `after` (and before `before`), page by page."""
    while True:
        page = await events_after(subscriber.owner_id, after)
        for event in page:
            if before is not None and event.seq >= before:
                return
            after = event.seq
            yield event
        if len(page) < REPLAY_PAGE:
            return
