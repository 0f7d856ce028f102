"""Beanie documents: the only layer that knows how data is stored."""

from __future__ import annotations

from beanie import Document

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
