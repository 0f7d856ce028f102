"""One decoded command: its name, its target, its options, and the checks every handler shares."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from storage.mongo_emulator.engine import Engine
from storage.mongo_emulator.errors import (
    BAD_VALUE,
    FAILED_TO_PARSE,
    TYPE_MISMATCH,
    UNKNOWN_FIELD,
    CommandError,
    not_supported,
)


@dataclass(frozen=True)
class Request:
    name: str
    target: Any
    body: dict[str, Any]
    database: str
    connection_id: int

    @property
    def namespace(self) -> str:
        return f"{self.database}.{self.target}"

    def check_fields(self, allowed: Iterable[str], unsupported: Iterable[str] = ()) -> None:
        """Refuse options this emulator ignores silently nowhere: unknown or unimplemented."""
        allowed_set, unsupported_set = frozenset(allowed), frozenset(unsupported)
        for field in self.body:
            if field == self.name or field in allowed_set:
                continue
            if field in unsupported_set:
                raise not_supported(f"the {self.name} option '{field}'")
            raise CommandError(
                UNKNOWN_FIELD, f"BSON field '{self.name}.{field}' is an unknown field."
            )

    def document(self, field: str, *, default: Mapping[str, Any] | None = None) -> dict[str, Any]:
        value = self.body.get(field)
        if value is None:
            return dict(default or {})
        if not isinstance(value, Mapping):
            raise CommandError(
                TYPE_MISMATCH,
                f"BSON field '{self.name}.{field}' is the wrong type"
                f" '{type(value).__name__}', expected type 'object'",
            )
        return dict(value)

    def flag(self, field: str, *, default: bool = False) -> bool:
        value = self.body.get(field, default)
        if value is None:
            return default
        if isinstance(value, (bool, int, float)):
            return bool(value)
        raise CommandError(TYPE_MISMATCH, f"BSON field '{self.name}.{field}' must be a boolean")

    def integer(self, field: str, *, default: int = 0, minimum: int | None = None) -> int:
        value = self.body.get(field, default)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CommandError(TYPE_MISMATCH, f"BSON field '{self.name}.{field}' must be a number")
        if minimum is not None and value < minimum:
            raise CommandError(BAD_VALUE, f"{field} value must be >= {minimum}, not {value}")
        return int(value)

    def documents(self, field: str) -> list[dict[str, Any]]:
        value = self.body.get(field)
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise CommandError(
                FAILED_TO_PARSE, f"'{self.name}.{field}' must be an array of objects"
            )
        return [dict(v) for v in value]


Handler = Callable[[Engine, Request], dict[str, Any]]


def collection_name(request: Request) -> str:
    if not isinstance(request.target, str) or not request.target:
        raise CommandError(
            FAILED_TO_PARSE,
            f"collection name has invalid type {type(request.target).__name__}",
        )
    return request.target
