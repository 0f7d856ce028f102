"""Whole responses of signed-in users' read-only operations, kept in Redis per owner.

A repeated query skips execution: its response comes back in one Redis round trip. Entries
live under the owner's generation, exactly like the object cache's lists and counts: every
write of the owner's tasks replaces the generation, so no response computed before a write
is served after it, on any instance. The operation is still priced and charged (its actual
cost is walked on the cached response, so it matches an executed one). An entry is the
response's actual cost, `|`, its `data`: the HTTP fast lane (transport/fast_lane.py) charges
that cost in the same script that reads the entry.

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

from cost.actual import actual_cost
from cost.model import CostModel
from cost.operation import Operation
from loaders.cache_keys import CacheKeys, CacheKind
from schema.context import Context

# Root fields whose answers depend only on the viewer's users and tasks (and the arguments).
CACHEABLE_ROOT_FIELDS = frozenset({"me", "tasks", "task", "node", "__typename"})


def response_key(keys: CacheKeys, owner: PydanticObjectId, digest: str) -> str:
    return keys.response(owner, digest)


def response_digest(query: str, operation_name: str | None, variables: object) -> str:
    """What a response is kept under, besides its owner: document, operation name, variables."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(query.encode())
    digest.update(b"\0" + (operation_name or "").encode() + b"\0")
    digest.update(orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()


def response_entry(actual: int, data: bytes) -> bytes:
    return b"%d|" % actual + data


def entry_data(entry: bytes) -> bytes:
    return entry.partition(b"|")[2]


class ResponseCache(SchemaExtension):
    def __init__(self, *, model: CostModel) -> None:
        self.model = model

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
            execution.result = ExecutionResult(data=orjson.loads(entry_data(payload)))
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
                response_entry(self._actual(result.data), orjson.dumps(result.data)),
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
        digest = response_digest(
            execution.query, execution._provided_operation_name, execution.variables
        )
        context.response_digest = digest
        return context.viewer_id, digest

    def _actual(self, data: dict[str, object]) -> int:
        """The cost an execution of this operation reports for `data` (QueryCost's walk)."""
        execution = self.execution_context
        assert execution.graphql_document is not None
        operation = Operation(
            execution.schema._schema,
            execution.graphql_document,
            operation_name=execution.operation_name,
            variables=execution.variables,
        )
        return actual_cost(operation, self.model, data=data)


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
