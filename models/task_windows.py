"""Pages in the default order (newest first, no filter) read as windows of creation time.

SecantusDB reads every task of a query's range before it sorts and cuts the limit (no limit
pushdown): the newest 50 of an owner's 250 tasks cost 250 reads, and a page after a cursor
every task older than it. So such a page is read as a window, `created_at` in [floor, upper),
likely to hold just the page: the floor is a hint from what this process last read of the
owner (the creation time of the page's last task, or the time span a page of it covered,
with a margin). Whatever the hint, the answer is exact:
- a window that holds a page or more gives its newest (everything outside is older);
- a window that holds fewer is completed by the newest tasks below its floor (`$lt`, so a
  tie at the floor is read once);
- without a hint the floor is 1970, which on SecantusDB also selects the creation-time index
  (a bare owner query takes its shortest owner index, the tags one, and sorts at random).
On MongoDB each window is the same index range with a limit as the query it replaces.
Conditions are `$gte`/`$lt` only: SecantusDB drops values equal to a `$lte` bound on an
index's second field (see RangeBound).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from beanie import PydanticObjectId

from models.task_query import RangeBound, TaskFilterSpec, TaskPageQuery, TaskSort

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MARGIN = 1.5  # a span learned is widened by half, so that the next page's window holds it
HINT_CAPACITY = 10_000  # owners x page sizes remembered per process
_MILLISECOND = timedelta(milliseconds=1)
_DEFAULT = TaskSort()

Read = Callable[..., Awaitable[list[dict[str, Any]]]]
HintKey = tuple[PydanticObjectId, int]


class WindowHints:
    """Per owner and page size: the floor of the first page, the span of a later one. Hints
    only: a stale or missing one costs reads, never a wrong page."""

    def __init__(self, capacity: int = HINT_CAPACITY) -> None:
        self.capacity = capacity
        self.floors: dict[HintKey, datetime] = {}
        self.spans: dict[HintKey, timedelta] = {}

    def floor(self, key: HintKey, top: datetime | None) -> datetime:
        if top is None:
            return self.floors.get(key, EPOCH)
        span = self.spans.get(key)
        return EPOCH if span is None else top - span

    def learn(self, key: HintKey, top: datetime | None, tasks: list[dict[str, Any]]) -> None:
        """From a page read in full (`tasks`: as many as were wanted, newest first)."""
        if len(self.floors) + len(self.spans) > self.capacity:
            self.floors.clear()
            self.spans.clear()
        last: datetime = tasks[-1]["created_at"]
        newest: datetime = tasks[0]["created_at"] if top is None else top
        if top is None:
            self.floors[key] = last
        self.spans[key] = (newest - last) * MARGIN + _MILLISECOND


HINTS = WindowHints()


def windowed(query: TaskPageQuery) -> bool:
    """Whether the page is read in windows: newest first, unfiltered, from the top or after a
    cursor."""
    return (
        query.sort == _DEFAULT
        and query.filter == TaskFilterSpec()
        and not query.backward
        and query.before is None
    )


async def read_newest(
    read: Read,
    query: TaskPageQuery,
    after: RangeBound | None,
    *,
    wanted: int,
    fetched: int,
    hints: WindowHints | None = None,
) -> list[dict[str, Any]] | None:
    """Up to `wanted` stored tasks in list order; None where tasks at the cursor's value
    filled the read (`fetched`, as the caller's own range read): the caller reads it exactly."""
    hints = HINTS if hints is None else hints
    top: datetime | None = None if after is None else after.value
    key = (query.owner_id, wanted)
    floor = hints.floor(key, top)
    window: dict[str, Any] = {"$gte": floor}
    if after is not None:
        window.update(after.reach["created_at"])  # `$lt` the position's next value
    raws = await read({"created_at": window}, limit=fetched)
    kept = raws if after is None else [raw for raw in raws if after.holds(raw)]
    if len(kept) >= wanted:
        found = kept[:wanted]
    elif len(raws) == fetched:
        return None
    elif floor == EPOCH:
        found = kept  # the window held every task there is
    else:
        # Below the floor every task is older than the position: no tie to sort out.
        found = kept + await read({"created_at": {"$lt": floor}}, limit=wanted - len(kept))
    if len(found) == wanted:
        hints.learn(key, top, found)
    return found
