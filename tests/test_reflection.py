"""Server reflection on a real server process, used the way an operator does: `buf curl`
without the protos."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .processes import serving

BUF = str(Path(sys.executable).parent / "buf")
REGISTRY = "modelregistry.v1.ModelRegistryService"


def buf_curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BUF, "curl", "--protocol", "grpc", "--http2-prior-knowledge", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_buf_curl_lists_and_calls_methods_through_reflection(tmp_path: Path) -> None:
    with serving("--port", "0", "--database-url", f"sqlite:///{tmp_path}/r.db") as served:
        url = f"http://{served.address}"
        listed = buf_curl("--list-methods", url)
        assert listed.returncode == 0, listed.stderr
        methods = listed.stdout.split()
        assert f"{REGISTRY}/CreateRegisteredModel" in methods
        assert f"{REGISTRY}/SearchModelVersions" in methods
        assert "grpc.health.v1.Health/Check" in methods

        created = buf_curl("-d", '{"name": "by-curl"}', f"{url}/{REGISTRY}/CreateRegisteredModel")
        assert created.returncode == 0, created.stderr
        assert json.loads(created.stdout)["registeredModel"]["name"] == "by-curl"

        health = buf_curl(f"{url}/grpc.health.v1.Health/Check")
        assert json.loads(health.stdout) == {"status": "SERVING"}


def test_reflection_can_be_switched_off(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/r.db"
    with serving("--port", "0", "--database-url", database, "--no-reflection") as served:
        listed = buf_curl("--list-methods", f"http://{served.address}")
    assert listed.returncode != 0
    assert "unimplemented" in listed.stderr
    env = {"REGISTRY_REFLECTION": "false"}
    with serving("--port", "0", "--database-url", database, env=env) as served:
        listed = buf_curl("--list-methods", f"http://{served.address}")
    assert listed.returncode != 0
    assert "unimplemented" in listed.stderr
