"""Beanie documents: the only layer that knows how data is stored."""

from __future__ import annotations

from beanie import Document

DOCUMENT_MODELS: list[type[Document]] = []
