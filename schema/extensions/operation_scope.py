"""What belongs to one operation rather than to its connection: fresh loaders, MongoDB
commands attributed to a request, and the operation's type as parsed (for the metrics).

Over HTTP the transport builds a context per operation already; a websocket's context lives
as long as the connection, so without this its loaders would memoise across operations and
serve a later query what an earlier one read.
"""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from loaders import create_loaders
from observability.db_commands import commands_for_request
from schema.context import Context


class OperationScope(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context):
            context.loaders = create_loaders(context.cache)
        try:
            with commands_for_request():
                yield
        finally:
            if isinstance(context, Context):
                context.operation_type = self._operation_type()

    def _operation_type(self) -> str:
        try:
            return self.execution_context.operation_type.value
        except RuntimeError:  # the document did not parse
            return "unknown"
