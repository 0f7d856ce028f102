"""The TTL monitor: deletes documents whose indexed date is older than expireAfterSeconds."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from storage.mongo_emulator.engine import Engine
from storage.mongo_emulator.indexes import index_documents

log = logging.getLogger(__name__)

# mongod sweeps every 60 s; a second keeps tests of expiry short without costing anything.
SWEEP_INTERVAL = 1.0


def expire_documents(engine: Engine, *, now: datetime) -> int:
    """One pass over every TTL index; `now` is naive UTC, as stored dates are."""
    removed = 0
    for database in engine.database_names():
        for name in engine.collection_names(database):
            collection = engine.collection(database, name)
            for index in index_documents(collection):
                seconds = index.get("expireAfterSeconds")
                if seconds is None or len(index["key"]) != 1:
                    continue
                try:
                    cutoff = now - timedelta(seconds=float(seconds))
                except OverflowError:
                    continue  # nothing stored can be that old
                expired = {next(iter(index["key"])): {"$lte": cutoff}}
                partial = index.get("partialFilterExpression")
                query = {"$and": [partial, expired]} if partial else expired
                removed += int(collection.delete_many(query).deleted_count)
    return removed


async def run_monitor(engine: Engine, *, interval: float = SWEEP_INTERVAL) -> None:
    """Expire documents and idle cursors until cancelled."""
    while True:
        await asyncio.sleep(interval)
        try:
            expire_documents(engine, now=datetime.now(UTC).replace(tzinfo=None))
            engine.cursors.expire_idle()
        except Exception:
            log.exception("TTL monitor pass failed")
