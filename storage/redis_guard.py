"""One guard per Redis client, shared by every subsystem that uses it (object cache, budgets,
persisted queries, login throttle, events, subscription slots): one breaker per Redis node.

The first failure of a node opens its breaker for everyone at once; from then on no request
waits for that node: each call on one of its keys is skipped (the caller falls back: MongoDB,
a per-process budget...). Whether the node is back is decided by a probe in the background,
never on a user's request. Before a node is used again, the recovery hooks run (the object
cache retires what the outage may have left stale); only when they succeed does it close.

On a cluster a node is a master, reached through the slot of the call's keys; after a
failover its slots belong to the promoted replica, whose breaker is closed once the
topology is refreshed and the hooks have run.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, Final, Literal, TypeVar

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot
from redis.exceptions import (
    BusyLoadingError,
    ClusterDownError,
    MasterDownError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from storage.redis import DEFAULT_TIMEOUT_SECONDS, RedisClient

log = logging.getLogger("taskql.redis")

T = TypeVar("T")

SINGLE_NODE = "redis"
# How long a call may wait on a node that is answering, or while this process is busy.
MAX_WAIT_SECONDS = 1.0
# A probe's PING, off the request path.
PROBE_TIMEOUT_SECONDS = 0.25
# A key whose slot no live master serves (a failover in progress), or an unknown topology.
NO_NODE = "no-node"

# What says the node (not the command) failed: its breaker opens.
NODE_FAILURES: Final = (
    RedisConnectionError,
    RedisTimeoutError,
    TimeoutError,
    OSError,
    ClusterDownError,
    SlotNotCoveredError,
    TryAgainError,
    MasterDownError,
    ReadOnlyError,  # a demoted master after a failover
    BusyLoadingError,
)


class _Unavailable(enum.Enum):
    UNAVAILABLE = "unavailable"


# What `run` returns when the call's node is down or failed.
UNAVAILABLE: Final = _Unavailable.UNAVAILABLE
RecoveryHook = Callable[[], Awaitable[None]]


class RedisGuard:
    def __init__(
        self,
        client: RedisClient,
        *,
        deadline: float = DEFAULT_TIMEOUT_SECONDS,
        probe_interval: float = 0.1,
        first_probe_at_once: bool = True,
        clock: Callable[[], float] = time.monotonic,
        on_error: Callable[[str], None] = lambda kind: None,
        on_nodes_down: Callable[[int], None] = lambda count: None,
    ) -> None:
        self.client = client
        self.deadline = deadline
        self.probe_interval = probe_interval
        self.first_probe_at_once = first_probe_at_once
        self.clock = clock
        # Called with "node" or "command" for each failed call (a metric).
        self.on_error = on_error
        # Called with how many nodes are skipped whenever that changes (a gauge).
        self.on_nodes_down = on_nodes_down
        self._down: dict[str, float] = {}  # node -> when its breaker opened
        # On a cluster, the slots each down node served when it failed: they stay skipped
        # until its recovery hooks ran, even once a promoted replica serves them (a refreshed
        # topology alone must not let a request read what the outage may have left stale).
        self._down_slots: dict[str, frozenset[int]] = {}
        self._skipped_slots: frozenset[int] = frozenset()
        self._answered_at: dict[str, float] = {}  # node -> when it last answered a call
        self._confirming: dict[str, asyncio.Future[bool]] = {}
        self._pingers: dict[str, Redis | ClusterNode] = {}
        self._abandoned: set[asyncio.Future[Any]] = set()  # calls given up, still running
        self._hooks: list[RecoveryHook] = []
        self._probe: asyncio.Task[None] | None = None
        self.recoveries = 0

    @property
    def cluster(self) -> RedisCluster | None:
        return self.client if isinstance(self.client, RedisCluster) else None

    @property
    def degraded(self) -> bool:
        """Some node is being skipped."""
        return bool(self._down)

    def add_recovery_hook(self, hook: RecoveryHook) -> None:
        """Runs (in the probe) before a node that failed is used again; raising keeps it out."""
        self._hooks.append(hook)

    def node_of(self, key: str | bytes) -> str:
        cluster = self.cluster
        if cluster is None:
            return SINGLE_NODE
        try:
            return str(cluster.nodes_manager.get_node_from_slot(cluster.keyslot(key)).name)
        except (RedisClusterException, SlotNotCoveredError, IndexError, KeyError):
            return NO_NODE

    def allows(self, *keys: str | bytes, fenced: bool = True) -> bool:
        """Whether a call on `keys` may go to Redis now (never to a node known to be down).
        `fenced=False` is for invalidations: they may go to a promoted replica before the
        recovery hooks ran (they only retire entries, and other instances may read there)."""
        if self.cluster is None:
            return SINGLE_NODE not in self._down
        for key in keys:
            if fenced and self._skipped_slots and cluster_slot(key) in self._skipped_slots:
                return False
            node = self.node_of(key)
            if node == NO_NODE:
                self._mark_down(NO_NODE, None)  # the probe reads the topology again
                return False
            if node in self._down:
                return False
        return True

    async def start(self) -> None:
        """Reads a cluster's topology (an unreachable one is left to the probe) and opens the
        guard's own connection to each master."""
        cluster = self.cluster
        nodes = [SINGLE_NODE]
        if cluster is not None:
            try:
                await cluster.initialize()
            except (RedisError, OSError, TimeoutError) as error:
                self._mark_down(NO_NODE, error)
                return
            nodes = [node.name for node in cluster.get_primaries()]
        for node in nodes:
            ping = self._pinger(node)
            if ping is not None:
                with contextlib.suppress(RedisError, OSError, TimeoutError):
                    async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
                        await ping()

    def failed(self, keys: Sequence[str | bytes], error: BaseException) -> None:
        if isinstance(error, NODE_FAILURES):
            self.on_error("node")
            for node in {self.node_of(key) for key in keys} or {NO_NODE}:
                self._mark_down(node, error)
        else:
            self.on_error("command")
            log.warning("Redis command failed (%s): %s", type(error).__name__, error)

    async def run(
        self,
        keys: Sequence[str | bytes],
        operation: Callable[[], Awaitable[T]],
        *,
        fenced: bool = True,
    ) -> T | Literal[_Unavailable.UNAVAILABLE]:
        """`operation()`'s result, or UNAVAILABLE when a node of `keys` is down or fails now."""
        if not self.allows(*keys, fenced=fenced):
            if fenced or not await self._refreshed_topology():
                return UNAVAILABLE
            if not self.allows(*keys, fenced=False):
                return UNAVAILABLE
        nodes = {self.node_of(key) for key in keys} or {NO_NODE}
        try:
            result = await self._within_deadline(nodes, operation)
        except (RedisError, RedisClusterException, OSError, TimeoutError) as error:
            self.failed(keys, error)
            return UNAVAILABLE
        now = asyncio.get_running_loop().time()
        for node in nodes:
            self._answered_at[node] = now
        return result

    async def _within_deadline(self, nodes: set[str], operation: Callable[[], Awaitable[T]]) -> T:
        """The operation's result, or TimeoutError once `deadline` passed while this process
        was free to hear the answer and its node answered nothing since the call started.

        A fixed deadline alone misfires under a burst: the event loop lags past it with the
        reply already in the socket. So a round that woke late (the loop was busy), or a node
        that answered other calls meanwhile, means "not hung": the call waits on, for at most
        MAX_WAIT_SECONDS."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        task = asyncio.ensure_future(operation())
        while True:
            round_started = loop.time()
            done, _ = await asyncio.wait({task}, timeout=self.deadline)
            if not done:
                for _ in range(2):  # replies already read run their callbacks first
                    await asyncio.sleep(0)
            if task.done():
                return task.result()
            now = loop.time()
            if now - started < MAX_WAIT_SECONDS:
                busy = now - round_started > self.deadline * 1.5
                answered = min(self._answered_at.get(node, float("-inf")) for node in nodes)
                if busy or answered >= started or await self._all_alive(nodes):
                    continue
            self._abandon(task)  # it ends at the socket timeout
            raise TimeoutError(f"no answer within {self.deadline * 1000:.0f} ms")

    async def _all_alive(self, nodes: set[str]) -> bool:
        """Whether each node answers a PING on the guard's own, already open connection (a call
        on a new connection waits for its handshakes too); one PING per node at a time, shared
        by every call waiting on it."""
        for node in nodes:
            pending = self._confirming.get(node)
            if pending is None:
                pending = asyncio.ensure_future(self._pings_back(node))
                self._confirming[node] = pending
                pending.add_done_callback(partial(self._confirmed, node))
            if not await asyncio.shield(pending):
                return False
        return True

    def _abandon(self, call: asyncio.Future[Any]) -> None:
        self._abandoned.add(call)
        call.add_done_callback(self._abandoned.discard)
        call.add_done_callback(_ignore_outcome)

    def _confirmed(self, node: str, _: object) -> None:
        self._confirming.pop(node, None)

    async def _pings_back(self, node: str) -> bool:
        ping = self._pinger(node)
        if ping is None:
            return False
        loop = asyncio.get_running_loop()
        started = loop.time()
        reply = asyncio.ensure_future(ping())
        while True:
            round_started = loop.time()
            done, _ = await asyncio.wait({reply}, timeout=self.deadline)
            if done:
                return not reply.cancelled() and reply.exception() is None
            late = loop.time() - round_started > self.deadline * 1.5  # this process was busy
            if not late or loop.time() - started >= MAX_WAIT_SECONDS:
                self._abandon(reply)
                return False

    def _pinger(self, node: str) -> Callable[[], Awaitable[object]] | None:
        """A PING on a connection of the guard's own for `node`."""
        client = self._pingers.get(node)
        if client is None:
            cluster = self.cluster
            if cluster is None:
                assert isinstance(self.client, Redis)
                kwargs = dict(self.client.connection_pool.connection_kwargs)
                pool = ConnectionPool(
                    connection_class=self.client.connection_pool.connection_class,
                    max_connections=1,
                    **kwargs,
                )
                client = Redis.from_pool(pool)  # owns the pool: aclose() closes it
            else:
                found = cluster.get_node(node_name=node)
                if found is None:
                    return None
                kwargs = dict(cluster.get_connection_kwargs())
                kwargs["max_connections"] = 1
                client = ClusterNode(found.host, found.port, **kwargs)
            self._pingers[node] = client
        if isinstance(client, ClusterNode):
            return partial(client.execute_command, "PING")
        return client.ping

    async def _refreshed_topology(self) -> bool:
        """For an invalidation whose node is down: reads the topology again (within one
        deadline), in case a promoted replica now serves the slot. Only writes made during an
        outage pay it, and they must: an instance that already recovered may be reading that
        slot on the new master, and would serve what a skipped invalidation left stale."""
        cluster = self.cluster
        if cluster is None:
            return False
        try:
            async with asyncio.timeout(self.deadline):
                await cluster.nodes_manager.initialize()
        except (RedisError, RedisClusterException, OSError, TimeoutError):
            return False
        return True

    async def health(self) -> Literal["ok", "degraded", "down"]:
        """ok, degraded (some node skipped, or not answering) or down (none answers)."""
        cluster = self.cluster
        if cluster is None:
            answered = [SINGLE_NODE not in self._down and await _answers(self.client)]
        else:
            primaries = cluster.get_primaries()
            answered = list(await asyncio.gather(*(_node_answers(node) for node in primaries)))
        if not any(answered):
            return "down"
        return "ok" if all(answered) and not self._down else "degraded"

    async def close(self) -> None:
        unfinished = [*self._abandoned, *self._confirming.values()]
        for call in unfinished:
            call.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        for client in self._pingers.values():
            with contextlib.suppress(Exception):
                if isinstance(client, ClusterNode):
                    await client.disconnect()
                else:
                    await client.aclose()
        self._pingers.clear()
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
            self._probe = None

    def _mark_down(self, node: str, error: BaseException | None) -> None:
        if node not in self._down:
            self._down[node] = self.clock()
            self._down_slots[node] = self._slots_of(node)
            self._skipped_slots = frozenset().union(*self._down_slots.values())
            self.on_nodes_down(len(self._down))
            log.warning(
                "Redis %s unreachable (%s): skipped until a probe finds it back",
                node,
                type(error).__name__ if error is not None else "no master for a slot",
            )
        if self._probe is None or self._probe.done():
            with contextlib.suppress(RuntimeError):  # no running loop: the next call starts it
                self._probe = asyncio.get_running_loop().create_task(
                    self._probe_until_recovered(), name="taskql-redis-probe"
                )

    def _slots_of(self, node: str) -> frozenset[int]:
        cluster = self.cluster
        if cluster is None or node == NO_NODE:
            return frozenset()
        return frozenset(
            slot
            for slot, nodes in cluster.nodes_manager.slots_cache.items()
            if nodes and nodes[0].name == node
        )

    async def _probe_until_recovered(self) -> None:
        # The first round at once: a node that timed out only because this process was busy
        # (a loop that lagged past the deadline) is back within a round trip.
        delay = 0.0 if self.first_probe_at_once else self.probe_interval
        while self._down:
            await asyncio.sleep(delay)
            delay = self.probe_interval
            try:
                await self.probe_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the probe never dies: the next round retries
                log.debug("Redis probe failed", exc_info=True)

    async def probe_once(self) -> tuple[str, ...]:
        """One round of the background probe: the nodes it found back (hooks run first)."""
        back = await self._nodes_back()
        if not back or not await self._recovered():
            return ()
        for node in back:
            since = self._down.pop(node, None)
            self._down_slots.pop(node, None)
            self._skipped_slots = frozenset().union(*self._down_slots.values())
            if since is not None:
                log.warning("Redis %s is back after %.2f s", node, self.clock() - since)
        self.recoveries += 1
        self.on_nodes_down(len(self._down))
        return tuple(back)

    async def _nodes_back(self) -> list[str]:
        cluster = self.cluster
        if cluster is None:
            return [SINGLE_NODE] if await _answers(self.client) else []
        await cluster.nodes_manager.initialize()  # the topology after any failover
        masters = {node.name: node for node in cluster.get_primaries()}
        covered = _all_slots_covered(cluster)
        back: list[str] = []
        for name in list(self._down):
            if name == NO_NODE:
                if covered:
                    back.append(name)
            elif name not in masters:
                back.append(name)  # its slots moved to a promoted replica
            elif await _node_answers(masters[name]):
                back.append(name)
        return back

    async def _recovered(self) -> bool:
        for hook in self._hooks:
            try:
                await hook()
            except (RedisError, OSError, TimeoutError) as error:
                log.info("Redis recovery not done yet (%s)", error)
                return False
        return True


def _ignore_outcome(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a late failure of an abandoned call is expected


async def _answers(client: RedisClient) -> bool:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            return bool(await client.ping())
    except (RedisError, OSError, TimeoutError):
        return False


async def _node_answers(node: ClusterNode) -> bool:
    # The node itself, not the cluster client: a failed probe must not make the next
    # request re-read the topology.
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            return bool(await node.execute_command("PING"))
    except (RedisError, OSError, TimeoutError):
        return False


def cluster_slot(key: str | bytes) -> int:
    return key_slot(key.encode() if isinstance(key, str) else key)


def _all_slots_covered(cluster: RedisCluster) -> bool:
    slots = cluster.nodes_manager.slots_cache
    return len(slots) == REDIS_CLUSTER_HASH_SLOTS and all(slots.values())
