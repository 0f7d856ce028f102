"""Multi-document transactions: several writes that commit together or not at all.

PyMongo's `with_transaction` reruns the work on a transient error (a write conflict with a
concurrent transaction, a primary stepping down) and retries a commit whose outcome is
unknown. One more case is rerun here: a unique key taken by a transaction that committed
after this one's snapshot was read, so the work, run again on a fresh snapshot, sees it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pymongo
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

T = TypeVar("T")

# A write is abandoned past this, retries included (a dead client's transaction holds its
# keys until the store aborts it: 60 s on mongod and SecantusDB).
TRANSACTION_TIMEOUT_SECONDS = 10.0
_DUPLICATE_KEY_RERUNS = 5


async def in_transaction(
    client: AsyncMongoClient[dict[str, Any]],
    work: Callable[[AsyncClientSession], Awaitable[T]],
) -> T:
    """`work(session)` in one transaction, committed; rerun on a fresh snapshot when needed."""
    async with client.start_session() as session:
        with pymongo.timeout(TRANSACTION_TIMEOUT_SECONDS):
            for _ in range(_DUPLICATE_KEY_RERUNS):
                try:
                    return await session.with_transaction(work)
                except DuplicateKeyError:
                    continue
            return await session.with_transaction(work)
