"""The transactions a dead instance left open, aborted within seconds instead of a minute.

A transaction holds what it wrote (a task's write writes the owner's next event sequence, a
create its idempotency key) until it commits or aborts. When its process dies in between, the
store aborts it only at the end of its transaction lifetime (60 s on mongod and SecantusDB),
and until then every write of that owner conflicts with it.

So each instance keeps a lease in MongoDB (`session_leases`) that names the sessions its
transactions run on, renewed every RENEW_EVERY seconds; a session is named there before its
first transaction. Every instance, at each renewal, looks for leases not renewed for
LEASE_SECONDS: their sessions are killed (`killSessions`, which aborts their transactions) and
the lease deleted. A write stuck behind a dead instance's transaction goes on after about
LEASE_SECONDS, well within its own timeout, instead of failing.

An instance that is only paused past its lease (not dead) loses its open transactions the
same way: they abort and rerun (a transient error), so nothing is written twice or lost.
Leases compare the instances' clocks, which must agree to well within LEASE_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import Binary
from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

LEASE_SECONDS = 5.0
RENEW_EVERY = 1.0
COLLECTION = "session_leases"

logger = logging.getLogger("taskql.sessions")


class SessionLease:
    """This instance's lease; `enlist` every session before its transaction."""

    def __init__(
        self,
        database: AsyncDatabase[dict[str, Any]],
        *,
        lease_seconds: float = LEASE_SECONDS,
        renew_every: float = RENEW_EVERY,
    ) -> None:
        self.instance = uuid.uuid4().hex
        self.lease = timedelta(seconds=lease_seconds)
        self.renew_every = renew_every
        self.leases = database[COLLECTION]
        self._enlisted: set[bytes] = set()
        self._renewing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.leases.create_index([("renewed", ASCENDING)], name="renewed")
        await self.renew()
        self._renewing = asyncio.create_task(self._keep_renewing(), name="session-lease")

    async def close(self) -> None:
        """Stop renewing and give the lease up (its sessions' transactions are all over)."""
        if self._renewing is not None:
            self._renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewing
        with contextlib.suppress(Exception):
            await self.leases.delete_one({"_id": self.instance})

    async def enlist(self, session: AsyncClientSession) -> None:
        """Name `session` in the lease (once) before it runs a transaction."""
        lsid = session.session_id["id"]
        if bytes(lsid) in self._enlisted:
            return
        await self.leases.update_one(
            {"_id": self.instance},
            {"$addToSet": {"sessions": lsid}, "$setOnInsert": {"renewed": _now()}},
            upsert=True,
        )
        self._enlisted.add(bytes(lsid))

    async def renew(self) -> None:
        # Every session again: a lease reaped while this instance was paused comes back whole.
        enlisted = [Binary(lsid, 4) for lsid in self._enlisted]
        await self.leases.update_one(
            {"_id": self.instance},
            {"$set": {"renewed": _now()}, "$addToSet": {"sessions": {"$each": enlisted}}},
            upsert=True,
        )

    async def reap(self) -> int:
        """Abort the transactions of every instance whose lease lapsed; how many were reaped."""
        lapsed = self.leases.find({"renewed": {"$lt": _now() - self.lease}})
        reaped = 0
        async for lease in lapsed:
            sessions = [{"id": lsid} for lsid in lease.get("sessions", [])]
            if sessions:
                await self.leases.database.client.admin.command("killSessions", sessions)
            # Only the lapse seen: a lease renewed meanwhile stays.
            await self.leases.delete_one({"_id": lease["_id"], "renewed": lease["renewed"]})
            logger.warning(
                "instance lease lapsed: its sessions killed",
                extra={"instance": lease["_id"], "sessions": len(sessions)},
            )
            reaped += 1
        return reaped

    async def _keep_renewing(self) -> None:
        while True:
            await asyncio.sleep(self.renew_every)
            try:
                await self.renew()
                await self.reap()
            except Exception as error:  # noqa: BLE001 -- MongoDB away: try again next tick
                logger.warning("session lease not renewed: %s", error)


def _now() -> datetime:
    return datetime.now(UTC)
