"""The schema's query-cost weights (IBM Cost Directive specification, as Apollo and Hot
Chocolate print them), declared beside the fields they price so the printed schema documents
them, and read back into the pricing model at startup."""

from __future__ import annotations

import strawberry
from graphql import GraphQLObjectType
from strawberry.schema_directive import Location

from cost.model import CostModel, ListSizing, unsized_lists

# A mutation field costs this much on top of what it returns (CONTRACT.md).
MUTATION_WEIGHT = 10


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION, Location.OBJECT],
    name="cost",
    description="The query-cost weight of a field, or of every field returning this type; "
    "without it an object costs 1 and a scalar or enum 0.",
)
class Cost:
    weight: int


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION],
    name="listSize",
    description="How many items a list field prices: the first slicing argument given, else "
    "assumedSize. On a connection, the size applies to its sizedFields.",
)
class ListSize:
    assumed_size: int | None = strawberry.UNSET
    slicing_arguments: list[str] | None = strawberry.UNSET
    sized_fields: list[str] | None = strawberry.UNSET
    require_one_slicing_argument: bool = False


CONNECTION_COST = (
    Cost(weight=2),
    ListSize(
        assumed_size=20,
        slicing_arguments=["first", "last"],
        sized_fields=["edges", "nodes"],
        require_one_slicing_argument=False,
    ),
)
FREE = Cost(weight=0)


# A mutation field weighs the mutation's own 10 plus the object it returns, if any.
MUTATION_RETURNING_OBJECT = (Cost(weight=MUTATION_WEIGHT + 1),)
MUTATION_RETURNING_SCALAR = (Cost(weight=MUTATION_WEIGHT),)


def cost_model_of(schema: strawberry.Schema) -> CostModel:
    """The weights the schema declares; refuses a schema with a list nothing sizes."""
    field_weights: dict[tuple[str, str], int] = {}
    type_weights: dict[str, int] = {}
    list_sizes: dict[tuple[str, str], ListSizing] = {}
    graphql_schema = schema._schema
    for type_ in graphql_schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType):
            continue
        for directive in _directives(type_.extensions):
            if isinstance(directive, Cost):
                type_weights[type_.name] = directive.weight
        for name, field in type_.fields.items():
            for directive in _directives(field.extensions):
                if isinstance(directive, Cost):
                    field_weights[(type_.name, name)] = directive.weight
                elif isinstance(directive, ListSize):
                    list_sizes[(type_.name, name)] = ListSizing(
                        assumed_size=directive.assumed_size or None,
                        slicing_arguments=tuple(directive.slicing_arguments or ()),
                        sized_fields=tuple(directive.sized_fields or ()),
                    )
    model = CostModel(field_weights=field_weights, type_weights=type_weights, list_sizes=list_sizes)
    if missing := unsized_lists(graphql_schema, model):
        raise ValueError(f"lists without @listSize cannot be priced: {', '.join(missing)}")
    return model


def _directives(extensions: dict[str, object] | None) -> list[object]:
    definition = (extensions or {}).get("strawberry-definition")
    return list(getattr(definition, "directives", None) or ())
