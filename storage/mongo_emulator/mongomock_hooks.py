"""The few places the emulator reaches inside mongomock (pinned to 4.x); each says why."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import version
from typing import Any, cast

from mongomock import aggregate, filtering

MONGOMOCK_VERSION = version("mongomock")

# mongomock's functions carry no annotations; these typed aliases keep mypy --strict meaningful.
filter_applies = cast(Callable[[Mapping[str, Any], Any], bool], filtering.filter_applies)
process_pipeline = cast(
    Callable[[list[Any], Any, list[Mapping[str, Any]], None], Any], aggregate.process_pipeline
)


def install_unique_check(collection: Any, check: Callable[[dict[str, Any]], None]) -> None:
    # mongomock raises a bare E11000 without keyPattern/keyValue; it calls this method after
    # each insert and each document update (new document in place) and rolls back on error.
    collection._ensure_uniques = check


def stored_documents(collection: Any) -> list[dict[str, Any]]:
    # The stored documents themselves, uncopied: a uniqueness check per write must stay cheap.
    # list() drains mongomock's generator at once, releasing the read lock it holds.
    return list(collection._store.documents)


def project(collection: Any, document: dict[str, Any], projection: Mapping[str, Any]) -> Any:
    # The emulator sorts documents itself (BSON order), then projects the page it serves.
    return collection._copy_only_fields(document, dict(projection), dict)


def disable_lazy_expiry(collection: Any) -> None:
    # mongomock deletes expired documents on every read, ignoring partialFilterExpression;
    # the emulator's TTL monitor deletes them instead, as mongod's does.
    collection._store._ttl_indexes.clear()
