"""A Node.js client built at run time from protos/ runs the registry workflow against a real server.

The client is tests/polyglot/node/workflow.js (@grpc/grpc-js and @grpc/proto-loader, installed
with `npm ci` from the committed package-lock.json). Without node or npm the test is skipped with
the reason; REGISTRY_REQUIRE_NODE=1 (set by .ci/run) turns that skip into a failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, NoReturn

import pytest

from registry_service.client import RegistryClient
from registry_service.server import RunningServer

ROOT = Path(__file__).resolve().parents[1]
NODE_DIR = ROOT / "tests" / "polyglot" / "node"
LOCKFILE = NODE_DIR / "package-lock.json"
# Written after a successful `npm ci`: the hash of the lockfile node_modules was installed from.
INSTALLED = NODE_DIR / "node_modules" / ".installed-lock-sha256"
NODE_MAJOR = 20


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("REGISTRY_REQUIRE_NODE") == "1":
        pytest.fail(f"{reason}; REGISTRY_REQUIRE_NODE=1 requires the Node.js client test")
    pytest.skip(f"{reason}: Node.js client test skipped (REGISTRY_REQUIRE_NODE=1 makes it fail)")


@pytest.fixture(scope="session")
def node() -> str:
    """The node executable, with the client's packages installed from the lockfile."""
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        unavailable("node or npm is not on PATH")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    major = int(version.stdout.strip().lstrip("v").split(".")[0])
    if major < NODE_MAJOR:
        unavailable(f"node {version.stdout.strip()} is older than v{NODE_MAJOR}")
    lock_hash = hashlib.sha256(LOCKFILE.read_bytes()).hexdigest()
    if not INSTALLED.exists() or INSTALLED.read_text() != lock_hash:
        subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"],
            cwd=NODE_DIR,
            check=True,
            timeout=300,
        )
        INSTALLED.write_text(lock_hash)
    return node


def run_workflow(node: str, server: RunningServer, name: str) -> dict[str, Any]:
    result = subprocess.run(
        [node, "workflow.js", f"127.0.0.1:{server.port}", name],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"node client failed:\n{result.stderr}"
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_node_client_runs_the_registry_workflow(
    node: str, googleapis_module: Path, server: RunningServer, client: RegistryClient
) -> None:
    seen = run_workflow(node, server, "fraud-detector")

    assert seen["model"]["name"] == "fraud-detector"
    assert seen["model"]["tags"] == {"team": "risk", "client": "node"}
    # int64 fields arrive as decimal strings (proto-loader's longs: String).
    assert [(v["version"], v["source"]) for v in seen["versions"]] == [
        ("1", "runs:/0a1b2c3d/model"),
        ("2", "s3://models/fraud/2"),
    ]
    assert seen["versions"][0]["run_id"] == "0a1b2c3d"
    assert seen["versions"][0]["status"] == "MODEL_VERSION_STATUS_READY"
    assert seen["transitioned"]["current_stage"] == "Production"
    assert [(v["version"], v["current_stage"]) for v in seen["latest_production"]] == [
        ("2", "Production")
    ]
    assert seen["champion"]["version"] == "2"
    assert seen["champion"]["aliases"] == ["champion"]
    error = seen["error"]
    assert (error["code"], error["code_name"], error["status_code"]) == (5, "NOT_FOUND", 5)
    assert "99" in error["message"] and error["status_message"] == error["message"]
    assert error["reason"] == "RESOURCE_DOES_NOT_EXIST"
    assert error["domain"] == "modelregistry.v1"
    assert error["metadata"] == {"field": "version"}

    # What the Node client did is what the registry now holds.
    model = client.get_registered_model("fraud-detector")
    assert dict(model.aliases) == {"champion": 2}
    assert [(v.version, v.current_stage) for v in model.latest_versions] == [
        (1, "None"),
        (2, "Production"),
    ]
