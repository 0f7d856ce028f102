"""The requested cost: what an operation may cost at most, priced from its document alone
(CONTRACT.md, "Query cost"). No I/O; the same rules price the actual cost afterwards."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from graphql import (
    FieldNode,
    GraphQLObjectType,
    OperationType,
    SelectionSetNode,
    get_named_type,
    get_nullable_type,
    is_abstract_type,
    is_leaf_type,
    is_list_type,
)

from cost.model import INTROSPECTION_FIELDS, INTROSPECTION_WEIGHT, CostModel
from cost.operation import FragmentCycleError, Operation

MAX_NESTING = 100


def requested_cost(operation: Operation, model: CostModel) -> int:
    return _Pricer(operation, model).selection(
        [operation.definition.selection_set], operation.root_type, sizes={}, root=True
    )


class _Pricer:
    def __init__(self, operation: Operation, model: CostModel) -> None:
        self.operation = operation
        self.model = model
        self.schema = operation.schema
        self.depth = 0

    def selection(
        self,
        selection_sets: Sequence[SelectionSetNode],
        parent: GraphQLObjectType,
        *,
        sizes: Mapping[str, int],
        root: bool = False,
    ) -> int:
        self.depth += 1
        if self.depth > MAX_NESTING:
            # Only a fragment cycle nests this deep; `too_complex` refuses those first.
            raise FragmentCycleError("the selection nests without end")
        try:
            return sum(
                self.field(parent, nodes, size=sizes.get(nodes[0].name.value), root=root)
                for nodes in self.operation.collect(selection_sets, parent).values()
            )
        finally:
            self.depth -= 1

    def field(
        self, parent: GraphQLObjectType, nodes: list[FieldNode], *, size: int | None, root: bool
    ) -> int:
        node = nodes[0]
        name = node.name.value
        if name == "__typename":
            return 0
        if name in INTROSPECTION_FIELDS and root and self.operation.kind is OperationType.QUERY:
            return INTROSPECTION_WEIGHT
        definition = parent.fields[name]
        named = get_named_type(definition.type)
        weight = self.model.field_weight(parent.name, name, named)
        if is_leaf_type(named):
            return weight
        sizing = self.model.list_sizes.get((parent.name, name))
        child_sizes: Mapping[str, int] = {}
        own_size: int | None = size
        if sizing is not None:
            asked = self.operation.list_size(definition, node, sizing)
            if sizing.sized_fields:
                child_sizes = dict.fromkeys(sizing.sized_fields, asked)
            elif own_size is None:
                own_size = asked
        sub_sets = [n.selection_set for n in nodes if n.selection_set is not None]
        if is_abstract_type(named):
            possible = self.schema.get_possible_types(named)
            children = max(
                (self.selection(sub_sets, type_, sizes=child_sizes) for type_ in possible),
                default=0,
            )
        else:
            children = self.selection(sub_sets, named, sizes=child_sizes)
        one = weight + children
        if is_list_type(get_nullable_type(definition.type)):
            if own_size is None:
                # The schema check at startup (`unsized_lists`) makes this unreachable.
                raise ValueError(f"{parent.name}.{name} is a list nothing sizes")
            return one * own_size
        return one
