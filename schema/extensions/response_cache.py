"""Whole responses of signed-in users' read-only operations, kept in Redis per owner.

A repeated query skips execution: its response comes back in one Redis round trip. Entries
live under the owner's generation, exactly like the object cache's lists and counts: every
write of the owner's tasks replaces the generation, so no response computed before a write
is served after it, on any instance. The operation is still priced and charged (its actual
cost is walked on the cached response, so it matches an executed one).

Only operations whose root fields read the viewer's own data are kept (`rateLimit` changes
with every call), only responses without errors, and only when the operation's variables and
name are part of the key.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import orjson
from beanie import PydanticObjectId
from graphql import (
    ExecutionResult,
    FieldNode,
    OperationDefinitionNode,
    OperationType,
    get_operation_ast,
)
from strawberry.extensions import SchemaExtension

from loaders.cache_keys import CacheKeys, CacheKind
from schema.context import Context

# Root fields whose answers depend only on the viewer's users and tasks (and the arguments).
CACHEABLE_ROOT_FIELDS = frozenset({"me", "tasks", "task", "node", "__typename"})


def response_key(keys: CacheKeys, owner: PydanticObjectId, digest: str) -> str:
    return keys.response(owner, digest)


class ResponseCache(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = execution.context
        item = self._item(context) if isinstance(context, Context) else None
        if item is None or execution.result is not None or not isinstance(context, Context):
            yield
            return
        payload, generation = await context.cache.owned_entry(
            CacheKind.RESPONSE, item, key_of=response_key
        )
        if payload is not None:
            execution.result = ExecutionResult(data=orjson.loads(payload))
            yield
            return
        yield
        result = _result_of(self)
        if (
            generation is not None
            and isinstance(result, ExecutionResult)
            and not result.errors
            and result.data is not None
        ):
            await context.cache.keep_owned_entry(
                CacheKind.RESPONSE,
                item,
                orjson.dumps(result.data),
                generation=generation,
                key_of=response_key,
            )

    def _item(self, context: Context) -> tuple[PydanticObjectId, str] | None:
        """(owner, digest of document, operation name and variables), or None: not kept."""
        execution = self.execution_context
        document = execution.graphql_document
        if context.viewer_id is None or document is None or execution.query is None:
            return None
        operation = get_operation_ast(document, execution._provided_operation_name)
        if operation is None or not _reads_own_data(operation):
            return None
        digest = hashlib.blake2b(digest_size=16)
        digest.update(execution.query.encode())
        digest.update(b"\0" + (execution._provided_operation_name or "").encode() + b"\0")
        digest.update(orjson.dumps(execution.variables or {}, option=orjson.OPT_SORT_KEYS))
        return context.viewer_id, digest.hexdigest()


def _result_of(extension: SchemaExtension) -> object:
    # Read afresh: execution has replaced the result since on_execute looked at it.
    return extension.execution_context.result


def _reads_own_data(operation: OperationDefinitionNode) -> bool:
    if operation.operation is not OperationType.QUERY:
        return False
    return all(
        isinstance(selection, FieldNode) and selection.name.value in CACHEABLE_ROOT_FIELDS
        for selection in operation.selection_set.selections
    )
