"""One execution per event for identical subscriptions of one user.

Every tab of a user subscribes with the same document, so an event would otherwise run the
same selection, with the same permissions, once per subscriber. The first subscriber of an
instance to reach an event executes it; the others (same user, same document and variables)
await that result. The first one's loaders are fresh for that event, as each would be.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import orjson
from graphql import OperationType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema.context import Context
from schema.task_event import TaskEvent


class SharedSubscriptionEvents(StrawberryGraphQLCoreExecutionContext):
    def execute_operation(self, serially: bool | None = None) -> Any:
        context = self.context_value
        event = self.root_value
        if (
            self.operation.operation is not OperationType.SUBSCRIPTION
            or not isinstance(context, Context)
            or not isinstance(event, TaskEvent)
        ):
            return super().execute_operation(serially)
        key = (
            context.viewer_id,
            event.cursor,  # with the viewer: this event of theirs
            self.operation.loc.source.body if self.operation.loc else id(self.operation),
            self.operation.name.value if self.operation.name else None,
            orjson.dumps(self.variable_values.coerced, default=str, option=orjson.OPT_SORT_KEYS),
        )
        return context.events.shared(key, lambda: self._execute(serially))

    def _execute(self, serially: bool | None) -> Awaitable[Any]:
        result = super().execute_operation(serially)
        if isinstance(result, Awaitable):
            return asyncio.ensure_future(result)
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(result)
        return done
