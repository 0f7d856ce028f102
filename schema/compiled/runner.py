"""Runs a plan: every object of one selection level at once, so DataLoader batches stay whole.

Fields that read an attribute are read directly; fields with a resolver get their resolve info
and arguments exactly as graphql-core would give them. The first thing that graphql-core would
report (an error, a null in a non-null position, a value of an unexpected type) stops the run
with `Fallback`: the caller then executes the operation with graphql-core, which reports it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from typing import Any, Protocol, TypeGuard

from graphql import FieldNode, GraphQLField, GraphQLObjectType, GraphQLResolveInfo, Undefined
from graphql.execution.values import VariableValues, get_argument_values
from graphql.pyutils import Path
from strawberry.types import Info

from schema.compiled.plan import DEFINITION, DirectCall, FieldPlan, ObjectPlan, Shape

# A response path as a plain tuple (previous, key, type name), as graphql-core's `Path` holds
# it: one per object and list item, so made at C speed; a `Path` is built only for a resolver.
Steps = tuple[Any, str | int, str | None] | None
Pending = tuple[FieldPlan, dict[str, Any], Awaitable[Any], Steps]
Level = tuple[ObjectPlan, list[tuple[Any, dict[str, Any], Steps]]]


class Fallback(Exception):  # noqa: N818 -- a decision, not a failure
    """Something graphql-core must handle: the operation runs there instead."""


class Executor(Protocol):
    """What the runner uses of graphql-core's execution context."""

    variable_values: VariableValues
    is_awaitable: Callable[[Any], TypeGuard[Awaitable[Any]]]

    def build_resolve_info(
        self,
        field_def: GraphQLField,
        field_nodes: list[FieldNode],
        parent_type: GraphQLObjectType,
        path: Path,
    ) -> GraphQLResolveInfo[Any]: ...


class PlanRunner:
    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self.is_awaitable = executor.is_awaitable

    async def run(self, plan: ObjectPlan, root: Any) -> dict[str, Any]:
        data: dict[str, Any] = {}
        levels: list[Level] = [(plan, [(root, data, None)])]
        while levels:
            nested: dict[int, Level] = {}
            for object_plan, items in levels:
                await self._level(object_plan, items, nested)
            levels = list(nested.values())
        return data

    async def _level(
        self,
        plan: ObjectPlan,
        items: list[tuple[Any, dict[str, Any], Steps]],
        nested: dict[int, Level],
    ) -> None:
        pending: list[Pending] = []
        # One Strawberry Info per field for the whole level: the resolvers called directly
        # read what is the same for every item (context, root value, operation, variables).
        infos: dict[str, Info] = {}
        try:
            for source, target, path in items:
                for field in plan.fields:
                    value = self._value(plan.type, field, source, path, infos)
                    if self.is_awaitable(value):
                        target[field.key] = None  # keeps the key's place in the response
                        pending.append((field, target, value, path))
                    elif field.shape.serialize is not None and value is not None:
                        target[field.key] = self._leaf(field.shape, value)
                    else:
                        child = (path, field.key, plan.type.name)
                        target[field.key] = self._complete(field.shape, value, nested, child)
        except BaseException:
            _close(awaitable for _, _, awaitable, _ in pending)
            raise
        if pending:
            values = await asyncio.gather(*(awaitable for _, _, awaitable, _ in pending))
            for (field, target, _, path), value in zip(pending, values, strict=True):
                child = (path, field.key, plan.type.name)
                target[field.key] = self._complete(field.shape, value, nested, child)

    def _value(
        self,
        parent: GraphQLObjectType,
        field: FieldPlan,
        source: Any,
        path: Steps,
        infos: dict[str, Info],
    ) -> Any:
        if field.attribute is not None:
            return getattr(source, field.attribute)
        if field.name == "__typename":
            return parent.name
        if field.direct is not None:
            info = infos.get(field.key)
            if info is None:
                info = infos[field.key] = self._info(parent, field, path)
            return _call(field.direct, source, info)
        return self._resolve(parent, field, source, path)

    def _info(self, parent: GraphQLObjectType, field: FieldPlan, path: Steps) -> Info:
        strawberry_field = field.definition.extensions[DEFINITION]
        raw = self.executor.build_resolve_info(
            field.definition, list(field.nodes), parent, _path((path, field.key, parent.name))
        )
        return Info(_raw_info=raw, _field=strawberry_field)

    def _resolve(
        self, parent: GraphQLObjectType, field: FieldPlan, source: Any, path: Steps
    ) -> Any:
        definition = field.definition
        info = self.executor.build_resolve_info(
            definition, list(field.nodes), parent, _path((path, field.key, parent.name))
        )
        arguments = (
            get_argument_values(definition, field.nodes[0], self.executor.variable_values)
            if field.has_arguments
            else {}
        )
        assert definition.resolve is not None
        return definition.resolve(source, info, **arguments)

    def _complete(self, shape: Shape, value: Any, nested: dict[int, Level], path: Steps) -> Any:
        if value is None:
            if shape.non_null:
                raise Fallback("null in a non-null position")
            return None
        if shape.item is not None:
            if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
                raise Fallback("a list field returned something else")
            items = []
            for index, item in enumerate(value):
                if self.is_awaitable(item):
                    _close([item])
                    raise Fallback("an awaitable list item")
                items.append(self._complete(shape.item, item, nested, (path, index, None)))
            return items
        if shape.serialize is not None:
            return self._leaf(shape, value)
        plan = shape.object_plan
        assert plan is not None
        if shape.instance_of is not None and not isinstance(value, shape.instance_of):
            raise Fallback(f"a value that is not a {plan.type.name}")
        target: dict[str, Any] = {}
        level = nested.get(id(plan))
        if level is None:
            level = nested[id(plan)] = (plan, [])
        level[1].append((value, target, path))
        return target

    @staticmethod
    def _leaf(shape: Shape, value: Any) -> Any:
        assert shape.serialize is not None
        serialized = shape.serialize(value)
        if serialized is None or serialized is Undefined:
            raise Fallback("a leaf that does not serialise")
        return serialized


def _path(steps: Steps) -> Path:
    """graphql-core's `Path` for `steps` (never None: a field's own step is always there)."""
    assert steps is not None
    previous, key, type_name = steps
    return Path(None if previous is None else _path(previous), key, type_name)


def _call(direct: DirectCall, source: Any, info: Info) -> Any:
    keywords: dict[str, Any] = dict.fromkeys(direct.source_parameters, source)
    if direct.info_parameter is not None:
        keywords[direct.info_parameter] = info
    if direct.pass_self:
        return direct.resolver(source, **keywords)
    return direct.resolver(**keywords)


def _close(awaitables: Iterable[Awaitable[Any]]) -> None:
    """Coroutines that will never be awaited: closed, so none is reported as forgotten."""
    for awaitable in awaitables:
        if isinstance(awaitable, Coroutine):
            awaitable.close()
