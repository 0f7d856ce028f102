"""The one place that reads the environment: every variable of the contract, typed."""

from __future__ import annotations

import ipaddress
import secrets
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_COST_TIERS: dict[str, dict[str, float]] = {
    "anonymous": {"capacity": 200, "restore_rate": 10, "max_query": 200},
    "user": {"capacity": 1_000, "restore_rate": 50, "max_query": 1_000},
    "pro": {"capacity": 10_000, "restore_rate": 500, "max_query": 5_000},
}

MIN_JWT_KEY_LENGTH = 32

# Where `make run` and `server.py services` keep the embedded MongoDB's files (git-ignored).
DEFAULT_DATA_DIR = Path(__file__).resolve().parent / ".taskql"

CommaList = Annotated[tuple[str, ...], NoDecode]


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class Settings(BaseSettings):
    """Configuration of one server process; see the contract's configuration table."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    env: Literal["development", "production"] = Field(
        default="development", validation_alias="TASKQL_ENV"
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    mongodb_url: str | None = None
    mongodb_db: str = "taskql"
    mongod_binary: str | None = None
    redis_url: str | None = None
    # Each Redis command's deadline on the request path: Redis answers in well under a
    # millisecond, so a node that takes longer is treated as down (and skipped) at once.
    redis_timeout_ms: int = Field(
        default=50, ge=1, le=10_000, validation_alias="TASKQL_REDIS_TIMEOUT_MS"
    )
    jwt_secret: CommaList = ()
    jwt_access_ttl: int = Field(default=900, gt=0)
    jwt_refresh_ttl: int = Field(default=2_592_000, gt=0)
    cost_tiers: dict[str, dict[str, float]] = Field(
        default_factory=dict, validation_alias="TASKQL_COST_TIERS"
    )
    trusted_proxies: CommaList = Field(default=(), validation_alias="TASKQL_TRUSTED_PROXIES")
    cors_origins: CommaList = Field(default=(), validation_alias="TASKQL_CORS_ORIGINS")
    max_subscriptions_per_user: int = Field(
        default=5, ge=1, validation_alias="TASKQL_MAX_SUBSCRIPTIONS_PER_USER"
    )
    subscriber_queue: int = Field(default=1_000, ge=1, validation_alias="TASKQL_SUBSCRIBER_QUEUE")
    graphiql_enabled: bool | None = Field(default=None, validation_alias="TASKQL_GRAPHIQL")
    metrics_token: str | None = Field(default=None, validation_alias="TASKQL_METRICS_TOKEN")
    # How long a stopping server waits for in-flight requests before cancelling them.
    shutdown_timeout: int = Field(
        default=10, ge=1, le=600, validation_alias="TASKQL_SHUTDOWN_TIMEOUT"
    )
    # Off only to measure what the object cache is worth (bench/); reads then go to MongoDB.
    cache_enabled: bool = Field(default=True, validation_alias="TASKQL_CACHE")
    # An Apollo persisted-query manifest: when set, only its documents run (trusted documents).
    trusted_documents: Path | None = Field(
        default=None, validation_alias="TASKQL_TRUSTED_DOCUMENTS"
    )
    # Queries run on compiled plans (`verify`: and on graphql-core, refusing any difference).
    compiled_execution: Literal["on", "off", "verify"] = Field(
        default="on", validation_alias="TASKQL_COMPILED_EXECUTION"
    )
    # Whole responses of read-only operations, retired with the object cache's entries.
    response_cache_enabled: bool = Field(default=True, validation_alias="TASKQL_RESPONSE_CACHE")
    # The embedded MongoDB's files (MONGODB_URL unset): kept across restarts. Empty: a throwaway
    # directory that goes with the process (the tests and the benches).
    data_dir: Path | None = Field(default=DEFAULT_DATA_DIR, validation_alias="TASKQL_DATA_DIR")

    _split = field_validator("jwt_secret", "trusted_proxies", "cors_origins", mode="before")(
        _split_commas
    )

    @field_validator("data_dir", mode="before")
    @classmethod
    def _empty_is_throwaway(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("jwt_secret")
    @classmethod
    def _long_enough_keys(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        if any(len(key) < MIN_JWT_KEY_LENGTH for key in keys):
            # RFC 7518 §3.2: an HS256 key must be at least as long as the hash (256 bits).
            raise ValueError(f"every JWT_SECRET key needs {MIN_JWT_KEY_LENGTH}+ characters")
        return keys

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses_or_networks(cls, entries: tuple[str, ...]) -> tuple[str, ...]:
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is neither an IP address nor a network") from None
        return entries

    @field_validator("cost_tiers")
    @classmethod
    def _known_tiers(cls, tiers: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for tier, values in tiers.items():
            if tier not in DEFAULT_COST_TIERS:
                raise ValueError(f"unknown cost tier {tier!r}")
            unknown = set(values) - set(DEFAULT_COST_TIERS[tier])
            if unknown:
                raise ValueError(f"unknown keys for tier {tier!r}: {sorted(unknown)}")
        return tiers

    @model_validator(mode="after")
    def _production_needs_shared_stores(self) -> Settings:
        if self.is_production:
            missing = [
                name
                for name, value in (
                    ("JWT_SECRET", self.jwt_secret),
                    ("MONGODB_URL", self.mongodb_url),
                    ("REDIS_URL", self.redis_url),
                )
                if not value
            ]
            if missing:
                # An embedded store per instance would silently split users' data and budgets.
                raise ValueError(f"production requires {', '.join(missing)}")
        return self

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def graphiql(self) -> bool:
        if self.graphiql_enabled is None:
            return not self.is_production
        return self.graphiql_enabled

    @property
    def effective_cost_tiers(self) -> dict[str, dict[str, float]]:
        """The contract's tiers, each overridden only in the keys TASKQL_COST_TIERS names."""
        return {
            tier: {**defaults, **self.cost_tiers.get(tier, {})}
            for tier, defaults in DEFAULT_COST_TIERS.items()
        }


def new_development_secret() -> str:
    """A random signing key for one development run (all its workers share it)."""
    return secrets.token_urlsafe(48)


def load_settings(*, command: str = "taskql") -> Settings:
    """Settings from the environment, or a one-line refusal that never echoes secret values."""
    try:
        return Settings()
    except ValidationError as error:
        reasons = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in error.errors()
        )
        sys.exit(f"{command}: invalid configuration: {reasons}")
