"""Plans: a query's selections, collected once per document into what to read and how to
serialise it, for the shapes the compiled path covers.

Covered: object, list, non-null, scalar and enum types; fragments and inline fragments whose
type condition is the object type itself; `@skip`/`@include` with literal conditions;
response keys merged as the spec merges them. Not covered (no plan: graphql-core runs the
operation): abstract types, other directives, conditions read from variables, fields with
middleware or field extensions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    BooleanValueNode,
    DirectiveNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.type.introspection import TypeNameMetaFieldDef
from strawberry.types.field import StrawberryField

DEFINITION = "strawberry-definition"


class NotCovered(Exception):  # noqa: N818 -- a verdict on a document, not a failure
    """The document has something the compiled path does not handle."""


@dataclass(frozen=True)
class Shape:
    """How a value of a field's type is completed: wrappers from the outside in."""

    non_null: bool
    # For a list: the shape of its items; None for a named type.
    item: Shape | None = None
    serialize: Callable[[Any], Any] | None = None  # leaves
    object_plan: ObjectPlan | None = None  # objects
    # Objects whose type checks its values (interface members): the class a value must be.
    instance_of: type | None = None


@dataclass(frozen=True)
class DirectCall:
    """A resolver without arguments, called as Strawberry calls it, without its wrapper."""

    resolver: Callable[..., Any]
    pass_self: bool
    source_parameters: tuple[str, ...]  # `root`/`parent` parameters, given the source
    info_parameter: str | None


@dataclass(frozen=True)
class FieldPlan:
    key: str
    name: str
    nodes: tuple[FieldNode, ...]
    definition: GraphQLField
    shape: Shape
    # A field that reads an attribute (Strawberry's basic fields) needs no resolve info.
    attribute: str | None
    has_arguments: bool
    direct: DirectCall | None = None


@dataclass
class ObjectPlan:
    type: GraphQLObjectType
    fields: list[FieldPlan] = field(default_factory=list)


def compile_operation(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
) -> ObjectPlan:
    """The plan of a query, or NotCovered."""
    root = schema.query_type
    if root is None:
        raise NotCovered("no query type")
    return _object_plan(schema, root, [operation.selection_set], fragments)


def _object_plan(
    schema: GraphQLSchema,
    object_type: GraphQLObjectType,
    selection_sets: Iterable[SelectionSetNode],
    fragments: dict[str, FragmentDefinitionNode],
) -> ObjectPlan:
    grouped: dict[str, list[FieldNode]] = {}
    for selection_set in selection_sets:
        _collect(object_type, selection_set, fragments, grouped, visited=set())
    plan = ObjectPlan(type=object_type)
    for key, nodes in grouped.items():
        plan.fields.append(_field_plan(schema, object_type, key, nodes, fragments))
    return plan


def _collect(
    object_type: GraphQLObjectType,
    selection_set: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    grouped: dict[str, list[FieldNode]],
    *,
    visited: set[str],
) -> None:
    for selection in selection_set.selections:
        if not _included(selection.directives or ()):
            continue
        if isinstance(selection, FieldNode):
            key = selection.alias.value if selection.alias else selection.name.value
            grouped.setdefault(key, []).append(selection)
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            if condition is not None and condition.name.value != object_type.name:
                raise NotCovered("an inline fragment on another type")
            _collect(object_type, selection.selection_set, fragments, grouped, visited=visited)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in visited:
                continue
            visited.add(name)
            fragment = fragments[name]
            if fragment.type_condition.name.value != object_type.name:
                raise NotCovered("a fragment on another type")
            _collect(object_type, fragment.selection_set, fragments, grouped, visited=visited)


def _included(directives: Iterable[DirectiveNode]) -> bool:
    included = True
    for directive in directives:
        name = directive.name.value
        if name not in {"skip", "include"}:
            raise NotCovered(f"the @{name} directive")
        (argument,) = directive.arguments or ()
        if not isinstance(argument.value, BooleanValueNode):
            raise NotCovered("a condition read from a variable")
        condition = argument.value.value
        included = included and (not condition if name == "skip" else condition)
    return included


def _field_plan(
    schema: GraphQLSchema,
    parent: GraphQLObjectType,
    key: str,
    nodes: list[FieldNode],
    fragments: dict[str, FragmentDefinitionNode],
) -> FieldPlan:
    name = nodes[0].name.value
    if name == "__typename":
        return FieldPlan(
            key=key,
            name=name,
            nodes=tuple(nodes),
            definition=TypeNameMetaFieldDef,
            shape=Shape(non_null=True, serialize=str),
            attribute=None,
            has_arguments=False,
        )
    if name.startswith("__"):
        raise NotCovered("introspection")
    definition = parent.fields[name]
    strawberry_field = definition.extensions.get(DEFINITION)
    if not isinstance(strawberry_field, StrawberryField) or strawberry_field.extensions:
        raise NotCovered(f"{parent.name}.{name}: not a plain Strawberry field")
    sub_selections = [node.selection_set for node in nodes if node.selection_set is not None]
    return FieldPlan(
        key=key,
        name=name,
        nodes=tuple(nodes),
        definition=definition,
        shape=_shape(schema, definition.type, sub_selections, fragments),
        attribute=strawberry_field.python_name if strawberry_field.is_basic_field else None,
        has_arguments=bool(definition.args or nodes[0].arguments),
        direct=_direct_call(strawberry_field),
    )


def _direct_call(field: StrawberryField) -> DirectCall | None:
    resolver = field.base_resolver
    if resolver is None or field.arguments or field.extensions:
        return None
    source_parameters = tuple(
        parameter.name
        for parameter in (resolver.root_parameter, resolver.parent_parameter)
        if parameter is not None
    )
    info = resolver.info_parameter
    return DirectCall(
        resolver=resolver,
        pass_self=resolver.self_parameter is not None,
        source_parameters=source_parameters,
        info_parameter=info.name if info is not None else None,
    )


def _shape(
    schema: GraphQLSchema,
    type_: GraphQLOutputType,
    selections: list[SelectionSetNode],
    fragments: dict[str, FragmentDefinitionNode],
) -> Shape:
    non_null = isinstance(type_, GraphQLNonNull)
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if isinstance(inner, GraphQLList):
        return Shape(non_null=non_null, item=_shape(schema, inner.of_type, selections, fragments))
    if isinstance(inner, GraphQLScalarType | GraphQLEnumType):
        return Shape(non_null=non_null, serialize=inner.serialize)
    if isinstance(inner, GraphQLObjectType):
        instance_of = None
        if inner.is_type_of is not None:
            # Strawberry's check for an interface's member is an isinstance; a value that is
            # not of this very class goes to graphql-core, which decides.
            definition = inner.extensions.get(DEFINITION)
            instance_of = getattr(definition, "origin", None)
            if not isinstance(instance_of, type):
                raise NotCovered(f"{inner.name} checks its values in its own way")
        return Shape(
            non_null=non_null,
            object_plan=_object_plan(schema, inner, selections, fragments),
            instance_of=instance_of,
        )
    raise NotCovered(f"the abstract type {inner}")
