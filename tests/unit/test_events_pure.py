"""The pure parts of task events: cursors round-trip and refuse anything this server did not
make; the wire codec restores every field with its type (ObjectIds, aware datetimes, the nested
task with its `_id`); a subscriber's bounded queue reports overflow exactly once and then drops
further events."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from beanie import PydanticObjectId
from bson import ObjectId

from events.codec import decode_event, encode_event
from events.cursor import MalformedCursorError, decode_cursor, encode_cursor
from events.subscriber import Subscriber
from models.task_event import TaskEventRecord


def raw_cursor(text: str) -> str:
    """A cursor built by hand around `text` (the way encode_cursor wraps its payload)."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def record(seq: int, *, owner: PydanticObjectId | None = None) -> TaskEventRecord:
    task_id = PydanticObjectId()
    return TaskEventRecord(
        owner_id=owner or PydanticObjectId(),
        seq=seq,
        type="UPDATED",
        task_id=task_id,
        task={"_id": task_id, "title": f"task {seq}"},
        at=datetime(2025, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC),
    )


# --- cursors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seq", [0, 1, 9, 10, 499, 500, 123_456_789, 10**18 - 1])
def test_cursor_round_trip(seq: int) -> None:
    cursor = encode_cursor(seq)
    assert decode_cursor(cursor) == seq
    assert "=" not in cursor  # padding stripped: the cursor is URL- and JSON-safe as is
    assert not cursor.startswith("ev1:")  # opaque: not the payload in clear


def test_distinct_sequences_give_distinct_cursors() -> None:
    cursors = {encode_cursor(seq) for seq in range(1_000)}
    assert len(cursors) == 1_000


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("", id="empty"),
        pytest.param("garbage!!", id="garbage"),
        pytest.param("%%%%", id="no-base64-characters"),
        pytest.param("abc", id="bad-padding-length"),
        pytest.param(raw_cursor("ev2:5"), id="wrong-prefix-version"),
        pytest.param(raw_cursor("xx1:5"), id="wrong-prefix"),
        pytest.param(raw_cursor("5"), id="no-prefix"),
        pytest.param(raw_cursor("ev1:"), id="no-digits"),
        pytest.param(raw_cursor("ev1:-1"), id="negative"),
        pytest.param(raw_cursor("ev1:1.5"), id="decimal"),
        pytest.param(raw_cursor("ev1:12a"), id="trailing-letter"),
        pytest.param(raw_cursor("ev1: 7"), id="space"),
        pytest.param(raw_cursor("ev1:7\n"), id="newline"),
        pytest.param(raw_cursor("ev1:1e5"), id="exponent"),
        pytest.param(raw_cursor("ev1:" + "9" * 19), id="huge-19-digits"),
        pytest.param(raw_cursor("ev1:" + "1" * 400), id="huge-400-digits"),
        pytest.param(base64.urlsafe_b64encode(b"ev1:\xff\xfe").decode(), id="not-utf8"),
    ],
)
def test_malformed_cursor_refused(cursor: str) -> None:
    with pytest.raises(MalformedCursorError):
        decode_cursor(cursor)


def test_superscript_digit_cursor_refused_as_malformed() -> None:
    cursor = raw_cursor("ev1:\u00b2")  # "²": isdigit() is True, int() refuses it
    with pytest.raises(MalformedCursorError):
        decode_cursor(cursor)


def test_non_ascii_digit_cursor_refused() -> None:
    cursor = raw_cursor("ev1:\u0661\u0662")  # Arabic-Indic "12"
    with pytest.raises(MalformedCursorError):
        decode_cursor(cursor)


def test_malformed_cursor_error_is_a_value_error_naming_the_cursor() -> None:
    with pytest.raises(ValueError, match="garbage") as caught:
        decode_cursor("garbage")
    assert isinstance(caught.value, MalformedCursorError)


# --- codec -----------------------------------------------------------------------------------


def test_codec_round_trip_preserves_every_field_and_type() -> None:
    owner = PydanticObjectId()
    task_id = PydanticObjectId()
    at = datetime(2025, 6, 30, 23, 59, 58, 123_000, tzinfo=UTC)
    due = datetime(2025, 7, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    task = {
        "_id": task_id,
        "owner_id": owner,
        "title": "Ship it — ✓",
        "description": None,
        "status": "DONE",
        "priority": "HIGH",
        "tags": ["a", "b"],
        "due_at": due,
        "created_at": at - timedelta(days=1),
        "updated_at": at,
        "version": 3,
        "history": [{"by": owner, "at": at}],
    }
    event = TaskEventRecord(
        owner_id=owner, seq=42, type="UPDATED", task_id=task_id, task=task, at=at
    )

    decoded = decode_event(encode_event(event))

    assert decoded == event
    assert isinstance(decoded.owner_id, ObjectId)
    assert isinstance(decoded.task_id, ObjectId)
    assert isinstance(decoded.seq, int)
    assert decoded.type == "UPDATED"
    assert isinstance(decoded.at, datetime)
    assert decoded.at.tzinfo is not None
    assert decoded.at.utcoffset() == timedelta(0)
    assert decoded.task is not None
    assert isinstance(decoded.task["_id"], ObjectId)
    assert decoded.task["_id"] == task_id
    assert isinstance(decoded.task["owner_id"], ObjectId)
    assert decoded.task["due_at"] == due
    assert decoded.task["due_at"].utcoffset() == timedelta(hours=2)
    assert decoded.task["description"] is None
    assert decoded.task["tags"] == ["a", "b"]
    assert isinstance(decoded.task["history"][0]["by"], ObjectId)
    assert decoded.task["history"][0]["at"] == at
    assert decoded.task["version"] == 3


def test_codec_round_trip_of_a_deletion_without_task() -> None:
    event = TaskEventRecord(
        owner_id=PydanticObjectId(),
        seq=1,
        type="DELETED",
        task_id=PydanticObjectId(),
        task=None,
        at=datetime.now(UTC),
    )
    decoded = decode_event(encode_event(event))
    assert decoded == event
    assert decoded.task is None


def test_codec_accepts_text_as_well_as_bytes() -> None:
    event = record(7)
    assert decode_event(encode_event(event).decode()) == event


def test_encoded_event_is_plain_json_with_tagged_ids_and_dates() -> None:
    event = record(3)
    wire = orjson.loads(encode_event(event))
    assert wire["owner_id"] == {"$oid": str(event.owner_id)}
    assert wire["task_id"] == {"$oid": str(event.task_id)}
    assert wire["at"] == {"$date": event.at.isoformat()}
    assert wire["seq"] == 3
    assert wire["task"]["_id"] == {"$oid": str(event.task_id)}


# --- subscriber ------------------------------------------------------------------------------


async def test_subscriber_overflow_calls_handler_once_and_drops_further_events() -> None:
    calls: list[int] = []
    owner = PydanticObjectId()
    subscriber = Subscriber(owner, capacity=3, on_overflow=lambda: calls.append(1))

    for seq in range(1, 4):
        subscriber.offer(record(seq, owner=owner))
    assert calls == []
    assert subscriber.queue.full()

    for seq in range(4, 10):
        subscriber.offer(record(seq, owner=owner))
    assert calls == [1]
    assert subscriber.overflowed

    # Draining does not reopen it: the transport is closing this subscription.
    received = [(await subscriber.next()).seq for _ in range(3)]
    assert received == [1, 2, 3]
    subscriber.offer(record(10, owner=owner))
    assert subscriber.queue.empty()
    assert calls == [1]


async def test_subscriber_hands_events_out_in_order() -> None:
    owner = PydanticObjectId()
    subscriber = Subscriber(owner, capacity=10, on_overflow=lambda: pytest.fail("overflow"))
    for seq in range(1, 11):
        subscriber.offer(record(seq, owner=owner))
    assert subscriber.queue.full()
    assert [(await subscriber.next()).seq for _ in range(10)] == list(range(1, 11))
