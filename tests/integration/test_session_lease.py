"""Instance leases (storage/session_lease.py): a live instance's lease is renewed and never
reaped; one given up at shutdown is gone. tests/integration/test_write_kill.py reaps the lease
of a process killed mid-transaction."""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from storage.session_lease import SessionLease


async def test_a_renewed_lease_is_never_reaped_and_a_closed_one_is_gone(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    live = SessionLease(mongo_db, lease_seconds=0.5, renew_every=0.1)
    await live.start()
    async with mongo_db.client.start_session() as session:
        await live.enlist(session)
        await live.enlist(session)  # once is enough
        stored = await live.leases.find_one({"_id": live.instance})
        assert stored is not None
        # (this client reads binary UUIDs as uuid.UUID)
        assert [lsid.bytes for lsid in stored["sessions"]] == [bytes(session.session_id["id"])]

    other = SessionLease(mongo_db, lease_seconds=0.5)
    for _ in range(10):
        await asyncio.sleep(0.1)
        assert await other.reap() == 0
    first = await live.leases.find_one({"_id": live.instance})
    await asyncio.sleep(0.3)
    renewed = await live.leases.find_one({"_id": live.instance})
    assert first is not None
    assert renewed is not None
    assert renewed["renewed"] > first["renewed"]

    await live.close()
    assert await live.leases.count_documents({}) == 0
