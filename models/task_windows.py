"""Pages in the default order (newest first, no filter) read as windows of creation time.

SecantusDB reads every task of a query's range before it sorts and cuts the limit (no limit
pushdown): the newest 50 of an owner's 250 tasks cost 250 reads, and a page after a cursor
every task older than it. So such a page is read as a window, `created_at` in [floor, upper),
likely to hold just the page: its floor is a hint from what this process last read of the
owner (the creation time of a first page's last task, or the time span a page covered, with a
margin). Whatever the floor, the answer is exact:
- a window that holds a page or more gives its newest (everything outside is older);
- a window that holds fewer is completed from a slice below its floor, four times as long,
  then from all that is left (`$lt` a floor, so a tie at it is read once);
- without a hint the floor is 1970: the window holds the whole list, one read as before, but
  with a `created_at` range, which on SecantusDB selects the creation-time index (a bare owner
  query takes its shortest owner index, the tags one, whose entries come in tag order).
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
GROWTH = 4  # each slice below a short window this many times as long as the one above
MAX_SLICES = 2  # reads below the first window, the last of them all that is left
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

    def start(self, key: HintKey, top: datetime | None) -> tuple[datetime, timedelta | None]:
        """The first window's floor, and the span that the slice below it grows from; 1970 and
        None without a hint (the window then holds the whole list: one read, as before)."""
        span = self.spans.get(key)
        if top is None:
            floor = self.floors.get(key)
            return (EPOCH, None) if floor is None or span is None else (floor, span)
        return (EPOCH, None) if span is None else (top - span, span)

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
    floor, span = hints.start(key, top)
    window: dict[str, Any] = {"$gte": floor}
    if after is not None:
        window.update(after.reach["created_at"])  # `$lt` the position's next value
    raws = await read({"created_at": window}, limit=fetched)
    kept = raws if after is None else [raw for raw in raws if after.holds(raw)]
    if len(kept) < wanted and len(raws) == fetched:
        return None
    found = kept[:wanted]
    # Short: a longer slice below, then all that is left. Every task below a floor is older
    # than every task above it (`$lt`: a tie at a floor is read once).
    for slices in range(1, MAX_SLICES + 1):
        if len(found) >= wanted or span is None:
            break
        span *= GROWTH
        below: dict[str, Any] = {"$lt": floor}
        if slices < MAX_SLICES and floor - span > EPOCH:
            floor = below["$gte"] = floor - span
        found += await read({"created_at": below}, limit=wanted - len(found))
        if "$gte" not in below:
            break
    if len(found) == wanted:
        hints.learn(key, top, found)
    return found
