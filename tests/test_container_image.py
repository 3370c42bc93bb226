"""The container image, built here and run as an operator runs it: on SQLite in a volume, and on
PostgreSQL after a one-off migration container, drained by SIGTERM.

The image is built by deploy/image.py, as `make image` builds it, or reused when nothing it is
made of changed. Without podman (and mmdebstrap, which makes the local base) these tests are
skipped with the reason; REGISTRY_REQUIRE_CONTAINER=1 (set by .ci/run) makes that a failure.
The containers share the host's network and listen on free ports: every call goes to loopback.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import Any, NoReturn

import grpc
import pytest
import sqlalchemy
from grpc_health.v1 import health_pb2, health_pb2_grpc
from modelregistry.v1 import registry_service_pb2 as pb
from modelregistry.v1 import registry_service_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from registry_service.client import RegistryClient
from registry_service.store import schema
from registry_service.store.engine import make_engine

from .conftest import POSTGRES_URL, SKIP_POSTGRES
from .processes import PATIENCE_S, ROOT, free_port, writes_blocked
from .test_cli import OLDER_REVISION, readme_quickstart

REPORT = ROOT / "tests" / "artifacts" / "container-image.json"
REGISTRY_SERVICE = "modelregistry.v1.ModelRegistryService"
# The image's user (Containerfile): fixed and numeric, for Kubernetes' runAsNonRoot.
USER_ID = 10001
IN_FLIGHT = 4
GRACE_S = 20
# The first build on a machine makes the base with mmdebstrap (about a minute, more on a slow
# mirror) before the first test that needs the image starts.
pytestmark = pytest.mark.timeout(900)


def load_builder() -> ModuleType:
    """deploy/image.py, the build that `make image` runs (a script, not a package module)."""
    spec = importlib.util.spec_from_file_location("deploy_image", ROOT / "deploy" / "image.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


builder = load_builder()


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("REGISTRY_REQUIRE_CONTAINER") == "1":
        pytest.fail(f"{reason}; REGISTRY_REQUIRE_CONTAINER=1 requires the image's smoke test")
    pytest.skip(f"{reason}: image smoke test skipped (REGISTRY_REQUIRE_CONTAINER=1 makes it fail)")


@pytest.fixture(scope="module")
def built() -> Any:
    """The build's report (deploy/image.py's Report): the image's tag, its size, what ran."""
    for tool, why in (("podman", "podman is not installed"), ("mmdebstrap", "no mmdebstrap")):
        if shutil.which(tool) is None:
            unavailable(f"{why} (apt-get install podman runc mmdebstrap)")
    report = builder.build()
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(asdict(report), indent=2) + "\n")
    return report


@pytest.fixture(scope="module")
def image(built: Any) -> str:
    tag: str = built.image
    return tag


@dataclass
class Ports:
    grpc: int
    http: int
    metrics: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc}"

    @property
    def environment(self) -> list[str]:
        return [
            *("--env", f"REGISTRY_PORT={self.grpc}"),
            *("--env", f"REGISTRY_HTTP_PORT={self.http}"),
            *("--env", f"REGISTRY_METRICS_PORT={self.metrics}"),
        ]


def podman(
    *args: str, check: bool = True, timeout: float = PATIENCE_S * 4
) -> subprocess.CompletedProcess[str]:
    result: subprocess.CompletedProcess[str] = builder.podman(*args, check=False, timeout=timeout)
    assert not check or result.returncode == 0, f"podman {' '.join(args)}:\n{result.stderr}"
    return result


def run_options() -> list[str]:
    # The HEALTHCHECK's timer needs systemd, which this machine's podman cannot reach; the
    # tests run the check themselves with `podman healthcheck run`.
    return [*builder.ulimits(), "--network", "host", "--health-interval", "disable"]


@contextmanager
def container(image: str, *command: str, options: tuple[str, ...] = ()) -> Iterator[str]:
    """A detached container of ``image``; yields its name and removes it at the end."""
    name = f"registry-smoke-{uuid.uuid4().hex[:8]}"
    podman("run", "--detach", "--name", name, *run_options(), *options, image, *command)
    try:
        yield name
    finally:
        # --volumes: the anonymous volume the image's VOLUME gives a container without one.
        podman("rm", "--force", "--volumes", "--time", "0", name, check=False)


def one_off(
    image: str, *command: str, options: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in a foreground container and remove it, even when podman's wait times
    out: a container left behind on the host's network would hold its ports for later tests."""
    name = f"registry-one-off-{uuid.uuid4().hex[:8]}"
    try:
        return podman("run", "--name", name, *run_options(), *options, image, *command, check=False)
    finally:
        podman("rm", "--force", "--volumes", "--time", "0", name, check=False)


def logs(name: str) -> str:
    result = podman("logs", name, check=False)
    return result.stdout + result.stderr


def exit_code(name: str) -> int:
    return int(podman("wait", name).stdout.strip())


def wait_until_serving(name: str, ports: Ports) -> None:
    deadline = time.monotonic() + PATIENCE_S
    with grpc.insecure_channel(ports.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            state = podman("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
            assert state == "running", f"{name} is {state}:\n{logs(name)}"
            try:
                response = stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if response.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            assert time.monotonic() < deadline, f"{name} never served:\n{logs(name)}"
            time.sleep(0.2)


def metric(ports: Ports, name: str, **labels: str) -> float:
    url = f"http://127.0.0.1:{ports.metrics}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def new_ports() -> Ports:
    return Ports(grpc=free_port(), http=free_port(), metrics=free_port())


@pytest.fixture
def volume() -> Iterator[str]:
    name = f"registry-smoke-{uuid.uuid4().hex[:8]}"
    podman("volume", "create", name)
    yield name
    podman("volume", "rm", "--force", name, check=False)


@pytest.fixture
def scratch_postgres() -> Iterator[str]:
    """An empty database on the host's PostgreSQL, dropped at the end."""
    if not POSTGRES_URL:
        pytest.skip(SKIP_POSTGRES)
    admin = sqlalchemy.create_engine(
        make_url(POSTGRES_URL).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    name = f"registry_image_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def test_build_context_is_what_the_build_hashes() -> None:
    """.dockerignore lets through exactly what deploy/image.py hashes to name the image, and
    the wheelhouse: a file the image is made of can never change without a rebuild."""
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = {line[1:] for line in lines if line.startswith("!")}
    assert allowed == {*builder.CONTEXT, "wheelhouse"}
    assert "*" in lines


def test_image_is_reported_with_its_size_and_runs_as_a_fixed_non_root_user(
    built: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    [inspected] = json.loads(podman("image", "inspect", built.image).stdout)
    assert inspected["Config"]["User"] == f"{USER_ID}:{USER_ID}"
    assert {"50051/tcp", "5000/tcp", "9464/tcp"} <= set(inspected["Config"]["ExposedPorts"])
    assert inspected["Healthcheck"]["Test"][:3] == ["CMD", "registry-service", "health"]
    assert json.loads(REPORT.read_text())["size_bytes"] == built.size_bytes > 0
    with capsys.disabled():
        print(
            f"\nimage {built.image}: {built.size_bytes / 1e6:.0f} MB; built {built.built}, "
            f"seconds {built.seconds} (written to {REPORT.relative_to(ROOT)})"
        )


def test_sqlite_in_a_volume_serves_the_readme_quickstart_and_outlives_the_container(
    image: str, volume: str
) -> None:
    ports = new_ports()
    with container(image, options=("--volume", f"{volume}:/data", *ports.environment)) as name:
        wait_until_serving(name, ports)
        assert podman("healthcheck", "run", name, check=False).returncode == 0, logs(name)
        registry_health = podman(
            "exec", name, "registry-service", "health", "--service", REGISTRY_SERVICE
        )
        assert registry_health.stdout.endswith(f"({REGISTRY_SERVICE}): SERVING\n")
        # The server itself, PID 1, runs as the image's user, and owns the database it made.
        status = podman("exec", name, "cat", "/proc/1/status").stdout
        assert re.search(rf"^Uid:\s+{USER_ID}\s", status, re.MULTILINE), status
        listing = podman("exec", name, "ls", "-ln", "/data/registry.db").stdout
        assert listing.split()[2:4] == [str(USER_ID), str(USER_ID)], listing

        quickstart = readme_quickstart().replace("127.0.0.1:50051", ports.address)
        result = subprocess.run(
            [sys.executable, "-c", quickstart], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert "registered fraud-detector version 1" in result.stdout
        # The other two ports: MLflow's REST API and Prometheus.
        url = f"http://127.0.0.1:{ports.http}/api/2.0/mlflow/registered-models/get"
        with urllib.request.urlopen(f"{url}?name=fraud-detector", timeout=10) as response:
            assert json.load(response)["registered_model"]["description"] == "Flags card fraud"
        created = metric(
            ports, "grpc_server_handled_total", grpc_method="CreateModelVersion", grpc_code="OK"
        )
        assert created >= 1

        podman("stop", "--time", str(GRACE_S), name)
        assert exit_code(name) == 0, logs(name)
        assert '"message": "stopped"' in logs(name)

    ports = new_ports()
    with (
        container(image, options=("--volume", f"{volume}:/data", *ports.environment)) as name,
        RegistryClient(ports.address) as client,
    ):
        wait_until_serving(name, ports)
        assert client.get_registered_model("fraud-detector").description == "Flags card fraud"
        champion = client.get_model_version_by_alias("fraud-detector", "champion")
        assert (champion.version, champion.current_stage) == (1, "Production")


def test_postgres_is_migrated_by_a_one_off_container_then_served_and_drained_by_sigterm(
    image: str, scratch_postgres: str
) -> None:
    database = ("--env", f"REGISTRY_DATABASE_URL={scratch_postgres}")
    engine = make_engine(scratch_postgres)
    try:
        schema.upgrade(engine, OLDER_REVISION)
    finally:
        engine.dispose()

    # Replicas never migrate a schema an older release made: the new schema is the release's
    # first step. (An empty database they create themselves, as test_cli shows.)
    refused = one_off(image, "serve", options=database)
    assert refused.returncode == 2, refused.stderr
    assert "registry-service db upgrade" in refused.stderr
    migrated = one_off(image, "db", "upgrade", options=database)
    assert migrated.returncode == 0, migrated.stderr
    assert "is at revision" in migrated.stdout

    ports = new_ports()
    serve = ("serve", "--grace", str(GRACE_S), "--database-timeout", str(PATIENCE_S * 2))
    with container(image, *serve, options=(*database, *ports.environment)) as name:
        wait_until_serving(name, ports)
        channel = grpc.insecure_channel(ports.address)
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(), timeout=PATIENCE_S * 2
        )
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING

        with writes_blocked(scratch_postgres):
            in_flight = [
                stub.CreateRegisteredModel.future(
                    pb.CreateRegisteredModelRequest(name=f"m{i}"), timeout=PATIENCE_S * 2
                )
                for i in range(IN_FLIGHT)
            ]
            deadline = time.monotonic() + PATIENCE_S
            started = "grpc_server_started_total"
            while metric(ports, started, grpc_method="CreateRegisteredModel") < IN_FLIGHT:
                assert time.monotonic() < deadline, logs(name)
                time.sleep(0.05)
            podman("kill", "--signal", "TERM", name)
            assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
            watch.cancel()
            assert not any(call.done() for call in in_flight)

        names = sorted(call.result().registered_model.name for call in in_flight)
        assert names == [f"m{i}" for i in range(IN_FLIGHT)]
        assert exit_code(name) == 0, logs(name)
        channel.close()
        assert '"message": "stopped"' in logs(name)
