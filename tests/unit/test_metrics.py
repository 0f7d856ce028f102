"""Every family of CONTRACT.md's metrics table, exposed from startup with its known labels at 0,
in one process and in multiprocess mode; and who may read /metrics."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from observability.metrics import TaskqlMetrics, metrics_authorised, worker_metrics_directory

PROJECT_ROOT = Path(__file__).resolve().parents[2]

OPERATION_TYPES = ["query", "mutation", "subscription"]
OUTCOMES = ["ok", "error", "throttled", "rejected"]
LOADERS = ["users", "tasks", "task_pages", "task_totals", "task_probes", "task_counts"]

# (name as exposed, type, the label sets that must be there from startup)
CONTRACT: list[tuple[str, str, list[dict[str, str]]]] = [
    (
        "taskql_graphql_requests_total",
        "counter",
        [
            {"operation_type": t, "outcome": o}
            for t, o in itertools.product(OPERATION_TYPES, OUTCOMES)
        ],
    ),
    (
        "taskql_graphql_request_duration_seconds",
        "histogram",
        [{"operation_type": t} for t in OPERATION_TYPES],
    ),
    ("taskql_graphql_query_cost", "histogram", [{"kind": k} for k in ("requested", "actual")]),
    (
        "taskql_cache_requests_total",
        "counter",
        [
            {"kind": k, "result": r}
            for k, r in itertools.product(
                ["user", "task", "task_list", "task_counts"], ["hit", "miss", "error"]
            )
        ],
    ),
    ("taskql_dataloader_batch_size", "histogram", [{"loader": name} for name in LOADERS]),
    (
        "taskql_db_commands_total",
        "counter",
        [
            {"command": c, "source": s}
            for c, s in itertools.product(
                ["find", "getMore", "aggregate", "insert", "update", "delete", "findAndModify"],
                ["request", "background"],
            )
        ]
        + [{"command": "ping", "source": "background"}],
    ),
    (
        "taskql_db_command_duration_seconds",
        "histogram",
        [{"command": c} for c in ("find", "aggregate", "insert", "ping")],
    ),
    ("taskql_subscriptions_active", "gauge", [{}]),
    (
        "taskql_events_published_total",
        "counter",
        [{"type": t} for t in ("CREATED", "UPDATED", "DELETED")],
    ),
    (
        "taskql_ratelimit_throttled_total",
        "counter",
        [{"tier": t} for t in ("anonymous", "user", "pro")],
    ),
]


def _zero_series(exposition: str) -> dict[str, tuple[str, list[dict[str, str]]]]:
    """Per exposed name: the family's type and the label sets of its zero-valued series."""
    found: dict[str, tuple[str, list[dict[str, str]]]] = {}
    for family in text_string_to_metric_families(exposition):
        # A counter's family drops `_total`; a histogram's series are counted by `_count`.
        suffix = {"counter": "_total", "histogram": "_count"}.get(family.type, "")
        exposed = family.name + ("_total" if family.type == "counter" else "")
        zeros = [
            sample.labels
            for sample in family.samples
            if sample.name == family.name + suffix and sample.value == 0
        ]
        found[exposed] = (family.type, zeros)
    return found


def _assert_contract_families(exposition: str) -> None:
    found = _zero_series(exposition)
    for name, kind, label_sets in CONTRACT:
        assert name in found, f"{name} is not exposed"
        exposed_type, zeros = found[name]
        assert exposed_type == kind, name
        for labels in label_sets:
            assert labels in zeros, f"{name}{labels} is not exposed at 0"


def test_a_fresh_instance_exposes_every_family_with_its_labels_at_zero() -> None:
    metrics = TaskqlMetrics()
    assert not metrics.multiprocess
    _assert_contract_families(metrics.exposition().decode())


def test_instances_do_not_share_values() -> None:
    first, second = TaskqlMetrics(), TaskqlMetrics()
    first.observe_operation(operation_type="query", outcome="ok", seconds=0.01)
    assert first.graphql_requests.labels(operation_type="query", outcome="ok")._value.get() == 1
    assert second.graphql_requests.labels(operation_type="query", outcome="ok")._value.get() == 0


MULTIPROCESS_SCRIPT = """
import sys
from observability.metrics import TaskqlMetrics
metrics = TaskqlMetrics()
assert metrics.multiprocess
sys.stdout.write(metrics.exposition().decode())
metrics.observe_operation(operation_type="mutation", outcome="ok", seconds=0.02)
"""


def _in_worker(directory: Path) -> str:
    completed = subprocess.run(
        [sys.executable, "-c", MULTIPROCESS_SCRIPT],
        cwd=PROJECT_ROOT,
        env={"PROMETHEUS_MULTIPROC_DIR": str(directory), "PATH": ""},
        capture_output=True,
        check=True,
        timeout=60,
    )
    return completed.stdout.decode()


def test_multiprocess_mode_exposes_every_family_and_sums_the_processes(tmp_path: Path) -> None:
    # Only families with samples exist in multiprocess mode: the zeros must be written.
    _assert_contract_families(_in_worker(tmp_path))
    exposition = _in_worker(tmp_path)  # a second process sees the first one's operation
    families = {f.name: f for f in text_string_to_metric_families(exposition)}
    requests = {
        (s.labels["operation_type"], s.labels["outcome"]): s.value
        for s in families["taskql_graphql_requests"].samples
    }
    assert requests[("mutation", "ok")] == 1
    assert requests[("query", "ok")] == 0
    assert len(list(tmp_path.glob("counter_*.db"))) == 2


@pytest.mark.parametrize(
    ("authorization", "token", "allowed"),
    [
        (None, None, True),
        ("Bearer anything", None, True),
        (None, "", True),  # an empty variable is no token
        (None, "s3cret", False),
        ("Bearer s3cret", "s3cret", True),
        ("bearer   s3cret ", "s3cret", True),
        ("Bearer s3cre", "s3cret", False),
        ("Bearer s3cret2", "s3cret", False),
        ("Basic s3cret", "s3cret", False),
        ("s3cret", "s3cret", False),
        ("Bearer", "s3cret", False),
        ("Bearer s\u00e9\u0441ret", "s3cret", False),  # non-ASCII
    ],
)
def test_metrics_token(authorization: str | None, token: str | None, allowed: bool) -> None:
    assert metrics_authorised(authorization, token=token) is allowed


def test_workers_share_a_fresh_directory_removed_afterwards() -> None:
    with worker_metrics_directory(workers=1) as none:
        assert none is None
    with worker_metrics_directory(workers=2) as directory:
        assert directory is not None
        assert directory.is_dir()
        assert list(directory.iterdir()) == []
        (directory / "counter_1.db").write_bytes(b"")
    assert not directory.exists()
