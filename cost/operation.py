"""One operation of a document as pricing sees it: its fields per runtime type, collected the
way graphql-core executes them (fragments inlined, `@skip`/`@include` honoured, fields with
one response key merged), and the sizes its arguments ask for."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from graphql import (
    BooleanValueNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    NamedTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    is_abstract_type,
)

from cost.model import ListSizing

# Response key -> the field nodes merged under it, in document order.
CollectedFields = dict[str, list[FieldNode]]


class FragmentCycleError(ValueError):
    """A fragment spreads itself, directly or through others."""


class OperationNotFoundError(ValueError):
    """The document has no operation by that name (validation reports it, not pricing)."""


class Operation:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        *,
        operation_name: str | None = None,
        variables: Mapping[str, Any] | None = None,
    ) -> None:
        self.schema = schema
        self.definition = _operation(document, operation_name)
        self.fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        self.variables = dict(variables or {})
        self.defaults = {
            definition.variable.name.value: definition.default_value
            for definition in self.definition.variable_definitions or ()
            if definition.default_value is not None
        }

    @property
    def kind(self) -> OperationType:
        return self.definition.operation

    @property
    def root_type(self) -> GraphQLObjectType:
        root = self.schema.get_root_type(self.kind)
        if root is None:
            raise OperationNotFoundError(f"the schema has no {self.kind.value} type")
        return root

    def collect(
        self, selection_sets: Iterable[SelectionSetNode], runtime_type: GraphQLObjectType
    ) -> CollectedFields:
        """The fields these selection sets select on an object of `runtime_type`."""
        fields: CollectedFields = {}
        visited: set[str] = set()
        for selection_set in selection_sets:
            self._collect(selection_set, runtime_type, fields, visited)
        return fields

    def _collect(
        self,
        selection_set: SelectionSetNode,
        runtime_type: GraphQLObjectType,
        fields: CollectedFields,
        visited: set[str],
    ) -> None:
        for selection in selection_set.selections:
            if not self._included(selection):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                fields.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                if self._applies(selection.type_condition, runtime_type):
                    self._collect(selection.selection_set, runtime_type, fields, visited)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                # As in execution, a fragment spreads once per selection level; this also
                # ends fragment cycles at one level (validation refuses them anyway).
                fragment = self.fragments.get(name)
                if name in visited or fragment is None:
                    continue
                visited.add(name)
                if self._applies(fragment.type_condition, runtime_type):
                    self._collect(fragment.selection_set, runtime_type, fields, visited)

    def _applies(self, condition: NamedTypeNode | None, runtime_type: GraphQLObjectType) -> bool:
        if condition is None:
            return True
        conditional = self.schema.get_type(condition.name.value)
        if conditional is None:
            return False
        if conditional is runtime_type:
            return True
        return is_abstract_type(conditional) and self.schema.is_sub_type(conditional, runtime_type)

    def _included(self, selection: SelectionNode) -> bool:
        for directive in selection.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                continue
            condition = next(
                (arg.value for arg in directive.arguments or () if arg.name.value == "if"), None
            )
            value = self._literal(condition) if condition is not None else None
            # A condition that is not a boolean fails coercion at execution; price the field.
            if name == "skip" and value is True:
                return False
            if name == "include" and value is False:
                return False
        return True

    def list_size(self, field: GraphQLField, node: FieldNode, sizing: ListSizing) -> int:
        """The size a list field asks for: its first slicing argument given, else the
        argument's default, else the assumed size (0 when nothing sizes it)."""
        given = {argument.name.value: argument.value for argument in node.arguments or ()}
        for name in sizing.slicing_arguments:
            value: Any = None
            if name in given:
                value = self._literal(given[name])
            elif name in field.args:
                value = field.args[name].default_value
            size = _size(value)
            if size is not None:
                return size
        return sizing.assumed_size or 0

    def _literal(self, node: ValueNode) -> Any:
        if isinstance(node, VariableNode):
            name = node.name.value
            if name in self.variables:
                return self.variables[name]
            default = self.defaults.get(name)
            return self._literal(default) if default is not None else None
        if isinstance(node, IntValueNode):
            return int(node.value)
        if isinstance(node, BooleanValueNode):
            return node.value
        return None


def _size(value: Any) -> int | None:
    """An Int argument's value as a count; None when it is absent or would not coerce."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return max(value, 0)
    return None


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        if len(operations) == 1:
            return operations[0]
        raise OperationNotFoundError("the document needs an operation name")
    for operation in operations:
        if operation.name is not None and operation.name.value == name:
            return operation
    raise OperationNotFoundError(f"no operation named {name!r}")
