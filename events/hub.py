"""One per process: a single Redis pub/sub connection for every subscriber on this instance,
subscribed to the channel of each user who has one here, fanning events out in process.

Redis only rings the doorbell (the message carries the event, but the log in MongoDB is what
counts): while Redis is unreachable the hub polls the log for its users, and when it comes
back it catches up from the log once, so no event of the outage is missed. Even with Redis up
it reads the log every few seconds: pub/sub delivers at most once, and a writer cut off from
Redis announces nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable

from beanie import PydanticObjectId
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from events.codec import decode_event
from events.subscriber import Subscriber
from models.task_event import TaskEventRecord, events_after, latest_seq
from storage.redis import RedisClient
from storage.redis_guard import RedisGuard

log = logging.getLogger("taskql.events")

CHANNEL_PREFIX = "tq:ev:"
# Keeps the pub/sub connection open while no user is subscribed.
IDLE_CHANNEL = f"{CHANNEL_PREFIX}idle"
_REDIS_FAILURES = (RedisError, OSError, TimeoutError)


def channel(owner_id: PydanticObjectId) -> str:
    return f"{CHANNEL_PREFIX}{{{owner_id}}}"


class EventHub:
    def __init__(
        self,
        redis: RedisClient,
        *,
        guard: RedisGuard | None = None,
        poll_interval: float = 1.0,
        sweep_interval: float = 5.0,
        read_log: Callable[[PydanticObjectId, int], Awaitable[list[TaskEventRecord]]] = (
            events_after
        ),
    ) -> None:
        self.redis = redis
        self.guard = guard if guard is not None else RedisGuard(redis)
        # On a cluster: a plain client to the one node this instance subscribes on.
        self._node_client: Redis | None = None
        self.poll_interval = poll_interval
        self.sweep_interval = sweep_interval
        self.read_log = read_log
        self._subscribers: dict[PydanticObjectId, set[Subscriber]] = {}
        # The highest sequence handed to this instance's subscribers, per user.
        self._forwarded: dict[PydanticObjectId, int] = {}
        self._pubsub: PubSub | None = None
        self._cleanup: set[asyncio.Task[None]] = set()
        self._channels = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.degraded = False

    @property
    def subscriber_count(self) -> int:
        return sum(len(group) for group in self._subscribers.values())

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="taskql-event-hub")

    async def close(self) -> None:
        for task in [*self._cleanup, *([self._task] if self._task else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._drop_pubsub()

    async def add(self, subscriber: Subscriber) -> None:
        owner = subscriber.owner_id
        group = self._subscribers.setdefault(owner, set())
        first = not group
        group.add(subscriber)
        # Listening before reading the log's head (the caller reads it after this returns):
        # an event committed after that read is announced on a channel this instance hears.
        # The lock orders (un)subscriptions, and makes a user's later subscribers wait until
        # the first one's channel is heard.
        async with self._channels:
            pubsub = self._pubsub
            if first and pubsub is not None and owner in self._subscribers:
                # On failure the loop notices, reconnects and subscribes every user.
                with contextlib.suppress(*_REDIS_FAILURES):
                    await pubsub.subscribe(channel(owner))
        if first:
            self._forwarded[owner] = await latest_seq(owner)

    def remove(self, subscriber: Subscriber) -> None:
        owner = subscriber.owner_id
        group = self._subscribers.get(owner)
        if group is None:
            return
        group.discard(subscriber)
        if not group:
            del self._subscribers[owner]
            self._forwarded.pop(owner, None)
            if self._pubsub is not None:
                task = asyncio.create_task(self._unsubscribe(owner))
                self._cleanup.add(task)
                task.add_done_callback(self._cleanup.discard)

    def deliver(self, event: TaskEventRecord) -> None:
        """Hands an event to every subscriber of its user here (each drops what it has)."""
        group = self._subscribers.get(event.owner_id)
        if not group:
            return
        if event.seq > self._forwarded.get(event.owner_id, 0):
            self._forwarded[event.owner_id] = event.seq
        for subscriber in list(group):
            subscriber.offer(event)

    async def _run(self) -> None:
        while True:
            try:
                pubsub = await self._connect()
                if self.degraded:
                    self.degraded = False
                    log.info("Redis is back: events arrive by pub/sub again")
                    await self._poll_everyone()  # what the outage held back
                swept = time.monotonic()
                while True:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=self.poll_interval
                    )
                    if message is not None and message.get("type") == "message":
                        self.deliver(decode_event(message["data"]))
                    # A writer whose channel's node is down announces nothing: poll meanwhile.
                    stale = time.monotonic() - swept > self.sweep_interval
                    if stale or (message is None and self.guard.degraded):
                        # Pub/sub is at most once, and a writer cut off from Redis announces
                        # nothing: now and then the log is read anyway.
                        swept = time.monotonic()
                        await self._poll_everyone()
            except asyncio.CancelledError:
                raise
            except _REDIS_FAILURES as error:
                if not self.degraded:
                    log.warning(
                        "Redis unreachable: events are polled from the log until it returns (%s)",
                        error,
                    )
                self.degraded = True
                await self._drop_pubsub()
                await self._poll_everyone()
                await asyncio.sleep(self.poll_interval)
            except Exception:
                log.exception("event hub failed; restarting it")
                await self._drop_pubsub()
                await asyncio.sleep(self.poll_interval)

    async def _connect(self) -> PubSub:
        if self._pubsub is None:
            pubsub = self._new_pubsub()
            try:
                await pubsub.subscribe(IDLE_CHANNEL)  # connects
            except BaseException:
                # Its connection goes back to the pool: retries must not drain it.
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                await self._drop_pubsub()
                raise
            # From here `add` subscribes new users itself; everyone added before is listed
            # now (no await between the two lines).
            async with self._channels:
                self._pubsub = pubsub
                owners = list(self._subscribers)
                if owners:
                    await pubsub.subscribe(*(channel(owner) for owner in owners))
        return self._pubsub

    async def _unsubscribe(self, owner: PydanticObjectId) -> None:
        async with self._channels:
            pubsub = self._pubsub
            if pubsub is not None and owner not in self._subscribers:
                with contextlib.suppress(*_REDIS_FAILURES):
                    await pubsub.unsubscribe(channel(owner))

    def _new_pubsub(self) -> PubSub:
        cluster = self.guard.cluster
        if cluster is None:
            assert isinstance(self.redis, Redis)
            return self.redis.pubsub(ignore_subscribe_messages=True)
        # Classic pub/sub on a cluster: every node relays every PUBLISH, so one connection to
        # any node hears all users; a failed node makes the next connection pick another.
        node = random.choice(cluster.get_nodes())  # noqa: S311 -- spreading load, not secrecy
        kwargs = cluster.get_connection_kwargs()
        self._node_client = Redis(
            host=node.host,
            port=int(node.port),
            username=kwargs.get("username"),
            password=kwargs.get("password"),
            ssl=node.connection_class.__name__.startswith("SSL"),
            socket_timeout=kwargs.get("socket_timeout"),
            socket_connect_timeout=kwargs.get("socket_connect_timeout"),
        )
        return self._node_client.pubsub(ignore_subscribe_messages=True)

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
        client, self._node_client = self._node_client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()

    async def _poll_everyone(self) -> None:
        for owner in list(self._subscribers):
            try:
                for event in await self.read_log(owner, self._forwarded.get(owner, 0)):
                    self.deliver(event)
            except Exception:  # MongoDB down too: the next round retries
                log.warning("could not poll the event log", exc_info=True)
                return
