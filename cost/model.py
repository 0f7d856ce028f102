"""The weights a document is priced with, as the schema declares them (IBM Cost Directive
style: `@cost(weight:)` on fields and types, `@listSize` on list-returning fields).

A field weighs its own `@cost`, else its type's `@cost`, else 1 for an object, interface or
union and 0 for a scalar or enum. A list multiplies what one item costs by its size: the
slicing argument's value (`first`, `last`) when given, else the assumed size. A connection
hands its size down to its sized fields (`edges`, `nodes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from graphql import (
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    get_named_type,
    get_nullable_type,
    is_composite_type,
    is_introspection_type,
    is_list_type,
)

# `__schema` and `__type` cost this much each, whatever their selection.
INTROSPECTION_WEIGHT = 20
INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})


@dataclass(frozen=True)
class ListSizing:
    """A list's size: the first slicing argument given, else `assumed_size`."""

    assumed_size: int | None = None
    slicing_arguments: tuple[str, ...] = ()
    # Set on a connection: the fields of its type that are lists of this size.
    sized_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class CostModel:
    field_weights: Mapping[tuple[str, str], int] = field(default_factory=dict)
    type_weights: Mapping[str, int] = field(default_factory=dict)
    list_sizes: Mapping[tuple[str, str], ListSizing] = field(default_factory=dict)

    def type_weight(self, named: GraphQLNamedType) -> int:
        """What an object of this type costs where it appears (default 1; leaves 0)."""
        weight = self.type_weights.get(named.name)
        if weight is not None:
            return weight
        return 1 if is_composite_type(named) else 0

    def field_weight(self, parent: str, name: str, named: GraphQLNamedType) -> int:
        weight = self.field_weights.get((parent, name))
        return self.type_weight(named) if weight is None else weight


def unsized_lists(schema: GraphQLSchema, model: CostModel) -> list[str]:
    """Every `Type.field` returning a list that nothing sizes: pricing could not bound it.

    A list is sized by its own `@listSize`, or as a sized field of the connection it sits in;
    the latter only when every field returning that connection type names it."""
    for parent, name in model.list_sizes:
        _field_type(schema, parent, name)
    objects = [
        type_
        for type_ in schema.type_map.values()
        if isinstance(type_, GraphQLObjectType) and not is_introspection_type(type_)
    ]
    missing = []
    for type_ in objects:
        returning = [
            (other.name, name)
            for other in objects
            for name, definition in other.fields.items()
            if get_named_type(definition.type) is type_
        ]
        for name, definition in type_.fields.items():
            if not is_list_type(get_nullable_type(definition.type)):
                continue
            sizing = model.list_sizes.get((type_.name, name))
            if sizing is not None and (sizing.assumed_size is not None or sizing.slicing_arguments):
                continue
            by_parents = bool(returning) and all(
                name in getattr(model.list_sizes.get(key), "sized_fields", ()) for key in returning
            )
            if not by_parents:
                missing.append(f"{type_.name}.{name}")
    return sorted(missing)


def _field_type(schema: GraphQLSchema, parent: str, name: str) -> GraphQLOutputType:
    type_ = schema.get_type(parent)
    if not isinstance(type_, GraphQLObjectType) or name not in type_.fields:
        raise ValueError(f"@listSize names {parent}.{name}, which the schema does not have")
    returned: GraphQLOutputType = type_.fields[name].type
    return returned
