"""One hash index: each key → the store keys of the documents that hold it."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

KeysOf = Callable[[Mapping[str, Any]], Iterable[Hashable]]
_NONE = object()


class HashIndex:
    """Maintained one document at a time: `put` after each change, `discard` on removal."""

    def __init__(self, keys_of: KeysOf) -> None:
        self._keys_of = keys_of
        # A key held by one document maps to its store key (no set): most keys are unique.
        self._holders: dict[Hashable, Hashable | set[Hashable]] = {}
        self._held: dict[Hashable, tuple[Hashable, ...]] = {}
        # Documents whose keys could not be computed (a value with no BSON order, such as
        # JavaScript code): every lookup returns them, and the full query decides.
        self.unkeyed: set[Hashable] = set()

    def put(self, document_key: Hashable, document: Mapping[str, Any]) -> None:
        try:
            keys = tuple(dict.fromkeys(self._keys_of(document)))
        except Exception:  # noqa: BLE001 -- any failure leaves the document to the full query
            self.discard(document_key)
            self.unkeyed.add(document_key)
            return
        old = self._held.get(document_key)
        if old is not None and (old == keys or set(old) == set(keys)):
            return
        self.discard(document_key)
        if not keys:
            return
        self._held[document_key] = keys
        for key in keys:
            holders = self._holders.get(key, _NONE)
            if holders is _NONE:
                self._holders[key] = document_key
            elif isinstance(holders, set):
                holders.add(document_key)
            else:
                self._holders[key] = {holders, document_key}

    def discard(self, document_key: Hashable) -> None:
        self.unkeyed.discard(document_key)
        for key in self._held.pop(document_key, ()):
            holders = self._holders[key]
            if not isinstance(holders, set):
                del self._holders[key]
                continue
            holders.discard(document_key)
            if len(holders) == 1:
                self._holders[key] = holders.pop()

    def holders(self, keys: Iterable[Hashable]) -> set[Hashable]:
        """Every document holding one of `keys`, and every unkeyed one."""
        found = set(self.unkeyed)
        for key in keys:
            self._collect(key, found)
        return found

    def sharing(self, document_key: Hashable) -> set[Hashable]:
        """The other documents holding a key this one holds."""
        found: set[Hashable] = set()
        for key in self._held.get(document_key, ()):
            self._collect(key, found)
        found.discard(document_key)
        return found

    def _collect(self, key: Hashable, found: set[Hashable]) -> None:
        holders = self._holders.get(key, _NONE)
        if isinstance(holders, set):
            found.update(holders)
        elif holders is not _NONE:
            found.add(holders)

    def is_unkeyed(self, document_key: Hashable) -> bool:
        return document_key in self.unkeyed
