"""Cursors and page windows: round trips, and every malformed input a BAD_USER_INPUT."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import pytest
from beanie import PydanticObjectId
from hypothesis import given
from hypothesis import strategies as st

from models.task_query import (
    Keyset,
    SortField,
    TaskSort,
    bound_query,
    literal_pattern,
    range_bound,
)
from schema.errors import TaskqlError
from schema.pagination import decode_cursor, encode_cursor, page_window

TASK_ID = PydanticObjectId("65f000000000000000000001")
VALUES: dict[str, list[Any]] = {
    "CREATED_AT": [datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)],
    "UPDATED_AT": [datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)],
    "DUE_AT": [datetime(2030, 5, 6, tzinfo=UTC), None],
    "PRIORITY": [0, 3],
    "TITLE": ["", 'ünïcode "quoted" title'],
}


def _raw(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def _error(call: Any) -> TaskqlError:
    with pytest.raises(TaskqlError) as caught:
        call()
    return caught.value


@pytest.mark.parametrize("field", get_args(SortField))
@pytest.mark.parametrize("descending", [False, True])
def test_cursors_round_trip_for_every_order(field: SortField, descending: bool) -> None:
    sort = TaskSort(field=field, descending=descending)
    for value in VALUES[field]:
        keyset = Keyset(value=value, id=TASK_ID)
        cursor = encode_cursor(keyset, sort=sort)
        assert "=" not in cursor
        assert decode_cursor(cursor, sort=sort, field="after") == keyset


def test_a_cursor_for_another_order_is_refused() -> None:
    cursor = encode_cursor(Keyset(value=2, id=TASK_ID), sort=TaskSort(field="PRIORITY"))
    for other in (TaskSort(field="PRIORITY", descending=False), TaskSort(field="TITLE")):
        error = _error(lambda other=other: decode_cursor(cursor, sort=other, field="before"))
        assert error.code == "BAD_USER_INPUT"
        assert error.field == "before"
        assert "another orderBy" in error.message


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "not base64 at all",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        _raw({"a": 1}),
        _raw(["t1", "PRIORITY", "DESC", 1]),
        _raw(["t0", "PRIORITY", "DESC", 1, str(TASK_ID)]),
        _raw(["t1", "PRIORITY", "DESC", 1, "not-an-object-id"]),
        _raw(["t1", "PRIORITY", "DESC", 9, str(TASK_ID)]),
        _raw(["t1", "PRIORITY", "DESC", True, str(TASK_ID)]),
        _raw(["t1", "PRIORITY", "DESC", "1", str(TASK_ID)]),
        _raw(["t1", "PRIORITY", "DESC", None, str(TASK_ID)]),
        _raw(["t1", "CREATED_AT", "DESC", 10**30, str(TASK_ID)]),
        _raw(["t1", "CREATED_AT", "DESC", 1.5, str(TASK_ID)]),
        _raw(["t1", "CREATED_AT", "DESC", None, str(TASK_ID)]),
        _raw(["t1", "TITLE", "ASC", 5, str(TASK_ID)]),
        _raw(["t1", "NOPE", "ASC", 5, str(TASK_ID)]),
        "A" * 5000,
    ],
)
def test_malformed_cursors_are_bad_user_input(cursor: str) -> None:
    sort = TaskSort(field="PRIORITY")
    error = _error(lambda: decode_cursor(cursor, sort=sort, field="after"))
    assert (error.code, error.field) == ("BAD_USER_INPUT", "after")


@given(st.text(max_size=300))
def test_no_text_is_a_crash(cursor: str) -> None:
    code = "BAD_USER_INPUT"
    try:
        decode_cursor(cursor, sort=TaskSort(), field="after")
    except TaskqlError as error:
        code = error.code
    assert code == "BAD_USER_INPUT"


def test_page_windows() -> None:
    sort = TaskSort()
    assert page_window(first=None, after=None, last=None, before=None, sort=sort).limit == 20
    forward = page_window(first=0, after=None, last=None, before=None, sort=sort)
    assert (forward.limit, forward.backward) == (0, False)
    backward = page_window(first=None, after=None, last=100, before=None, sort=sort)
    assert (backward.limit, backward.backward) == (100, True)
    cursor = encode_cursor(Keyset(value=datetime(2026, 1, 1, tzinfo=UTC), id=TASK_ID), sort=sort)
    both = page_window(first=5, after=cursor, last=None, before=cursor, sort=sort)
    assert both.after == both.before == decode_cursor(cursor, sort=sort, field="after")


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"first": 1, "last": 1}, "last"),
        ({"first": -1}, "first"),
        ({"first": 101}, "first"),
        ({"last": -1}, "last"),
        ({"last": 101}, "last"),
        ({"after": "garbage"}, "after"),
        ({"before": "garbage"}, "before"),
    ],
)
def test_page_window_rules(arguments: dict[str, Any], field: str) -> None:
    values: dict[str, Any] = {"first": None, "after": None, "last": None, "before": None}
    values.update(arguments)
    error = _error(lambda: page_window(**values, sort=TaskSort()))
    assert (error.code, error.field) == ("BAD_USER_INPUT", field)


def test_bounds_on_booleans_become_equalities() -> None:
    due = datetime(2026, 1, 1, tzinfo=UTC)
    sort = TaskSort(field="DUE_AT", descending=True)
    after = bound_query(sort, Keyset(value=due, id=TASK_ID), side="after", inclusive=False)
    assert after == {
        "$or": [
            {"due_missing": True},
            {"due_missing": False, "due_at": {"$lt": due}},
            {"due_missing": False, "due_at": due, "_id": {"$lt": TASK_ID}},
        ]
    }
    missing = bound_query(sort, Keyset(value=None, id=TASK_ID), side="before", inclusive=True)
    assert missing == {
        "$or": [{"due_missing": False}, {"due_missing": True, "_id": {"$gte": TASK_ID}}]
    }


def test_literal_patterns_escape_every_metacharacter() -> None:
    assert literal_pattern("a.b*(c)?[d]$^|\\{2} é\n") == (
        "a\\.b\\*\\(c\\)\\?\\[d\\]\\$\\^\\|\\\\\\{2\\}\\ é\\x0a"
    )


def test_a_descending_reach_is_below_the_next_value_never_lte() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    newest_first = TaskSort(field="CREATED_AT", descending=True)
    bound = range_bound(newest_first, Keyset(value=at, id=TASK_ID), side="after", inclusive=False)
    assert bound is not None
    assert bound.reach == {"created_at": {"$lt": at + timedelta(milliseconds=1)}}
    assert bound.ties == {"created_at": at, "_id": {"$lt": TASK_ID}}
    assert bound.past == {"created_at": {"$lt": at}}
    by_priority = TaskSort(field="PRIORITY", descending=True)
    ranked = range_bound(by_priority, Keyset(value=2, id=TASK_ID), side="after", inclusive=True)
    assert ranked is not None
    assert ranked.reach == {"priority_rank": {"$lt": 3}}
    by_title = TaskSort(field="TITLE", descending=False)
    titled = range_bound(by_title, Keyset(value="b", id=TASK_ID), side="before", inclusive=False)
    assert titled is not None
    assert titled.reach == {"title_key": {"$lt": "b\x00"}}
    assert (
        range_bound(
            TaskSort(field="DUE_AT"), Keyset(value=at, id=TASK_ID), side="after", inclusive=False
        )
        is None
    )
