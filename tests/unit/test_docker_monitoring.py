"""Prometheus and Grafana under docker/, read statically: Prometheus scrapes every app instance
and nothing that is not a compose service; every alert and every dashboard panel reads metrics
(names, labels, label values) that our registry really exposes; Grafana's provisioning points
at the mounted dashboards and the provisioned datasource."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from tests.unit.docker_files import (
    APP_SERVICES,
    DOCKER_DIR,
    compose_services,
    load_yaml,
    metric_names_in,
    unknown_metrics_in,
)

PROMETHEUS_DIR = DOCKER_DIR / "prometheus"
GRAFANA_DIR = DOCKER_DIR / "grafana"
CONTRACT_FAMILIES = {
    "taskql_graphql_requests",
    "taskql_graphql_request_duration_seconds",
    "taskql_graphql_query_cost",
    "taskql_cache_requests",
    "taskql_dataloader_batch_size",
    "taskql_db_commands",
    "taskql_db_command_duration_seconds",
    "taskql_subscriptions_active",
    "taskql_events_published",
    "taskql_ratelimit_throttled",
    "taskql_db_pool_connections_in_use",
}


def _family(sample: str) -> str:
    for suffix in ("_bucket", "_count", "_sum", "_total"):
        if sample.endswith(suffix):
            return sample.removesuffix(suffix)
    return sample


def _scrape_configs() -> list[dict[str, Any]]:
    configs: list[dict[str, Any]] = load_yaml(PROMETHEUS_DIR / "prometheus.yml")["scrape_configs"]
    return configs


def _alert_rules() -> list[dict[str, Any]]:
    groups = load_yaml(PROMETHEUS_DIR / "alerts.yml")["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(
        (GRAFANA_DIR / "dashboards" / "taskql.json").read_text(encoding="utf-8")
    )
    return dashboard


def _panel_exprs() -> list[tuple[str, str]]:
    return [
        (panel["title"], target["expr"])
        for panel in _dashboard()["panels"]
        for target in panel["targets"]
    ]


def _mount_target(service: str, source: str) -> str:
    for volume in compose_services()[service]["volumes"]:
        host, container = str(volume).split(":")[:2]
        if host == source:
            return container
    raise AssertionError(f"{service} does not mount {source}")


def test_every_scrape_target_is_a_compose_service() -> None:
    services = compose_services()
    for config in _scrape_configs():
        for static in config["static_configs"]:
            for target in static["targets"]:
                assert target.split(":")[0] in services, target


def test_taskql_job_scrapes_every_app_instance_directly() -> None:
    (job,) = [config for config in _scrape_configs() if config["job_name"] == "taskql"]
    targets = [target for static in job["static_configs"] for target in static["targets"]]
    assert sorted(targets) == [f"{name}:8000" for name in APP_SERVICES]
    assert job["metrics_path"] == "/metrics"
    token_file = job["authorization"]["credentials_file"]
    assert token_file in " ".join(compose_services()["prometheus"]["command"])


def test_rule_files_exist_where_the_config_is_mounted() -> None:
    rule_files = load_yaml(PROMETHEUS_DIR / "prometheus.yml")["rule_files"]
    assert rule_files
    assert all((PROMETHEUS_DIR / name).is_file() for name in rule_files)
    assert _mount_target("prometheus", "./prometheus") == "/etc/prometheus"


def test_metric_reader_catches_what_it_should() -> None:
    assert metric_names_in('rate(taskql_x_total{a="b"}[5m]) / up') == {"taskql_x_total", "up"}
    assert unknown_metrics_in("rate(taskql_graphql_request_total[5m])")
    assert unknown_metrics_in('taskql_cache_requests_total{result="hits"}')
    assert unknown_metrics_in('taskql_cache_requests_total{outcome="hit"}')
    assert not unknown_metrics_in('taskql_cache_requests_total{result="hit", instance=~".*"}')


@pytest.mark.parametrize("rule", _alert_rules(), ids=lambda rule: rule["alert"])
def test_every_alert_reads_real_metrics(rule: dict[str, Any]) -> None:
    assert metric_names_in(rule["expr"])
    assert unknown_metrics_in(rule["expr"]) == []
    assert rule["labels"]["severity"] in {"page", "ticket"}
    assert rule["annotations"]["summary"]


def test_alerts_cover_latency_errors_cache_throttling_and_instances() -> None:
    exprs = " ".join(rule["expr"] for rule in _alert_rules())
    for metric in (
        "taskql_graphql_request_duration_seconds_bucket",
        "taskql_graphql_requests_total",
        "taskql_cache_requests_total",
        "taskql_ratelimit_throttled_total",
        'up{job="taskql"}',
    ):
        assert metric in exprs


@pytest.mark.parametrize(("title", "expr"), _panel_exprs())
def test_every_panel_reads_real_metrics(title: str, expr: str) -> None:
    assert metric_names_in(expr), title
    assert unknown_metrics_in(expr) == [], title


def test_dashboard_shows_every_contract_family() -> None:
    shown = {_family(name) for _, expr in _panel_exprs() for name in metric_names_in(expr)}
    assert shown >= CONTRACT_FAMILIES


def test_panels_use_the_provisioned_datasource_and_have_unique_ids() -> None:
    datasources = load_yaml(GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yaml")
    (datasource,) = datasources["datasources"]
    assert datasource["url"].removeprefix("http://").split(":")[0] in compose_services()
    panels = _dashboard()["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        uids = {panel["datasource"]["uid"]} | {t["datasource"]["uid"] for t in panel["targets"]}
        assert uids == {datasource["uid"]}, panel["title"]


def test_dashboard_provider_reads_the_mounted_dashboards() -> None:
    providers = load_yaml(GRAFANA_DIR / "provisioning" / "dashboards" / "taskql.yaml")
    (provider,) = providers["providers"]
    assert provider["options"]["path"] == _mount_target("grafana", "./grafana/dashboards")
    assert _mount_target("grafana", "./grafana/provisioning") == "/etc/grafana/provisioning"


PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
def test_alerts_fire_on_their_thresholds_in_promtool() -> None:
    assert PROMTOOL is not None
    checked = subprocess.run(
        [PROMTOOL, "test", "rules", "alerts_test.yml"],
        cwd=PROMETHEUS_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
