"""House rule: every type, field, argument and input field of the served schema is described."""

from __future__ import annotations

from graphql import GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType

from schema.root import create_schema
from settings import Settings


def test_everything_has_a_description() -> None:
    schema = create_schema(Settings())._schema
    undescribed: list[str] = []
    for name, named in schema.type_map.items():
        if name.startswith("__") or name in {"String", "Int", "Float", "Boolean", "ID"}:
            continue
        if not named.description:
            undescribed.append(name)
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in named.fields.items():
                if not field.description:
                    undescribed.append(f"{name}.{field_name}")
                undescribed.extend(
                    f"{name}.{field_name}({arg})"
                    for arg, argument in field.args.items()
                    if not argument.description
                )
        if isinstance(named, GraphQLInputObjectType):
            undescribed.extend(
                f"{name}.{field_name}"
                for field_name, field in named.fields.items()
                if not field.description
            )
    assert undescribed == []
