"""Structural limits checked before pricing (CONTRACT.md: QUERY_TOO_COMPLEX): depth over 10,
counting the root field as 1, and over 30 aliases with fragments expanded.

Both walk every fragment once (memoised), so a document cannot make them exponential, and
refuse a fragment cycle instead of following it (validation refuses cycles earlier; these
functions stay safe on any parsed document). Introspection fields count as depth 1: their
nesting is bounded by graphql-core's MaxIntrospectionDepthRule and they are priced flat.
"""

from __future__ import annotations

from collections.abc import Callable

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)

from cost.model import INTROSPECTION_FIELDS
from cost.operation import FragmentCycleError, Operation

MAX_DEPTH = 10
MAX_ALIASES = 30


def too_complex(operation: Operation) -> str | None:
    """Why the operation breaks a structural limit, or None."""
    try:
        depth = operation_depth(operation)
        aliases = alias_count(operation)
    except FragmentCycleError:
        return "The query's fragments spread one another in a cycle."
    if depth > MAX_DEPTH:
        return f"The query is {depth} levels deep; at most {MAX_DEPTH} are allowed."
    if aliases > MAX_ALIASES:
        return f"The query uses {aliases} aliases; at most {MAX_ALIASES} are allowed."
    return None


def operation_depth(operation: Operation) -> int:
    def field(node: FieldNode, nested: Callable[[SelectionSetNode], int]) -> int:
        if node.name.value in INTROSPECTION_FIELDS or node.selection_set is None:
            return 1
        return 1 + nested(node.selection_set)

    return _Walk(operation, field, combine=max).selection_set(operation.definition.selection_set)


def alias_count(operation: Operation) -> int:
    def field(node: FieldNode, nested: Callable[[SelectionSetNode], int]) -> int:
        own = 1 if node.alias is not None else 0
        return own + (nested(node.selection_set) if node.selection_set is not None else 0)

    return _Walk(operation, field, combine=sum).selection_set(operation.definition.selection_set)


class _Walk:
    """Folds a value over a selection set with every fragment expanded, each fragment's
    value computed once."""

    def __init__(
        self,
        operation: Operation,
        field: Callable[[FieldNode, Callable[[SelectionSetNode], int]], int],
        *,
        combine: Callable[[list[int]], int],
    ) -> None:
        self.operation = operation
        self.field = field
        self.combine = combine
        self.fragment_values: dict[str, int] = {}
        self.expanding: set[str] = set()

    def selection_set(self, selection_set: SelectionSetNode) -> int:
        values = [0]
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                values.append(self.field(selection, self.selection_set))
            elif isinstance(selection, InlineFragmentNode):
                values.append(self.selection_set(selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode):
                values.append(self.fragment(selection.name.value))
        return self.combine(values)

    def fragment(self, name: str) -> int:
        if name in self.fragment_values:
            return self.fragment_values[name]
        if name in self.expanding:
            raise FragmentCycleError(name)
        definition = self.operation.fragments.get(name)
        if definition is None:
            return 0
        self.expanding.add(name)
        value = self.selection_set(definition.selection_set)
        self.expanding.discard(name)
        self.fragment_values[name] = value
        return value
