"""The `registry` CLI against a real server on both backends: what an operator reads on stdout and
stderr, and the exit codes scripts branch on (0 ok, 1 refused by the registry, 2 usage)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from registry_service.client import RegistryClient
from registry_service.operator.commands import main
from registry_service.server import RunningServer

from .operator_cli import ok, ok_json, run

REGISTRY = Path(sys.executable).with_name("registry")


def seed(client: RegistryClient) -> None:
    """fraud: v1 Production aliased champion, v2 None; churn with no versions."""
    client.create_registered_model("fraud", tags={"team": "risk"}, description="detects fraud")
    client.create_model_version("fraud", "runs:/r1/model", tags={"auc": "0.91"})
    client.create_model_version("fraud", "s3://bucket/fraud/2")
    client.transition_model_version_stage("fraud", 1, "Production")
    client.set_registered_model_alias("fraud", "champion", 1)
    client.create_registered_model("churn")


# -- models -------------------------------------------------------------------------------------


def test_models_create_shows_the_model(server: RunningServer, client: RegistryClient) -> None:
    result = ok(server, "models", "create", "fraud", "--description", "first", "--tag", "team=risk")

    assert "name:            fraud" in result.stdout
    assert "team=risk" in result.stdout
    assert client.get_registered_model("fraud").tags == {"team": "risk"}


def test_models_list_is_a_table_and_json(server: RunningServer, client: RegistryClient) -> None:
    seed(client)

    lines = ok(server, "models", "list").stdout.splitlines()
    assert lines[0].split() == ["NAME", "LATEST", "VERSIONS", "ALIASES", "UPDATED", "DESCRIPTION"]
    assert lines[1].startswith("churn")
    assert lines[2].startswith("fraud ") and "2 (None), 1 (Production)" in lines[2]
    assert "champion=1" in lines[2] and "detects fraud" in lines[2]

    listed = ok_json(server, "models", "list", "--filter", "tag.team = 'risk'")
    assert [m["name"] for m in listed] == ["fraud"]
    assert listed[0]["aliases"] == {"champion": 1}
    assert listed[0]["tags"] == {"team": "risk"}
    assert [v["version"] for v in listed[0]["latest_versions"]] == [2, 1]


def test_models_get_rename_delete(server: RunningServer, client: RegistryClient) -> None:
    seed(client)

    got = ok_json(server, "models", "get", "fraud")
    assert (got["name"], got["description"], got["aliases"]) == (
        "fraud",
        "detects fraud",
        {"champion": 1},
    )
    renamed = ok_json(server, "models", "rename", "fraud", "fraud-v2")
    assert renamed["name"] == "fraud-v2"
    assert client.get_model_version_by_alias("fraud-v2", "champion").version == 1

    result = ok(server, "models", "delete", "fraud-v2")
    assert result.stdout.strip() == "deleted registered model 'fraud-v2'"
    assert [m.name for m in client.search_registered_models()] == ["churn"]


# -- versions -----------------------------------------------------------------------------------


def test_versions_create_list_get_transition_delete(
    server: RunningServer, client: RegistryClient
) -> None:
    seed(client)

    created = ok_json(
        server, "versions", "create", "fraud", "runs:/r3/model", "--run-link", "https://t/r3",
        "--description", "third", "--tag", "auc=0.95", "--tag", "data=2024",
    )  # fmt: skip
    assert (created["version"], created["run_id"], created["current_stage"]) == (3, "r3", "None")
    assert created["tags"] == {"auc": "0.95", "data": "2024"}

    table = ok(server, "versions", "list", "fraud").stdout.splitlines()
    assert [line.split()[1] for line in table[1:]] == ["3", "2", "1"]
    assert "champion" in table[3]

    moved = ok_json(
        server, "versions", "transition", "fraud", "3", "production", "--archive-existing-versions"
    )
    assert moved["current_stage"] == "Production"
    assert client.get_model_version("fraud", 1).current_stage == "Archived"

    shown = ok(server, "versions", "get", "fraud", "3").stdout
    assert "stage:         Production" in shown
    assert "run link:      https://t/r3" in shown

    ok(server, "versions", "delete", "fraud", "2")
    assert [v.version for v in client.search_model_versions("name = 'fraud'")] == [3, 1]


# -- aliases, tags, search ----------------------------------------------------------------------


def test_aliases_set_and_delete(server: RunningServer, client: RegistryClient) -> None:
    seed(client)

    assert ok(server, "aliases", "set", "fraud", "challenger", "2").stdout.strip() == (
        "fraud@challenger -> version 2"
    )
    assert client.get_model_version_by_alias("fraud", "challenger").version == 2
    ok(server, "aliases", "delete", "fraud", "challenger")
    assert dict(client.get_registered_model("fraud").aliases) == {"champion": 1}


def test_tags_on_models_and_versions(server: RunningServer, client: RegistryClient) -> None:
    seed(client)

    ok(server, "tags", "set", "fraud", "owner", "ana")
    ok(server, "tags", "set", "fraud", "validated", "yes", "--version", "2")
    assert client.get_registered_model("fraud").tags == {"team": "risk", "owner": "ana"}
    assert client.get_model_version("fraud", 2).tags == {"validated": "yes"}

    ok(server, "tags", "delete", "fraud", "team")
    ok(server, "tags", "delete", "fraud", "validated", "--version", "2")
    assert client.get_registered_model("fraud").tags == {"owner": "ana"}
    assert client.get_model_version("fraud", 2).tags == {}


def test_search_models_and_versions(server: RunningServer, client: RegistryClient) -> None:
    seed(client)

    assert [m["name"] for m in ok_json(server, "search", "name LIKE 'f%'")] == ["fraud"]
    found = ok_json(server, "search", "--versions", "tag.auc = '0.91'")
    assert [(v["name"], v["version"], v["aliases"]) for v in found] == [("fraud", 1, ["champion"])]
    assert ok(server, "search", "--versions", "run_id = 'nobody'").stdout.strip() == (
        "no model versions"
    )


# -- failures: exit codes and messages ----------------------------------------------------------


def test_not_found_exits_1_naming_the_field(server: RunningServer, client: RegistryClient) -> None:
    seed(client)

    for args, field in [
        (["models", "get", "ghost"], "name"),
        (["versions", "get", "fraud", "9"], "version"),
        (["versions", "list", "ghost"], "name"),
        (["aliases", "set", "fraud", "shadow", "9"], "version"),
    ]:
        result = run(server, *args)
        assert result.exit_code == 1, args
        assert result.stdout == ""
        assert result.stderr.startswith(f"Error: {field}: "), result.stderr
        assert "[NOT_FOUND]" in result.stderr


def test_invalid_and_existing_exit_1_naming_the_field(
    server: RunningServer, client: RegistryClient
) -> None:
    seed(client)

    stage = run(server, "versions", "transition", "fraud", "1", "Prod")
    assert stage.exit_code == 1
    assert stage.stderr.startswith("Error: stage 'Prod' is not a stage")
    assert "[INVALID_ARGUMENT]" in stage.stderr

    taken = run(server, "models", "create", "fraud")
    assert taken.exit_code == 1
    assert taken.stderr == "Error: name: registered model 'fraud' already exists [ALREADY_EXISTS]\n"

    bad_filter = run(server, "search", "name = ")
    assert bad_filter.exit_code == 1
    assert bad_filter.stderr.startswith("Error: filter: ")


def test_usage_errors_exit_2(server: RunningServer) -> None:
    assert run(server, "versions", "get", "fraud", "two").exit_code == 2
    assert run(server, "models", "get").exit_code == 2
    assert run(server, "models", "create", "m", "--tag", "no-equals-sign").exit_code == 2
    assert run(server, "import", "/no/such/file.tar.gz").exit_code == 2
    assert run(server, "frobnicate").exit_code == 2


def test_unreachable_server_exits_1(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = CliRunner().invoke(main, ["--target", f"127.0.0.1:{port}", "models", "list"])
    assert result.exit_code == 1
    assert "[UNAVAILABLE]" in result.stderr


def test_target_comes_from_registry_target(server: RunningServer, client: RegistryClient) -> None:
    seed(client)
    env = {"REGISTRY_TARGET": f"127.0.0.1:{server.port}"}
    result = CliRunner(env=env).invoke(main, ["--json", "models", "get", "churn"])
    assert result.exit_code == 0, result.stderr
    assert '"name": "churn"' in result.stdout


def test_console_script_exit_codes(server: RunningServer, client: RegistryClient) -> None:
    seed(client)
    target = ["--target", f"127.0.0.1:{server.port}"]

    found = subprocess.run(
        [REGISTRY, *target, "models", "get", "fraud"], capture_output=True, text=True
    )
    missing = subprocess.run(
        [REGISTRY, *target, "models", "get", "ghost"], capture_output=True, text=True
    )
    usage = subprocess.run([REGISTRY, *target, "models"], capture_output=True, text=True)

    assert (found.returncode, missing.returncode, usage.returncode) == (0, 1, 2)
    assert "detects fraud" in found.stdout
    assert missing.stderr == ("Error: name: registered model 'ghost' does not exist [NOT_FOUND]\n")
