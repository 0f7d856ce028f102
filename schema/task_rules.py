"""The input rules of tasks (CONTRACT.md), as pure functions that return the normalised value
or raise BAD_USER_INPUT naming the offending field."""

from __future__ import annotations

from collections.abc import Iterable

from schema.errors import bad_input

TITLE_MAX = 200
DESCRIPTION_MAX = 10_000
TAGS_MAX = 20
TAG_MAX = 32
SEARCH_MAX = 100
IDEMPOTENCY_KEY_MAX = 64


def normalise_title(value: str, *, field: str) -> str:
    title = value.strip()
    if not 1 <= len(title) <= TITLE_MAX:
        raise bad_input(field, f"The title must be 1 to {TITLE_MAX} characters (trimmed).")
    return title


def check_description(value: str | None, *, field: str) -> str | None:
    if value is not None and len(value) > DESCRIPTION_MAX:
        raise bad_input(field, f"The description must be at most {DESCRIPTION_MAX} characters.")
    return value


def normalise_tags(values: Iterable[str], *, field: str) -> tuple[str, ...]:
    """Trimmed, without duplicates (the first of each kept in place), each 1 to 32 characters,
    at most 20 of them."""
    tags: dict[str, None] = {}
    for value in values:
        tag = value.strip()
        if not 1 <= len(tag) <= TAG_MAX:
            raise bad_input(field, f"Each tag must be 1 to {TAG_MAX} characters (trimmed).")
        tags.setdefault(tag)
    if len(tags) > TAGS_MAX:
        raise bad_input(field, f"At most {TAGS_MAX} distinct tags.")
    return tuple(tags)


def check_search(value: str, *, field: str) -> str:
    if len(value) > SEARCH_MAX:
        raise bad_input(field, f"The search must be at most {SEARCH_MAX} characters.")
    return value


def check_idempotency_key(value: str, *, field: str) -> str:
    if not 1 <= len(value) <= IDEMPOTENCY_KEY_MAX:
        raise bad_input(
            field, f"The idempotency key must be 1 to {IDEMPOTENCY_KEY_MAX} characters."
        )
    return value
