"""The stock mlflow client, unmodified, against a real server's HTTP/JSON gateway."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mlflow
import mlflow.tracking._model_registry.utils as registry_utils
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.store.entities.paged_list import PagedList

from registry_service.server import RunningServer


@pytest.fixture
def registry_url(http_server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> str:
    assert http_server.http is not None
    # A wrongly retryable answer (5xx) fails the test at once instead of after seven retries.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    return f"http://127.0.0.1:{http_server.http.port}"


@pytest.fixture
def mlflow_client(registry_url: str) -> MlflowClient:
    return MlflowClient(registry_uri=registry_url, tracking_uri=registry_url)


@pytest.fixture
def fluent_registry_url(registry_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The fluent API (mlflow.register_model, mlflow.search_*) pointed at the server."""
    # set_registry_uri sets process-wide state, the module global and MLFLOW_REGISTRY_URI, which
    # monkeypatch restores after the test.
    monkeypatch.setattr(registry_utils, "_registry_uri", None)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", registry_url)
    # The fluent API opens the tracking store without calling it; left unset, that would be an
    # mlflow.db file in the working directory.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry_url)
    mlflow.set_registry_uri(registry_url)
    return registry_url


@pytest.fixture(autouse=True)
def no_stage_deprecation_warnings(stage_warnings_ignored: None) -> None:
    """Every test here uses stages."""


def error_code(call: Callable[[], Any]) -> str:
    with pytest.raises(MlflowException) as raised:
        call()
    return raised.value.error_code


def all_pages(search: Callable[..., PagedList[Any]], **kwargs: Any) -> list[list[Any]]:
    pages = [search(**kwargs)]
    while pages[-1].token:
        pages.append(search(**kwargs, page_token=pages[-1].token))
    return pages


def test_create_registered_model_then_again_is_the_error_the_client_tolerates(
    mlflow_client: MlflowClient,
) -> None:
    model = mlflow_client.create_registered_model(
        "fraud", tags={"team": "risk"}, description="flags fraud"
    )
    assert (model.name, model.tags, model.description) == ("fraud", {"team": "risk"}, "flags fraud")
    assert model.creation_timestamp > 0
    assert model.last_updated_timestamp == model.creation_timestamp

    assert error_code(lambda: mlflow_client.create_registered_model("fraud")) == (
        "RESOURCE_ALREADY_EXISTS"
    )


def test_create_and_get_a_model_version(mlflow_client: MlflowClient) -> None:
    mlflow_client.create_registered_model("fraud")
    created = mlflow_client.create_model_version(
        "fraud",
        "s3://bucket/fraud/1",
        run_id="run-1",
        tags={"framework": "sklearn"},
        run_link="http://tracking/runs/run-1",
        description="first",
    )
    assert created.version == "1"
    assert created.status == "READY"
    assert created.current_stage == "None"
    assert (created.source, created.run_id, created.run_link) == (
        "s3://bucket/fraud/1",
        "run-1",
        "http://tracking/runs/run-1",
    )
    assert created.tags == {"framework": "sklearn"}
    assert created.description == "first"

    fetched = mlflow_client.get_model_version("fraud", "1")
    assert (fetched.name, fetched.version, fetched.source, fetched.tags) == (
        "fraud",
        "1",
        "s3://bucket/fraud/1",
        {"framework": "sklearn"},
    )
    assert fetched.creation_timestamp == created.creation_timestamp
    assert mlflow_client.get_model_version_download_uri("fraud", 1) == "s3://bucket/fraud/1"
    assert mlflow_client.create_model_version("fraud", "s3://bucket/fraud/2").version == "2"


def test_missing_model_and_version_are_resource_does_not_exist(
    mlflow_client: MlflowClient,
) -> None:
    assert error_code(lambda: mlflow_client.get_registered_model("nope")) == (
        "RESOURCE_DOES_NOT_EXIST"
    )
    assert error_code(lambda: mlflow_client.create_model_version("nope", "s3://b/p")) == (
        "RESOURCE_DOES_NOT_EXIST"
    )
    mlflow_client.create_registered_model("fraud")
    assert error_code(lambda: mlflow_client.get_model_version("fraud", "7")) == (
        "RESOURCE_DOES_NOT_EXIST"
    )


def test_transition_with_archive_existing_versions_and_get_latest_versions(
    mlflow_client: MlflowClient,
) -> None:
    mlflow_client.create_registered_model("fraud")
    for number in (1, 2, 3):
        mlflow_client.create_model_version("fraud", f"s3://bucket/fraud/{number}")

    staged = mlflow_client.transition_model_version_stage("fraud", "1", "Production")
    assert staged.current_stage == "Production"
    mlflow_client.transition_model_version_stage("fraud", "2", "staging")
    promoted = mlflow_client.transition_model_version_stage(
        "fraud", "3", "Production", archive_existing_versions=True
    )
    assert promoted.current_stage == "Production"
    assert mlflow_client.get_model_version("fraud", "1").current_stage == "Archived"
    assert mlflow_client.get_model_version("fraud", "2").current_stage == "Staging"

    latest = mlflow_client.get_latest_versions("fraud", stages=["Production"])
    assert [(v.version, v.current_stage) for v in latest] == [("3", "Production")]
    every_stage = mlflow_client.get_latest_versions("fraud")
    assert sorted((v.current_stage, v.version) for v in every_stage) == [
        ("Archived", "1"),
        ("Production", "3"),
        ("Staging", "2"),
    ]
    assert error_code(
        lambda: mlflow_client.transition_model_version_stage("fraud", "1", "Shipped")
    ) == ("INVALID_PARAMETER_VALUE")


def test_set_get_and_delete_an_alias(mlflow_client: MlflowClient) -> None:
    mlflow_client.create_registered_model("fraud")
    mlflow_client.create_model_version("fraud", "s3://bucket/fraud/1")
    mlflow_client.create_model_version("fraud", "s3://bucket/fraud/2")

    mlflow_client.set_registered_model_alias("fraud", "champion", "1")
    mlflow_client.set_registered_model_alias("fraud", "champion", 2)
    champion = mlflow_client.get_model_version_by_alias("fraud", "champion")
    assert (champion.version, champion.aliases) == ("2", ["champion"])
    assert mlflow_client.get_registered_model("fraud").aliases == {"champion": "2"}

    mlflow_client.delete_registered_model_alias("fraud", "champion")
    assert mlflow_client.get_registered_model("fraud").aliases == {}
    # MLflow's server answers a missing alias as a bad argument.
    assert error_code(lambda: mlflow_client.get_model_version_by_alias("fraud", "champion")) == (
        "INVALID_PARAMETER_VALUE"
    )


def test_model_and_version_tags(mlflow_client: MlflowClient) -> None:
    mlflow_client.create_registered_model("fraud", tags={"team": "risk"})
    mlflow_client.create_model_version("fraud", "s3://bucket/fraud/1")

    mlflow_client.set_registered_model_tag("fraud", "owner", "ana")
    mlflow_client.delete_registered_model_tag("fraud", "team")
    assert mlflow_client.get_registered_model("fraud").tags == {"owner": "ana"}

    mlflow_client.set_model_version_tag("fraud", "1", "validated", "true")
    mlflow_client.set_model_version_tag("fraud", "1", "auc", "0.94")
    mlflow_client.delete_model_version_tag("fraud", "1", "validated")
    assert mlflow_client.get_model_version("fraud", "1").tags == {"auc": "0.94"}


def test_update_descriptions(mlflow_client: MlflowClient) -> None:
    mlflow_client.create_registered_model("fraud")
    mlflow_client.create_model_version("fraud", "s3://bucket/fraud/1")

    updated = mlflow_client.update_registered_model("fraud", description="flags fraud")
    assert updated.description == "flags fraud"
    version = mlflow_client.update_model_version("fraud", "1", description="AUC 0.94")
    assert version.description == "AUC 0.94"
    assert mlflow_client.get_registered_model("fraud").description == "flags fraud"
    assert mlflow_client.get_model_version("fraud", "1").description == "AUC 0.94"


def test_rename_carries_versions_and_frees_the_old_name(mlflow_client: MlflowClient) -> None:
    mlflow_client.create_registered_model("fraud")
    mlflow_client.create_model_version("fraud", "s3://bucket/fraud/1")

    # MlflowClient drops the renamed model the server returns; read it back.
    mlflow_client.rename_registered_model("fraud", "fraud-detector")
    assert mlflow_client.get_registered_model("fraud-detector").name == "fraud-detector"
    assert mlflow_client.get_model_version("fraud-detector", "1").name == "fraud-detector"
    assert error_code(lambda: mlflow_client.get_registered_model("fraud")) == (
        "RESOURCE_DOES_NOT_EXIST"
    )
    mlflow_client.create_registered_model("other")
    assert error_code(lambda: mlflow_client.rename_registered_model("other", "fraud-detector")) == (
        "RESOURCE_ALREADY_EXISTS"
    )


def test_search_registered_models_across_pages(
    http_server: RunningServer, mlflow_client: MlflowClient
) -> None:
    for name in ("m-c", "m-a", "m-e", "m-b", "m-d", "other"):
        mlflow_client.create_registered_model(name)
    # The client appends "AND tag.`mlflow.prompt.is_prompt` != 'true'" to every search (and
    # refuses to create such a model itself).
    http_server.store.create_registered_model("m-prompt", {"mlflow.prompt.is_prompt": "true"}, "")

    pages = all_pages(
        mlflow_client.search_registered_models, filter_string="name LIKE 'm-%'", max_results=2
    )
    assert [[m.name for m in page] for page in pages] == [["m-a", "m-b"], ["m-c", "m-d"], ["m-e"]]

    newest_first = mlflow_client.search_registered_models(order_by=["creation_timestamp DESC"])
    assert [m.name for m in newest_first][:2] == ["other", "m-d"]
    assert len(mlflow_client.search_registered_models()) == 6


def test_search_model_versions_across_pages(mlflow_client: MlflowClient) -> None:
    mlflow_client.create_registered_model("fraud")
    mlflow_client.create_registered_model("churn")
    for number in range(1, 6):
        mlflow_client.create_model_version("fraud", f"s3://bucket/fraud/{number}", run_id="r")
    mlflow_client.create_model_version("churn", "s3://bucket/churn/1")

    pages = all_pages(
        mlflow_client.search_model_versions,
        filter_string="name = 'fraud'",
        max_results=2,
        order_by=["version_number ASC"],
    )
    assert [[v.version for v in page] for page in pages] == [["1", "2"], ["3", "4"], ["5"]]

    # The client's default max_results (10000) is above the server's page limit: it is capped.
    everything = mlflow_client.search_model_versions("run_id = 'r'")
    assert sorted(v.version for v in everything) == ["1", "2", "3", "4", "5"]


def test_delete_version_then_model(mlflow_client: MlflowClient) -> None:
    mlflow_client.create_registered_model("fraud")
    mlflow_client.create_model_version("fraud", "s3://bucket/fraud/1")
    mlflow_client.create_model_version("fraud", "s3://bucket/fraud/2")

    mlflow_client.delete_model_version("fraud", "1")
    assert error_code(lambda: mlflow_client.get_model_version("fraud", "1")) == (
        "RESOURCE_DOES_NOT_EXIST"
    )
    assert [v.version for v in mlflow_client.search_model_versions("name = 'fraud'")] == ["2"]

    mlflow_client.delete_registered_model("fraud")
    assert error_code(lambda: mlflow_client.get_registered_model("fraud")) == (
        "RESOURCE_DOES_NOT_EXIST"
    )
    assert mlflow_client.search_registered_models() == []


@pytest.mark.usefixtures("fluent_registry_url")
def test_register_model_with_the_registry_uri_pointed_at_the_server() -> None:
    first = mlflow.register_model("s3://bucket/path/model", "fraud")
    assert (first.name, first.version, first.status) == ("fraud", "1", "READY")
    again = mlflow.register_model("s3://bucket/path/model", "fraud")
    assert again.version == "2"
    versions = mlflow.search_model_versions(filter_string="name = 'fraud'")
    assert sorted(v.version for v in versions) == ["1", "2"]
    assert {v.source for v in versions} == {"s3://bucket/path/model"}


# One backend: paging itself is proven on both by the store suite; this is about the client.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.usefixtures("fluent_registry_url")
def test_version_search_beyond_one_page_is_capped_and_the_fluent_api_follows_tokens(
    http_server: RunningServer, mlflow_client: MlflowClient
) -> None:
    http_server.store.create_registered_model("fraud", {}, "")
    for number in range(1, 1002):
        http_server.store.create_model_version("fraud", f"s3://bucket/fraud/{number}")

    # MLflow's own server would return all 1001 for the client's default max_results of 10000.
    first_page = mlflow_client.search_model_versions("name = 'fraud'")
    assert len(first_page) == 1000
    assert first_page.token

    every_version = mlflow.search_model_versions(filter_string="name = 'fraud'")
    assert len({v.version for v in every_version}) == 1001
