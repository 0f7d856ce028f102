"""The schema as SDL: what `schema.graphql` at the project root holds, exported from the code."""

from __future__ import annotations

from schema.root import create_schema
from settings import Settings


def schema_sdl(settings: Settings) -> str:
    """The printed schema, ending in one newline (the file's exact content)."""
    return create_schema(settings).as_str().rstrip("\n") + "\n"
