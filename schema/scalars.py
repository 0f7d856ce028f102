"""DateTime: ISO-8601 with a UTC offset, always answered in UTC at millisecond precision."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

DESCRIPTION = "An ISO-8601 date-time with a UTC offset, e.g. 2026-11-28T10:26:30Z."


def to_utc_millis(value: datetime) -> datetime:
    """UTC, truncated to the millisecond MongoDB stores, so a write reads back identical."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # MongoDB's dates are UTC
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def serialize_datetime(value: datetime) -> str:
    value = to_utc_millis(value)
    timespec = "milliseconds" if value.microsecond else "seconds"
    return value.isoformat(timespec=timespec).replace("+00:00", "Z")


def parse_datetime(value: object) -> datetime:
    if not isinstance(value, str):
        raise TypeError("DateTime must be a string")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"DateTime needs a UTC offset, e.g. {value}Z")
    return to_utc_millis(parsed)


DateTime = strawberry.scalar(
    name="DateTime",
    description=DESCRIPTION,
    serialize=serialize_datetime,
    parse_value=parse_datetime,
)
