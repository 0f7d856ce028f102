"""The status-code table's last rows through a real server: MongoDB unreachable is
SERVICE_UNAVAILABLE with HTTP 503 for both media types, and the server keeps answering."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import httpx
import pytest

from storage.embedded import start_mongo, start_redis
from tests.e2e.server_process import ServerProcess

pytestmark = pytest.mark.e2e

REGISTER = """
mutation { register(input: {email: "outage@example.com", password: "correct horse battery",
  name: "Ada"}) { accessToken } }
"""


def test_an_unreachable_database_is_503_service_unavailable(tmp_path: Path) -> None:
    mongo = start_mongo(tmp_path, mongod_binary=os.environ.get("MONGOD_BINARY"))
    redis = start_redis(tmp_path)
    env = {
        "MONGODB_URL": mongo.url,
        "REDIS_URL": redis.url,
        "JWT_SECRET": secrets.token_urlsafe(48),
    }
    try:
        with ServerProcess(env=env) as server:
            url = f"{server.base_url}/graphql"
            token = httpx.post(url, json={"query": REGISTER}).json()["data"]["register"][
                "accessToken"
            ]
            mongo.close()
            headers = {"Authorization": f"Bearer {token}"}
            # Nothing of this user's tasks was ever read, so no cache can answer for MongoDB.
            for index, accept in enumerate(
                ("application/json", "application/graphql-response+json")
            ):
                query = f"{{ tasks(first: {index + 1}) {{ totalCount }} }}"
                reply = httpx.post(
                    url, json={"query": query}, headers={**headers, "Accept": accept}, timeout=30
                )
                assert reply.status_code == 503, reply.text
                error = reply.json()["errors"][0]
                assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
                assert error["extensions"]["requestId"] == reply.headers["x-request-id"]
                assert "Traceback" not in reply.text
            assert server.get("/healthz").status_code == 200
    finally:
        redis.close()
        mongo.close()
