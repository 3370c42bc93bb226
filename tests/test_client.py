"""RegistryClient end to end on a real server, written the way a user of the MLflow registry
writes their workflow; failures arrive as the typed errors of ``registry_service.errors``."""

from __future__ import annotations

import socket
import time

import grpc
import pytest
from modelregistry.v1 import model_version_pb2, registry_service_pb2
from modelregistry.v1.registered_model_pb2 import RegisteredModel

from registry_service.client import RegistryClient
from registry_service.errors import AlreadyExists, InvalidArgument, NotFound, RegistryError

RUN = "5d1c7e"
SOURCE = f"runs:/{RUN}/model"
MODEL = "fraud-detector"
READY = model_version_pb2.MODEL_VERSION_STATUS_READY


def stages(client: RegistryClient, name: str = MODEL) -> dict[int, str]:
    return {
        v.version: v.current_stage
        for v in client.search_model_versions(f"name = '{name}'", order_by=["version_number"])
    }


@pytest.fixture
def three_versions(client: RegistryClient) -> RegistryClient:
    for _ in range(3):
        client.register_model(SOURCE, MODEL)
    return client


class TestRegisterModel:
    def test_creates_the_missing_model_then_version_one_with_its_run(
        self, client: RegistryClient
    ) -> None:
        before = time.time_ns() // 1_000_000
        version = client.register_model(SOURCE, MODEL)
        assert (version.name, version.version) == (MODEL, 1)
        assert version.run_id == RUN
        assert version.source == SOURCE
        assert version.current_stage == "None"
        assert version.status == READY
        assert version.creation_timestamp >= before
        model = client.get_registered_model(MODEL)
        assert [v.version for v in model.latest_versions] == [1]

    def test_registering_again_adds_version_two_to_the_existing_model(
        self, client: RegistryClient
    ) -> None:
        client.create_registered_model(MODEL, tags={"team": "risk"}, description="kept")
        assert client.register_model(SOURCE, MODEL).version == 1
        second = client.register_model("runs:/other-run/model", MODEL, description="retrained")
        assert (second.version, second.run_id, second.description) == (2, "other-run", "retrained")
        model = client.get_registered_model(MODEL)
        assert (dict(model.tags), model.description) == ({"team": "risk"}, "kept")
        assert [v.version for v in client.search_model_versions(f"name = '{MODEL}'")] == [2, 1]

    def test_contradicting_run_id_is_invalid_argument_and_creates_no_version(
        self, client: RegistryClient
    ) -> None:
        client.register_model(SOURCE, MODEL)
        with pytest.raises(InvalidArgument) as caught:
            client.register_model(SOURCE, MODEL, run_id="someone-else")
        assert caught.value.field == "run_id"
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert [v.version for v in client.search_model_versions(f"name = '{MODEL}'")] == [1]


class TestVersions:
    def test_get_model_version_and_details_return_the_same_version(
        self, three_versions: RegistryClient
    ) -> None:
        client = three_versions
        version = client.get_model_version(MODEL, 2)
        assert (version.name, version.version) == (MODEL, 2)
        assert client.get_model_version_details(MODEL, 2) == version
        assert client.get_model_version(MODEL, "2") == version

    def test_update_model_version_description(self, three_versions: RegistryClient) -> None:
        client = three_versions
        updated = client.update_model_version(MODEL, 1, description="approved by risk")
        assert updated.description == "approved by risk"
        assert client.get_model_version(MODEL, 1).description == "approved by risk"

    def test_update_model_version_with_stage_moves_the_stage(
        self, three_versions: RegistryClient
    ) -> None:
        client = three_versions
        client.update_model_version(MODEL, 1, description="keep")
        moved = client.update_model_version(MODEL, 1, stage="Staging")
        assert moved.current_stage == "Staging"
        assert moved.description == "keep"
        both = client.update_model_version(MODEL, "2", description="both", stage="production")
        assert (both.current_stage, both.description) == ("Production", "both")
        assert stages(client) == {1: "Staging", 2: "Production", 3: "None"}

    def test_transition_with_archive_existing_versions(
        self, three_versions: RegistryClient
    ) -> None:
        client = three_versions
        client.transition_model_version_stage(MODEL, 1, "Production")
        client.transition_model_version_stage(MODEL, 2, "Staging")
        promoted = client.transition_model_version_stage(
            MODEL, "3", "Production", archive_existing_versions=True
        )
        assert promoted.current_stage == "Production"
        assert stages(client) == {1: "Archived", 2: "Staging", 3: "Production"}

    def test_get_latest_versions(self, three_versions: RegistryClient) -> None:
        client = three_versions
        client.transition_model_version_stage(MODEL, 1, "Production")
        client.transition_model_version_stage(MODEL, 2, "Staging")
        production = client.get_latest_versions(MODEL, ["Production"])
        assert [(v.version, v.current_stage) for v in production] == [(1, "Production")]
        every = client.get_latest_versions(MODEL)
        assert [(v.version, v.current_stage) for v in every] == [
            (3, "None"),
            (2, "Staging"),
            (1, "Production"),
        ]
        assert client.get_latest_versions(MODEL, ["Archived"]) == []

    def test_version_tags(self, three_versions: RegistryClient) -> None:
        client = three_versions
        client.set_model_version_tag(MODEL, 1, "auc", "0.91")
        client.set_model_version_tag(MODEL, "1", "auc", "0.93")
        client.set_model_version_tag(MODEL, 1, "validated", "yes")
        assert dict(client.get_model_version(MODEL, 1).tags) == {"auc": "0.93", "validated": "yes"}
        client.delete_model_version_tag(MODEL, "1", "validated")
        assert dict(client.get_model_version(MODEL, 1).tags) == {"auc": "0.93"}

    def test_download_uri_is_the_source(self, client: RegistryClient) -> None:
        client.register_model("s3://models/fraud/7", MODEL)
        assert client.get_model_version_download_uri(MODEL, "1") == "s3://models/fraud/7"

    def test_create_model_version_from_a_models_uri_copies_that_version(
        self, client: RegistryClient
    ) -> None:
        client.register_model("s3://models/fraud/7", MODEL)
        client.set_registered_model_alias(MODEL, "champion", 1)
        client.create_registered_model("fraud-detector-eu")
        copied = client.create_model_version("fraud-detector-eu", f"models:/{MODEL}@champion")
        assert copied.source == f"models:/{MODEL}/1"
        assert client.get_model_version_download_uri("fraud-detector-eu", 1) == (
            "s3://models/fraud/7"
        )

    def test_delete_model_version(self, three_versions: RegistryClient) -> None:
        client = three_versions
        client.delete_model_version(MODEL, "2")
        assert sorted(stages(client)) == [1, 3]
        with pytest.raises(NotFound):
            client.get_model_version(MODEL, 2)
        assert client.register_model(SOURCE, MODEL).version == 4

    @pytest.mark.parametrize("version", ["one", "1.5", "", None])
    def test_non_numeric_version_is_invalid_argument_before_any_call(
        self, three_versions: RegistryClient, version: object
    ) -> None:
        client = three_versions
        with pytest.raises(InvalidArgument) as caught:
            client.delete_model_version(MODEL, version)  # type: ignore[arg-type]
        assert caught.value.field == "version"
        assert caught.value.reason == "INVALID_PARAMETER_VALUE"
        assert sorted(stages(client)) == [1, 2, 3]

    def test_non_numeric_version_error_carries_the_invalid_argument_code(
        self, three_versions: RegistryClient
    ) -> None:
        # Caught as RegistryError, it reads like the server's own rejection of version 0.
        with pytest.raises(RegistryError) as caught:
            three_versions.get_model_version(MODEL, "one")
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT


class TestAliases:
    def test_set_get_and_delete(self, three_versions: RegistryClient) -> None:
        client = three_versions
        client.set_registered_model_alias(MODEL, "champion", "1")
        client.set_registered_model_alias(MODEL, "challenger", 3)
        assert client.get_model_version_by_alias(MODEL, "champion").version == 1
        client.set_registered_model_alias(MODEL, "champion", 2)
        champion = client.get_model_version_by_alias(MODEL, "champion")
        assert (champion.version, list(champion.aliases)) == (2, ["champion"])
        assert dict(client.get_registered_model(MODEL).aliases) == {
            "challenger": 3,
            "champion": 2,
        }
        client.delete_registered_model_alias(MODEL, "champion")
        with pytest.raises(NotFound) as caught:
            client.get_model_version_by_alias(MODEL, "champion")
        assert caught.value.field == "alias"
        assert client.get_model_version_by_alias(MODEL, "latest").version == 3

    def test_reserved_alias_is_invalid_argument(self, three_versions: RegistryClient) -> None:
        with pytest.raises(InvalidArgument) as caught:
            three_versions.set_registered_model_alias(MODEL, "latest", 1)
        assert caught.value.field == "alias"
        assert dict(three_versions.get_registered_model(MODEL).aliases) == {}


class TestRegisteredModels:
    def test_model_tags(self, client: RegistryClient) -> None:
        client.create_registered_model(MODEL, tags={"team": "risk"})
        client.set_registered_model_tag(MODEL, "tier", "1")
        client.set_registered_model_tag(MODEL, "team", "fraud-ops")
        assert dict(client.get_registered_model(MODEL).tags) == {"team": "fraud-ops", "tier": "1"}
        client.delete_registered_model_tag(MODEL, "tier")
        assert dict(client.get_registered_model(MODEL).tags) == {"team": "fraud-ops"}

    def test_update_description_keeps_it_when_omitted_and_clears_it_when_empty(
        self, client: RegistryClient
    ) -> None:
        client.create_registered_model(MODEL, description="first")
        assert client.update_registered_model(MODEL, "second").description == "second"
        assert client.update_registered_model(MODEL).description == "second"
        assert client.update_registered_model(MODEL, "").description == ""
        assert client.get_registered_model(MODEL).description == ""

    def test_rename_carries_versions_tags_and_aliases(self, three_versions: RegistryClient) -> None:
        client = three_versions
        client.set_registered_model_tag(MODEL, "team", "risk")
        client.set_registered_model_alias(MODEL, "champion", 2)
        renamed = client.rename_registered_model(MODEL, "fraud-detector-v2")
        assert renamed.name == "fraud-detector-v2"
        assert dict(renamed.tags) == {"team": "risk"}
        assert dict(renamed.aliases) == {"champion": 2}
        assert sorted(stages(client, "fraud-detector-v2")) == [1, 2, 3]
        assert client.get_model_version_by_alias("fraud-detector-v2", "champion").version == 2
        with pytest.raises(NotFound):
            client.get_registered_model(MODEL)

    def test_delete_registered_model_removes_its_versions(
        self, three_versions: RegistryClient
    ) -> None:
        client = three_versions
        client.delete_registered_model(MODEL)
        with pytest.raises(NotFound):
            client.get_registered_model(MODEL)
        assert client.search_model_versions() == []
        assert client.search_registered_models() == []


class TestSearchPaging:
    @pytest.fixture
    def seven_models(self, client: RegistryClient) -> list[str]:
        names = [f"model-{i}" for i in range(7)]
        for name in reversed(names):
            client.create_registered_model(name)
        return names

    @pytest.fixture
    def seven_versions(self, client: RegistryClient) -> None:
        for _ in range(7):
            client.register_model(SOURCE, MODEL)
        client.register_model("runs:/other/model", "churn")

    def test_search_registered_models_fetches_every_page(
        self, client: RegistryClient, seven_models: list[str]
    ) -> None:
        assert [m.name for m in client.search_registered_models(page_size=2)] == seven_models
        filtered = client.search_registered_models("name LIKE 'model-%'", page_size=2)
        assert [m.name for m in filtered] == seven_models

    def test_search_registered_models_in_descending_order_fetches_every_page(
        self, client: RegistryClient, seven_models: list[str]
    ) -> None:
        descending = client.search_registered_models(order_by=["name DESC"], page_size=2)
        assert [m.name for m in descending] == seven_models[::-1]

    def test_max_results_caps_registered_models(
        self, client: RegistryClient, seven_models: list[str]
    ) -> None:
        capped = client.search_registered_models(page_size=2, max_results=3)
        assert [m.name for m in capped] == seven_models[:3]
        assert len(client.search_registered_models(max_results=100)) == 7

    def test_search_model_versions_fetches_every_page(
        self, client: RegistryClient, seven_versions: None
    ) -> None:
        ascending = client.search_model_versions(
            f"run_id = '{RUN}'", order_by=["version_number ASC"], page_size=2
        )
        assert [v.version for v in ascending] == [1, 2, 3, 4, 5, 6, 7]
        by_name = client.search_model_versions(order_by=["name", "version_number"], page_size=3)
        assert [(v.name, v.version) for v in by_name] == [("churn", 1)] + [
            (MODEL, n) for n in range(1, 8)
        ]

    def test_search_model_versions_in_default_order_fetches_every_page(
        self, client: RegistryClient, seven_versions: None
    ) -> None:
        # Default order: last updated first; versions created later were updated no earlier,
        # and ties go to the higher version number.
        found = client.search_model_versions(f"name = '{MODEL}'", page_size=2)
        assert [v.version for v in found] == [7, 6, 5, 4, 3, 2, 1]

    def test_max_results_caps_model_versions(
        self, client: RegistryClient, seven_versions: None
    ) -> None:
        capped = client.search_model_versions(
            order_by=["name ASC", "version_number ASC"], page_size=2, max_results=3
        )
        assert [(v.name, v.version) for v in capped] == [("churn", 1), (MODEL, 1), (MODEL, 2)]


class TestErrors:
    def test_missing_model_is_not_found(self, client: RegistryClient) -> None:
        with pytest.raises(NotFound) as caught:
            client.get_registered_model("ghost")
        error = caught.value
        assert isinstance(error, RegistryError)
        assert error.code == grpc.StatusCode.NOT_FOUND
        assert error.reason == "RESOURCE_DOES_NOT_EXIST"
        assert error.field == "name"
        assert "ghost" in str(error)

    def test_missing_version_is_not_found_on_version(self, client: RegistryClient) -> None:
        client.register_model(SOURCE, MODEL)
        with pytest.raises(NotFound) as caught:
            client.get_model_version(MODEL, "5")
        assert caught.value.code == grpc.StatusCode.NOT_FOUND
        assert caught.value.field == "version"

    def test_duplicate_model_is_already_exists(self, client: RegistryClient) -> None:
        client.create_registered_model(MODEL)
        with pytest.raises(AlreadyExists) as caught:
            client.create_registered_model(MODEL)
        assert caught.value.code == grpc.StatusCode.ALREADY_EXISTS
        assert caught.value.reason == "RESOURCE_ALREADY_EXISTS"
        assert caught.value.field == "name"

    def test_rename_onto_a_taken_name_is_already_exists(self, client: RegistryClient) -> None:
        client.create_registered_model(MODEL)
        client.create_registered_model("churn")
        with pytest.raises(AlreadyExists) as caught:
            client.rename_registered_model(MODEL, "churn")
        assert caught.value.field == "new_name"

    def test_bad_stage_is_invalid_argument(self, client: RegistryClient) -> None:
        client.register_model(SOURCE, MODEL)
        with pytest.raises(InvalidArgument) as caught:
            client.transition_model_version_stage(MODEL, 1, "Prod")
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.reason == "INVALID_PARAMETER_VALUE"
        assert caught.value.field == "stage"
        assert client.get_model_version(MODEL, 1).current_stage == "None"

    def test_version_zero_is_invalid_argument(self, client: RegistryClient) -> None:
        client.register_model(SOURCE, MODEL)
        with pytest.raises(InvalidArgument) as caught:
            client.get_model_version(MODEL, "0")
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.field == "version"

    def test_bad_filter_is_invalid_argument(self, client: RegistryClient) -> None:
        with pytest.raises(InvalidArgument) as caught:
            client.search_registered_models("name = ")
        assert caught.value.field == "filter"

    def test_no_server_is_unavailable(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        started = time.monotonic()
        with (
            RegistryClient(f"127.0.0.1:{port}", timeout=2) as client,
            pytest.raises(RegistryError) as caught,
        ):
            client.get_registered_model(MODEL)
        assert caught.value.code == grpc.StatusCode.UNAVAILABLE
        assert time.monotonic() - started < 10


class TestImportRegisteredModel:
    def test_imports_with_numbers_kept_and_reports_the_outcome(
        self, client: RegistryClient
    ) -> None:
        model = RegisteredModel(name=MODEL, aliases={"champion": 4})
        versions = [model_version_pb2.ModelVersion(version=4, source=SOURCE, run_id=RUN)]

        created = client.import_registered_model(model, versions)
        renamed = client.import_registered_model(model, versions, on_conflict="RENAME")

        assert created.outcome == registry_service_pb2.IMPORT_OUTCOME_CREATED
        assert renamed.registered_model.name == f"{MODEL}-imported"
        assert client.get_model_version_by_alias(MODEL, "champion").version == 4
        with pytest.raises(AlreadyExists) as caught:
            client.import_registered_model(model, versions)
        assert caught.value.field == "registered_model.name"

    def test_unknown_policy_is_refused_before_calling(self, client: RegistryClient) -> None:
        with pytest.raises(InvalidArgument) as caught:
            client.import_registered_model(RegisteredModel(name=MODEL), on_conflict="merge")
        assert caught.value.field == "on_conflict"
        assert client.search_registered_models() == []
