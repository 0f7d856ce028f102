"""The User type. Another user's email, tasks and counts are hidden."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from models.task_reads import StatusCounts
from models.user import UserDocument, UserProfile, profile_of
from schema.context import Info
from schema.cost_directives import CONNECTION_COST
from schema.node import Node, encode_global_id
from schema.task_inputs import (
    AfterArgument,
    BeforeArgument,
    FilterArgument,
    FirstArgument,
    LastArgument,
    OrderArgument,
    TaskListArguments,
)

if TYPE_CHECKING:
    from schema.task import TaskConnection, TaskCounts


@strawberry.type(description="A person who owns tasks.")
class User(Node):
    name: str = strawberry.field(description="The user's display name.")
    created_at: datetime = strawberry.field(description="When the user registered.")
    profile: strawberry.Private[UserProfile]
    # Set where the API hands users their own account (AuthPayload.user): a sign-in request
    # carries no token yet, but the user it answers is themself.
    shown_to_self: strawberry.Private[bool] = False

    def is_viewer(self, info: Info) -> bool:
        return self.shown_to_self or info.context.viewer_id == self.profile.id

    @strawberry.field(description="Visible only to the user themself; null for anyone else.")
    def email(self, info: Info) -> str | None:
        return self.profile.email if self.is_viewer(info) else None

    @strawberry.field(
        description="The user's tasks, 20 per page when neither first nor last is given. Only "
        "the user themself may list them; anyone else gets an empty connection.",
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
    ) -> Annotated[TaskConnection, strawberry.lazy("schema.task")]:
        # Imported here: schema.task imports this module (Task.owner is a User).
        from schema.task import task_connection  # noqa: PLC0415

        return await task_connection(
            info,
            owner_id=self.profile.id if self.is_viewer(info) else None,
            arguments=TaskListArguments(first, after, last, before, filter, order_by),
        )

    @strawberry.field(
        description="Only the user themself sees real counts; anyone else gets zeros."
    )
    async def task_counts(
        self, info: Info
    ) -> Annotated[TaskCounts, strawberry.lazy("schema.task")]:
        from schema.task import TaskCounts  # noqa: PLC0415 -- as in `tasks`

        counts = StatusCounts()
        if self.is_viewer(info):
            counts = await info.context.loaders.task_counts.load(self.profile.id)
        return TaskCounts.from_counts(counts)

    @classmethod
    def from_profile(cls, profile: UserProfile, *, shown_to_self: bool = False) -> User:
        return cls(
            id=encode_global_id("User", profile.id),
            name=profile.name,
            created_at=profile.created_at,
            profile=profile,
            shown_to_self=shown_to_self,
        )

    @classmethod
    def from_document(cls, document: UserDocument, *, shown_to_self: bool = False) -> User:
        return cls.from_profile(profile_of(document), shown_to_self=shown_to_self)
