"""The actual cost: the requested cost's rules applied to what execution returned, so list
sizes are the real ones and a null object costs nothing. Never more than the requested cost.

A response repeats one selection for every item of a list, so each (selection, type) is
planned once per call: the fields that can cost anything, with their weights.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLNamedType,
    GraphQLObjectType,
    OperationType,
    SelectionSetNode,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
)

from cost.model import INTROSPECTION_FIELDS, INTROSPECTION_WEIGHT, CostModel
from cost.operation import Operation


def actual_cost(
    operation: Operation,
    model: CostModel,
    *,
    data: Mapping[str, Any] | None,
    failed_root_keys: Iterable[str] = (),
) -> int:
    """`failed_root_keys`: the root fields named by the errors' paths. An executed mutation
    keeps its own weight even when it returned nothing."""
    coster = _ActualCoster(operation, model)
    root = operation.root_type
    selection = [operation.definition.selection_set]
    if operation.kind is OperationType.QUERY:
        total = sum(
            INTROSPECTION_WEIGHT
            for key, nodes in operation.collect(selection, root).items()
            if nodes[0].name.value in INTROSPECTION_FIELDS and (data or {}).get(key) is not None
        )
    else:
        total = 0
    failed = set(failed_root_keys)
    values = data or {}
    fields = coster.plan(selection, root)
    if operation.kind is OperationType.MUTATION and data is None and failed:
        # A failed non-null mutation nulls the whole result; mutations run in order, so
        # every one up to the first that failed was executed.
        for field in fields:
            total += field.surcharge
            if field.key in failed:
                break
        return total
    for field in fields:
        value = values.get(field.key)
        if value is not None:
            total += coster.field(field, value)
        elif operation.kind is OperationType.MUTATION and field.key in values:
            total += field.surcharge
    return total


@dataclass
class _Field:
    """One response key of a selection on one type, as far as cost goes."""

    key: str
    weight: int
    # What the field weighs beyond its object (a mutation's own 10): kept when it is null.
    surcharge: int
    named: GraphQLNamedType
    sub_sets: tuple[SelectionSetNode, ...]
    # The object type it returns (None: a leaf or an abstract type).
    object_type: GraphQLObjectType | None = None
    # The costing fields of its selection on that object type, planned on first use.
    children: list[_Field] | None = None


class _ActualCoster:
    def __init__(self, operation: Operation, model: CostModel) -> None:
        self.operation = operation
        self.model = model
        self.schema = operation.schema

    def plan(self, sub_sets: Sequence[SelectionSetNode], parent: GraphQLObjectType) -> list[_Field]:
        """The fields of `sub_sets` on `parent` that can cost anything (not free leaves)."""
        planned = []
        for key, nodes in self.operation.collect(sub_sets, parent).items():
            name = nodes[0].name.value
            if name.startswith("__"):
                continue  # __typename is free; introspection is counted at the root
            named = get_named_type(parent.fields[name].type)
            weight = self.model.field_weight(parent.name, name, named)
            if is_leaf_type(named) and weight == 0:
                continue
            planned.append(
                _Field(
                    key=key,
                    weight=weight,
                    surcharge=max(weight - self.model.type_weight(named), 0),
                    named=named,
                    sub_sets=tuple(n.selection_set for n in nodes if n.selection_set is not None),
                    object_type=named if isinstance(named, GraphQLObjectType) else None,
                )
            )
        return planned

    def field(self, field: _Field, value: Any) -> int:
        object_type = field.object_type
        if object_type is None and is_leaf_type(field.named):
            return field.weight
        items = value if isinstance(value, list) else (value,)
        if object_type is not None:
            children = field.children
            if children is None:
                children = field.children = self.plan(field.sub_sets, object_type)
            total = 0
            for item in items:
                if item is not None:
                    total += field.weight
                    for child in children:
                        child_value = item.get(child.key)
                        if child_value is not None:
                            total += self.field(child, child_value)
            return total
        return sum(field.weight + self.abstract(field, item) for item in items if item is not None)

    def abstract(self, field: _Field, value: Mapping[str, Any]) -> int:
        if not is_abstract_type(field.named):
            return 0
        # The response does not name the object's type: it is one whose selection yields
        # exactly these keys; when several could be, the dearest is charged.
        possible = self.schema.get_possible_types(field.named)
        keys = set(value)
        matching = [
            type_
            for type_ in possible
            if set(self.operation.collect(field.sub_sets, type_)) == keys
        ]
        return max(
            (self.selection(field.sub_sets, type_, value) for type_ in matching or possible),
            default=0,
        )

    def selection(
        self,
        sub_sets: Sequence[SelectionSetNode],
        parent: GraphQLObjectType,
        value: Mapping[str, Any],
    ) -> int:
        total = 0
        for field in self.plan(sub_sets, parent):
            child = value.get(field.key)
            if child is not None:
                total += self.field(field, child)
        return total
