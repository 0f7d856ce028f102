"""The compose stack's `sharded` profile, read statically: config servers, shards and mongos
line up with the init script, which shards the collections our models really use on a field
they really store."""

from __future__ import annotations

import re
from typing import Any

from models.task import TaskDocument
from models.task_event import TaskEventDocument
from tests.unit.docker_files import APP_SERVICES, DOCKER_DIR, compose_services

SCRIPT = DOCKER_DIR / "mongo" / "init-sharded-cluster.js"


def _sharded_services() -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose_services().items()
        if "sharded" in service.get("profiles", [])
    }


def _option(service: dict[str, Any], flag: str) -> str | None:
    command: list[str] = service.get("command", [])
    return command[command.index(flag) + 1] if flag in command else None


def _script() -> str:
    return SCRIPT.read_text(encoding="utf-8")


def test_profile_has_config_servers_two_shards_mongos_and_an_init() -> None:
    services = _sharded_services()
    commands = {name: service.get("command", []) for name, service in services.items()}
    assert [name for name, command in commands.items() if "--configsvr" in command]
    assert len([name for name, command in commands.items() if "--shardsvr" in command]) >= 2
    assert [name for name, command in commands.items() if command[:1] == ["mongos"]]
    init = services["mongo-shard-init"]
    assert init["command"][-1] == SCRIPT.name
    assert set(init["depends_on"]) <= set(services)


def test_every_member_in_the_script_is_a_service_on_its_port() -> None:
    services = compose_services()
    members = re.findall(r'_id: "(\w+)",(?:\s*configsvr: true,)?\s*members: \[(.*?)\]', _script())
    assert len(members) >= 3
    for replica_set, listed in members:
        for host, port in re.findall(r'host: "([\w-]+):(\d+)"', listed):
            assert host in services, host
            assert _option(services[host], "--replSet") == replica_set
            assert _option(services[host], "--port") == port


def test_mongos_reads_the_config_server_replica_set() -> None:
    (mongos,) = [s for s in _sharded_services().values() if s["command"][:1] == ["mongos"]]
    replica_set, _, hosts = (_option(mongos, "--configdb") or "").partition("/")
    config_servers = {
        name for name, s in _sharded_services().items() if "--configsvr" in s.get("command", [])
    }
    assert {host.split(":")[0] for host in hosts.split(",")} == config_servers
    assert all(_option(_sharded_services()[n], "--replSet") == replica_set for n in config_servers)


def test_shards_the_task_collections_on_a_field_both_store() -> None:
    script = _script()
    collections = re.search(r"SHARDED_COLLECTIONS = \[([^\]]*)\]", script)
    key = re.search(r'SHARD_KEY = \{ (\w+): "hashed" \}', script)
    assert collections is not None
    assert key is not None
    names = set(re.findall(r'"(\w+)"', collections.group(1)))
    models = (TaskDocument, TaskEventDocument)
    assert names == {model.Settings.name for model in models}
    assert all(key.group(1) in model.model_fields for model in models)


def test_apps_wait_for_the_cluster_only_when_the_profile_is_on() -> None:
    for name in APP_SERVICES:
        dependency = compose_services()[name]["depends_on"]["mongo-shard-init"]
        assert dependency == {"condition": "service_completed_successfully", "required": False}
        assert "profiles" not in compose_services()[name]
