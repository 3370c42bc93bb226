"""`registry import-mlflow` against a real `mlflow server` (sqlite backend, started once for the
module on 127.0.0.1), seeded through MLflow's own client and compared field by field."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from registry_service.client import RegistryClient
from registry_service.errors import NotFound
from registry_service.operator.reading import versions_of
from registry_service.server import RunningServer

from .operator_cli import ok, ok_json, run
from .processes import free_port, mlflow_serving

mlflow_tracking = pytest.importorskip("mlflow.tracking")

QUOTED_NAME = "it's-quoted"
# Every model the seed creates, in name order.
SEEDED = ["churn", "fraud", QUOTED_NAME, "recsys-a", "recsys-b"]


@pytest.fixture(scope="module")
def mlflow_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real MLflow tracking server, seeded."""
    with mlflow_serving(tmp_path_factory.mktemp("mlflow")) as url:
        seed(mlflow_tracking.MlflowClient(tracking_uri=url, registry_uri=url))
        yield url


@pytest.fixture(scope="module")
def mlflow(mlflow_url: str) -> Any:
    return mlflow_tracking.MlflowClient(tracking_uri=mlflow_url, registry_uri=mlflow_url)


def seed(mlflow: Any) -> None:
    """fraud: versions 1 (Archived), 2 (Production, champion, from a run), 4 (Staging,
    challenger), 5 (None); 3 was deleted. churn without versions, a name with a quote, and
    recsys-a/b so that paging by 2 takes several pages."""
    run = mlflow.create_run(mlflow.create_experiment("training"))
    run_id = run.info.run_id
    mlflow.create_registered_model(
        "fraud", tags={"team": "risk", "pii": "no"}, description="Detects fraud.\nSecond line."
    )
    mlflow.create_model_version(
        "fraud", "s3://models/fraud/1", tags={"auc": "0.90"}, description="baseline"
    )
    mlflow.create_model_version(
        "fraud", f"runs:/{run_id}/model", run_id=run_id, run_link=f"http://mlflow/runs/{run_id}"
    )
    for number in (3, 4, 5):
        mlflow.create_model_version("fraud", f"s3://models/fraud/{number}", tags={"n": str(number)})
    mlflow.delete_model_version("fraud", "3")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stages are deprecated in MLflow 3, and still there
        mlflow.transition_model_version_stage("fraud", "1", "Archived")
        mlflow.transition_model_version_stage("fraud", "2", "Production")
        mlflow.transition_model_version_stage("fraud", "4", "Staging")
    mlflow.set_registered_model_alias("fraud", "champion", "2")
    mlflow.set_registered_model_alias("fraud", "challenger", "4")
    mlflow.update_model_version("fraud", "4", description="candidate")
    mlflow.create_registered_model("churn", description="no versions yet")
    mlflow.create_registered_model(QUOTED_NAME)
    mlflow.create_model_version(QUOTED_NAME, "s3://models/quoted/1")
    for name in ("recsys-a", "recsys-b"):
        mlflow.create_registered_model(name, tags={"team": "recs"})
        mlflow.create_model_version(name, f"s3://models/{name}/1")


def mlflow_versions(mlflow: Any, name: str) -> list[Any]:
    quoted = f'"{name}"' if "'" in name else f"'{name}'"
    return sorted(mlflow.search_model_versions(f"name = {quoted}"), key=lambda v: int(v.version))


def assert_copied(mlflow: Any, client: RegistryClient, name: str) -> None:
    """Every field MLflow shows of the model and each of its versions is here, unchanged."""
    source = mlflow.get_registered_model(name)
    copy = client.get_registered_model(name)
    assert (copy.name, copy.description, copy.user_id) == (
        source.name,
        source.description or "",
        # MLflow's Python entity leaves out the user_id its REST API has; both are empty here.
        getattr(source, "user_id", None) or "",
    )
    assert (copy.creation_timestamp, copy.last_updated_timestamp) == (
        source.creation_timestamp,
        source.last_updated_timestamp,
    )
    assert dict(copy.tags) == source.tags
    assert dict(copy.aliases) == {alias: int(v) for alias, v in source.aliases.items()}
    source_versions = mlflow_versions(mlflow, name)
    copies = versions_of(client, name)
    assert [v.version for v in copies] == [int(v.version) for v in source_versions]
    for original, copied in zip(source_versions, copies, strict=True):
        assert (copied.current_stage, copied.description, copied.source) == (
            original.current_stage,
            original.description or "",
            original.source,
        )
        assert (copied.run_id, copied.run_link, copied.user_id) == (
            original.run_id or "",
            original.run_link or "",
            original.user_id or "",
        )
        assert (copied.creation_timestamp, copied.last_updated_timestamp) == (
            original.creation_timestamp,
            original.last_updated_timestamp,
        )
        assert (copied.status, copied.status_message) == (3, original.status_message or "")
        assert original.status == "READY"
        assert dict(copied.tags) == original.tags
        # MLflow's version search leaves aliases out; the model's aliases say where they point.
        pointing = [alias for alias, v in source.aliases.items() if int(v) == copied.version]
        assert list(copied.aliases) == sorted(pointing)


def import_mlflow(server: RunningServer, url: str, *args: str) -> Any:
    return run(server, "--quiet", "import-mlflow", "--from", url, "--page-size", "2", *args)


def test_import_copies_every_model_and_version_field_by_field(
    mlflow_url: str, mlflow: Any, server: RunningServer, client: RegistryClient
) -> None:
    result = import_mlflow(server, mlflow_url)

    assert result.exit_code == 0, result.stderr
    assert result.stdout == "copied 5 models with 7 versions, skipped 0, failed 0\n"
    assert [m.name for m in client.search_registered_models()] == SEEDED
    for name in SEEDED:
        assert_copied(mlflow, client, name)
    # MLflow's gap stays a gap, and new versions continue after MLflow's numbers.
    assert [v.version for v in versions_of(client, "fraud")] == [1, 2, 4, 5]
    with pytest.raises(NotFound):
        client.get_model_version("fraud", 3)
    assert client.create_model_version("fraud", "s3://models/fraud/6").version == 6


def test_rerun_skips_every_model_and_changes_nothing(
    mlflow_url: str, server: RunningServer, client: RegistryClient
) -> None:
    assert import_mlflow(server, mlflow_url).exit_code == 0
    before = (client.search_registered_models(), client.search_model_versions())

    summary = ok_json(server, "--quiet", "import-mlflow", "--from", mlflow_url)

    assert (summary["copied"], summary["skipped"], summary["failed"]) == (0, 5, 0)
    assert {(m["name"], m["result"], m["detail"]) for m in summary["models"]} == {
        (name, "skipped", "already present") for name in SEEDED
    }
    assert (client.search_registered_models(), client.search_model_versions()) == before


def test_an_interrupted_migration_finishes_on_the_next_run(
    mlflow_url: str, mlflow: Any, server: RunningServer, client: RegistryClient
) -> None:
    assert import_mlflow(server, mlflow_url).exit_code == 0
    # As if the first run had stopped before these two.
    client.delete_registered_model("fraud")
    client.delete_registered_model("recsys-b")

    result = import_mlflow(server, mlflow_url)

    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == "copied 2 models with 5 versions, skipped 3, failed 0"
    for name in SEEDED:
        assert_copied(mlflow, client, name)


def test_a_model_this_registry_refuses_is_reported_and_the_rest_copied(
    mlflow_url: str, mlflow: Any, server: RunningServer, client: RegistryClient
) -> None:
    # MLflow accepts longer tag values than this registry does.
    mlflow.create_registered_model("oversized")
    try:
        mlflow.create_model_version("oversized", "s3://models/big/1", tags={"notes": "x" * 6000})

        result = import_mlflow(server, mlflow_url)
    finally:
        mlflow.delete_registered_model("oversized")

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "copied 5 models with 7 versions, skipped 0, failed 1",
        "  failed   oversized: model_versions[0].tags[notes] is 6000 characters long; the maximum "
        "is 5000",
    ]
    assert [m.name for m in client.search_registered_models()] == SEEDED


def test_progress_bar_unless_quiet(mlflow_url: str, server: RunningServer) -> None:
    result = ok(server, "import-mlflow", "--from", mlflow_url)

    assert "copying from MLflow" in result.stderr


def test_unreachable_mlflow_exits_1(server: RunningServer) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    result = run(server, "import-mlflow", "--from", url)

    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: cannot reach MLflow at {url}: ")
