"""The client address an anonymous caller pays from: X-Forwarded-For counts only when the peer
is a trusted proxy (TASKQL_TRUSTED_PROXIES), never by uvicorn's own default for loopback."""

from __future__ import annotations

import orjson
import pytest

from tests.e2e.api import Api
from tests.e2e.conftest import instance_env
from tests.e2e.server_process import ServerProcess
from tests.e2e.test_query_cost import INTROSPECTION, fresh_address

pytestmark = pytest.mark.e2e

# Room for two introspections (20 points each), restored too slowly to matter here.
TIGHT = {"anonymous": {"capacity": 40, "restore_rate": 0.01, "max_query": 40}}


async def codes_from_new_addresses(server: ServerProcess) -> list[list[str | None]]:
    api = Api(server)
    try:
        return [
            (await api.post(INTROSPECTION, headers={"X-Forwarded-For": fresh_address()})).codes
            for _ in range(3)
        ]
    finally:
        await api.close()


async def test_forwarded_addresses_count_only_from_a_trusted_proxy(
    api_server: ServerProcess,
) -> None:
    env = {**instance_env(api_server), "TASKQL_COST_TIERS": orjson.dumps(TIGHT).decode()}
    with ServerProcess(env={**env, "TASKQL_TRUSTED_PROXIES": None}) as untrusting:
        # Our loopback peer is no proxy: every call pays from its one bucket.
        assert await codes_from_new_addresses(untrusting) == [[], [], ["THROTTLED"]]
    with ServerProcess(env={**env, "TASKQL_TRUSTED_PROXIES": "127.0.0.1"}) as trusting:
        # Behind a trusted proxy, each forwarded address has a bucket of its own.
        assert await codes_from_new_addresses(trusting) == [[], [], []]
