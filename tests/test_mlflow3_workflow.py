"""The MLflow 3 workflow end to end: a real `mlflow server` as the tracking server (with its
artifact store), this registry as the registry, and the stock client with its current defaults
(logged models, ``models:/m-<id>`` sources).

Train a tiny scikit-learn model, log it with ``registered_model_name``, register the run's model
again with ``mlflow.register_model("runs:/<id>/model")``, promote it, point an alias at it, and
load it back by alias, stage, number and ``latest`` with ``mlflow.pyfunc.load_model``, then copy
it and load the copy: with no authentication and with ``--auth token`` and MLFLOW_TRACKING_TOKEN.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import mlflow
import mlflow.tracking._model_registry.utils as registry_utils
import mlflow.tracking._tracking_service.utils as tracking_utils
import numpy as np
import pytest
from mlflow import MlflowClient
from modelregistry.v1 import registry_service_pb2 as pb
from modelregistry.v1.registry_service_pb2_grpc import ModelRegistryServiceStub
from sklearn.linear_model import LogisticRegression

from registry_service.config import Settings
from registry_service.server import RunningServer, start
from registry_service.store.access_store import AccessStore
from registry_service.store.engine import make_engine
from registry_service.store.registry_store import RegistryStore

from .processes import mlflow_serving

FEATURES = np.array([[0.0, 0.1], [0.2, 0.0], [0.9, 1.0], [1.0, 0.8], [0.1, 0.3], [0.8, 0.9]])
LABELS = np.array([0, 0, 1, 1, 0, 1])
PROBES = np.array([[0.05, 0.05], [0.95, 0.9], [0.5, 0.4]])

pytestmark = pytest.mark.usefixtures("stage_warnings_ignored")


@pytest.fixture(scope="module")
def tracking_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with mlflow_serving(tmp_path_factory.mktemp("tracking")) as url:
        yield url


def _point_mlflow_at(
    monkeypatch: pytest.MonkeyPatch, tracking_url: str, registry_url: str, token: str | None
) -> None:
    """The fluent API and every MlflowClient made without URIs: tracking on the MLflow server,
    the registry here, as a user sets them with MLFLOW_TRACKING_URI and MLFLOW_REGISTRY_URI."""
    monkeypatch.setattr(registry_utils, "_registry_uri", None)
    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_url)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", registry_url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    if token is None:
        monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    else:
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
    mlflow.set_tracking_uri(tracking_url)
    mlflow.set_registry_uri(registry_url)


def _serve(store: RegistryStore, tracking_url: str, auth: str) -> RunningServer:
    return start(
        Settings(port=0, http_port=0, webhooks=False, tracking_uri=tracking_url, auth=auth),
        store=store,
    )


@pytest.fixture
def sqlite_store(sqlite_template: Path, tmp_path: Path) -> Iterator[RegistryStore]:
    """The end-to-end flow runs on SQLite; the lineage cases below run on both databases."""
    path = tmp_path / "registry.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield RegistryStore(engine)
    engine.dispose()


@pytest.mark.parametrize("auth", ["none", "token"])
def test_log_register_promote_alias_load_and_copy_with_the_stock_client(
    sqlite_store: RegistryStore,
    tracking_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    auth: str,
) -> None:
    store = sqlite_store
    token = AccessStore(store).create_token("alice")[1] if auth == "token" else None
    running = _serve(store, tracking_url, auth)
    try:
        assert running.http is not None
        _point_mlflow_at(monkeypatch, tracking_url, f"http://127.0.0.1:{running.http.port}", token)
        monkeypatch.chdir(tmp_path)
        _the_workflow(running, token, name=f"fraud-{auth}")
    finally:
        running.stop(None)


def _the_workflow(running: RunningServer, token: str | None, name: str) -> None:
    trained = LogisticRegression().fit(FEATURES, LABELS)
    expected = trained.predict(PROBES)
    mlflow.set_experiment(f"workflow-{name}")

    # 1. log_model with registered_model_name: version 1, with its run, experiment and model.
    with mlflow.start_run() as run:
        logged = mlflow.sklearn.log_model(trained, name="model", registered_model_name=name)
    run_id, experiment_id = run.info.run_id, run.info.experiment_id
    first = _registry_version(running, token, name, 1)
    assert first.source == f"models:/{logged.model_id}"
    assert (first.model_id, first.run_id, first.experiment_id) == (
        logged.model_id,
        run_id,
        experiment_id,
    )
    assert first.run_link.endswith(f"/#/experiments/{experiment_id}/runs/{run_id}")

    # 2. register_model from the run's model: version 2, the same lineage.
    second = mlflow.register_model(f"runs:/{run_id}/model", name)
    assert second.version in ("2", 2)
    stored = _registry_version(running, token, name, 2)
    assert (stored.model_id, stored.run_id, stored.experiment_id) == (
        logged.model_id,
        run_id,
        experiment_id,
    )

    # 3. Production and the alias.
    client = MlflowClient()
    client.transition_model_version_stage(name, "2", "Production")
    client.set_registered_model_alias(name, "champion", "2")
    assert client.get_model_version_by_alias(name, "champion").version in ("2", 2)

    # 4. Load by alias, stage, number and latest: each predicts what the trained model does.
    for uri in (
        f"models:/{name}@champion",
        f"models:/{name}/Production",
        f"models:/{name}/1",
        f"models:/{name}/latest",
    ):
        loaded = mlflow.pyfunc.load_model(uri)
        assert list(loaded.predict(PROBES)) == list(expected), uri

    # 5. Copy a version to another model and load the copy.
    copied = client.copy_model_version(f"models:/{name}@champion", f"{name}-copy")
    assert copied.source == f"models:/{name}/2"
    assert copied.run_id == run_id
    loaded_copy = mlflow.pyfunc.load_model(f"models:/{name}-copy/{copied.version}")
    assert list(loaded_copy.predict(PROBES)) == list(expected)


def _registry_version(running: RunningServer, token: str | None, name: str, version: int) -> Any:
    """The version as a gRPC caller of this registry sees it."""
    metadata = () if token is None else (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = ModelRegistryServiceStub(channel)
        return stub.GetModelVersion(
            pb.GetModelVersionRequest(name=name, version=version), metadata=metadata, timeout=10
        ).model_version
