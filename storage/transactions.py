"""Multi-document transactions: several writes that commit together or not at all.

PyMongo's `with_transaction` reruns the work on a transient error (a write conflict with a
concurrent transaction, a primary stepping down) and retries a commit whose outcome is
unknown. One more case is rerun here: a unique key taken by a transaction that committed
after this one's snapshot was read, so the work, run again on a fresh snapshot, sees it.

Transactions with the same key (an owner) take turns within the process rather than conflict
and rerun; only those of different instances ever conflict. Each runs on a session named in
this instance's lease (storage/session_lease.py), so that if the instance dies mid-way, the
others abort its transaction within seconds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

import pymongo
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from storage.session_lease import SessionLease
from storage.turns import Turns

T = TypeVar("T")

# A write is abandoned past this, retries included: longer than a dead instance's lease
# (its transactions are aborted then), far shorter than the store's own 60-s lifetime.
TRANSACTION_TIMEOUT_SECONDS = 10.0
_DUPLICATE_KEY_RERUNS = 5


class Transactions:
    def __init__(
        self, client: AsyncMongoClient[dict[str, Any]], *, lease: SessionLease | None = None
    ) -> None:
        self.client = client
        # None where no other instance could reap this one's sessions (a one-off script).
        self.lease = lease
        self._turns = Turns()

    async def run(self, key: Hashable, work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        """`work(session)` in one transaction, committed, after this process's others of `key`."""
        async with self._turns.of(key), self.client.start_session() as session:
            with pymongo.timeout(TRANSACTION_TIMEOUT_SECONDS):
                if self.lease is not None:
                    await self.lease.enlist(session)
                for _ in range(_DUPLICATE_KEY_RERUNS):
                    try:
                        return await session.with_transaction(work)
                    except DuplicateKeyError:
                        continue
                return await session.with_transaction(work)
