"""`registry-service health`, the image's HEALTHCHECK: a real server answers it; its exit status
is 0 only for SERVING, and what it prints says why not."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from .processes import CLI, PATIENCE_S, TcpProxy, free_port, proxied, serving

REGISTRY_SERVICE = "modelregistry.v1.ModelRegistryService"


def health(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "health", *args], capture_output=True, text=True, timeout=60, env=env
    )


def test_health_exits_0_for_a_serving_server_and_its_registry_service(tmp_path: Path) -> None:
    with serving("--port", "0", "--database-url", f"sqlite:///{tmp_path}/r.db") as served:
        overall = health("--target", served.address)
        registry = health("--target", served.address, "--service", REGISTRY_SERVICE)
    assert overall.returncode == 0, overall.stderr
    assert overall.stdout == f"{served.address} (server): SERVING\n"
    assert registry.returncode == 0, registry.stderr
    assert registry.stdout == f"{served.address} ({REGISTRY_SERVICE}): SERVING\n"


def test_health_finds_the_server_from_registry_port_when_it_listens_on_every_interface(
    tmp_path: Path,
) -> None:
    # As in the image: REGISTRY_HOST=0.0.0.0, and the HEALTHCHECK passes no --target.
    env = {"REGISTRY_HOST": "0.0.0.0", "REGISTRY_PORT": str(free_port())}
    with serving("--database-url", f"sqlite:///{tmp_path}/r.db", env=env):
        result = health(env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"localhost:{env['REGISTRY_PORT']} (server): SERVING\n"


def test_health_exits_1_naming_the_code_for_an_unknown_service(tmp_path: Path) -> None:
    with serving("--port", "0", "--database-url", f"sqlite:///{tmp_path}/r.db") as served:
        result = health("--target", served.address, "--service", "no.such.Service")
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"{served.address} (no.such.Service): NOT_FOUND" in result.stderr


def test_health_exits_1_when_nothing_listens() -> None:
    target = f"127.0.0.1:{free_port()}"
    result = health("--target", target, "--timeout", "2")
    assert result.returncode == 1
    assert f"{target} (server): UNAVAILABLE" in result.stderr


def test_health_exits_1_for_not_serving_while_the_database_is_down(postgres_url: str) -> None:
    database = make_url(postgres_url)
    proxy = TcpProxy((database.host or "127.0.0.1", database.port or 5432))
    url = proxied(postgres_url, proxy)
    with serving("--port", "0", "--database-url", url, "--health-check-interval", "0.2") as served:
        assert health("--target", served.address).returncode == 0
        proxy.down()
        deadline = time.monotonic() + PATIENCE_S
        while (result := health("--target", served.address)).returncode == 0:
            assert time.monotonic() < deadline, "health never turned NOT_SERVING"
            time.sleep(0.2)
        proxy.up()
    assert result.returncode == 1
    assert result.stderr == f"{served.address} (server): NOT_SERVING\n"
