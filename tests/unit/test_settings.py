from __future__ import annotations

import pytest
from pydantic import ValidationError

from settings import DEFAULT_COST_TIERS, Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "TASKQL_ENV",
        "JWT_SECRET",
        "MONGODB_URL",
        "REDIS_URL",
        "TASKQL_COST_TIERS",
        "TASKQL_GRAPHIQL",
        "TASKQL_CORS_ORIGINS",
        "PORT",
        "WORKERS",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_match_the_contract() -> None:
    settings = Settings()
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8000, 1)
    assert settings.mongodb_db == "taskql"
    assert (settings.jwt_access_ttl, settings.jwt_refresh_ttl) == (900, 2_592_000)
    assert settings.max_subscriptions_per_user == 5
    assert settings.subscriber_queue == 1_000
    assert settings.graphiql is True
    assert settings.effective_cost_tiers == DEFAULT_COST_TIERS


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        ({}, "JWT_SECRET, MONGODB_URL, REDIS_URL"),
        ({"JWT_SECRET": "k" * 32}, "MONGODB_URL, REDIS_URL"),
        ({"JWT_SECRET": "k" * 32, "MONGODB_URL": "mongodb://db"}, "REDIS_URL"),
    ],
)
def test_production_refuses_to_start_without_shared_stores(
    monkeypatch: pytest.MonkeyPatch, present: dict[str, str], missing: str
) -> None:
    monkeypatch.setenv("TASKQL_ENV", "production")
    for name, value in present.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=f"production requires {missing}"):
        Settings()


def test_production_with_everything_turns_graphiql_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKQL_ENV", "production")
    monkeypatch.setenv("JWT_SECRET", "k" * 32)
    monkeypatch.setenv("MONGODB_URL", "mongodb://db")
    monkeypatch.setenv("REDIS_URL", "redis://cache")
    assert Settings().graphiql is False


def test_jwt_secret_lists_several_keys_first_signs(monkeypatch: pytest.MonkeyPatch) -> None:
    new, old = "n" * 32, "o" * 40
    monkeypatch.setenv("JWT_SECRET", f"{new}, {old},")
    assert Settings().jwt_secret == (new, old)


def test_short_jwt_keys_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", "k" * 31)
    with pytest.raises(ValidationError, match="32"):
        Settings()


def test_cost_tier_override_replaces_only_named_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKQL_COST_TIERS", '{"user": {"capacity": 50, "max_query": 50}}')
    tiers = Settings().effective_cost_tiers
    assert tiers["user"] == {"capacity": 50, "restore_rate": 50, "max_query": 50}
    assert tiers["pro"] == DEFAULT_COST_TIERS["pro"]


@pytest.mark.parametrize("tiers", ['{"gold": {"capacity": 1}}', '{"user": {"burst": 1}}'])
def test_unknown_cost_tiers_or_keys_are_refused(
    monkeypatch: pytest.MonkeyPatch, tiers: str
) -> None:
    monkeypatch.setenv("TASKQL_COST_TIERS", tiers)
    with pytest.raises(ValidationError):
        Settings()
