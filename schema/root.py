"""The schema's roots. The only module that imports resolvers: each root field is one call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError, NoSchemaIntrospectionCustomRule
from graphql.validation import MaxIntrospectionDepthRule
from strawberry.extensions import AddValidationRules, MaxTokensLimiter
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from cost.model import CostModel
from cost.tiers import tiers_from
from resolvers import auth, event, node, rate_limit, task, user
from schema.auth import AuthPayload, ChangePasswordInput, LoginInput, RegisterInput
from schema.compiled.execution import CompiledPlans, compiled_execution
from schema.context import Info
from schema.cost_directives import (
    CONNECTION_COST,
    FREE,
    MUTATION_RETURNING_OBJECT,
    MUTATION_RETURNING_SCALAR,
    cost_model_of,
)
from schema.extensions.document_cache import DocumentCache, ValidatedDocuments
from schema.extensions.errors import ErrorCodes
from schema.extensions.operation_name import OperationNameRequired
from schema.extensions.operation_scope import OperationScope
from schema.extensions.query_cost import QueryCost
from schema.extensions.response_cache import ResponseCache
from schema.node import Node
from schema.rate_limit import RateLimit
from schema.scalars import DateTime
from schema.task import (
    CreateTaskInput,
    Task,
    TaskConnection,
    UpdateTaskInput,
)
from schema.task_event import TaskEvent
from schema.task_inputs import (
    AfterArgument,
    BeforeArgument,
    FilterArgument,
    FirstArgument,
    LastArgument,
    OrderArgument,
    TaskListArguments,
)
from schema.user import User
from settings import Settings


@strawberry.type(description="Reads.")
class Query:
    @strawberry.field(
        description="The signed-in user, or null when the request carries no valid token."
    )
    async def me(self, info: Info) -> User | None:
        return await user.me(info)

    @strawberry.field(
        description="Any object by its global id; null when it is not visible to the caller."
    )
    async def node(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="A global id.")],
    ) -> Node | None:
        return await node.node(info, id)

    @strawberry.field(description="Null when the task does not exist or belongs to someone else.")
    async def task(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The task's global id.")],
    ) -> Task | None:
        return await task.task(info, id)

    @strawberry.field(
        description="The signed-in user's tasks, 20 per page when neither first nor last is given "
        "(both at once: BAD_USER_INPUT).",
        directives=CONNECTION_COST,
    )
    async def tasks(
        self,
        info: Info,
        *,
        first: FirstArgument = strawberry.UNSET,
        after: AfterArgument = strawberry.UNSET,
        last: LastArgument = strawberry.UNSET,
        before: BeforeArgument = strawberry.UNSET,
        filter: FilterArgument = strawberry.UNSET,
        order_by: OrderArgument = strawberry.UNSET,
    ) -> TaskConnection:
        arguments = TaskListArguments(first, after, last, before, filter, order_by)
        return await task.tasks(info, arguments)

    @strawberry.field(
        description="The caller's query-cost budget, after this operation is charged. Free.",
        directives=[FREE],
    )
    def rate_limit(self, info: Info) -> RateLimit:
        return rate_limit.rate_limit(info)


@strawberry.type(description="Writes.")
class Mutation:
    @strawberry.mutation(
        description="Creates an account and signs it in.", directives=MUTATION_RETURNING_OBJECT
    )
    async def register(
        self,
        info: Info,
        input: Annotated[RegisterInput, strawberry.argument(description="The new account.")],
    ) -> AuthPayload:
        return await auth.register(info, input)

    @strawberry.mutation(
        description="Signs in with email and password.", directives=MUTATION_RETURNING_OBJECT
    )
    async def login(
        self,
        info: Info,
        input: Annotated[LoginInput, strawberry.argument(description="Email and password.")],
    ) -> AuthPayload:
        return await auth.login(info, input)

    @strawberry.mutation(
        description="Trades a refresh token for a new pair; the old one is retired.",
        directives=MUTATION_RETURNING_OBJECT,
    )
    async def refresh_token(
        self,
        info: Info,
        refresh_token: Annotated[
            str, strawberry.argument(description="The current refresh token; it is retired.")
        ],
    ) -> AuthPayload:
        return await auth.refresh_token(info, refresh_token)

    @strawberry.mutation(
        description="Retires the refresh token and its whole rotation family.",
        directives=MUTATION_RETURNING_SCALAR,
    )
    async def logout(
        self,
        info: Info,
        refresh_token: Annotated[
            str, strawberry.argument(description="Any refresh token of the family to retire.")
        ],
    ) -> bool:
        return await auth.logout(info, refresh_token)

    @strawberry.mutation(
        description="Retires every refresh token of the signed-in user (all devices).",
        directives=MUTATION_RETURNING_SCALAR,
    )
    async def logout_all(self, info: Info) -> bool:
        return await auth.logout_all(info)

    @strawberry.mutation(
        description="Checks the current password, sets the new one, retires every refresh token, "
        "and returns a fresh pair.",
        directives=MUTATION_RETURNING_OBJECT,
    )
    async def change_password(
        self,
        info: Info,
        input: Annotated[
            ChangePasswordInput,
            strawberry.argument(description="The current and the new password."),
        ],
    ) -> AuthPayload:
        return await auth.change_password(info, input)

    @strawberry.mutation(
        description="Creates a task owned by the signed-in user.",
        directives=MUTATION_RETURNING_OBJECT,
    )
    async def create_task(
        self,
        info: Info,
        input: Annotated[CreateTaskInput, strawberry.argument(description="The new task.")],
    ) -> Task:
        return await task.create_task(info, input)

    @strawberry.mutation(
        description="Changes the fields given, atomically; increments the version.",
        directives=MUTATION_RETURNING_OBJECT,
    )
    async def update_task(
        self,
        info: Info,
        input: Annotated[
            UpdateTaskInput,
            strawberry.argument(description="The task's id and the fields to change."),
        ],
    ) -> Task:
        return await task.update_task(info, input)

    @strawberry.mutation(
        description="Returns the id of the deleted task.", directives=MUTATION_RETURNING_SCALAR
    )
    async def delete_task(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The task's global id.")],
    ) -> strawberry.ID:
        return await task.delete_task(info, id)


@strawberry.type(description="Live updates, over the websocket endpoint.")
class Subscription:
    @strawberry.subscription(
        description="Changes to the signed-in user's tasks, from any server instance. With "
        "`after`, first replays the events missed since that cursor."
    )
    async def task_events(
        self,
        info: Info,
        after: Annotated[
            str | None,
            strawberry.argument(description="The cursor of the last event received."),
        ] = strawberry.UNSET,
    ) -> AsyncIterator[TaskEvent]:
        async for task_event in event.task_events(info, after or None):
            yield task_event


class TaskqlSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # ErrorCodes logs unexpected errors with the request id; expected ones are not news.
        return


# Longer documents are refused while parsing (QUERY_TOO_COMPLEX).
MAX_TOKENS = 2_000


def create_schema(settings: Settings) -> strawberry.Schema:
    # Introspection is priced flat, so its own nesting is bounded (graphql-core's rule).
    rules: list[Any] = [MaxIntrospectionDepthRule]
    if settings.is_production:
        # Production answers only the operations its clients were built with.
        rules.append(NoSchemaIntrospectionCustomRule)
    tiers = tiers_from(settings.effective_cost_tiers)
    model: CostModel  # read from the schema below, before any operation prices with it
    documents = ValidatedDocuments()
    extensions: list[Any] = [
        OperationScope,
        ErrorCodes,
        lambda: DocumentCache(documents=documents),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: AddValidationRules(rules),
        OperationNameRequired,
        lambda: QueryCost(model=model, tiers=tiers),
    ]
    if settings.response_cache_enabled:
        extensions.append(lambda: ResponseCache(model=model))
    schema = TaskqlSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[User, Task],
        execution_context_class=compiled_execution(
            CompiledPlans(), mode=settings.compiled_execution
        ),
        extensions=extensions,
        config=StrawberryConfig(scalar_map={datetime: DateTime}),
    )
    model = cost_model_of(schema)
    return schema
