"""`schema.graphql` at the project root is the code's schema, printed: `make schema` rewrites it."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from schema.sdl import schema_sdl
from settings import Settings

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


def test_schema_file_matches_the_code() -> None:
    exported = schema_sdl(Settings())
    committed = SCHEMA_FILE.read_text(encoding="utf-8")
    drift = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            exported.splitlines(keepends=True),
            "schema.graphql",
            "the code",
        )
    )
    assert drift == "", f"schema.graphql is stale; run `make schema`:\n{drift}"


def test_production_serves_the_same_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    development = schema_sdl(Settings())
    monkeypatch.setenv("TASKQL_ENV", "production")
    monkeypatch.setenv("MONGODB_URL", "mongodb://db.example:27017")
    monkeypatch.setenv("REDIS_URL", "redis://cache.example:6379")
    monkeypatch.setenv("JWT_SECRET", "k" * 32)
    production = Settings()
    assert production.is_production
    assert schema_sdl(production) == development
