"""Documents that parsed and validated, kept by their text: a repeated operation skips both.

Validating even a small document costs about a millisecond, more than executing `{ me { id } }`.
Only documents that passed every rule are kept, so a cached text needs no validation: the
rules are fixed per schema and variables are coerced at execution, not here. The store is
bounded (least recently used out) so unique texts cannot grow memory.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import DocumentNode
from strawberry.extensions import SchemaExtension

from schema.recently_used import RecentlyUsed

DEFAULT_CAPACITY = 1_000


class ValidatedDocuments(RecentlyUsed[str, DocumentNode]):
    """Document text to its parsed, valid document, the most recently used kept."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__(capacity)


class DocumentCache(SchemaExtension):
    def __init__(self, *, documents: ValidatedDocuments) -> None:
        self.documents = documents
        self._hit = False

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None and context.graphql_document is None:
            document = self.documents.get(context.query)
            if document is not None:
                self._hit = True
                context.graphql_document = document
                # Validated when it was stored: an empty list tells Strawberry not to again.
                context.pre_execution_errors = []
        yield

    def on_validate(self) -> Iterator[None]:
        yield
        context = self.execution_context
        valid = context.pre_execution_errors == []
        if not self._hit and valid and context.query and context.graphql_document is not None:
            self.documents.put(context.query, context.graphql_document)
