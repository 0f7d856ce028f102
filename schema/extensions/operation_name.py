"""A document with several operations runs only the one its request names (GraphQL spec,
GetOperation); Strawberry would otherwise run the first one silently."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError, OperationDefinitionNode
from strawberry.extensions import SchemaExtension


class OperationNameRequired(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        # The name the request gave: `operation_name` falls back to the first operation's.
        if document is not None and context._provided_operation_name is None:
            operations = [
                definition
                for definition in document.definitions
                if isinstance(definition, OperationDefinitionNode)
            ]
            if len(operations) > 1:
                # Raised before execution, outside ErrorCodes' reach: it carries its own code.
                raise GraphQLError(
                    "Must provide operationName when the document contains several operations.",
                    nodes=operations,
                    extensions={"code": "GRAPHQL_VALIDATION_FAILED"},
                )
        yield
