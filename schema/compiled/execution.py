"""graphql-core's execution context, running covered queries on their compiled plan.

Modes (`TASKQL_COMPILED_EXECUTION`): `on` runs the plan and falls back to graphql-core for
what it does not cover or when the plan meets an error; `off` never uses plans; `verify` runs
both and refuses to answer when their data differ (the test suite runs in this mode, so every
query it sends is checked to be answered identically by both paths).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable
from typing import Any, Literal

import orjson
from graphql import ExecutionResult, GraphQLError, OperationDefinitionNode, OperationType

from schema.compiled.plan import NotCovered, ObjectPlan, compile_operation
from schema.compiled.runner import PlanRunner
from schema.context import Context
from schema.event_execution import SharedSubscriptionEvents

log = logging.getLogger("taskql.compiled")

CompiledMode = Literal["on", "off", "verify"]
PLAN_CAPACITY = 1_000


class CompiledMismatchError(GraphQLError):
    """The compiled path and graphql-core answered one query differently (verify mode)."""


class CompiledPlans:
    """Plans by operation (the document cache keeps one parsed document per text)."""

    def __init__(self, capacity: int = PLAN_CAPACITY) -> None:
        self.capacity = capacity
        # The operation node is kept with its plan, so its id cannot be reused meanwhile.
        self._plans: OrderedDict[int, tuple[OperationDefinitionNode, ObjectPlan | None]] = (
            OrderedDict()
        )

    def plan_for(self, executor: SharedSubscriptionEvents) -> ObjectPlan | None:
        operation = executor.operation
        entry = self._plans.get(id(operation))
        if entry is not None and entry[0] is operation:
            self._plans.move_to_end(id(operation))
            return entry[1]
        try:
            plan: ObjectPlan | None = compile_operation(
                executor.schema, operation, executor.fragment_definitions
            )
        except NotCovered as reason:
            log.debug("not compiled: %s", reason)
            plan = None
        self._plans[id(operation)] = (operation, plan)
        while len(self._plans) > self.capacity:
            self._plans.popitem(last=False)
        return plan


def compiled_execution(
    plans: CompiledPlans, *, mode: CompiledMode
) -> type[SharedSubscriptionEvents]:
    """The execution context class of a schema whose queries run on `plans`."""

    class CompiledQueries(SharedSubscriptionEvents):
        def execute_operation(self, serially: bool | None = None) -> Any:
            plan = None
            if mode != "off" and self.operation.operation is OperationType.QUERY:
                plan = plans.plan_for(self)
            if plan is None:
                _count(self, "graphql_core")
                return super().execute_operation(serially)
            if mode == "verify":
                return self._verified(plan, serially)
            return self._compiled(plan, serially)

        async def _compiled(self, plan: ObjectPlan, serially: bool | None) -> Any:
            try:
                data = await PlanRunner(self).run(plan, self.root_value)
            except Exception:  # noqa: BLE001 -- graphql-core runs it and reports what failed
                _count(self, "fallback")
                return await _awaited(super().execute_operation(serially))
            _count(self, "compiled")
            return ExecutionResult(data=data, errors=None)

        async def _verified(self, plan: ObjectPlan, serially: bool | None) -> Any:
            try:
                data: dict[str, Any] | None = await PlanRunner(self).run(plan, self.root_value)
            except Exception:  # noqa: BLE001 -- as in production: graphql-core reports it
                data = None
            reference = await _awaited(super().execute_operation(serially))
            _count(self, "fallback" if data is None else "compiled")
            if data is not None and (
                reference.errors or orjson.dumps(data) != orjson.dumps(reference.data)
            ):
                log.error(
                    "compiled execution differs from graphql-core",
                    extra={"compiled": data, "graphql_core": reference.data},
                )
                raise CompiledMismatchError(
                    "Internal server error.", extensions={"code": "INTERNAL_SERVER_ERROR"}
                )
            return reference

    return CompiledQueries


async def _awaited(result: Any) -> Any:
    if isinstance(result, Awaitable):
        return await result
    return result


def _count(executor: SharedSubscriptionEvents, path: str) -> None:
    context = executor.context_value
    if isinstance(context, Context):
        context.metrics.execution_paths.labels(path=path).inc()
