"""`registry export` and `registry import`: the documented file format, a round trip that
reproduces the source registry exactly, and the --on-conflict policies."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from registry_service.client import RegistryClient
from registry_service.config import Settings
from registry_service.server import RunningServer, start
from registry_service.store.engine import make_engine
from registry_service.store.registry_store import RegistryStore

from .operator_cli import ok, ok_json, run

ODD_NAME = "it's a \\ name"


@pytest.fixture
def target(sqlite_template: Path, tmp_path: Path) -> Iterator[RunningServer]:
    """A second, empty registry to import into."""
    path = tmp_path / "target.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    running = start(Settings(port=0, http_port=-1), store=RegistryStore(engine))
    yield running
    running.stop(None)


@pytest.fixture
def target_client(target: RunningServer) -> Iterator[RegistryClient]:
    with RegistryClient(f"127.0.0.1:{target.port}") as client:
        yield client


def seed(client: RegistryClient) -> None:
    """fraud: versions 1 (Archived), 2 (Production, champion), 4 (Staging, challenger); 3 was
    deleted. churn: no versions. A name with a quote and a backslash, to test filters."""
    client.create_registered_model("fraud", tags={"team": "risk"}, description="detects fraud")
    client.create_model_version(
        "fraud", "runs:/r1/model", tags={"auc": "0.90"}, description="baseline"
    )
    client.create_model_version(
        "fraud", "s3://b/fraud/2", run_id="r2", run_link="https://t/r2", experiment_id="7"
    )
    client.create_model_version("fraud", "s3://b/fraud/3")
    client.create_model_version("fraud", "s3://b/fraud/4", tags={"auc": "0.95", "data": "q3"})
    client.delete_model_version("fraud", 3)
    client.transition_model_version_stage("fraud", 1, "Production")
    client.transition_model_version_stage("fraud", 2, "Production", archive_existing_versions=True)
    client.transition_model_version_stage("fraud", 4, "Staging")
    client.set_registered_model_alias("fraud", "champion", 2)
    client.set_registered_model_alias("fraud", "challenger", 4)
    client.create_registered_model("churn", tags={"team": "growth"})
    client.create_registered_model(ODD_NAME, description="multi\nline")
    client.create_model_version(ODD_NAME, "s3://b/odd/1")


def without_etags(message: Any) -> Any:
    """``message`` without its etags, which a copy does not share with its source."""
    message.ClearField("etag")
    for version in getattr(message, "latest_versions", ()):
        version.ClearField("etag")
    return message


def everything(client: RegistryClient) -> tuple[list[Any], list[Any]]:
    """Every model and every version, with all their fields but etags, in a fixed order."""
    return (
        [without_etags(model) for model in client.search_registered_models()],
        [
            without_etags(version)
            for version in client.search_model_versions(order_by=["name", "version_number"])
        ],
    )


def export(server: RunningServer, path: Path, *args: str) -> Any:
    return ok_json(server, "--quiet", "export", "-o", str(path), *args)


def write_export(path: Path, manifest: dict[str, Any], lines: list[str]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, text in [
            ("manifest.json", json.dumps(manifest)),
            ("models.jsonl", "".join(lines)),
        ]:
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def read_export(path: Path) -> tuple[list[str], dict[str, Any], list[dict[str, Any]]]:
    with tarfile.open(path, "r:gz") as tar:
        members = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        models_file = tar.extractfile("models.jsonl")
        assert models_file is not None
        lines = [json.loads(line) for line in models_file.read().decode().splitlines()]
    return members, manifest, lines


# -- round trip ---------------------------------------------------------------------------------


def test_round_trip_into_an_empty_registry_equals_the_source(
    server: RunningServer,
    client: RegistryClient,
    target: RunningServer,
    target_client: RegistryClient,
    tmp_path: Path,
) -> None:
    seed(client)
    path = tmp_path / "registry.tar.gz"

    assert export(server, path) == {"file": str(path), "models": 3, "versions": 4}
    imported = ok_json(target, "--quiet", "import", str(path))

    assert (imported["copied"], imported["skipped"], imported["failed"]) == (3, 0, 0)
    # Names, versions and their numbers, stages, tags, aliases, descriptions, sources, run ids
    # and links, users, statuses and every timestamp.
    assert everything(target_client) == everything(client)
    # The deleted number 3 stays unused on both sides.
    assert target_client.create_model_version("fraud", "s3://b/fraud/5").version == 5
    assert client.create_model_version("fraud", "s3://b/fraud/5").version == 5


def test_export_of_selected_models(
    server: RunningServer,
    client: RegistryClient,
    target: RunningServer,
    target_client: RegistryClient,
    tmp_path: Path,
) -> None:
    seed(client)
    path = tmp_path / "some.tar.gz"

    export(server, path, "--model", "churn", "--model", ODD_NAME)
    ok(target, "--quiet", "import", str(path))

    assert [m.name for m in target_client.search_registered_models()] == ["churn", ODD_NAME]
    assert without_etags(target_client.get_model_version(ODD_NAME, 1)) == without_etags(
        client.get_model_version(ODD_NAME, 1)
    )


def test_export_of_a_missing_model_fails_and_writes_nothing(
    server: RunningServer, client: RegistryClient, tmp_path: Path
) -> None:
    seed(client)
    exports = tmp_path / "exports"
    exports.mkdir()
    path = exports / "none.tar.gz"

    result = run(server, "export", "--model", "fraud", "--model", "ghost", "-o", str(path))

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: name: registered model 'ghost' does not exist")
    assert list(exports.iterdir()) == []


def test_the_file_follows_the_documented_format(
    server: RunningServer, client: RegistryClient, tmp_path: Path
) -> None:
    seed(client)
    path = tmp_path / "registry.tar.gz"
    export(server, path, "--model", "fraud")

    members, manifest, lines = read_export(path)

    assert members == ["manifest.json", "models.jsonl"]
    assert manifest["format"] == "modelregistry-export"
    assert manifest["format_version"] == 1
    assert manifest["exported_at"].endswith("Z")
    assert manifest["counts"] == {"models": 1, "versions": 3}
    [fraud] = lines
    assert set(fraud) == {
        "name", "creation_timestamp", "last_updated_timestamp", "user_id", "description",
        "tags", "aliases", "last_version", "versions",
    }  # fmt: skip
    assert (fraud["aliases"], fraud["last_version"]) == ({"challenger": 4, "champion": 2}, 4)
    assert [v["version"] for v in fraud["versions"]] == [1, 2, 4]
    assert fraud["versions"][1] == {
        "version": 2,
        "creation_timestamp": fraud["versions"][1]["creation_timestamp"],
        "last_updated_timestamp": fraud["versions"][1]["last_updated_timestamp"],
        "user_id": "",
        "current_stage": "Production",
        "description": "",
        "source": "s3://b/fraud/2",
        "run_id": "r2",
        "run_link": "https://t/r2",
        "experiment_id": "7",
        "status": "READY",
        "status_message": "",
        "tags": {},
    }


def test_progress_bars_go_to_stderr_unless_quiet(
    server: RunningServer, client: RegistryClient, tmp_path: Path
) -> None:
    seed(client)

    loud = ok(server, "export", "-o", str(tmp_path / "a.tar.gz"))
    quiet = ok(server, "--quiet", "export", "-o", str(tmp_path / "b.tar.gz"))

    assert "exporting" in loud.stderr
    assert quiet.stderr == ""
    assert loud.stdout.startswith("exported 3 models with 4 versions to ")


# -- name clashes -------------------------------------------------------------------------------


@pytest.fixture
def clashing(
    server: RunningServer, client: RegistryClient, target_client: RegistryClient, tmp_path: Path
) -> Path:
    """An export of the seeded registry, and a target that already has a different "churn"."""
    seed(client)
    path = tmp_path / "registry.tar.gz"
    export(server, path)
    target_client.create_registered_model("churn", description="the target's own")
    return path


def test_fail_policy_imports_nothing_when_a_name_is_taken(
    clashing: Path, target: RunningServer, target_client: RegistryClient
) -> None:
    before = everything(target_client)

    result = run(target, "--quiet", "import", str(clashing))

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: registered_model.name: 1 model of ")
    assert "already here: churn. Nothing was imported" in result.stderr
    assert everything(target_client) == before


def test_skip_policy_keeps_the_existing_model_and_imports_the_rest(
    clashing: Path, target: RunningServer, target_client: RegistryClient
) -> None:
    result = ok(target, "--quiet", "import", str(clashing), "--on-conflict", "skip")

    assert result.stdout.splitlines() == [
        "copied 2 models with 4 versions, skipped 1, failed 0",
        "  skipped  churn: already present",
    ]
    assert target_client.get_registered_model("churn").description == "the target's own"
    assert [v.version for v in target_client.search_model_versions("name = 'fraud'")] == [4, 2, 1]


def test_rename_policy_imports_the_clashing_model_under_a_new_name(
    clashing: Path, target: RunningServer, target_client: RegistryClient, client: RegistryClient
) -> None:
    result = ok(target, "--quiet", "import", str(clashing), "--on-conflict", "rename")

    assert "  renamed  churn -> churn-imported" in result.stdout.splitlines()
    assert target_client.get_registered_model("churn").description == "the target's own"
    copy = target_client.get_registered_model("churn-imported")
    source = client.get_registered_model("churn")
    assert (copy.tags, copy.creation_timestamp) == (source.tags, source.creation_timestamp)


# -- damaged and foreign files ------------------------------------------------------------------


def manifest(**changes: Any) -> dict[str, Any]:
    record = {
        "format": "modelregistry-export",
        "format_version": 1,
        "exported_at": "2026-01-01T00:00:00.000Z",
        "counts": {"models": 2, "versions": 1},
    }
    return {**record, **changes}


GOOD_LINE = json.dumps({"name": "good", "versions": [{"version": 3, "source": "s3://b/g"}]}) + "\n"


@pytest.mark.parametrize(
    ("manifest_record", "lines", "message"),
    [
        (manifest(format_version=2), [GOOD_LINE], "has format_version 2; this CLI reads up to 1"),
        (manifest(format="something-else"), [GOOD_LINE], "is not a registry export"),
        (manifest(), [GOOD_LINE, "{not json\n"], "models.jsonl line 2 is malformed"),
        (manifest(), [GOOD_LINE, '{"name": "x", "versions": [{"version": "three"}]}\n'],
         "models.jsonl line 2 is malformed"),
        (manifest(), ['{"name": "x", "last_version": "4"}\n'], "models.jsonl line 1 is malformed"),
    ],
)  # fmt: skip
def test_a_damaged_or_foreign_file_imports_nothing(
    target: RunningServer,
    target_client: RegistryClient,
    tmp_path: Path,
    manifest_record: dict[str, Any],
    lines: list[str],
    message: str,
) -> None:
    path = tmp_path / "bad.tar.gz"
    write_export(path, manifest_record, lines)

    result = run(target, "--quiet", "import", str(path))

    assert result.exit_code == 1
    assert message in result.stderr
    assert target_client.search_registered_models() == []


def test_not_a_tarball_is_refused(target: RunningServer, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")

    result = run(target, "import", str(path))

    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: cannot read {path}")


def test_a_model_the_registry_refuses_fails_alone(
    target: RunningServer, target_client: RegistryClient, tmp_path: Path
) -> None:
    bad = {"name": "bad", "aliases": {"champion": 9}, "versions": [{"version": 1, "source": "s"}]}
    path = tmp_path / "mixed.tar.gz"
    write_export(path, manifest(), [json.dumps(bad) + "\n", GOOD_LINE])

    result = run(target, "--quiet", "import", str(path))

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "copied 1 model with 1 version, skipped 0, failed 1",
        "  failed   bad: registered_model.aliases: 'champion' points at version 9, which is not "
        "among model_versions",
    ]
    assert [m.name for m in target_client.search_registered_models()] == ["good"]
    assert target_client.create_model_version("good", "s3://b/next").version == 4
