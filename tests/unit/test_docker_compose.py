"""docker/compose.yaml, read statically (no Docker engine needed): every reference it makes
resolves (files, services, variables), the replica set and the three instances line up, and no
secret value is committed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.unit.docker_files import (
    APP_SERVICES,
    COMPOSE_FILE,
    DOCKER_DIR,
    compose_services,
    interpolation_default,
    load_yaml,
    load_yaml_documents,
    settings_variables,
    shutdown_timeout,
)

YAML_FILES = sorted(
    path
    for pattern in ("*.yaml", "*.yml")
    for path in DOCKER_DIR.rglob(pattern)
    if "nginx" not in path.relative_to(DOCKER_DIR).parts
)


def _bind_sources(service: dict[str, Any]) -> list[str]:
    sources = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                sources.append(volume["source"])
        elif volume.startswith((".", "/")):
            sources.append(volume.split(":")[0])
    return sources


def _named_volumes(service: dict[str, Any]) -> list[str]:
    return [
        volume.split(":")[0]
        for volume in service.get("volumes", [])
        if isinstance(volume, str) and not volume.startswith((".", "/"))
    ]


def _app_environment(name: str) -> dict[str, str]:
    environment: dict[str, str] = compose_services()[name]["environment"]
    return environment


def _replica_set_members(replica_set: str) -> set[str]:
    return {
        name
        for name, service in compose_services().items()
        if "--replSet" in service.get("command", [])
        and service["command"][service["command"].index("--replSet") + 1] == replica_set
    }


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda path: str(path.relative_to(DOCKER_DIR)))
def test_every_yaml_file_parses(path: Path) -> None:
    assert all(document is not None for document in load_yaml_documents(path))


def test_builds_and_bind_mounts_point_at_files_of_the_repository() -> None:
    for name, service in compose_services().items():
        build = service.get("build")
        if build is not None:
            context = (DOCKER_DIR / build["context"]).resolve()
            assert (context / build["dockerfile"]).is_file(), name
        for source in _bind_sources(service):
            assert (DOCKER_DIR / source).exists(), f"{name}: {source}"


def test_named_volumes_are_declared() -> None:
    declared = set(load_yaml(COMPOSE_FILE)["volumes"])
    used = {volume for service in compose_services().values() for volume in _named_volumes(service)}
    assert used <= declared


def test_dependencies_name_existing_services() -> None:
    services = compose_services()
    conditions = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, service in services.items():
        for dependency, options in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} -> {dependency}"
            assert options["condition"] in conditions
            if options["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} -> {dependency}"


def test_three_identical_app_instances_built_from_our_dockerfile() -> None:
    services = compose_services()
    apps = {name for name, service in services.items() if "build" in service}
    assert apps == set(APP_SERVICES)
    for name in APP_SERVICES:
        assert services[name]["build"]["dockerfile"] == "docker/Dockerfile"
        assert "/readyz" in " ".join(services[name]["healthcheck"]["test"])
        assert services[name] == services[APP_SERVICES[0]]


def test_app_environment_is_made_of_variables_the_server_reads() -> None:
    environment = _app_environment(APP_SERVICES[0])
    assert set(environment) <= settings_variables()
    assert environment["TASKQL_ENV"] == "production"
    assert {"MONGODB_URL", "REDIS_URL", "JWT_SECRET"} <= set(environment)


def test_secrets_come_from_the_environment_and_are_never_committed() -> None:
    assert re.fullmatch(r"\$\{JWT_SECRET:\?[^}]+\}", _app_environment("app1")["JWT_SECRET"])
    grafana = compose_services()["grafana"]["environment"]
    assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", grafana["GF_SECURITY_ADMIN_PASSWORD"])
    assert _app_environment("app1")["TASKQL_METRICS_TOKEN"] == "${TASKQL_METRICS_TOKEN:-}"


def test_replica_set_init_names_the_three_mongo_services() -> None:
    members = _replica_set_members("rs0")
    assert members == {"mongo1", "mongo2", "mongo3"}
    script = (DOCKER_DIR / "mongo" / "init-replica-set.js").read_text(encoding="utf-8")
    assert '_id: "rs0"' in script
    assert set(re.findall(r'host: "([\w-]+):27017"', script)) == members
    url = interpolation_default(_app_environment("app1")["MONGODB_URL"])
    hosts = re.fullmatch(r"mongodb://([^/]+)/\?replicaSet=rs0", url)
    assert hosts is not None, url
    assert {host.split(":")[0] for host in hosts.group(1).split(",")} == members
    init = compose_services()["mongo-init"]
    assert set(init["depends_on"]) == members
    assert init["command"][-1] == "init-replica-set.js"


def test_nginx_fronts_exactly_the_app_instances_and_is_their_trusted_proxy() -> None:
    nginx = compose_services()["nginx"]
    assert set(nginx["depends_on"]) == set(APP_SERVICES)
    assert "./nginx/nginx.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]
    assert nginx["ports"] == ["8000:80"]
    address = nginx["networks"]["taskql"]["ipv4_address"]
    assert _app_environment("app1")["TASKQL_TRUSTED_PROXIES"] == address
    config = (DOCKER_DIR / "nginx" / "nginx.conf").read_text(encoding="utf-8")
    servers = re.findall(r"^\s*server\s+([\w.-]+):(\d+)", config, flags=re.MULTILINE)
    assert sorted(servers) == [(name, "8000") for name in APP_SERVICES]


def test_apps_outlast_the_servers_graceful_shutdown() -> None:
    deadline = shutdown_timeout(_app_environment("app1"))
    grace = compose_services()["app1"]["stop_grace_period"]
    assert int(grace.removesuffix("s")) > deadline
