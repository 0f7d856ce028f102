"""Talking to a real server in end-to-end tests: raw GraphQL over HTTP, the gql client, users."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from gql import Client, gql
from gql.transport.httpx import HTTPXAsyncTransport

from tests.e2e.server_process import ServerProcess

REGISTER = """
mutation Register($input: RegisterInput!) {
  register(input: $input) { accessToken refreshToken expiresAt user { id email name } }
}
"""


def without_cost(body: dict[str, Any]) -> dict[str, Any]:
    """A response body without its `extensions.cost`, which every response carries."""
    extensions = {k: v for k, v in body.get("extensions", {}).items() if k != "cost"}
    rest = {k: v for k, v in body.items() if k != "extensions"}
    return {**rest, "extensions": extensions} if extensions else rest


@dataclass
class Response:
    status: int
    body: dict[str, Any]
    headers: httpx.Headers

    @property
    def data(self) -> Any:
        return self.body.get("data")

    @property
    def errors(self) -> list[dict[str, Any]]:
        errors: list[dict[str, Any]] = self.body.get("errors") or []
        return errors

    @property
    def codes(self) -> list[str]:
        return [error.get("extensions", {}).get("code") for error in self.errors]


@dataclass
class SignedInUser:
    id: str
    email: str
    password: str
    name: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


class Api:
    """Raw GraphQL over HTTP against one server: every status, header and error is visible."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.url = f"{server.base_url}/graphql"
        self.http = httpx.AsyncClient(timeout=30.0)

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        sent = {"Content-Type": "application/json", **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        reply = await self.http.post(self.url, json=payload, headers=sent)
        return Response(status=reply.status_code, body=reply.json(), headers=reply.headers)

    async def register(
        self,
        *,
        name: str = "Ada Lovelace",
        password: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SignedInUser:
        email = f"user-{uuid.uuid4().hex[:12]}@example.test"
        password = password or f"pw-{uuid.uuid4().hex}"
        reply = await self.post(
            REGISTER,
            {"input": {"email": email, "password": password, "name": name}},
            headers=headers,
        )
        assert reply.errors == [], reply.errors
        payload = reply.data["register"]
        return SignedInUser(
            id=payload["user"]["id"],
            email=email,
            password=password,
            name=name,
            access_token=payload["accessToken"],
            refresh_token=payload["refreshToken"],
        )

    @asynccontextmanager
    async def gql_session(self, user: SignedInUser | None = None) -> AsyncIterator[Any]:
        """A gql client session over HTTP, signed in as `user` when given."""
        transport = HTTPXAsyncTransport(url=self.url, headers=user.headers if user else None)
        async with Client(transport=transport) as session:
            yield session

    async def close(self) -> None:
        await self.http.aclose()


__all__ = ["Api", "Response", "SignedInUser", "gql"]
