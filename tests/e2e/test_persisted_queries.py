"""Persisted queries on real servers: Apollo's APQ round trip (shared by every instance through
Redis, over POST and GET), what is never kept, and the trusted-documents mode."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.e2e.api import Api
from tests.e2e.conftest import instance_env
from tests.e2e.server_process import ServerProcess

pytestmark = pytest.mark.e2e

ME = "query Me { me { id name } }"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(digest: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


async def send(api: Api, body: dict[str, Any], token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await api.http.post(api.url, json=body, headers=headers)


async def test_an_unknown_hash_asks_for_the_document_then_every_instance_knows_it(
    api: Api, second_instance: ServerProcess
) -> None:
    user = await api.register(name="Persisted Pat")
    query = ME + f" # {uuid.uuid4()}"  # a document no earlier test kept
    digest = sha256(query)

    unknown = await send(api, {"extensions": persisted(digest)}, user.access_token)
    assert unknown.status_code == 200
    body = unknown.json()
    assert "data" not in body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["PERSISTED_QUERY_NOT_FOUND"]
    assert body["errors"][0]["message"] == "PersistedQueryNotFound"

    full = await send(api, {"query": query, "extensions": persisted(digest)}, user.access_token)
    assert full.json()["data"] == {"me": {"id": user.id, "name": "Persisted Pat"}}

    other = Api(second_instance)
    by_hash = await send(other, {"extensions": persisted(digest)}, user.access_token)
    assert by_hash.json()["data"] == full.json()["data"]
    # GET, as Apollo clients send persisted queries to be cached by CDNs.
    got = await other.http.get(
        other.url,
        params={"extensions": orjson.dumps(persisted(digest)).decode()},
        headers=user.headers,
    )
    assert got.json()["data"] == full.json()["data"]
    await other.close()


async def test_a_hash_that_is_not_the_documents_is_refused(api: Api) -> None:
    reply = await send(api, {"query": ME, "extensions": persisted(sha256(ME + " "))})
    assert reply.status_code == 400
    (error,) = reply.json()["errors"]
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "extensions.persistedQuery.sha256Hash",
    }


@pytest.mark.parametrize("version", [2, None])
async def test_only_version_1_is_understood(api: Api, version: int | None) -> None:
    extensions = {"persistedQuery": {"version": version, "sha256Hash": sha256(ME)}}
    reply = await send(api, {"query": ME, "extensions": extensions})
    assert reply.status_code == 400
    assert reply.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_document_that_fails_is_never_kept(api: Api) -> None:
    broken = f"{{ me {{ nope_{uuid.uuid4().hex} }} }}"
    digest = sha256(broken)
    first = await send(api, {"query": broken, "extensions": persisted(digest)})
    assert first.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    again = await send(api, {"extensions": persisted(digest)})
    assert again.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


def test_without_query_or_hash_the_request_is_malformed(api_server: ServerProcess) -> None:
    reply = httpx.post(f"{api_server.base_url}/graphql", json={"extensions": {}})
    assert reply.status_code == 400
    assert reply.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "query"}


@pytest.fixture
def trusted_server(api_server: ServerProcess, tmp_path: Path) -> Iterator[ServerProcess]:
    manifest = {
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [{"id": sha256(ME), "name": "Me", "type": "query", "body": ME}],
    }
    path = tmp_path / "trusted.json"
    path.write_bytes(orjson.dumps(manifest))
    with ServerProcess(
        env={**instance_env(api_server), "TASKQL_TRUSTED_DOCUMENTS": str(path)}
    ) as server:
        yield server


async def test_trusted_documents_run_only_the_manifest(trusted_server: ServerProcess) -> None:
    api = Api(trusted_server)
    by_hash = await send(api, {"extensions": persisted(sha256(ME))})
    assert by_hash.json()["data"] == {"me": None}
    by_text = await send(api, {"query": ME})
    assert by_text.json()["data"] == {"me": None}
    other = await send(api, {"query": "{ __typename }"})
    assert [e["extensions"]["code"] for e in other.json()["errors"]] == [
        "PERSISTED_QUERY_NOT_IN_LIST"
    ]
    assert "data" not in other.json()
    await api.close()
