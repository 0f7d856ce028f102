"""A collection's hash indexes, kept current with its documents as they are written.

One per collection store: `_id`, the first field of every declared index (for the query planner)
and the full key of every unique index (for E11000 checks). mongomock's store reports each
document it stores or removes; a document changed in place is reported by the unique-check hook
(`touched`) and by the update path (`changing`). Changes are applied lazily, when an index is next
read; a dropped collection, a changed index list, or anything unexpected rebuilds them.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from storage.mongo_emulator.hash_index import HashIndex
from storage.mongo_emulator.index_keys import index_fields, match_keys, unique_index_keys
from storage.mongo_emulator.mongomock_hooks import tracked_store

log = logging.getLogger(__name__)

Documents = Mapping[Hashable, dict[str, Any]]
Specs = Mapping[str, Mapping[str, Any]]


class CollectionIndexes:
    def __init__(self, documents: Callable[[], Documents], specs: Callable[[], Specs]) -> None:
        self._documents = documents
        self._specs = specs
        self._built_from: Documents | None = None
        self._synced: list[tuple[str, Mapping[str, Any]]] = []
        self._order: dict[Hashable, int] = {}
        self._counter = itertools.count()
        self._dirty: set[Hashable] = set()
        self._changing: set[Hashable] = set()
        self._fields: dict[str, HashIndex] = {}
        self._uniques: dict[str, tuple[Mapping[str, Any], HashIndex]] = {}

    # Events, from the store and the write paths: cheap, never failing.

    def stored(self, key: Hashable) -> None:
        if key not in self._order:
            self._order[key] = next(self._counter)  # appended: mongomock's store is ordered
        self._dirty.add(key)

    def removed(self, key: Hashable) -> None:
        self._order.pop(key, None)
        self._dirty.discard(key)
        for index in self._indexes():
            index.discard(key)

    def touched(self, key: Hashable) -> None:
        self._dirty.add(key)

    def cleared(self) -> None:
        """The collection was dropped: its indexes go now, not at its next use (if any)."""
        self._fields, self._uniques, self._synced = {}, {}, []
        self._order, self._dirty = {}, set()
        self.invalidate()

    def invalidate(self) -> None:
        self._built_from = None

    @contextmanager
    def changing(self, keys: Iterable[Hashable]) -> Iterator[None]:
        """Documents an update is about to change in place, maybe unseen: mongomock reports a
        change only when Python equality sees one (not 1 → true, nor a reordered subdocument),
        and not at all when it fails midway. Unique checks re-read them meanwhile."""
        self._changing = set(keys)
        try:
            yield
        finally:
            self._dirty |= self._changing
            self._changing = set()

    # Reads: each brings the indexes up to date first.

    def current(self) -> CollectionIndexes:
        try:
            if self._documents() is not self._built_from:
                self._rebuild()
            elif not self._specs_unchanged():
                self._sync_specs()
            if self._dirty:
                self._flush()
        except Exception:
            log.exception("rebuilding the emulator's hash indexes after a failure")
            self._rebuild()
        return self

    def fields(self) -> Mapping[str, HashIndex]:
        """Hash indexes by field path: `_id` and each declared index's first field."""
        return self._fields

    def uniques(self) -> list[tuple[str, Mapping[str, Any], HashIndex]]:
        """Unique indexes in creation order, as mongod checks them."""
        documents = self._documents()
        for key in self._changing:
            document = documents.get(key)
            for _, index in self._uniques.values():
                if document is None:
                    index.discard(key)
                else:
                    index.put(key, document)
        return [(name, info, index) for name, (info, index) in self._uniques.items()]

    def in_order(self, keys: Iterable[Hashable]) -> list[dict[str, Any]] | None:
        """The documents stored under `keys`, in natural (insertion) order; None if one is gone."""
        documents = self._documents()
        try:
            return [documents[key] for key in sorted(keys, key=self._order.__getitem__)]
        except KeyError:
            log.warning("emulator hash index out of step with its collection: rebuilding")
            self.invalidate()
            return None

    def in_order_keys(self, keys: Iterable[Hashable]) -> list[Hashable]:
        return sorted(keys, key=lambda key: self._order.get(key, -1))

    def document(self, key: Hashable) -> dict[str, Any]:
        return self._documents()[key]

    # Maintenance.

    def _indexes(self) -> list[HashIndex]:
        return [*self._fields.values(), *(index for _, index in self._uniques.values())]

    def _specs_unchanged(self) -> bool:
        specs = self._specs()
        if len(specs) != len(self._synced):
            return False
        return all(
            name == synced_name and info is synced_info
            for (name, info), (synced_name, synced_info) in zip(
                specs.items(), self._synced, strict=True
            )
        )

    def _rebuild(self) -> None:
        documents = self._documents()
        self._built_from = documents
        self._order = {key: position for position, key in enumerate(documents)}
        self._counter = itertools.count(len(self._order))
        self._dirty = set()
        self._fields = {}
        self._uniques = {}
        self._synced = []
        self._sync_specs()

    def _sync_specs(self) -> None:
        specs = list(self._specs().items())
        paths = ["_id", *(index_fields(info)[0] for _, info in specs)]
        fields = {path: self._fields.get(path) or self._build(_field_keys(path)) for path in paths}
        uniques: dict[str, tuple[Mapping[str, Any], HashIndex]] = {}
        for name, info in specs:
            if not info.get("unique"):
                continue
            kept = self._uniques.get(name)
            if kept is not None and kept[0] is info:
                uniques[name] = kept
            else:
                uniques[name] = (info, self._build(_unique_keys(info)))
        self._fields, self._uniques, self._synced = fields, uniques, specs

    def _build(self, keys_of: Callable[[Mapping[str, Any]], Iterable[Hashable]]) -> HashIndex:
        index = HashIndex(keys_of)
        for key, document in self._documents().items():
            index.put(key, document)
        return index

    def _flush(self) -> None:
        documents = self._documents()
        indexes = self._indexes()
        dirty, self._dirty = self._dirty, set()
        for key in dirty:
            document = documents.get(key)
            for index in indexes:
                if document is None:
                    index.discard(key)
                else:
                    index.put(key, document)


def _field_keys(path: str) -> Callable[[Mapping[str, Any]], Iterable[Hashable]]:
    parts = path.split(".")
    return lambda document: match_keys(document, parts)


def _unique_keys(info: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], Iterable[Hashable]]:
    return lambda document: unique_index_keys(document, info)


def indexes_of(collection: Any) -> CollectionIndexes:
    """The hash indexes of a mongomock collection's store, created on first use."""
    return tracked_store(collection, CollectionIndexes)
