"""Beanie documents: the only layer that knows how data is stored."""

from __future__ import annotations

from typing import Any

from beanie import Document
from pymongo import AsyncMongoClient

from models.refresh_token import RefreshTokenDocument
from models.task import TaskDocument, ensure_direction_indexes
from models.task_event import TaskEventDocument
from models.user import UserDocument

DOCUMENT_MODELS: list[type[Document]] = [
    UserDocument,
    TaskDocument,
    RefreshTokenDocument,
    TaskEventDocument,
]


async def ensure_indexes() -> None:
    """Indexes that Beanie's `init_beanie` cannot declare (run after it)."""
    await ensure_direction_indexes()


def bound_client() -> AsyncMongoClient[dict[str, Any]]:
    """The client the documents were bound to by `init_beanie` (a session must be its)."""
    client: AsyncMongoClient[dict[str, Any]] = TaskDocument.get_pymongo_collection().database.client
    return client
