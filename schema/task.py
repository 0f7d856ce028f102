"""The task types: Task, its connection (edges, page info, lazy counts) and TaskCounts.

Mapped from documents explicitly; nested fields only call the request's loaders. What costs
a query (the flag for the other side of a cursor, totalCount) runs only when selected.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import cast

import strawberry
from beanie import PydanticObjectId

from models.task import TaskDocument, fields_of
from models.task_query import (
    BoundaryProbe,
    Keyset,
    Side,
    TaskFilterSpec,
    TaskPageQuery,
    TaskSort,
    keyset_of,
)
from models.task_reads import StatusCounts, TaskPage
from models.user import UserProfile
from schema.context import Info
from schema.cost_directives import FREE, ListSize
from schema.node import Node, encode_global_id
from schema.pagination import encode_cursor, page_window
from schema.selection import selects
from schema.task_enums import OrderDirection, TaskOrderField, TaskPriority, TaskStatus
from schema.task_inputs import (
    CreateTaskInput,
    TaskFilter,
    TaskListArguments,
    TaskOrder,
    UpdateTaskInput,
    filter_spec,
    given,
    task_sort,
)
from schema.user import User

__all__ = [
    "CreateTaskInput",
    "OrderDirection",
    "PageInfo",
    "Task",
    "TaskConnection",
    "TaskCounts",
    "TaskEdge",
    "TaskFilter",
    "TaskListArguments",
    "TaskOrder",
    "TaskOrderField",
    "TaskPriority",
    "TaskStatus",
    "UpdateTaskInput",
    "task_connection",
]

# Stored value to enum member without Enum's call machinery (50 tasks a page, two each).
_STATUSES = {member.value: member for member in TaskStatus}
_PRIORITIES = {member.value: member for member in TaskPriority}


@strawberry.type(description="A to-do item, owned by one user.")
class Task(Node):
    title: str = strawberry.field(description="1 to 200 characters.")
    description: str | None = strawberry.field(description="Free text; null when there is none.")
    status: TaskStatus = strawberry.field(description="Where the task stands.")
    priority: TaskPriority = strawberry.field(description="How pressing it is.")
    tags: list[str] = strawberry.field(
        description="Labels, in the order they were given.",
        # Scalars cost nothing; the size documents the cap (20 tags per task).
        directives=[ListSize(assumed_size=20)],
    )
    due_at: datetime | None = strawberry.field(description="When it is due; null: no due date.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    version: int = strawberry.field(
        description="Increments on every change; pass it back as expectedVersion to update safely."
    )
    owner_id: strawberry.Private[PydanticObjectId]
    # Set when the owner was loaded with the task (a page's tasks share one User).
    owner_user: strawberry.Private[User | None] = None

    @strawberry.field(description="The user the task belongs to.")
    def owner(self, info: Info) -> User:
        if self.owner_user is not None:
            # Already loaded: answered without a coroutine per task.
            return self.owner_user
        # An awaitable, which the executor awaits like an async resolver's result.
        return cast("User", self._load_owner(info))

    async def _load_owner(self, info: Info) -> User:
        profile: UserProfile | None = await info.context.loaders.users.load(self.owner_id)
        if profile is None:
            raise LookupError(f"the owner of task {self.id} does not exist")
        return User.from_profile(profile)

    @classmethod
    def from_document(cls, document: TaskDocument, *, owner: User | None = None) -> Task:
        values = fields_of(document)
        return cls(
            id=encode_global_id("Task", values["owner_id"], values["id"]),
            title=values["title"],
            description=values["description"],
            status=_STATUSES[values["status"]],
            priority=_PRIORITIES[values["priority"]],
            tags=list(values["tags"]),
            due_at=values["due_at"],
            created_at=values["created_at"],
            updated_at=values["updated_at"],
            version=values["version"],
            owner_id=values["owner_id"],
            owner_user=owner,
        )


# The edge wrapper is free: selecting `edges { node }` costs what `nodes` does.
@strawberry.type(description="One task in a page, with its position.", directives=[FREE])
class TaskEdge:
    @strawberry.field(description="Opaque: pass it as after or before.")
    def cursor(self) -> str:
        return encode_cursor(self.keyset, sort=self.sort)

    node: Task = strawberry.field(description="The task.")
    # Encoded only when selected: a page's pageInfo needs its two ends at most.
    keyset: strawberry.Private[Keyset]
    sort: strawberry.Private[TaskSort]


@strawberry.type(description="Where a page sits in the whole list.")
class PageInfo:
    has_next: strawberry.Private[bool]
    next_probe: strawberry.Private[BoundaryProbe | None]
    has_previous: strawberry.Private[bool]
    previous_probe: strawberry.Private[BoundaryProbe | None]
    start_cursor: str | None = strawberry.field(
        description="The first edge's cursor; null on an empty page."
    )
    end_cursor: str | None = strawberry.field(
        description="The last edge's cursor; null on an empty page."
    )

    @strawberry.field(description="Whether tasks follow this page.")
    async def has_next_page(self, info: Info) -> bool:
        return self.has_next or await _probe(info, self.next_probe)

    @strawberry.field(description="Whether tasks precede this page.")
    async def has_previous_page(self, info: Info) -> bool:
        return self.has_previous or await _probe(info, self.previous_probe)


async def _probe(info: Info, probe: BoundaryProbe | None) -> bool:
    if probe is None:
        return False
    found: bool = await info.context.loaders.task_probes.load(probe)
    return found


@strawberry.type(description="A page of tasks.")
class TaskConnection:
    edges: list[TaskEdge] = strawberry.field(description="The tasks with their cursors.")
    nodes: list[Task] = strawberry.field(description="The tasks alone.")
    page_info: PageInfo = strawberry.field(
        description="Where this page sits in the list.",
        directives=[FREE],  # covered by the connection's own 2
    )
    total: strawberry.Private[tuple[PydanticObjectId, TaskFilterSpec] | None]

    @strawberry.field(description="How many tasks pass the filter, all pages together.")
    async def total_count(self, info: Info) -> int:
        if self.total is None:
            return 0
        count: int = await info.context.loaders.task_totals.load(self.total)
        return count

    @classmethod
    def empty(cls) -> TaskConnection:
        page_info = PageInfo(
            has_next=False,
            next_probe=None,
            has_previous=False,
            previous_probe=None,
            start_cursor=None,
            end_cursor=None,
        )
        return cls(edges=[], nodes=[], page_info=page_info, total=None)

    @classmethod
    def from_page(
        cls, query: TaskPageQuery, page: TaskPage, *, owner: UserProfile | None = None
    ) -> TaskConnection:
        owner_user = User.from_profile(owner) if owner is not None else None
        edges = [
            TaskEdge(
                node=Task.from_document(document, owner=owner_user),
                keyset=keyset_of(document, query.sort),
                sort=query.sort,
            )
            for document in page.documents
        ]

        def probe(keyset: Keyset | None, side: Side) -> BoundaryProbe | None:
            if keyset is None:
                return None
            return BoundaryProbe(
                owner_id=query.owner_id,
                filter=query.filter,
                sort=query.sort,
                keyset=keyset,
                side=side,
            )

        # The page's own end is known from its one extra task; the far side of a cursor
        # costs a query, left to the flag's resolver.
        forward = not query.backward
        page_info = PageInfo(
            has_next=forward and page.has_more,
            next_probe=None if forward and page.has_more else probe(query.before, "after"),
            has_previous=query.backward and page.has_more,
            previous_probe=None
            if query.backward and page.has_more
            else probe(query.after, "before"),
            start_cursor=edges[0].cursor() if edges else None,
            end_cursor=edges[-1].cursor() if edges else None,
        )
        return cls(
            edges=edges,
            nodes=[edge.node for edge in edges],
            page_info=page_info,
            total=(query.owner_id, query.filter),
        )


@strawberry.type(description="How many tasks a user has, per status.")
class TaskCounts:
    todo: int = strawberry.field(description="Tasks to do.")
    in_progress: int = strawberry.field(description="Tasks in progress.")
    done: int = strawberry.field(description="Tasks done.")
    total: int = strawberry.field(description="All tasks.")

    @classmethod
    def from_counts(cls, counts: StatusCounts) -> TaskCounts:
        return cls(
            todo=counts.todo, in_progress=counts.in_progress, done=counts.done, total=counts.total
        )


async def task_connection(
    info: Info,
    *,
    owner_id: PydanticObjectId | None,
    arguments: TaskListArguments,
) -> TaskConnection:
    """A page of `owner_id`'s tasks (an empty connection for None: someone else's list).

    The arguments are checked either way, so that a bad one is reported the same to all.
    Omitted arguments arrive as UNSET.
    """
    sort = task_sort(arguments.order_by)
    spec = filter_spec(arguments.filter)
    window = page_window(
        first=arguments.first if given(arguments.first) else None,
        after=arguments.after if given(arguments.after) else None,
        last=arguments.last if given(arguments.last) else None,
        before=arguments.before if given(arguments.before) else None,
        sort=sort,
    )
    if owner_id is None:
        return TaskConnection.empty()
    query = TaskPageQuery(
        owner_id=owner_id,
        filter=spec,
        sort=sort,
        limit=window.limit,
        backward=window.backward,
        after=window.after,
        before=window.before,
    )
    loaders = info.context.loaders
    if not selects(info, ("nodes", "owner"), ("edges", "node", "owner")):
        return TaskConnection.from_page(query, await loaders.task_pages.load(query))
    # The page's owner is loaded beside the page (two loaders, one wait): `owner` of each of
    # its tasks is then an attribute read, not a load per task.
    page, owner = await asyncio.gather(loaders.task_pages.load(query), loaders.users.load(owner_id))
    return TaskConnection.from_page(query, page, owner=owner)
