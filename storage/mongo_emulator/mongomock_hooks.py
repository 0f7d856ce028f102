"""The few places the emulator reaches inside mongomock (pinned to 4.x); each says why."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from importlib.metadata import version
from typing import Any, Protocol, TypeVar, cast

from mongomock import aggregate, filtering, helpers
from mongomock import collection as mongomock_collection
from mongomock.store import CollectionStore

MONGOMOCK_VERSION = version("mongomock")

# mongomock's functions carry no annotations; these typed aliases keep mypy --strict meaningful.
filter_applies = cast(Callable[[Mapping[str, Any], Any], bool], filtering.filter_applies)
process_pipeline = cast(
    Callable[[list[Any], Any, list[Mapping[str, Any]], None], Any], aggregate.process_pipeline
)
_patch_dates: Callable[[Any], Any] = helpers.patch_datetime_awareness_in_document
_copy_field = cast(Callable[[Any, type[dict[str, Any]]], Any], mongomock_collection._copy_field)

Documents = Mapping[Hashable, dict[str, Any]]
Specs = Mapping[str, Mapping[str, Any]]


class StoreListener(Protocol):
    def stored(self, key: Hashable) -> None: ...

    def removed(self, key: Hashable) -> None: ...

    def cleared(self) -> None: ...


Listener = TypeVar("Listener", bound=StoreListener)


class _TrackedStore(CollectionStore):
    # mongomock stores and removes every document through these two methods (inserts, upserts,
    # rollbacks, deletes, its own expiry): the one place to hear of each. A document changed in
    # place is not seen here; the unique-check hook reports those.
    listener: StoreListener

    def __setitem__(self, key: Hashable, value: dict[str, Any]) -> None:
        super().__setitem__(key, value)  # type: ignore[no-untyped-call]
        self.listener.stored(key)

    def __delitem__(self, key: Hashable) -> None:
        super().__delitem__(key)  # type: ignore[no-untyped-call]
        self.listener.removed(key)

    def drop(self) -> None:  # the collection's, or its database's
        super().drop()  # type: ignore[no-untyped-call]
        self.listener.cleared()


def tracked_store(
    collection: Any, create: Callable[[Callable[[], Documents], Callable[[], Specs]], Listener]
) -> Listener:
    """The listener on a collection's store, installed on first use (the store object persists
    across commands, renames and drops; a dropped database's collections get fresh ones)."""
    store = collection._store
    if not isinstance(store, _TrackedStore):
        # The store's class is swapped in place, so every holder of it sees the tracking.
        store.__class__ = _TrackedStore
        store.listener = create(lambda: store._documents, lambda: store.indexes)
    return cast(Listener, store.listener)


def install_unique_check(collection: Any, check: Callable[[dict[str, Any]], None]) -> None:
    # mongomock raises a bare E11000 without keyPattern/keyValue; it calls this method after
    # each insert and each document update (new document in place) and rolls back on error.
    collection._ensure_uniques = check


def install_query_planner(
    collection: Any, select: Callable[[dict[str, Any]], list[dict[str, Any]] | None]
) -> None:
    # Every mongomock query (find, count, update, delete, find-and-modify) scans the whole store
    # in Collection._iter_documents. `select` may name fewer documents, in natural order, that
    # include every one the filter can match; the filter then runs on those alone.
    def iter_documents(search_filter: dict[str, Any]) -> Iterator[dict[str, Any]]:
        store = collection._store
        if store.is_empty:
            filter_applies(search_filter, {})  # validates the filter, as mongomock does
            return iter(())
        chosen = select(search_filter)
        documents = list(store.documents) if chosen is None else chosen
        return (document for document in documents if filter_applies(search_filter, document))

    collection._iter_documents = iter_documents


def store_key(document: Mapping[str, Any]) -> Hashable:
    # mongomock keys its store by _id; an embedded-document _id by a hashable copy.
    object_id = document["_id"]
    return cast(Hashable, helpers.hashdict(object_id) if isinstance(object_id, dict) else object_id)


def patched_filter(query: Mapping[str, Any]) -> dict[str, Any]:
    # mongomock's cursors and $match stage rewrite a filter's dates (aware to naive UTC,
    # microseconds to milliseconds) before matching; the planner sees what they match with.
    return cast(dict[str, Any], _patch_dates(dict(query)))


def matching_documents(collection: Any, query: Mapping[str, Any]) -> list[dict[str, Any]]:
    # The stored documents a query matches, in natural order and uncopied (as collection.find
    # would, minus its deep copy of each): read them, never change them.
    return list(collection._iter_documents(patched_filter(query)))


def all_documents(collection: Any) -> list[dict[str, Any]]:
    # The stored documents themselves, uncopied, in natural order.
    # list() drains mongomock's generator at once, releasing the read lock it holds.
    return list(collection._store.documents)


def copy_document(document: dict[str, Any]) -> dict[str, Any]:
    # mongomock's own copy for what a query returns: containers copied, values shallow.
    return cast(dict[str, Any], _copy_field(document, dict))


def project(collection: Any, document: dict[str, Any], projection: Mapping[str, Any]) -> Any:
    # The emulator sorts documents itself (BSON order), then projects the page it serves.
    return collection._copy_only_fields(document, dict(projection), dict)


def disable_lazy_expiry(collection: Any) -> None:
    # mongomock deletes expired documents on every read, ignoring partialFilterExpression;
    # the emulator's TTL monitor deletes them instead, as mongod's does.
    collection._store._ttl_indexes.clear()
