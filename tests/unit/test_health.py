from __future__ import annotations

import pytest

from observability.health import DependencyState, Readiness, check_readiness


@pytest.mark.parametrize(
    ("mongodb", "redis", "status", "http_status"),
    [
        ("ok", "ok", "ok", 200),
        ("ok", "down", "degraded", 200),
        ("down", "ok", "down", 503),
        ("down", "down", "down", 503),
    ],
)
def test_only_mongodb_takes_the_instance_out_of_rotation(
    mongodb: DependencyState, redis: DependencyState, status: str, http_status: int
) -> None:
    readiness = Readiness(mongodb=mongodb, redis=redis)
    assert readiness.status == status
    assert readiness.http_status == http_status
    assert readiness.as_json() == {
        "status": status,
        "dependencies": {"mongodb": mongodb, "redis": redis},
    }


async def test_check_readiness_runs_both_probes() -> None:
    async def yes() -> bool:
        return True

    async def degraded() -> DependencyState:
        return "degraded"

    assert await check_readiness(mongodb=yes(), redis=degraded()) == Readiness("ok", "degraded")
