"""The naive peer: plain Strawberry over taskql's MongoDB database, written the obvious way
(MONGODB_URL, MONGODB_DB, HOST, PORT): the benchmarked subset of taskql's schema with its ids and
cursors, async PyMongo, a query per field that needs data (the owner of every task: N+1), no
DataLoader and no cache; the viewer is the bearer token's `sub`, its signature not verified."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import strawberry
from bson import ObjectId
from pymongo import AsyncMongoClient
from serving import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from strawberry.asgi import GraphQL

EPOCH = datetime(1970, 1, 1)  # PyMongo reads dates as naive UTC datetimes
MILLISECOND = timedelta(milliseconds=1)
DEFAULT_PAGE_SIZE = 20


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _unb64(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


def global_id(kind: str, *ids: ObjectId) -> strawberry.ID:
    return strawberry.ID(_b64(":".join([kind, *map(str, ids)])))


def encode_cursor(created: datetime, task_id: ObjectId) -> str:
    fields = ["t1", "CREATED_AT", "DESC", (created - EPOCH) // MILLISECOND, str(task_id)]
    return _b64(json.dumps(fields, separators=(",", ":")))


def viewer_of(authorization: str | None) -> ObjectId | None:
    if not authorization or not authorization.startswith("Bearer "):
        return None
    return ObjectId(json.loads(_unb64(authorization.split(".")[1]))["sub"])


@strawberry.enum
class TaskStatus(Enum):
    TODO = "TODO"
    IN_PROGRESS = "IN_PROGRESS"
    DONE = "DONE"


@strawberry.type
class User:
    id: strawberry.ID
    name: str


async def find_user(info: strawberry.Info, user_id: ObjectId) -> User | None:
    document = await info.context["db"]["users"].find_one({"_id": user_id})
    return None if document is None else User(id=global_id("User", user_id), name=document["name"])


@strawberry.type
class Task:
    id: strawberry.ID
    title: str
    status: TaskStatus
    owner_id: strawberry.Private[ObjectId]

    @strawberry.field
    async def owner(self, info: strawberry.Info) -> User:
        user = await find_user(info, self.owner_id)
        if user is None:
            raise LookupError("the owner does not exist")
        return user


@strawberry.type
class TaskEdge:
    cursor: str
    node: Task


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class TaskConnection:
    edges: list[TaskEdge]
    page_info: PageInfo


@strawberry.type
class Query:
    @strawberry.field
    async def me(self, info: strawberry.Info) -> User | None:
        viewer = info.context["viewer"]
        return None if viewer is None else await find_user(info, viewer)

    @strawberry.field
    async def tasks(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> TaskConnection:
        viewer = info.context["viewer"]
        if viewer is None:
            raise PermissionError("sign in first")
        limit = DEFAULT_PAGE_SIZE if first is None else first
        query: dict[str, Any] = {"owner_id": viewer}
        if after is not None:
            _, _, _, millis, raw_id = json.loads(_unb64(after))
            created, task_id = EPOCH + millis * MILLISECOND, ObjectId(raw_id)
            query["$or"] = [
                {"created_at": {"$lt": created}},
                {"created_at": created, "_id": {"$lt": task_id}},
            ]
        found = (
            await info.context["db"]["tasks"]
            .find(query)
            .sort([("created_at", -1), ("_id", -1)])
            .limit(limit + 1)
            .to_list()
        )
        edges = [
            TaskEdge(
                cursor=encode_cursor(document["created_at"], document["_id"]),
                node=Task(
                    id=global_id("Task", document["owner_id"], document["_id"]),
                    title=document["title"],
                    status=TaskStatus(document["status"]),
                    owner_id=document["owner_id"],
                ),
            )
            for document in found[:limit]
        ]
        end_cursor = edges[-1].cursor if edges else None
        return TaskConnection(
            edges=edges, page_info=PageInfo(has_next_page=len(found) > limit, end_cursor=end_cursor)
        )


class NaiveGraphQL(GraphQL[dict[str, Any], None]):
    def __init__(self, schema: strawberry.Schema, *, holder: dict[str, Any]) -> None:
        super().__init__(schema, graphql_ide=None)
        self.holder = holder

    async def get_context(self, request: Any, response: Any) -> dict[str, Any]:
        return {"db": self.holder["db"], "viewer": viewer_of(request.headers.get("authorization"))}


def create_app() -> Starlette:
    holder: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(os.environ["MONGODB_URL"])
        holder["db"] = client[os.environ.get("MONGODB_DB", "taskql")]
        try:
            yield
        finally:
            await client.close()

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    graphql = NaiveGraphQL(strawberry.Schema(query=Query), holder=holder)
    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


if __name__ == "__main__":
    serve("naive_strawberry:create_app")
