"""Sources checked as MLflow's server checks them, and lineage resolved from a real tracking
server (``--tracking-uri``): each refusal is INVALID_ARGUMENT naming its field and stores nothing,
over gRPC on SQLite and PostgreSQL, and the same over HTTP as MLflow's INVALID_PARAMETER_VALUE."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import httpx
import pytest
from mlflow import MlflowClient
from modelregistry.v1 import registry_service_pb2 as pb
from modelregistry.v1.registry_service_pb2_grpc import ModelRegistryServiceStub

from registry_service.config import Settings
from registry_service.server import RunningServer, start
from registry_service.store.registry_store import RegistryStore

from .processes import free_port, mlflow_serving

INVALID = grpc.StatusCode.INVALID_ARGUMENT


@dataclass(frozen=True)
class Tracking:
    url: str
    experiment_id: str
    run_id: str
    artifact_uri: str
    model_id: str
    model_artifacts: str


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tracking]:
    with mlflow_serving(tmp_path_factory.mktemp("tracking")) as url:
        client = MlflowClient(tracking_uri=url)
        experiment_id = client.create_experiment("lineage")
        run = client.create_run(experiment_id)
        model = client.create_logged_model(
            experiment_id=experiment_id, name="model", source_run_id=run.info.run_id
        )
        yield Tracking(
            url,
            experiment_id,
            run.info.run_id,
            run.info.artifact_uri,
            model.model_id,
            model.artifact_location,
        )


def _serve(store: RegistryStore, tracking_uri: str | None) -> RunningServer:
    return start(
        Settings(port=0, http_port=0, webhooks=False, tracking_uri=tracking_uri), store=store
    )


@pytest.fixture
def linked(store: RegistryStore, tracking: Tracking) -> Iterator[ModelRegistryServiceStub]:
    running = _serve(store, tracking.url)
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = ModelRegistryServiceStub(channel)
        stub.CreateRegisteredModel(pb.CreateRegisteredModelRequest(name="m"))
        yield stub
    running.stop(None)


@pytest.fixture
def unlinked(store: RegistryStore) -> Iterator[ModelRegistryServiceStub]:
    running = _serve(store, None)
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = ModelRegistryServiceStub(channel)
        stub.CreateRegisteredModel(pb.CreateRegisteredModelRequest(name="m"))
        yield stub
    running.stop(None)


def _create(stub: ModelRegistryServiceStub, **fields: str) -> pb.ModelVersion:
    request = pb.CreateModelVersionRequest(name="m", **fields)
    return stub.CreateModelVersion(request, timeout=15).model_version


def _refused(stub: ModelRegistryServiceStub, field: str = "source", **fields: str) -> str:
    """The refusal's message; the refusal named ``field`` and stored nothing."""
    before = _versions(stub)
    with pytest.raises(grpc.RpcError) as raised:
        _create(stub, **fields)
    assert raised.value.code() == INVALID, raised.value.details()
    assert field in raised.value.details()
    assert _versions(stub) == before
    return str(raised.value.details())


def _versions(stub: ModelRegistryServiceStub) -> list[int]:
    found = stub.SearchModelVersions(pb.SearchModelVersionsRequest(filter="name = 'm'"))
    return [version.version for version in found.model_versions]


def test_a_run_source_records_its_experiment_and_run_link(
    linked: ModelRegistryServiceStub, tracking: Tracking
) -> None:
    version = _create(linked, source=f"runs:/{tracking.run_id}/model")
    assert (version.run_id, version.experiment_id) == (tracking.run_id, tracking.experiment_id)
    assert version.run_link == (
        f"{tracking.url}/#/experiments/{tracking.experiment_id}/runs/{tracking.run_id}"
    )
    # A link the request gives is kept; the run is still checked and the experiment resolved.
    given = _create(
        linked, source="s3://bucket/model", run_id=tracking.run_id, run_link="http://ci/run/7"
    )
    assert (given.run_link, given.experiment_id) == ("http://ci/run/7", tracking.experiment_id)
    # Searchable by run_id, as every version.
    found = linked.SearchModelVersions(
        pb.SearchModelVersionsRequest(filter=f"run_id = '{tracking.run_id}'")
    )
    assert [v.version for v in found.model_versions] == [2, 1]


def test_a_logged_model_source_records_the_model_its_run_and_where_its_files_are(
    linked: ModelRegistryServiceStub, tracking: Tracking
) -> None:
    version = _create(linked, source=f"models:/{tracking.model_id}", model_id=tracking.model_id)
    assert (version.model_id, version.run_id, version.experiment_id) == (
        tracking.model_id,
        tracking.run_id,
        tracking.experiment_id,
    )
    assert version.source == f"models:/{tracking.model_id}"
    download = linked.GetModelVersionDownloadUri(
        pb.GetModelVersionDownloadUriRequest(name="m", version=version.version)
    )
    assert download.artifact_uri == tracking.model_artifacts


def test_an_artifact_store_source_must_lie_in_its_runs_artifacts(
    linked: ModelRegistryServiceStub, tracking: Tracking
) -> None:
    inside = f"{tracking.artifact_uri}/model"
    assert _create(linked, source=inside, run_id=tracking.run_id).source == inside
    # The tracking server's HTTP artifact proxy for the same files.
    _refused(linked, source="mlflow-artifacts:/0/other-run/artifacts/model", run_id=tracking.run_id)
    _refused(linked, source=inside)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"source": "runs:/0123456789abcdef0123456789abcdef/model"}, "source"),
        ({"source": "models:/m-0123456789abcdef0123456789abcdef"}, "source"),
        ({"source": "s3://bucket/model", "run_id": "no-such-run"}, "source"),
        ({"source": "s3://bucket/model", "model_id": "m-nope"}, "source"),
    ],
    ids=["unknown-run-source", "unknown-logged-model", "unknown-run-id", "unknown-model-id"],
)
def test_a_run_or_logged_model_the_tracking_server_lacks_is_refused(
    linked: ModelRegistryServiceStub, fields: dict[str, str], field: str
) -> None:
    assert "does not exist" in _refused(linked, field, **fields)


def test_contradictions_with_the_tracking_server_are_refused(
    linked: ModelRegistryServiceStub, tracking: Tracking
) -> None:
    _refused(
        linked,
        "experiment_id",
        source=f"runs:/{tracking.run_id}/model",
        experiment_id="999",
    )
    _refused(linked, "run_id", source=f"runs:/{tracking.run_id}/model", run_id="another-run")
    _refused(linked, "model_id", source=f"models:/{tracking.model_id}", model_id="m-another")


def test_an_unreachable_tracking_server_is_unavailable_and_stores_nothing(
    store: RegistryStore,
) -> None:
    running = _serve(store, f"http://127.0.0.1:{free_port()}")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = ModelRegistryServiceStub(channel)
            stub.CreateRegisteredModel(pb.CreateRegisteredModelRequest(name="m"))
            with pytest.raises(grpc.RpcError) as raised:
                _create(stub, source="runs:/abc/model")
            assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "tracking server" in raised.value.details()
            assert _versions(stub) == []
    finally:
        running.stop(None)


# One case per class of source MLflow's server refuses, on a registry without a tracking server
# (where nothing can vouch for a local path) and with one.
REFUSED_SOURCES = [
    pytest.param({"source": "/etc/passwd"}, id="absolute-local-path"),
    pytest.param({"source": "../../etc/passwd"}, id="relative-local-path"),
    pytest.param({"source": "file:///tmp/m"}, id="file-uri-without-run"),
    pytest.param({"source": "s3://bucket/a/../../b"}, id="dot-dot-in-s3"),
    pytest.param({"source": "s3://bucket/a/%2e%2e/b"}, id="encoded-dot-dot"),
    pytest.param({"source": "http://host/a/../../b"}, id="dot-dot-in-http"),
    pytest.param({"source": "mlflow-artifacts:/x/../../y"}, id="dot-dot-in-artifacts"),
    pytest.param({"source": "http://elsewhere.example/model"}, id="foreign-http"),
    pytest.param({"source": "https://elsewhere.example/api/2.0/mlflow-artifacts/artifacts/x"},
                 id="foreign-artifact-proxy"),
    pytest.param({"source": "ftp://files.example/model"}, id="ftp"),
    pytest.param({"source": "mlflow-artifacts://elsewhere.example/x"}, id="artifacts-on-a-host"),
    pytest.param({"source": "mlflow-artifacts:/1/r/artifacts/model"}, id="artifacts-without-run"),
    pytest.param({"source": "s3://bucket"}, id="object-store-without-path"),
    pytest.param({"source": "gs://bucket/"}, id="object-store-root"),
    pytest.param({"source": "models://other-registry/m/1"}, id="models-on-a-host"),
]  # fmt: skip


@pytest.mark.parametrize("fields", REFUSED_SOURCES)
def test_sources_mlflow_refuses_are_refused_without_a_tracking_server(
    unlinked: ModelRegistryServiceStub, fields: dict[str, str]
) -> None:
    _refused(unlinked, **fields)


@pytest.mark.parametrize("fields", REFUSED_SOURCES)
def test_sources_mlflow_refuses_are_refused_with_a_tracking_server(
    linked: ModelRegistryServiceStub, fields: dict[str, str]
) -> None:
    _refused(linked, **fields)


def test_a_local_path_outside_its_runs_artifacts_is_refused_with_the_run(
    linked: ModelRegistryServiceStub, tracking: Tracking
) -> None:
    # The tracking server keeps artifacts behind its proxy: no local path lies in a run's.
    _refused(linked, source="/tmp/model", run_id=tracking.run_id)
    _refused(linked, source="file:///tmp/model", run_id=tracking.run_id)


def test_the_same_refusal_over_http_is_mlflows_invalid_parameter_value(
    store: RegistryStore,
) -> None:
    running = _serve(store, None)
    try:
        assert running.http is not None
        base = f"http://127.0.0.1:{running.http.port}/api/2.0/mlflow"
        httpx.post(f"{base}/registered-models/create", json={"name": "m"}).raise_for_status()
        answer = httpx.post(
            f"{base}/model-versions/create", json={"name": "m", "source": "/etc/passwd"}
        )
        assert answer.status_code == 400
        assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        listed = httpx.get(f"{base}/model-versions/search", params={"filter": "name = 'm'"})
        assert listed.json().get("model_versions", []) == []
    finally:
        running.stop(None)
