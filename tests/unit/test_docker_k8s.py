"""docker/k8s/, read statically (no cluster needed): the kustomization lists every manifest, and
the Deployment, Service, HPA, PDB, Ingress, ConfigMap and Secret refer to one another (names,
labels, ports) and to the server (probes, variables, shutdown deadline, image user)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from settings import Settings
from tests.unit.docker_files import (
    K8S_DIR,
    dockerfile_instructions,
    load_yaml,
    load_yaml_documents,
    settings_variables,
    shutdown_timeout,
)

MANIFESTS = sorted(path for path in K8S_DIR.glob("*.yaml") if path.name != "kustomization.yaml")


@cache
def _objects() -> dict[str, dict[str, Any]]:
    """Every object by kind (one of each kind here)."""
    objects = {}
    for path in MANIFESTS:
        for document in load_yaml_documents(path):
            assert document["kind"] not in objects, f"a second {document['kind']} in {path.name}"
            objects[document["kind"]] = document
    return objects


def _deployment() -> dict[str, Any]:
    return _objects()["Deployment"]


def _container() -> dict[str, Any]:
    (container,) = _deployment()["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _pod_labels() -> dict[str, str]:
    labels: dict[str, str] = _deployment()["spec"]["template"]["metadata"]["labels"]
    return labels


def _selects_pods(selector: dict[str, str]) -> bool:
    return bool(selector) and selector.items() <= _pod_labels().items()


def _port_matches(reference: str | int, container: dict[str, Any]) -> bool:
    return any(
        reference in (port.get("name"), port["containerPort"]) for port in container["ports"]
    )


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_every_manifest_is_a_named_object(path: Path) -> None:
    for document in load_yaml_documents(path):
        assert document["apiVersion"]
        assert document["kind"]
        assert document["metadata"]["name"]


def test_kustomization_lists_exactly_the_manifests() -> None:
    resources = load_yaml(K8S_DIR / "kustomization.yaml")["resources"]
    assert sorted(resources) == sorted(path.name for path in MANIFESTS)
    assert len(resources) == len(set(resources))


def test_deployment_runs_three_non_root_replicas_of_the_image_user() -> None:
    spec = _deployment()["spec"]
    assert spec["replicas"] == 3
    assert _selects_pods(spec["selector"]["matchLabels"])
    security = spec["template"]["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True
    image_user = [arguments for name, arguments in dockerfile_instructions() if name == "USER"]
    assert str(security["runAsUser"]) == image_user[-1].split(":")[0]
    assert _container()["securityContext"]["allowPrivilegeEscalation"] is False
    assert _container()["resources"]["requests"]["cpu"]


def test_probes_ask_the_server_for_liveness_and_readiness() -> None:
    container = _container()
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert _port_matches(container[probe]["httpGet"]["port"], container), probe


def test_termination_outlasts_pre_stop_and_graceful_shutdown() -> None:
    pre_stop = _container()["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    deadline = shutdown_timeout(_objects()["ConfigMap"]["data"])
    grace = _deployment()["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > int(pre_stop[1]) + deadline


def test_environment_comes_from_the_config_map_and_secret_of_known_variables() -> None:
    sources = _container()["envFrom"]
    assert {source["configMapRef"]["name"] for source in sources if "configMapRef" in source} == {
        _objects()["ConfigMap"]["metadata"]["name"]
    }
    assert {source["secretRef"]["name"] for source in sources if "secretRef" in source} == {
        _objects()["Secret"]["metadata"]["name"]
    }
    config = _objects()["ConfigMap"]["data"]
    secret = _objects()["Secret"]["stringData"]
    assert set(config) | set(secret) <= settings_variables()
    assert not set(config) & set(secret)
    assert config["TASKQL_ENV"] == "production"


def test_secret_holds_placeholders_that_the_server_refuses() -> None:
    secret = _objects()["Secret"]
    assert "data" not in secret
    for name, value in secret["stringData"].items():
        assert value == "" or "CHANGE-ME" in value, name
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        Settings(jwt_secret=secret["stringData"]["JWT_SECRET"])


def test_service_routes_to_the_container_port() -> None:
    service = _objects()["Service"]
    assert _selects_pods(service["spec"]["selector"])
    for port in service["spec"]["ports"]:
        assert _port_matches(port["targetPort"], _container())


def test_autoscaler_and_disruption_budget_target_the_deployment() -> None:
    autoscaler = _objects()["HorizontalPodAutoscaler"]
    assert autoscaler["apiVersion"] == "autoscaling/v2"
    target = autoscaler["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", _deployment()["metadata"]["name"])
    assert autoscaler["spec"]["minReplicas"] <= _deployment()["spec"]["replicas"]
    assert [metric["resource"]["name"] for metric in autoscaler["spec"]["metrics"]] == ["cpu"]
    budget = _objects()["PodDisruptionBudget"]
    assert _selects_pods(budget["spec"]["selector"]["matchLabels"])


def test_ingress_sends_graphql_to_the_service_with_websocket_timeouts() -> None:
    ingress = _objects()["Ingress"]
    service = _objects()["Service"]
    port_names = {port.get("name") for port in service["spec"]["ports"]}
    port_numbers = {port["port"] for port in service["spec"]["ports"]}
    paths = [path for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]]
    assert [path["path"] for path in paths] == ["/graphql"]
    for path in paths:
        backend = path["backend"]["service"]
        assert backend["name"] == service["metadata"]["name"]
        assert backend["port"].get("name") in port_names or backend["port"].get("number") in (
            port_numbers
        )
    annotations = ingress["metadata"]["annotations"]
    for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(annotations[f"nginx.ingress.kubernetes.io/{timeout}"]) >= 3600
    assert "nginx.ingress.kubernetes.io/proxy-body-size" in annotations
