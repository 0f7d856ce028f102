"""Prometheus metrics: every family of CONTRACT.md's table, built once per process.

With several workers, `serve` gives them a shared directory in `PROMETHEUS_MULTIPROC_DIR` before
they start; prometheus-client then keeps each worker's values in files there (it decides when it
is imported) and `/metrics` merges the files of every worker. In that mode only families that
have samples are exposed, so every known label combination is created at 0 up front.
"""

from __future__ import annotations

import hmac
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

MULTIPROCESS_DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

# "unknown": a request refused before its document was read (it did not parse, or the body
# was not a GraphQL request at all).
OPERATION_TYPES = ("query", "mutation", "subscription", "unknown")
OUTCOMES = ("ok", "error", "throttled", "rejected")
EXECUTION_PATHS = ("compiled", "fallback", "graphql_core", "lane")
COST_KINDS = ("requested", "actual")
CACHE_KINDS = ("user", "task", "task_list", "task_counts", "response")
CACHE_RESULTS = ("hit", "miss", "error")
LOADERS = ("users", "tasks", "task_pages", "task_totals", "task_probes", "task_counts")
# The commands our code and the driver issue; any other command is counted as it appears.
DB_COMMANDS = (
    "find",
    "getMore",
    "aggregate",
    "insert",
    "update",
    "delete",
    "findAndModify",
    "killCursors",
    "createIndexes",
    "listIndexes",
    "ping",
    "endSessions",
)
DB_COMMAND_SOURCES = ("request", "background")
EVENT_TYPES = ("CREATED", "UPDATED", "DELETED")
TIERS = ("anonymous", "user", "pro")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
COST_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000)
BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500)


def multiprocess_mode() -> bool:
    """Whether prometheus-client keeps values in per-process files (chosen at its import)."""
    return values.ValueClass is not values.MutexValue


class TaskqlMetrics:
    """The metric families of one process; build one per process, in the app's lifespan.

    In multiprocess mode two instances in one process would overwrite each other's values in
    the shared files: the lifespan builds exactly one.
    """

    def __init__(self) -> None:
        self.multiprocess = multiprocess_mode()
        # What /metrics exposes: this process's families, or every worker's files merged.
        self.registry = CollectorRegistry()
        families: CollectorRegistry | None = self.registry
        if self.multiprocess:
            # prometheus-client's multiprocess module is untyped.
            MultiProcessCollector(self.registry)  # type: ignore[no-untyped-call]
            families = None

        self.graphql_requests = Counter(
            "taskql_graphql_requests",
            "GraphQL operations by type and outcome.",
            ["operation_type", "outcome"],
            registry=families,
        )
        self.graphql_request_duration = Histogram(
            "taskql_graphql_request_duration_seconds",
            "Time to answer one GraphQL operation over HTTP.",
            ["operation_type"],
            buckets=LATENCY_BUCKETS,
            registry=families,
        )
        self.execution_paths = Counter(
            "taskql_graphql_execution_path",
            "Queries by how they ran: compiled (the document's plan), fallback (the plan met "
            "something graphql-core must report), graphql_core (no plan covers the document) or "
            "lane (a page built from the object cache in front of Strawberry).",
            ["path"],
            registry=families,
        )
        self.query_cost = Histogram(
            "taskql_graphql_query_cost",
            "Query cost per operation: requested (before) and actual (after execution).",
            ["kind"],
            buckets=COST_BUCKETS,
            registry=families,
        )
        self.cache_requests = Counter(
            "taskql_cache_requests",
            "Redis object cache lookups by kind and result.",
            ["kind", "result"],
            registry=families,
        )
        self.fast_lane_answers = Counter(
            "taskql_fast_lane_answers",
            "HTTP operations answered by the fast lane: a cached response read and charged in "
            "one Redis script, without GraphQL execution.",
            registry=families,
        )
        self.invalidations_delayed = Counter(
            "taskql_cache_invalidations_delayed",
            "Cache invalidations that waited for Redis to come back (entries retired then).",
            registry=families,
        )
        self.dataloader_batch_size = Histogram(
            "taskql_dataloader_batch_size",
            "Keys per DataLoader batch.",
            ["loader"],
            buckets=BATCH_SIZE_BUCKETS,
            registry=families,
        )
        self.db_commands = Counter(
            "taskql_db_commands",
            "MongoDB commands, from the driver's command monitoring; source: request "
            "(for a GraphQL operation) or background.",
            ["command", "source"],
            registry=families,
        )
        self.db_command_duration = Histogram(
            "taskql_db_command_duration_seconds",
            "MongoDB command round trips, from the driver's command monitoring.",
            ["command"],
            buckets=LATENCY_BUCKETS,
            registry=families,
        )
        self.subscriptions_active = Gauge(
            "taskql_subscriptions_active",
            "Open GraphQL subscriptions.",
            registry=families,
            multiprocess_mode="livesum",
        )
        self.db_pool_open = Gauge(
            "taskql_db_pool_connections_open",
            "MongoDB connections open in the driver's pools (every server).",
            registry=families,
            multiprocess_mode="livesum",
        )
        self.db_pool_in_use = Gauge(
            "taskql_db_pool_connections_in_use",
            "MongoDB connections checked out of the driver's pools, i.e. running a command.",
            registry=families,
            multiprocess_mode="livesum",
        )
        self.db_pool_checkout_failures = Counter(
            "taskql_db_pool_checkout_failures",
            "Operations that could not get a MongoDB connection (pool timeout, server down).",
            registry=families,
        )
        self.events_published = Counter(
            "taskql_events_published",
            "Task events appended to their user's log in MongoDB, by type.",
            ["type"],
            registry=families,
        )
        self.events_announced = Counter(
            "taskql_events_announced",
            "Task events announced on Redis (the doorbell's PUBLISH): sent, or skipped because "
            "its node is down or failed (the event is still delivered from the log).",
            ["result"],
            registry=families,
        )
        self.redis_errors = Counter(
            "taskql_redis_errors",
            "Failed Redis calls: node (unreachable, timed out, failing over: its breaker "
            "opens) or command (the command itself was refused).",
            ["kind"],
            registry=families,
        )
        self.redis_nodes_down = Gauge(
            "taskql_redis_nodes_down",
            "Redis nodes this process is skipping until its background probe finds them back.",
            registry=families,
            multiprocess_mode="livesum",
        )
        self.cache_invalidations_unreplicated = Counter(
            "taskql_cache_invalidations_unreplicated",
            "Cache invalidations that no replica confirmed in time (WAIT): replayed when "
            "the node recovers, like delayed ones.",
            registry=families,
        )
        self.ratelimit_throttled = Counter(
            "taskql_ratelimit_throttled",
            "Operations refused with THROTTLED, by cost tier.",
            ["tier"],
            registry=families,
        )
        self.ratelimit_local = Counter(
            "taskql_ratelimit_local_decisions",
            "Query-cost budget decisions made by a per-process bucket because Redis was "
            "unreachable (budgets are then per instance).",
            registry=families,
        )
        self._create_known_series()

    def _create_known_series(self) -> None:
        for operation_type in OPERATION_TYPES:
            self.graphql_request_duration.labels(operation_type=operation_type)
            for outcome in OUTCOMES:
                self.graphql_requests.labels(operation_type=operation_type, outcome=outcome)
        for path in EXECUTION_PATHS:
            self.execution_paths.labels(path=path)
        for kind in COST_KINDS:
            self.query_cost.labels(kind=kind)
        for kind in CACHE_KINDS:
            for result in CACHE_RESULTS:
                self.cache_requests.labels(kind=kind, result=result)
        for loader in LOADERS:
            self.dataloader_batch_size.labels(loader=loader)
        for command in DB_COMMANDS:
            self.db_command_duration.labels(command=command)
            for source in DB_COMMAND_SOURCES:
                self.db_commands.labels(command=command, source=source)
        for event_type in EVENT_TYPES:
            self.events_published.labels(type=event_type)
        for tier in TIERS:
            self.ratelimit_throttled.labels(tier=tier)
        self._create_redis_series()

    def _create_redis_series(self) -> None:
        for result in ("sent", "skipped"):
            self.events_announced.labels(result=result)
        for kind in ("node", "command"):
            self.redis_errors.labels(kind=kind)

    def observe_cost(self, *, requested: int, actual: int) -> None:
        self.query_cost.labels(kind="requested").observe(requested)
        self.query_cost.labels(kind="actual").observe(actual)

    def observe_operation(self, *, operation_type: str, outcome: str, seconds: float) -> None:
        self.graphql_requests.labels(operation_type=operation_type, outcome=outcome).inc()
        self.graphql_request_duration.labels(operation_type=operation_type).observe(seconds)

    def exposition(self) -> bytes:
        """The text format (CONTENT_TYPE_LATEST); in multiprocess mode, every worker's values."""
        return generate_latest(self.registry)

    def close(self) -> None:
        """On shutdown: a live gauge (open subscriptions) stops counting this process."""
        if self.multiprocess:
            mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def metrics_authorised(authorization: str | None, *, token: str | None) -> bool:
    """Whether a request may read /metrics: always without a token, else `Bearer <token>`."""
    if not token:
        return True
    scheme, _, presented = (authorization or "").strip().partition(" ")
    # Compared as bytes: compare_digest refuses non-ASCII str, and takes constant time.
    matches = hmac.compare_digest(presented.strip().encode(), token.encode())
    return scheme.lower() == "bearer" and matches


@contextmanager
def worker_metrics_directory(*, workers: int) -> Iterator[Path | None]:
    """A fresh directory for the worker processes' metric files, removed afterwards.

    None with one worker: the server then runs in this process, where prometheus-client is
    already imported in single-process mode.
    """
    if workers <= 1:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="taskql-metrics-") as directory:
        yield Path(directory)
