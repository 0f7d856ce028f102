"""Readers for the deployment files under docker/, shared by the tests/unit/test_docker_*.py
checks: YAML, the Dockerfile's instructions, the variables the server reads, and the sample
names our metrics registry exposes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from observability.metrics import TaskqlMetrics
from settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = PROJECT_ROOT / "docker"
COMPOSE_FILE = DOCKER_DIR / "compose.yaml"
DOCKERFILE = DOCKER_DIR / "Dockerfile"
K8S_DIR = DOCKER_DIR / "k8s"
APP_SERVICES = ("app1", "app2", "app3")

# A metric name as PromQL writes one; our own all start with taskql_.
_METRIC_NAME = re.compile(r"\b(taskql_[a-z0-9_]+|up)\b(?!\s*\()")
_SELECTOR = re.compile(r"\b(taskql_[a-z0-9_]+|up)\s*\{([^}]*)\}")
_MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"')


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_yaml_documents(path: Path) -> list[Any]:
    return list(yaml.safe_load_all(path.read_text(encoding="utf-8")))


@cache
def compose_services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = load_yaml(COMPOSE_FILE)["services"]
    return services


def interpolation_default(value: str) -> str:
    """A compose value with every `${NAME:-default}` replaced by its default."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    instructions = []
    for statement in logical:
        keyword, _, arguments = statement.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    return instructions


@cache
def settings_variables() -> frozenset[str]:
    """Every environment variable settings.py reads (its one reader of the environment)."""
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names.add(alias if isinstance(alias, str) else name.upper())
    return frozenset(names)


def shutdown_timeout(environment: Mapping[str, str]) -> int:
    """The server's graceful-shutdown deadline (seconds) under `environment`."""
    configured = environment.get("TASKQL_SHUTDOWN_TIMEOUT")
    default: int = Settings.model_fields["shutdown_timeout"].default
    return int(configured) if configured else default


@cache
def metric_samples() -> dict[str, dict[str, frozenset[str]]]:
    """Sample name -> label -> the values our registry exposes from startup."""
    registry: CollectorRegistry = TaskqlMetrics().registry
    samples: dict[str, dict[str, set[str]]] = {}
    for family in registry.collect():
        for sample in family.samples:
            labels = samples.setdefault(sample.name, {})
            for label, value in sample.labels.items():
                labels.setdefault(label, set()).add(value)
    return {
        name: {label: frozenset(values) for label, values in labels.items()}
        for name, labels in samples.items()
    }


def metric_names_in(expr: str) -> set[str]:
    return set(_METRIC_NAME.findall(expr))


def unknown_metrics_in(expr: str) -> list[str]:
    """Problems with the metrics a PromQL expression reads: names our registry does not expose,
    label names they do not carry, and `label="value"` matchers no exposed series has."""
    known = metric_samples()
    problems = [f"unknown metric {name}" for name in metric_names_in(expr) - {"up"} - set(known)]
    for name, matchers in _SELECTOR.findall(expr):
        if name == "up" or name not in known:
            continue
        labels = known[name]
        for label, operator, value in _MATCHER.findall(matchers):
            if label in ("instance", "job"):
                continue  # Prometheus adds these at scrape time
            if label not in labels:
                problems.append(f"{name} has no label {label}")
            elif operator == "=" and value not in labels[label]:
                problems.append(f'{name}{{{label}="{value}"}} matches no series')
    return problems
