"""Query cost (CONTRACT.md): structural limits, then the price, charged to the caller's
budget before execution and refunded down to the actual cost after; `extensions.cost` and the
RateLimit headers on every response.

Refusals are raised before execution, outside ErrorCodes' reach, so they carry their codes.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from graphql import ExecutionResult, GraphQLError, OperationType
from starlette.datastructures import MutableHeaders
from strawberry.extensions import SchemaExtension

from cost.actual import actual_cost
from cost.budget import Budget, Charge
from cost.gcra import BucketState
from cost.limits import too_complex
from cost.model import CostModel
from cost.operation import Operation, OperationNotFoundError
from cost.pricing import requested_cost
from cost.tiers import Caller, Tier, caller_for
from observability.metrics import TaskqlMetrics
from schema.context import Context
from schema.errors import throttled

VALIDATE_HEADER = "graphql-cost"


class QueryCost(SchemaExtension):
    def __init__(self, *, model: CostModel, tiers: Mapping[str, Tier]) -> None:
        self.model = model
        self.tiers = tiers
        self.requested: int | None = None
        self.actual = 0
        self.caller: Caller | None = None
        self.state: BucketState | None = None
        self.admission: SubscriptionAdmission | None = None
        self._reported = False

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        operation = self._operation()
        if not isinstance(context, Context) or operation is None:
            yield
            return
        if reason := too_complex(operation):
            raise GraphQLError(reason, extensions={"code": "QUERY_TOO_COMPLEX"})
        requested = self.requested = requested_cost(operation, self.model)
        caller = self._caller(context)
        if requested > caller.tier.max_query:
            raise GraphQLError(
                f"The query costs {requested} points; at most {_number(caller.tier.max_query)} "
                "are allowed per query. Ask for fewer items.",
                extensions={
                    "code": "MAX_COST_EXCEEDED",
                    "cost": requested,
                    "maxCost": _number(caller.tier.max_query),
                },
            )
        if operation.kind is OperationType.SUBSCRIPTION:
            # Charged by its resolver once it knows the subscription will run; never refunded.
            self.admission = SubscriptionAdmission(
                budget=context.budget, caller=caller, requested=requested, metrics=context.metrics
            )
            self.execution_context.root_value = self.admission
            self.actual = requested
            yield
            return
        if _validate_only(context):
            # Priced, not run: the response carries the price and no data.
            self.execution_context.result = ExecutionResult(data=None, errors=None)
            yield
            return
        state = self.state = await context.budget.charge(caller, requested)
        if not state.allowed:
            context.metrics.ratelimit_throttled.labels(tier=caller.tier.name).inc()
            retry_after = max(1, math.ceil(state.retry_after))
            raise GraphQLError(
                f"The query costs {requested} points and {state.remaining} are available; "
                f"retry in {retry_after} s.",
                extensions={"code": "THROTTLED", "retryAfter": retry_after},
            )
        context.charge = Charge(
            tier=caller.tier, requested=requested, state=state, at=datetime.now(UTC)
        )
        try:
            yield
        finally:
            self.actual = min(self._actual(operation), requested)
            if self.actual < requested:
                self.state = await context.budget.refund(caller, requested - self.actual)

    async def get_results(self) -> dict[str, Any]:
        context = self.execution_context.context
        if not isinstance(context, Context):
            return {}
        caller = self._caller(context)
        state = self.state
        if state is None and self.admission is not None:
            state = self.admission.state
        if state is None:
            state = self.state = await context.budget.peek(caller)
        tier = caller.tier
        requested = self.requested or 0
        # A subscription asks for results once per event: the operation is counted once.
        if self.requested is not None and not self._reported:
            self._reported = True
            context.metrics.observe_cost(requested=requested, actual=self.actual)
            context.cost_report = (requested, self.actual)
        if context.response_headers is not None:
            rate_limit_headers(context.response_headers, tier, state)
        return cost_extensions(tier, requested=requested, actual=self.actual, state=state)

    def _operation(self) -> Operation | None:
        execution = self.execution_context
        document = execution.graphql_document
        if document is None:
            return None
        try:
            return Operation(
                execution.schema._schema,
                document,
                operation_name=execution.operation_name,
                variables=execution.variables,
            )
        except OperationNotFoundError:
            return None  # execution reports the unknown operation, with nothing to charge

    def _actual(self, operation: Operation) -> int:
        result = self.execution_context.result
        if result is None or not isinstance(result, ExecutionResult):
            return 0
        failed = {error.path[0] for error in result.errors or () if error.path}
        return actual_cost(
            operation, self.model, data=result.data, failed_root_keys=map(str, failed)
        )

    def _caller(self, context: Context) -> Caller:
        if self.caller is None:
            self.caller = caller_for(
                self.tiers,
                user_id=str(context.viewer_id) if context.viewer_id is not None else None,
                user_tier=context.viewer_tier,
                address=context.client_address,
            )
        return self.caller


class SubscriptionAdmission:
    """What a subscription pays when it starts, handed to its resolver as the root value: the
    resolver charges it after its own checks pass, so a refused subscription costs nothing."""

    def __init__(
        self, *, budget: Budget, caller: Caller, requested: int, metrics: TaskqlMetrics
    ) -> None:
        self.budget = budget
        self.caller = caller
        self.requested = requested
        self.metrics = metrics
        self.state: BucketState | None = None

    async def charge(self) -> None:
        state = self.state = await self.budget.charge(self.caller, self.requested)
        if not state.allowed:
            self.metrics.ratelimit_throttled.labels(tier=self.caller.tier.name).inc()
            retry_after = max(1, math.ceil(state.retry_after))
            raise throttled(
                f"The subscription costs {self.requested} points and {state.remaining} are "
                f"available; retry in {retry_after} s.",
                retry_after=retry_after,
            )


def cost_extensions(
    tier: Tier, *, requested: int, actual: int, state: BucketState
) -> dict[str, Any]:
    """The response's `extensions` (CONTRACT.md: `cost`)."""
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "maximumQueryCost": _number(tier.max_query),
            "throttleStatus": {
                "maximumAvailable": _number(tier.capacity),
                "currentlyAvailable": state.remaining,
                "restoreRate": tier.restore_rate,
            },
        }
    }


def rate_limit_headers(headers: MutableHeaders, tier: Tier, state: BucketState) -> None:
    headers["RateLimit-Policy"], headers["RateLimit"] = rate_limit_values(tier, state)


def rate_limit_values(tier: Tier, state: BucketState) -> tuple[str, str]:
    """The `RateLimit-Policy` and `RateLimit` headers' values."""
    policy = f'"{tier.name}";q={_number(tier.capacity)};w={math.ceil(tier.refill_seconds)}'
    return policy, f'"{tier.name}";r={state.remaining};t={math.ceil(state.full_after)}'


def _validate_only(context: Context) -> bool:
    headers = getattr(context.request, "headers", None)
    value = headers.get(VALIDATE_HEADER, "") if headers is not None else ""
    return value.strip().lower() == "validate"


def _number(value: float) -> int | float:
    """Whole numbers print as integers (1000, not 1000.0)."""
    return int(value) if float(value).is_integer() else value
