"""Running the `registry` CLI in-process against a real server, as the operator tests do."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner, Result

from registry_service.operator.commands import main
from registry_service.server import RunningServer


def run(server: RunningServer, *args: str, env: dict[str, str] | None = None) -> Result:
    """`registry --target <server> ARGS`, with stdout and stderr apart."""
    runner = CliRunner(env=env)
    return runner.invoke(
        main, ["--target", f"127.0.0.1:{server.port}", *args], catch_exceptions=False
    )


def ok(server: RunningServer, *args: str) -> Result:
    result = run(server, *args)
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def ok_json(server: RunningServer, *args: str) -> Any:
    return json.loads(ok(server, "--json", *args).stdout)
