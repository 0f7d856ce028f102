"""`schema.graphql` (exported from the code; tests/unit/test_schema_file.py keeps them equal)
contains the contract's SDL exactly: every type, field, argument, default, enum value and
description, with the same nullability. Additions are allowed, except a new required argument
or input field on a contract type."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    ast_from_value,
    build_schema,
    print_ast,
)
from graphql.pyutils import Undefined

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = PROJECT_ROOT / "schema.graphql"
CONTRACT = PROJECT_ROOT.parent / "shared" / "contract" / "schema.graphql"


@pytest.fixture(scope="module")
def contract() -> GraphQLSchema:
    if not CONTRACT.is_file():
        pytest.skip(f"the contract SDL is not beside the project ({CONTRACT.name} missing)")
    return build_schema(CONTRACT.read_text())


@pytest.fixture(scope="module")
def served() -> GraphQLSchema:
    return build_schema(SCHEMA_FILE.read_text())


def _contract_types(contract: GraphQLSchema) -> list[GraphQLNamedType]:
    return [
        named
        for name, named in contract.type_map.items()
        if not name.startswith("__") and name not in {"String", "Int", "Float", "Boolean", "ID"}
    ]


def test_every_contract_type_is_served_with_the_same_shape(
    contract: GraphQLSchema, served: GraphQLSchema
) -> None:
    problems: list[str] = []
    for expected in _contract_types(contract):
        actual = served.get_type(expected.name)
        if actual is None:
            problems.append(f"{expected.name}: missing")
            continue
        # Strawberry builds subclasses of graphql-core's types (e.g. its own enum type).
        if not isinstance(actual, type(expected)):
            problems.append(f"{expected.name}: is a {type(actual).__name__}")
            continue
        if expected.description and actual.description != expected.description:
            problems.append(f"{expected.name}: description {actual.description!r}")
        problems.extend(_compare(expected, actual))
    assert problems == []


def _compare(expected: GraphQLNamedType, actual: GraphQLNamedType) -> list[str]:
    if isinstance(expected, GraphQLEnumType):
        assert isinstance(actual, GraphQLEnumType)
        if set(expected.values) != set(actual.values):
            return [f"{expected.name}: values {sorted(actual.values)}"]
        return []
    if isinstance(expected, GraphQLInputObjectType):
        assert isinstance(actual, GraphQLInputObjectType)
        return _compare_inputs(expected, actual)
    if isinstance(expected, GraphQLObjectType | GraphQLInterfaceType):
        assert isinstance(actual, GraphQLObjectType | GraphQLInterfaceType)
        return _compare_fields(expected, actual)
    return []


def _compare_inputs(expected: GraphQLInputObjectType, actual: GraphQLInputObjectType) -> list[str]:
    problems = []
    for name, field in expected.fields.items():
        mine = actual.fields.get(name)
        where = f"{expected.name}.{name}"
        if mine is None:
            problems.append(f"{where}: missing")
            continue
        if str(mine.type) != str(field.type):
            problems.append(f"{where}: type {mine.type}, contract {field.type}")
        if _default(mine) != _default(field):
            problems.append(f"{where}: default {_default(mine)}, contract {_default(field)}")
        if field.description and mine.description != field.description:
            problems.append(f"{where}: description {mine.description!r}")
    for name, mine in actual.fields.items():
        if name not in expected.fields and _required(mine):
            problems.append(f"{expected.name}.{name}: a new required input field")
    return problems


def _compare_fields(
    expected: GraphQLObjectType | GraphQLInterfaceType,
    actual: GraphQLObjectType | GraphQLInterfaceType,
) -> list[str]:
    problems = []
    missing_interfaces = {i.name for i in expected.interfaces} - {i.name for i in actual.interfaces}
    if missing_interfaces:
        problems.append(f"{expected.name}: does not implement {sorted(missing_interfaces)}")
    for name, field in expected.fields.items():
        where = f"{expected.name}.{name}"
        mine = actual.fields.get(name)
        if mine is None:
            problems.append(f"{where}: missing")
            continue
        if str(mine.type) != str(field.type):
            problems.append(f"{where}: type {mine.type}, contract {field.type}")
        if field.description and mine.description != field.description:
            problems.append(f"{where}: description {mine.description!r}")
        for arg_name, arg in field.args.items():
            my_arg = mine.args.get(arg_name)
            if my_arg is None:
                problems.append(f"{where}({arg_name}): missing")
                continue
            if str(my_arg.type) != str(arg.type):
                problems.append(f"{where}({arg_name}): type {my_arg.type}, contract {arg.type}")
            if _default(my_arg) != _default(arg):
                problems.append(
                    f"{where}({arg_name}): default {_default(my_arg)}, contract {_default(arg)}"
                )
        for arg_name, my_arg in mine.args.items():
            if arg_name not in field.args and _required(my_arg):
                problems.append(f"{where}({arg_name}): a new required argument")
    return problems


def _default(value: GraphQLArgument | GraphQLInputField) -> str | None:
    """The default as printed in SDL, however the schema holds it (literal or value)."""
    default = value.default
    if default is not None and default.literal is not None:
        return print_ast(default.literal)
    python_value = default.value if default is not None else value.default_value
    if python_value is Undefined:
        return None
    literal = ast_from_value(python_value, value.type)
    return None if literal is None else print_ast(literal)


def _required(value: GraphQLArgument | GraphQLInputField) -> bool:
    return isinstance(value.type, GraphQLNonNull) and _default(value) is None


@pytest.mark.parametrize(
    ("served_sdl", "problem"),
    [
        ("type T { a: String! }", "T.a: type String!, contract String"),
        ("input I { b: Int = 2 }", "I.b: default 2, contract 1"),
        ("input I { b: Int = 1, c: Int! }", "I.c: a new required input field"),
        ("type T { a(x: Int!): String }", "T.a(x): a new required argument"),
        ("enum E { A }", "E: values ['A']"),
    ],
)
def test_the_comparison_catches_each_kind_of_drift(served_sdl: str, problem: str) -> None:
    contract = build_schema(
        "type T { a: String } input I { b: Int = 1 } enum E { A B } "
        + "type Query { t(i: I): T e: E }"
    )
    served = build_schema(served_sdl + " type Query { x: Int }")
    name = problem.split(".", maxsplit=1)[0].split(":", maxsplit=1)[0]
    expected, actual = contract.get_type(name), served.get_type(name)
    assert expected is not None
    assert actual is not None
    assert problem in _compare(expected, actual)
