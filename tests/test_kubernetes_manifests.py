"""deploy/kubernetes: valid against Kubernetes' own schemas (offline, kubernetes-validate), clean
under yamllint, and in step with the server: every setting, flag and port it names exists, and
the drain, the probes and the selectors fit together."""

from __future__ import annotations

import re
import subprocess
from dataclasses import fields
from typing import Any

import kubernetes_validate
import pytest
import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

from registry_service.config import Settings, env_name
from registry_service.server import REGISTRY_SERVICE

from .processes import CLI, ROOT

MANIFESTS = ROOT / "deploy" / "kubernetes"
# The oldest Kubernetes they are for: the preStop sleep action is on by default from 1.30.
OLDEST = "1.30.0"
# The image's user (Containerfile).
IMAGE_USER = 10001

Resource = dict[str, Any]


def kustomized() -> list[Resource]:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    return [
        document
        for name in kustomization["resources"]
        for document in yaml.safe_load_all((MANIFESTS / name).read_text())
    ]


RESOURCES = kustomized()


def the(kind: str, name: str = "registry-service") -> Resource:
    [found] = [r for r in RESOURCES if r["kind"] == kind and r["metadata"]["name"] == name]
    return found


def pod_specs() -> list[Resource]:
    """The Deployment's pods and the migration Job's."""
    job = the("Job", "registry-service-migrate")
    return [the("Deployment")["spec"]["template"]["spec"], job["spec"]["template"]["spec"]]


def environment(container: Resource) -> dict[str, str]:
    """The variables ``container`` gets: its env and the ConfigMaps and Secrets it takes whole."""
    variables: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            variables |= the("ConfigMap", source["configMapRef"]["name"])["data"]
        else:
            variables |= the("Secret", source["secretRef"]["name"])["stringData"]
    for variable in container.get("env", []):
        variables[variable["name"]] = variable.get("value", "")
    return variables


def test_kustomization_lists_every_manifest_in_the_folder() -> None:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    files = {path.name for path in MANIFESTS.glob("[!.]*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)
    # The image the pods run is set in one place, kustomization.yaml.
    [image] = kustomization["images"]
    images = {container["image"] for spec in pod_specs() for container in spec["containers"]}
    assert images == {image["name"]}


@pytest.mark.parametrize("version", [OLDEST, kubernetes_validate.latest_version()])
def test_manifests_are_valid_kubernetes_resources_with_no_unknown_fields(version: str) -> None:
    for resource in RESOURCES:
        kubernetes_validate.validate(resource, version, strict=True)


def test_manifests_pass_yamllint() -> None:
    config = YamlLintConfig(file=str(MANIFESTS / ".yamllint.yaml"))
    problems = [
        f"{path.name}:{problem.line}: {problem.message}"
        for path in sorted(MANIFESTS.glob("*.yaml"))
        for problem in linter.run(path.read_text(), config, str(path))
    ]
    assert problems == []


def test_every_variable_the_manifests_set_is_a_setting_and_its_value_parses() -> None:
    settings = {env_name(setting) for setting in fields(Settings)}
    for spec in pod_specs():
        for container in spec["containers"]:
            variables = environment(container)
            assert set(variables) <= settings, container["name"]
            Settings.from_environment(variables)


def test_every_flag_the_manifests_pass_is_one_of_their_command() -> None:
    for spec in pod_specs():
        for container in spec["containers"]:
            args = container["args"]
            command = [word for word in args if not word.startswith("-")]
            usage = subprocess.run(
                [*CLI, *command, "--help"], capture_output=True, text=True, check=True
            ).stdout
            known = set(re.findall(r"--[a-z][a-z-]*", usage))
            assert {word for word in args if word.startswith("--")} <= known, args


def test_probes_ask_the_health_service_on_the_grpc_port_the_server_listens_on() -> None:
    [container] = the("Deployment")["spec"]["template"]["spec"]["containers"]
    port = int(environment(container)["REGISTRY_PORT"])
    assert {"name": "grpc", "containerPort": port} in container["ports"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"]["port"] == port, probe
    # Out of the endpoints while the registry cannot serve; restarted only when the server
    # itself does not answer for longer than readiness takes to notice.
    assert container["readinessProbe"]["grpc"]["service"] == REGISTRY_SERVICE
    readiness, liveness = container["readinessProbe"], container["livenessProbe"]
    assert (
        liveness["periodSeconds"] * liveness["failureThreshold"]
        > readiness["periodSeconds"] * readiness["failureThreshold"]
    )


def test_ports_of_the_container_are_the_settings_and_the_services_and_policy_name_them() -> None:
    [container] = the("Deployment")["spec"]["template"]["spec"]["containers"]
    variables = environment(container)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {
        "grpc": int(variables["REGISTRY_PORT"]),
        "http": int(variables["REGISTRY_HTTP_PORT"]),
        "metrics": int(variables["REGISTRY_METRICS_PORT"]),
    }
    for service in (the("Service"), the("Service", "registry-service-headless")):
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports
            assert port["port"] == ports[port["targetPort"]]
            assert port["appProtocol"] == ("grpc" if port["name"] == "grpc" else "http")
    policy = the("NetworkPolicy")["spec"]
    named = {port["port"] for rule in policy["ingress"] for port in rule["ports"]}
    assert named == set(ports)


def test_termination_grace_covers_the_pre_stop_pause_and_the_servers_grace() -> None:
    spec = the("Deployment")["spec"]["template"]["spec"]
    [container] = spec["containers"]
    pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    grace = float(environment(container)["REGISTRY_GRACE"])
    assert spec["terminationGracePeriodSeconds"] > pause + grace


def test_pods_run_as_the_images_user_unprivileged_on_a_read_only_root() -> None:
    for spec in pod_specs():
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == IMAGE_USER
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert "memory" in container["resources"]["limits"]


def test_every_selector_selects_the_deployments_pods_and_only_the_servers() -> None:
    deployment = the("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    job_labels = the("Job", "registry-service-migrate")["spec"]["template"]["metadata"]["labels"]
    selectors = [
        deployment["spec"]["selector"]["matchLabels"],
        the("Service")["spec"]["selector"],
        the("Service", "registry-service-headless")["spec"]["selector"],
        the("PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
    ]
    for selector in selectors:
        assert selector.items() <= labels.items()
        assert not selector.items() <= job_labels.items()
    # The policy covers the migration Job too: it reaches the database through it.
    policy = the("NetworkPolicy")["spec"]["podSelector"]["matchLabels"]
    assert policy.items() <= labels.items() and policy.items() <= job_labels.items()
    target = the("HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
