"""The operator docs say what the code does: every setting is documented with its flag,
variable and default, and the operations guide's commands work on a served registry."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

from registry_service.config import Settings, env_name, flag_name, shown

from .processes import ROOT, serving


def test_deploy_guide_lists_every_setting_with_flag_variable_and_default() -> None:
    rows = [
        line
        for line in (ROOT / "docs" / "deploy.md").read_text().splitlines()
        if line.startswith("| `--")
    ]
    for setting in fields(Settings):
        [row] = [row for row in rows if row.startswith(f"| `{flag_name(setting)}`")]
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[1] == f"`{env_name(setting)}`", row
        default = shown(setting.default)
        assert cells[2] == (default if setting.default is None else f"`{default}`"), row
    assert len(rows) == len(fields(Settings))


def test_operations_guide_commands_work_on_a_served_registry(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "operations.md").read_text()
    match = re.search(r"<!-- operations -->\s*```sh\n(.*?)```", text, re.DOTALL)
    assert match, "docs/operations.md has no operations block"
    script = match.group(1)
    assert "127.0.0.1:50051" in script and "127.0.0.1:9464" in script
    database = f"sqlite:///{tmp_path}/r.db"
    with serving("--port", "0", "--database-url", database, "--metrics-port", "0") as served:
        script = (
            script.replace("127.0.0.1:50051", served.address)
            .replace("127.0.0.1:9464", f"127.0.0.1:{served.metrics_port}")
            .replace(".venv/bin/", f"{Path(sys.executable).parent}/")
        )
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=120
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count('"status": "SERVING"') == 2
    assert "modelregistry.v1.ModelRegistryService/SearchRegisteredModels" in result.stdout
    assert 'grpc_server_handled_total{grpc_code="OK",grpc_method="Check"' in result.stdout
