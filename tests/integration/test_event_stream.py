"""Task-event streams through a real EventHub on the real Redis and the real database: events
published with EventBus reach subscribers through the Redis doorbell, in order; a resumed
stream replays after its cursor then goes live with no duplicate and no gap even while events
are appended concurrently; a lost doorbell is filled from the log; with Redis unreachable the
hub polls the log; every subscriber of a user gets every event and other users get none; a
user added while the hub connects is heard; closing leaves no unsubscription running."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from beanie import PydanticObjectId
from redis.asyncio import Redis

from events.bus import EventBus
from events.hub import EventHub, channel
from events.stream import task_events
from events.subscriber import Subscriber
from models.task_event import TaskEventRecord, append_event
from observability.metrics import TaskqlMetrics
from storage.redis import create_redis_client

pytestmark = pytest.mark.usefixtures("models_db")

WAIT = 10.0


def closed_port_url() -> str:
    """A Redis URL on a loopback port nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def no_overflow() -> None:
    pytest.fail("a subscriber's queue overflowed")


def subscriber(owner: PydanticObjectId, capacity: int = 1_000) -> Subscriber:
    return Subscriber(owner, capacity=capacity, on_overflow=no_overflow)


def same(got: list[TaskEventRecord], sent: list[TaskEventRecord]) -> bool:
    """The same events, whether they came by doorbell (exact) or from the log (whose dates
    keep milliseconds)."""
    return len(got) == len(sent) and all(
        (a.owner_id, a.seq, a.type, a.task_id, a.task)
        == (b.owner_id, b.seq, b.type, b.task_id, b.task)
        and abs(a.at - b.at) < timedelta(milliseconds=1)
        for a, b in zip(got, sent, strict=True)
    )


def seqs(events: list[TaskEventRecord]) -> list[int]:
    return [event.seq for event in events]


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    async def poll() -> None:
        for _ in itertools.count():
            if await check():
                return
            await asyncio.sleep(0.02)

    try:
        await asyncio.wait_for(poll(), WAIT)
    except TimeoutError:
        pytest.fail(f"timed out waiting until {what}")


async def hub_listening(hub: EventHub) -> None:
    """Until the hub's pub/sub connection is up (an add then subscribes at once)."""

    async def up() -> bool:
        return hub._pubsub is not None and not hub.degraded

    await eventually(up, "the hub listens on Redis")


async def listeners(redis: Redis, owner: PydanticObjectId, count: int) -> None:
    """Until exactly `count` connections listen on the owner's channel."""

    async def check() -> bool:
        [(_, listening)] = await redis.pubsub_numsub(channel(owner))
        return int(listening) == count

    await eventually(check, f"{count} listener(s) on {channel(owner)}")


class Collector:
    """Drains a stream in the background into `got`, until it holds `count` events."""

    def __init__(self, events: AsyncIterator[TaskEventRecord], count: int) -> None:
        self.events = events
        self.got: list[TaskEventRecord] = []
        self.task = asyncio.create_task(self._drain(count))

    async def _drain(self, count: int) -> list[TaskEventRecord]:
        while len(self.got) < count:
            self.got.append(await anext(self.events))
        return self.got

    async def holding(self, count: int) -> None:
        async def check() -> bool:
            return len(self.got) >= count

        await eventually(check, f"the stream yielded {count} event(s)")

    async def result(self) -> list[TaskEventRecord]:
        return await asyncio.wait_for(self.task, WAIT)

    async def nothing_more(self) -> None:
        """The stream yields nothing further for a while; then it is closed."""
        try:
            extra = await asyncio.wait_for(anext(self.events), 0.5)
        except TimeoutError:
            return  # the cancelled generator ran its `finally`: it left the hub
        pytest.fail(f"unexpected extra event {extra.seq}")

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@pytest.fixture
async def hub(redis_url: str) -> AsyncIterator[EventHub]:
    """A started hub on a Redis client of its own (another instance than the publisher's)."""
    client = create_redis_client(redis_url)
    started = EventHub(client)
    started.start()
    try:
        await hub_listening(started)
        yield started
    finally:
        await started.close()
        await client.aclose()


@pytest.fixture
def bus(redis: Redis, metrics: TaskqlMetrics) -> EventBus:
    """The publisher (its own hub and slots are never started)."""
    return EventBus(redis, metrics=metrics)


async def publish(bus: EventBus, owner: PydanticObjectId, title: str = "t") -> TaskEventRecord:
    task_id = PydanticObjectId()
    event = await append_event(
        owner_id=owner,
        type="CREATED",
        task_id=task_id,
        task={"_id": task_id, "title": title},
        at=datetime.now(UTC),
    )
    await bus.announce(event)
    return event


async def append_silently(owner: PydanticObjectId) -> TaskEventRecord:
    """An event in the log whose doorbell never rings."""
    task_id = PydanticObjectId()
    return await append_event(
        owner_id=owner, type="UPDATED", task_id=task_id, task=None, at=datetime.now(UTC)
    )


def published(metrics: TaskqlMetrics, type: str) -> float:
    return float(metrics.events_published.labels(type=type)._value.get())


async def test_doorbell_hands_the_published_event_to_the_hub(
    hub: EventHub, bus: EventBus, redis: Redis, metrics: TaskqlMetrics
) -> None:
    owner = PydanticObjectId()
    inbox = subscriber(owner)
    await hub.add(inbox)
    await listeners(redis, owner, 1)

    sent = [await publish(bus, owner, f"task {index}") for index in range(5)]

    got = [await asyncio.wait_for(inbox.next(), WAIT) for _ in range(5)]
    assert got == sent  # the doorbell carries whole events, microseconds and all, in order
    assert not hub.degraded  # not polled: only doorbells fill a healthy hub's queues
    assert published(metrics, "CREATED") == 5

    hub.remove(inbox)
    await listeners(redis, owner, 0)  # the last subscriber gone, the hub stops listening


async def test_stream_receives_published_events_in_order(
    hub: EventHub, bus: EventBus, redis: Redis
) -> None:
    owner = PydanticObjectId()
    stream = Collector(task_events(hub, subscriber(owner), after=0), 10)
    await listeners(redis, owner, 1)

    sent = [await publish(bus, owner, f"task {index}") for index in range(10)]

    got = await stream.result()
    assert seqs(got) == list(range(1, 11))
    assert same(got, sent)
    assert not hub.degraded
    await stream.nothing_more()
    assert hub.subscriber_count == 0  # the ended stream left the hub
    await listeners(redis, owner, 0)


@pytest.mark.parametrize("publishers", [1, 3])
@pytest.mark.parametrize("appender_first", [True, False])
async def test_resume_replays_after_cursor_then_live_without_duplicate_or_gap(
    hub: EventHub, bus: EventBus, publishers: int, appender_first: bool
) -> None:
    owner = PydanticObjectId()
    before = [await append_silently(owner) for _ in range(5)]
    live = 30

    async def append_many(count: int) -> list[TaskEventRecord]:
        sent = []
        for index in range(count):
            sent.append(await publish(bus, owner, f"live {index}"))
            if index % 4 == 0:
                await asyncio.sleep(0)
        return sent

    def start_appending() -> asyncio.Future[list[list[TaskEventRecord]]]:
        share = live // publishers
        return asyncio.gather(*(append_many(share) for _ in range(publishers)))

    events = task_events(hub, subscriber(owner), after=2)
    if appender_first:
        appending = start_appending()
        stream = Collector(events, 3 + live)
    else:
        stream = Collector(events, 3 + live)
        appending = start_appending()

    got = await stream.result()
    sent = sorted(itertools.chain(*await asyncio.wait_for(appending, WAIT)), key=lambda e: e.seq)

    assert seqs(got) == list(range(3, 3 + 3 + live))
    assert same(got, before[2:] + sent)
    await stream.nothing_more()


async def test_lost_doorbell_is_filled_from_the_log(
    hub: EventHub, bus: EventBus, redis: Redis
) -> None:
    owner = PydanticObjectId()
    stream = Collector(task_events(hub, subscriber(owner), after=0), 4)
    await listeners(redis, owner, 1)

    first = await publish(bus, owner)
    await stream.holding(1)  # the replay is over: what follows is live
    silent = [await append_silently(owner), await append_silently(owner)]
    await asyncio.sleep(0.3)
    assert seqs(stream.got) == [1]  # nothing rang for 2 and 3: they wait for the next doorbell
    last = await publish(bus, owner)

    got = await stream.result()
    assert seqs(got) == [1, 2, 3, 4]
    assert same(got, [first, *silent, last])
    assert not hub.degraded
    await stream.nothing_more()


async def test_redis_unreachable_events_arrive_by_polling(metrics: TaskqlMetrics) -> None:
    client = create_redis_client(closed_port_url())
    hub = EventHub(client, poll_interval=0.1)
    bus = EventBus(client, metrics=metrics)
    hub.start()
    stream: Collector | None = None
    try:
        owner = PydanticObjectId()
        first = await append_silently(owner)
        stream = Collector(task_events(hub, subscriber(owner), after=0), 6)
        await stream.holding(1)  # replayed: the replay is over, what follows is live

        sent = [await publish(bus, owner) for _ in range(2)]  # logged; the doorbell fails
        sent += [await append_silently(owner) for _ in range(3)]

        got = await stream.result()
        assert seqs(got) == [1, 2, 3, 4, 5, 6]
        assert same(got, [first, *sent])
        assert hub.degraded
        assert published(metrics, "CREATED") == 2
        await stream.nothing_more()
    finally:
        if stream is not None:
            await stream.stop()
        await hub.close()
        await client.aclose()


async def test_every_subscriber_of_a_user_gets_every_event_and_others_none(
    hub: EventHub, bus: EventBus, redis: Redis
) -> None:
    owner, stranger = PydanticObjectId(), PydanticObjectId()
    first, second, other = subscriber(owner), subscriber(owner), subscriber(stranger)
    for inbox in (first, second, other):
        await hub.add(inbox)
    await listeners(redis, owner, 1)  # one pub/sub connection per instance, not per subscriber
    await listeners(redis, stranger, 1)

    sent = [await publish(bus, owner, f"task {index}") for index in range(10)]

    async def both_full() -> bool:
        return first.queue.qsize() == 10 and second.queue.qsize() == 10

    await eventually(both_full, "both subscribers hold 10 events")
    assert [await first.next() for _ in range(10)] == sent
    assert [await second.next() for _ in range(10)] == sent

    # The stranger's subscriber is live, and only its own event reaches it.
    own = await publish(bus, stranger)
    assert await asyncio.wait_for(other.next(), WAIT) == own
    assert other.queue.empty()
    assert first.queue.empty()
    assert second.queue.empty()

    # A removed subscriber hears nothing more; the other one still does.
    hub.remove(first)
    after_removal = await publish(bus, owner)
    assert await asyncio.wait_for(second.next(), WAIT) == after_removal
    await asyncio.sleep(0.2)
    assert first.queue.empty()
    await listeners(redis, owner, 1)
    hub.remove(second)
    hub.remove(other)
    await listeners(redis, owner, 0)
    await listeners(redis, stranger, 0)


async def test_two_streams_of_one_user_both_get_every_event(
    hub: EventHub, bus: EventBus, redis: Redis
) -> None:
    owner, stranger = PydanticObjectId(), PydanticObjectId()
    first = Collector(task_events(hub, subscriber(owner), after=0), 8)
    second = Collector(task_events(hub, subscriber(owner), after=0), 8)
    strangers = Collector(task_events(hub, subscriber(stranger), after=0), 1)
    await listeners(redis, owner, 1)
    await listeners(redis, stranger, 1)

    sent = [await publish(bus, owner) for _ in range(8)]

    assert same(await first.result(), sent)
    assert same(await second.result(), sent)
    await asyncio.sleep(0.2)
    assert strangers.got == []
    await strangers.stop()
    await listeners(redis, stranger, 0)


async def test_subscriber_added_while_the_hub_connects_gets_events(
    redis_url: str, bus: EventBus
) -> None:
    client = create_redis_client(redis_url)
    hub = EventHub(client)
    try:
        hub.start()
        await asyncio.sleep(0)  # the hub's loop starts connecting
        owner = PydanticObjectId()
        inbox = subscriber(owner)
        await hub.add(inbox)
        await hub_listening(hub)

        sent = await publish(bus, owner)
        assert await asyncio.wait_for(inbox.next(), 2) == sent
    finally:
        await hub.close()
        await client.aclose()


def pending_unsubscribes() -> list[asyncio.Task[object]]:
    return [
        task
        for task in asyncio.all_tasks()
        if not task.done() and task.get_coro().__qualname__ == "EventHub._unsubscribe"  # type: ignore[union-attr]
    ]


async def test_close_leaves_no_unsubscribe_running(redis_url: str, redis: Redis) -> None:
    client = create_redis_client(redis_url)
    hub = EventHub(client)
    hub.start()
    owner = PydanticObjectId()
    try:
        await hub_listening(hub)
        inbox = subscriber(owner)
        await hub.add(inbox)
        await listeners(redis, owner, 1)
        hub.remove(inbox)
        await hub.close()
        assert pending_unsubscribes() == []
    finally:
        await client.aclose()
