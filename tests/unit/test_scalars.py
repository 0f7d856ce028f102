from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from schema.scalars import parse_datetime, serialize_datetime


def test_parses_offsets_into_utc_at_millisecond_precision() -> None:
    parsed = parse_datetime("2026-11-28T12:26:30.123456+02:00")
    assert parsed == datetime(2026, 11, 28, 10, 26, 30, 123000, tzinfo=UTC)
    assert parse_datetime("2026-11-28T10:26:30Z") == datetime(2026, 11, 28, 10, 26, 30, tzinfo=UTC)


@pytest.mark.parametrize("value", ["2026-11-28T10:26:30", "tomorrow", "", 1700000000])
def test_refuses_values_without_an_offset_or_not_dates(value: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        parse_datetime(value)


def test_serializes_in_utc_with_z() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert serialize_datetime(datetime(2026, 11, 28, 12, 26, 30, tzinfo=plus_two)) == (
        "2026-11-28T10:26:30Z"
    )
    assert serialize_datetime(datetime(2026, 11, 28, 10, 26, 30, 123456, tzinfo=UTC)) == (
        "2026-11-28T10:26:30.123Z"
    )
    # MongoDB hands back naive UTC datetimes when a client is not tz-aware.
    assert serialize_datetime(datetime(2026, 11, 28, 10, 26, 30)) == "2026-11-28T10:26:30Z"
