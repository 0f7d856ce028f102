"""One Redis connection shared by every concurrent call of a process's hottest scripts (the
fast lane's, the budgets'): the commands issued in one turn of the event loop go out in one
write, and their replies, read in order by hiredis, settle each caller's future.

redis-py spends about 100 µs of Python per command (a pooled connection checked out and in,
its lock, its parser classes) and the guard around it one more task and timer; here a call is
a packed command appended to a buffer and a future. Ten requests in flight cost Redis one read
and one write instead of ten each.

A call fails fast with RedisLaneError (the caller takes its full path, where the guard
judges the node): no connection, a connection lost, or no reply within the deadline, after
which the connection is dropped (its replies could no longer be matched to their calls) and
the next call opens a new one. Single-node Redis without TLS only: a cluster (routed by
slot) and TLS keep redis-py.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Any, cast

import hiredis
from redis.connection import SSLConnection, UnixDomainSocketConnection, parse_url

from storage.redis import parse_cluster_url
from storage.redis_scripts import LuaScript


class RedisLaneError(Exception):
    """No reply (now): take the full path."""


@dataclass(frozen=True)
class Endpoint:
    host: str = "127.0.0.1"
    port: int = 6379
    path: str | None = None  # a unix socket
    username: str | None = None
    password: str | None = None
    db: int = 0

    @classmethod
    def from_url(cls, url: str) -> Endpoint | None:
        """Where a plain `redis://` or `unix://` URL points; None for TLS (redis-py's path)."""
        options = parse_url(url)  # type: ignore[no-untyped-call]
        connection_class = options.get("connection_class")
        if connection_class is SSLConnection:
            return None
        return cls(
            host=options.get("host", "127.0.0.1"),
            port=int(options.get("port", 6379)),
            path=options.get("path") if connection_class is UnixDomainSocketConnection else None,
            username=options.get("username"),
            password=options.get("password"),
            db=int(options.get("db", 0)),
        )


def multiplexed_for(url: str, *, deadline: float) -> MultiplexedRedis | None:
    """A multiplexed connection to the Redis of `url`; None for a cluster or TLS."""
    if parse_cluster_url(url) is not None:
        return None
    endpoint = Endpoint.from_url(url)
    return MultiplexedRedis(endpoint, deadline=deadline) if endpoint is not None else None


class _Replies(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.outgoing: list[bytes] = []  # packed commands of this turn of the loop

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        waiting = self.waiting
        while (reply := self.reader.gets()) is not False:
            future = waiting.popleft()
            if not future.done():
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisLaneError(f"connection lost: {exc}"))

    def fail(self, error: Exception) -> None:
        self.closed = True
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)
        if self.transport is not None:
            self.transport.abort()


class MultiplexedRedis:
    def __init__(self, endpoint: Endpoint, *, deadline: float) -> None:
        self.endpoint = endpoint
        self.deadline = deadline
        self._replies: _Replies | None = None
        self._connecting: asyncio.Future[_Replies] | None = None

    async def evalsha(self, script: LuaScript, keys: list[str], args: list[Any]) -> Any:
        """The script's reply, loaded first where Redis lacks it (a restart)."""
        reply = await self.call("EVALSHA", script.sha, len(keys), *keys, *args)
        if isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT"):
            reply = await self.call("EVAL", script.source, len(keys), *keys, *args)
        if isinstance(reply, hiredis.ReplyError):
            raise reply
        return reply

    async def evalsha_or_none(
        self, script: LuaScript, keys: list[str], args: list[Any]
    ) -> Any | None:
        """The script's reply; None where it did not come (no connection, the deadline) or
        Redis refused it: the caller asks its guarded client, whose guard judges the node."""
        try:
            return await self.evalsha(script, keys, args)
        except (RedisLaneError, hiredis.ReplyError):
            return None

    async def call(self, *command: Any) -> Any:
        """The reply (an error reply as a `hiredis.ReplyError` value)."""
        replies = self._replies
        if replies is None or replies.closed:
            replies = await self._connected()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        replies.waiting.append(future)
        if not replies.outgoing:
            loop.call_soon(self._flush, replies)
        replies.outgoing.append(hiredis.pack_command(command))
        return await future

    def _flush(self, replies: _Replies) -> None:
        outgoing, replies.outgoing = replies.outgoing, []
        if replies.closed or replies.transport is None:
            return  # its calls were failed with it
        replies.transport.write(b"".join(outgoing))
        last = replies.waiting[-1] if replies.waiting else None
        if last is not None:
            loop = asyncio.get_running_loop()
            loop.call_later(self.deadline, self._expire, replies, last, loop.time(), False)

    def _expire(
        self, replies: _Replies, last: asyncio.Future[Any], flushed: float, second: bool
    ) -> None:
        if last.done() or replies.closed:
            return
        loop = asyncio.get_running_loop()
        if not second and loop.time() - flushed > self.deadline * 1.5:
            # The loop was busy, not Redis: the replies may be in the socket, unread.
            loop.call_later(0.001, self._expire, replies, last, flushed, True)
            return
        replies.fail(RedisLaneError(f"no reply within {self.deadline * 1000:.0f} ms"))

    async def _connected(self) -> _Replies:
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.ensure_future(self._connect())
        try:
            return await asyncio.shield(self._connecting)
        except (OSError, TimeoutError, hiredis.HiredisError) as error:
            raise RedisLaneError(f"no connection: {error}") from error

    async def _connect(self) -> _Replies:
        endpoint = self.endpoint
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(max(self.deadline * 4, 0.2)):
            if endpoint.path is not None:
                _, replies = await loop.create_unix_connection(_Replies, endpoint.path)
            else:
                _, replies = await loop.create_connection(_Replies, endpoint.host, endpoint.port)
            self._replies = replies
            handshake = []
            if endpoint.password is not None:
                credentials = [endpoint.username] if endpoint.username else []
                handshake.append(self.call("AUTH", *credentials, endpoint.password))
            if endpoint.db:
                handshake.append(self.call("SELECT", endpoint.db))
            for reply in await asyncio.gather(*handshake):
                if isinstance(reply, hiredis.ReplyError):
                    replies.fail(RedisLaneError(str(reply)))
                    raise OSError(str(reply))
        return replies

    async def close(self) -> None:
        if self._replies is not None:
            self._replies.fail(RedisLaneError("closed"))
            self._replies = None
