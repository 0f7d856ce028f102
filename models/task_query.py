"""Task list queries as MongoDB filters and sorts: pure functions, no I/O.

Pages are keyset pages: a position is the sort key of a task plus its id (ties break by id, in
the list's direction), and a page is "the tasks after (or before) this position", so no page
ever skips over earlier ones, and inserts or deletes elsewhere never shift a page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from beanie import PydanticObjectId
from pymongo import ASCENDING, DESCENDING

from models.task import (
    PRIORITY_RANK,
    TaskDocument,
    TaskPriorityValue,
    TaskStatusValue,
    fields_of,
)

SortField = Literal["CREATED_AT", "UPDATED_AT", "DUE_AT", "PRIORITY", "TITLE"]
SortValue = datetime | int | str | None
Side = Literal["after", "before"]

STORED_FIELD: dict[SortField, str] = {
    "CREATED_AT": "created_at",
    "UPDATED_AT": "updated_at",
    "DUE_AT": "due_at",
    "PRIORITY": "priority_rank",
    "TITLE": "title_key",
}


@dataclass(frozen=True)
class TaskSort:
    field: SortField = "CREATED_AT"
    descending: bool = True


@dataclass(frozen=True)
class Keyset:
    """A position in a sorted list: the sort value (None: no due date) and the task id."""

    value: SortValue
    id: PydanticObjectId


@dataclass(frozen=True)
class TaskFilterSpec:
    """Conditions that all hold. None: no condition; an empty status or priority tuple matches
    nothing ("any of none"), an empty tag tuple everything ("all of none")."""

    statuses: tuple[TaskStatusValue, ...] | None = None
    priorities: tuple[TaskPriorityValue, ...] | None = None
    tags: tuple[str, ...] = ()
    search: str | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None


@dataclass(frozen=True)
class TaskPageQuery:
    """Up to `limit` tasks strictly between the bounds: the first ones, or the last ones when
    `backward`."""

    owner_id: PydanticObjectId
    filter: TaskFilterSpec
    sort: TaskSort
    limit: int
    backward: bool = False
    after: Keyset | None = None
    before: Keyset | None = None


@dataclass(frozen=True)
class BoundaryProbe:
    """Does any task lie on `side` of `keyset`, the task at `keyset` included?"""

    owner_id: PydanticObjectId
    filter: TaskFilterSpec
    sort: TaskSort
    keyset: Keyset
    side: Side


def sort_value(document: TaskDocument, field: SortField) -> SortValue:
    value: SortValue = getattr(document, STORED_FIELD[field])
    return value


def keyset_of(document: TaskDocument, sort: TaskSort) -> Keyset:
    values = fields_of(document)
    return Keyset(value=values[STORED_FIELD[sort.field]], id=values["id"])


def literal_pattern(text: str) -> str:
    """A regular expression matching `text` literally, read alike by PCRE and Python's `re`.

    Both read a backslash before any ASCII non-alphanumeric character as that character, and
    `\\xhh` as a code point; letters, digits and non-ASCII characters stand for themselves.
    """
    parts: list[str] = []
    for char in text:
        if not char.isascii() or char.isalnum():
            parts.append(char)
        elif char.isprintable():
            parts.append("\\" + char)
        else:
            parts.append(f"\\x{ord(char):02x}")
    return "".join(parts)


def filter_query(owner_id: PydanticObjectId, spec: TaskFilterSpec) -> dict[str, Any]:
    """The owner's tasks that pass `spec`. The owner comes first: every query names it."""
    query: dict[str, Any] = {"owner_id": owner_id}
    if spec.statuses is not None:
        query["status"] = {"$in": list(spec.statuses)}
    if spec.priorities is not None:
        query["priority_rank"] = {"$in": sorted({PRIORITY_RANK[p] for p in spec.priorities})}
    if spec.tags:
        query["tags"] = {"$all": list(spec.tags)}
    due: dict[str, datetime] = {}
    if spec.due_after is not None:
        due["$gte"] = spec.due_after
    if spec.due_before is not None:
        due["$lt"] = spec.due_before
    if due:
        query["due_at"] = due
    clauses: list[dict[str, Any]] = []
    if spec.search:
        pattern = {"$regex": literal_pattern(spec.search), "$options": "i"}
        clauses.append({"$or": [{"title": pattern}, {"description": pattern}]})
    if clauses:
        query["$and"] = clauses
    return query


def sort_fields(sort: TaskSort, *, missing_due: bool = False) -> list[tuple[str, int]]:
    """The stored fields a list is ordered by, with their directions.

    Tasks without a due date come last in both directions, so `due_missing` is always
    ascending; among them the due date is absent and the id alone orders them.
    """
    direction = DESCENDING if sort.descending else ASCENDING
    if sort.field != "DUE_AT":
        return [(STORED_FIELD[sort.field], direction), ("_id", direction)]
    if missing_due:
        return [("due_missing", ASCENDING), ("_id", direction)]
    return [("due_missing", ASCENDING), ("due_at", direction), ("_id", direction)]


def sort_spec(sort: TaskSort, *, reverse: bool = False) -> list[tuple[str, int]]:
    fields = sort_fields(sort)
    return [(name, -direction) for name, direction in fields] if reverse else fields


def bound_query(sort: TaskSort, keyset: Keyset, *, side: Side, inclusive: bool) -> dict[str, Any]:
    """Tasks strictly on `side` of the position in list order (or at it, when `inclusive`)."""
    missing = sort.field == "DUE_AT" and keyset.value is None
    fields = sort_fields(sort, missing_due=missing)
    values: list[Any] = [keyset.value, keyset.id]
    if sort.field == "DUE_AT":
        values = [True, keyset.id] if missing else [False, keyset.value, keyset.id]
    clauses: list[dict[str, Any]] = []
    equal: dict[str, Any] = {}
    for position, ((name, direction), value) in enumerate(zip(fields, values, strict=True)):
        ascending = (direction == ASCENDING) == (side == "after")
        at_too = inclusive and position == len(fields) - 1
        condition = _beyond(value, ascending=ascending, inclusive=at_too)
        if condition is not None:
            clauses.append({**equal, name: condition})
        equal[name] = value
    if len(clauses) == 1:
        return clauses[0]  # no `$or` to plan (see RangeBound)
    return {"$or": clauses} if clauses else {"_id": {"$in": []}}


@dataclass(frozen=True)
class RangeBound:
    """A keyset bound without `$or`, for an order on one stored field then the id.

    `bound_query`'s `$or` is what MongoDB runs best (each branch an index range), but
    SecantusDB's planner scans the whole collection for any `$or` or `$and` (a 50-task page of
    one owner among 10,000 tasks: 167 ms, against 11 ms for a plain range). So a page is read
    as one index range, its conditions at the top level: `reach`, every task at or beyond the
    position's sort value, keeping those that `hold` (at the value, only ids beyond the
    position's). Where many tasks share the value, the exact parts instead: `ties` (at the
    value, beyond the id) and `past` (beyond the value).
    """

    field: str
    value: Any
    id: PydanticObjectId
    ascending: bool  # beyond is upwards
    inclusive: bool  # the task at the position counts

    @property
    def reach(self) -> dict[str, Any]:
        if self.ascending:
            return {self.field: {"$gte": self.value}}
        # "At most the value" as "below the next one": SecantusDB's index scan leaves out the
        # values equal to a `$lte` bound on an index's second field (priority <= 1 found none
        # of 250 tasks of priority 1), and both stores read `$lt` alike.
        return {self.field: {"$lt": _next_value(self.value)}}

    @property
    def ties(self) -> dict[str, Any]:
        beyond_id = _beyond(self.id, ascending=self.ascending, inclusive=self.inclusive)
        return {self.field: self.value, "_id": beyond_id}

    @property
    def past(self) -> dict[str, Any]:
        return {self.field: _beyond(self.value, ascending=self.ascending, inclusive=False)}

    def holds(self, raw: dict[str, Any]) -> bool:
        """Whether a stored task within `reach` is beyond the position."""
        if raw.get(self.field) != self.value:
            return True
        found: PydanticObjectId = raw["_id"]
        if found == self.id:
            return self.inclusive
        return found > self.id if self.ascending else found < self.id


def _next_value(value: Any) -> Any:
    """The least stored value above `value`: datetimes are stored to the millisecond, ranks as
    integers, and strings compare byte by byte (NUL is the least character)."""
    if isinstance(value, datetime):
        return value + timedelta(milliseconds=1)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"no next value for {value!r}")
    return value + 1 if isinstance(value, int) else value + "\x00"


def range_bound(
    sort: TaskSort, keyset: Keyset, *, side: Side, inclusive: bool
) -> RangeBound | None:
    """`bound_query` as a RangeBound; None for due dates (three fields, and a missing value)."""
    if sort.field == "DUE_AT":
        return None
    (name, direction), _ = sort_fields(sort)
    ascending = (direction == ASCENDING) == (side == "after")
    return RangeBound(name, keyset.value, keyset.id, ascending=ascending, inclusive=inclusive)


def _beyond(value: Any, *, ascending: bool, inclusive: bool) -> Any:
    """The condition "greater than `value`" (or less, when not `ascending`; or equal too, when
    `inclusive`); None when no value is."""
    if isinstance(value, bool):
        # Booleans are never the last field; equalities read better than $gt/$lt on them.
        return None if value is ascending else (not value)
    operator = ("$gt" if ascending else "$lt") + ("e" if inclusive else "")
    return {operator: value}
