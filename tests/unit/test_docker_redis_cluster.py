"""The compose stack's `redis-cluster` profile, read statically: six cluster nodes that keep
serving through a failover, an init that creates the cluster from exactly those nodes, fixed
addresses no other container can take, and the seed nodes the stack's comments tell the
instances to use."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from storage.redis import parse_cluster_url
from tests.unit.docker_files import (
    APP_SERVICES,
    COMPOSE_FILE,
    compose_services,
    interpolation_default,
    load_yaml,
)

PROFILE = "redis-cluster"
INIT = "redis-cluster-init"
REDIS_PORT = 6379


def _profile_services() -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose_services().items()
        if PROFILE in service.get("profiles", [])
    }


def _cluster_nodes() -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in _profile_services().items()
        if "--cluster-enabled" in service.get("command", [])
    }


def _option(service: dict[str, Any], flag: str) -> str | None:
    command: list[str] = service["command"]
    return command[command.index(flag) + 1] if flag in command else None


def _address(service: dict[str, Any]) -> str:
    return str(service["networks"]["taskql"]["ipv4_address"])


def _init_script() -> str:
    return "\n".join(compose_services()[INIT]["command"])


def test_six_cluster_nodes_that_keep_serving_while_a_master_fails_over() -> None:
    nodes = _cluster_nodes()
    assert len(nodes) == 6  # 3 masters and a replica each
    for name, node in nodes.items():
        assert _option(node, "--cluster-enabled") == "yes", name
        # Otherwise every slot answers CLUSTERDOWN until the failed master's are served again.
        assert _option(node, "--cluster-require-full-coverage") == "no", name
        assert _option(node, "--cluster-replica-validity-factor") == "0", name
        assert int(_option(node, "--cluster-node-timeout") or 0) > 0, name
        assert (_option(node, "--cluster-config-file") or "").startswith("/data/"), name
        assert node["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"], name
    volumes = [volume for node in nodes.values() for volume in node["volumes"]]
    assert len(set(volumes)) == len(nodes)  # each node its own data and nodes.conf
    assert all(volume.endswith(":/data") for volume in volumes)


def test_init_creates_the_cluster_from_exactly_its_nodes() -> None:
    nodes = _cluster_nodes()
    init = compose_services()[INIT]
    assert init["depends_on"] == {name: {"condition": "service_healthy"} for name in nodes}
    assert init["restart"] == "no"
    script = _init_script()
    (listed,) = re.findall(r'nodes="([^"]+)"', script)
    expected = sorted(f"{_address(node)}:{REDIS_PORT}" for node in nodes.values())
    assert sorted(listed.split()) == expected
    assert "--cluster create $$nodes --cluster-replicas 1 --cluster-yes" in script
    assert "cluster_state:ok" in script
    # Shell variables are escaped from compose's interpolation.
    assert not re.search(r"(?<!\$)\$(?!\$)[{(\w]", script)


def test_fixed_addresses_are_unique_in_the_subnet_and_outside_the_dynamic_range() -> None:
    (pool,) = load_yaml(COMPOSE_FILE)["networks"]["taskql"]["ipam"]["config"]
    subnet = ipaddress.ip_network(pool["subnet"])
    dynamic = ipaddress.ip_network(pool["ip_range"])
    assert dynamic.subnet_of(subnet)  # type: ignore[arg-type]
    fixed = [
        ipaddress.ip_address(_address(service))
        for service in compose_services().values()
        if isinstance(service.get("networks"), dict)
    ]
    assert len(fixed) == len(_cluster_nodes()) + 1  # and nginx
    assert len(set(fixed)) == len(fixed)
    for address in fixed:
        assert address in subnet
        assert address not in dynamic


def test_the_documented_seed_nodes_are_the_profiles_masters() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    urls = set(re.findall(r"STACK_REDIS_URL=(\S+)", text))
    assert urls
    masters = list(_cluster_nodes())[:3]  # `--cluster create` makes the first three masters
    for url in urls:
        target = parse_cluster_url(url)
        assert target is not None, url
        assert list(target.nodes) == [(name, REDIS_PORT) for name in masters]


def test_apps_use_the_single_redis_unless_told_and_wait_for_the_cluster_only_with_it() -> None:
    for name in APP_SERVICES:
        app = compose_services()[name]
        url = interpolation_default(app["environment"]["REDIS_URL"])
        assert parse_cluster_url(url) is None
        assert url.startswith("redis://redis:")
        assert "profiles" not in compose_services()["redis"]
        dependency = app["depends_on"][INIT]
        assert dependency == {"condition": "service_completed_successfully", "required": False}
