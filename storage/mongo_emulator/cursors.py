"""Server-side cursors: the documents a query has not served yet, kept under a random int64 id."""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import bson
from bson.int64 import Int64
from bson.raw_bson import RawBSONDocument

from storage.mongo_emulator.errors import (
    BAD_VALUE,
    CURSOR_NOT_FOUND,
    UNAUTHORIZED,
    CommandError,
)
from storage.mongo_emulator.wire import ENCODE_OPTIONS

DEFAULT_FIRST_BATCH = 101
# A batch stops growing at 16 MiB of documents, like mongod's; it always holds one document.
MAX_BATCH_BYTES = 16 * 1024 * 1024
IDLE_TIMEOUT = 600.0


@dataclass
class _Cursor:
    namespace: str
    pending: deque[Mapping[str, Any]]
    no_timeout: bool
    last_used: float = field(default_factory=time.monotonic)


def batch_size_option(value: Any, *, name: str = "batchSize") -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise CommandError(BAD_VALUE, f"{name} must be a non-negative number, not {value!r}")
    return int(value)


def _take(pending: deque[Mapping[str, Any]], count: int | None) -> list[RawBSONDocument]:
    batch: list[RawBSONDocument] = []
    size = 0
    while pending and (count is None or len(batch) < count):
        raw = bson.encode(pending[0], codec_options=ENCODE_OPTIONS)
        if batch and size + len(raw) > MAX_BATCH_BYTES:
            break
        pending.popleft()
        batch.append(RawBSONDocument(raw))
        size += len(raw)
    return batch


class CursorStore:
    """Open cursors of one emulator, served by getMore and closed by killCursors or idleness."""

    def __init__(self) -> None:
        self._cursors: dict[int, _Cursor] = {}

    def open(
        self,
        namespace: str,
        documents: Iterable[Mapping[str, Any]],
        *,
        batch_size: int | None,
        single_batch: bool = False,
        no_timeout: bool = False,
    ) -> dict[str, Any]:
        """The `cursor` field of a reply; a cursor is kept only if documents remain."""
        pending = deque(documents)
        first = _take(pending, DEFAULT_FIRST_BATCH if batch_size is None else batch_size)
        cursor_id = 0
        if pending and not single_batch:
            cursor_id = self._new_id()
            self._cursors[cursor_id] = _Cursor(namespace, pending, no_timeout)
        return {"firstBatch": first, "id": Int64(cursor_id), "ns": namespace}

    def get_more(self, cursor_id: int, *, namespace: str, batch_size: int | None) -> dict[str, Any]:
        cursor = self._cursors.get(cursor_id)
        if cursor is None:
            raise CommandError(CURSOR_NOT_FOUND, f"cursor id {cursor_id} not found")
        if cursor.namespace != namespace:
            raise CommandError(
                UNAUTHORIZED,
                f"Requested getMore on namespace '{namespace}', but cursor belongs to a"
                f" different namespace {cursor.namespace}",
            )
        batch = _take(cursor.pending, batch_size or None)
        cursor.last_used = time.monotonic()
        if not cursor.pending:
            del self._cursors[cursor_id]
            cursor_id = 0
        return {"nextBatch": batch, "id": Int64(cursor_id), "ns": namespace}

    def kill(self, cursor_ids: Iterable[int]) -> tuple[list[Int64], list[Int64]]:
        killed: list[Int64] = []
        not_found: list[Int64] = []
        for cursor_id in cursor_ids:
            found = self._cursors.pop(int(cursor_id), None) is not None
            (killed if found else not_found).append(Int64(cursor_id))
        return killed, not_found

    def expire_idle(self, *, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        idle = [
            cursor_id
            for cursor_id, cursor in self._cursors.items()
            if not cursor.no_timeout and now - cursor.last_used > IDLE_TIMEOUT
        ]
        for cursor_id in idle:
            del self._cursors[cursor_id]
        return len(idle)

    def _new_id(self) -> int:
        while True:
            cursor_id = secrets.randbits(63)
            if cursor_id and cursor_id not in self._cursors:
                return cursor_id
