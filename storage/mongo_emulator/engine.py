"""The one mongomock client behind an emulator, its namespaces, cursors and connection count."""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import mongomock

from storage.mongo_emulator.collection_indexes import indexes_of
from storage.mongo_emulator.cursors import CursorStore
from storage.mongo_emulator.errors import INVALID_NAMESPACE, CommandError
from storage.mongo_emulator.mongomock_hooks import install_query_planner, install_unique_check
from storage.mongo_emulator.planner import candidates
from storage.mongo_emulator.uniques import check_unique

_BAD_DATABASE_CHARACTERS = frozenset('/\\. "$\x00')


class Engine:
    """State shared by every connection; commands run one at a time on the event loop."""

    def __init__(self) -> None:
        self.client: Any = mongomock.MongoClient()
        self.cursors = CursorStore()
        self.started = time.monotonic()
        self.connections_current = 0
        self.connections_total = 0

    def open_connection(self) -> int:
        self.connections_current += 1
        self.connections_total += 1
        return self.connections_total

    def close_connection(self) -> None:
        self.connections_current -= 1

    def database(self, name: Any) -> Any:
        if not isinstance(name, str) or not name or _BAD_DATABASE_CHARACTERS & set(name):
            raise CommandError(INVALID_NAMESPACE, f"Invalid database name: '{name}'")
        return self.client[name]

    def collection(self, database: str, name: Any) -> Any:
        if not isinstance(name, str) or not name:
            raise CommandError(
                INVALID_NAMESPACE, f"collection name has invalid type {type(name).__name__}"
            )
        collection = self.database(database)[name]
        indexes = indexes_of(collection)
        install_query_planner(collection, partial(candidates, indexes))
        install_unique_check(collection, partial(check_unique, indexes, f"{database}.{name}"))
        return collection

    def database_names(self) -> list[str]:
        return list(self.client.list_database_names())

    def collection_names(self, database: str) -> list[str]:
        return list(self.database(database).list_collection_names())

    def exists(self, database: str, name: str) -> bool:
        return name in self.collection_names(database)

    def ensure_collection(self, database: str, name: str) -> bool:
        """Create the collection if missing (MongoDB keeps it after its last document goes)."""
        if self.exists(database, name):
            return False
        self.database(database).create_collection(name)
        return True
