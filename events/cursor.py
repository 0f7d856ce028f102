"""Event cursors: opaque to clients, a user's sequence number inside."""

from __future__ import annotations

import base64
import binascii

_PREFIX = "ev1:"


class MalformedCursorError(ValueError):
    """Not a cursor this server made."""


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise MalformedCursorError(cursor) from None
    number = text[len(_PREFIX) :]
    # ASCII digits only: str.isdigit() also takes "²" and other scripts' digits.
    if not text.startswith(_PREFIX) or not (number.isascii() and number.isdigit()):
        raise MalformedCursorError(cursor)
    if len(number) > 18:
        raise MalformedCursorError(cursor)
    return int(number)
