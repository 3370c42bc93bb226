"""The registry service driven directly through grpcio-testing (by its gRPC adapter), on both
backends.

Each RPC: its normal path and its documented errors, read the way a client reads them
(status code, and the google.rpc.ErrorInfo in the "grpc-status-details-bin" trailer).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import grpc_testing
import pytest
from google.rpc import error_details_pb2, status_pb2
from modelregistry.v1 import model_version_pb2, registry_service_pb2

from registry_service.errors import Unavailable
from registry_service.grpc_errors import grpc_servicer
from registry_service.servicer import RegistryService
from registry_service.store.registry_store import RegistryStore

pb = registry_service_pb2
SERVICE = registry_service_pb2.DESCRIPTOR.services_by_name["ModelRegistryService"]
STATUS_DETAILS_KEY = "grpc-status-details-bin"
DOMAIN = "modelregistry.v1"

NOT_FOUND = (grpc.StatusCode.NOT_FOUND, "RESOURCE_DOES_NOT_EXIST")
ALREADY_EXISTS = (grpc.StatusCode.ALREADY_EXISTS, "RESOURCE_ALREADY_EXISTS")
INVALID = (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PARAMETER_VALUE")

RUN = "3f2a9c"
READY = model_version_pb2.MODEL_VERSION_STATUS_READY


@dataclass(frozen=True)
class Outcome:
    response: Any
    code: grpc.StatusCode
    details: str
    error_info: error_details_pb2.ErrorInfo | None


def error_info_of(trailing_metadata: Any) -> error_details_pb2.ErrorInfo | None:
    for key, value in trailing_metadata:
        if key == STATUS_DETAILS_KEY:
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    info = error_details_pb2.ErrorInfo()
                    detail.Unpack(info)
                    return info
    return None


class Registry:
    """The servicer behind a grpcio-testing server, with a fake clock the tests advance."""

    def __init__(self, store: RegistryStore) -> None:
        self._ticks = itertools.count(1_700_000_000_000, 1000)
        self.store = RegistryStore(store.engine, clock=lambda: next(self._ticks))
        self.service = RegistryService(self.store)
        self.server = grpc_testing.server_from_dictionary(
            {SERVICE: grpc_servicer(self.service, SERVICE)}, grpc_testing.strict_real_time()
        )

    def call(self, method: str, request: Any) -> Outcome:
        rpc = self.server.invoke_unary_unary(SERVICE.methods_by_name[method], (), request, None)
        response, trailing_metadata, code, details = rpc.termination()
        return Outcome(response, code, details, error_info_of(trailing_metadata))

    def ok(self, method: str, request: Any) -> Any:
        outcome = self.call(method, request)
        assert outcome.code == grpc.StatusCode.OK, (outcome.code, outcome.details)
        return outcome.response

    def fails(
        self, method: str, request: Any, expected: tuple[grpc.StatusCode, str], field: str | None
    ) -> Outcome:
        code, reason = expected
        outcome = self.call(method, request)
        assert outcome.code == code, (outcome.code, outcome.details)
        assert outcome.details, "an error status carries a message"
        assert outcome.error_info is not None, (
            f"no google.rpc.ErrorInfo in the {STATUS_DETAILS_KEY!r} trailer of {method}"
        )
        assert outcome.error_info.reason == reason
        assert outcome.error_info.domain == DOMAIN
        if field is None:
            assert "field" not in outcome.error_info.metadata
        else:
            assert outcome.error_info.metadata["field"] == field
        return outcome

    # -- shorthands for setting up state -------------------------------------------------------

    def model(self, name: str = "fraud", **fields: Any) -> Any:
        request = pb.CreateRegisteredModelRequest(name=name, **fields)
        return self.ok("CreateRegisteredModel", request).registered_model

    def version(
        self, name: str = "fraud", source: str = f"runs:/{RUN}/model", **fields: Any
    ) -> Any:
        request = pb.CreateModelVersionRequest(name=name, source=source, **fields)
        return self.ok("CreateModelVersion", request).model_version

    def get_model(self, name: str = "fraud") -> Any:
        request = pb.GetRegisteredModelRequest(name=name)
        return self.ok("GetRegisteredModel", request).registered_model

    def get_version(self, name: str = "fraud", version: int = 1) -> Any:
        request = pb.GetModelVersionRequest(name=name, version=version)
        return self.ok("GetModelVersion", request).model_version

    def stage(self, version: int, stage: str, name: str = "fraud", archive: bool = False) -> Any:
        request = pb.TransitionModelVersionStageRequest(
            name=name, version=version, stage=stage, archive_existing_versions=archive
        )
        return self.ok("TransitionModelVersionStage", request).model_version


@pytest.fixture(autouse=True)
def quiet_grpc_testing() -> Iterator[None]:
    """grpcio-testing logs a traceback for every aborted call from its handler thread, after the
    call has terminated; formatting it races the test thread for nothing, so it is switched off."""
    logger = logging.getLogger("grpc_testing")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


@pytest.fixture(autouse=True)
def trailers_survive_abort(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real server sends the trailing metadata set before context.abort (that is how
    abort_with_status delivers its details); grpcio-testing's abort drops them. This makes the
    test server do what the real one does, so ErrorInfo can be read here too."""
    from grpc_testing import _common
    from grpc_testing._server import _rpc

    def abort(rpc: Any, code: grpc.StatusCode, details: str) -> None:
        trailers = rpc._pending_trailing_metadata or _common.FUSSED_EMPTY_METADATA
        rpc._terminate(trailers, code, details)

    monkeypatch.setattr(_rpc.Rpc, "_abort", abort)


@pytest.fixture
def registry(store: RegistryStore) -> Registry:
    return Registry(store)


# -- CreateRegisteredModel ---------------------------------------------------------------------


class TestCreateRegisteredModel:
    def test_returns_the_model_with_its_tags_description_and_timestamps(
        self, registry: Registry
    ) -> None:
        model = registry.model("fraud", tags={"team": "risk"}, description="scores payments")
        assert model.name == "fraud"
        assert dict(model.tags) == {"team": "risk"}
        assert model.description == "scores payments"
        assert model.creation_timestamp == model.last_updated_timestamp > 0
        assert list(model.latest_versions) == []
        assert dict(model.aliases) == {}
        assert registry.get_model("fraud") == model

    def test_duplicate_name_is_already_exists_on_name(self, registry: Registry) -> None:
        registry.model("fraud", description="first")
        request = pb.CreateRegisteredModelRequest(name="fraud", description="second")
        registry.fails("CreateRegisteredModel", request, ALREADY_EXISTS, "name")
        assert registry.get_model("fraud").description == "first"

    @pytest.mark.parametrize("name", ["", "a/b", " padded", "bell\x07"])
    def test_malformed_name_is_invalid_argument_on_name(
        self, registry: Registry, name: str
    ) -> None:
        request = pb.CreateRegisteredModelRequest(name=name)
        registry.fails("CreateRegisteredModel", request, INVALID, "name")
        search = registry.ok("SearchRegisteredModels", pb.SearchRegisteredModelsRequest())
        assert list(search.registered_models) == []

    def test_bad_tag_key_names_the_tags_field(self, registry: Registry) -> None:
        request = pb.CreateRegisteredModelRequest(name="fraud", tags={"": "x"})
        registry.fails("CreateRegisteredModel", request, INVALID, "tags.key")


# -- GetRegisteredModel ------------------------------------------------------------------------


class TestGetRegisteredModel:
    def test_returns_latest_version_per_stage_tags_and_aliases(self, registry: Registry) -> None:
        registry.model("fraud", tags={"team": "risk"})
        for _ in range(4):
            registry.version()
        registry.stage(1, "Production")
        registry.stage(2, "Staging")
        registry.ok(
            "SetRegisteredModelAlias",
            pb.SetRegisteredModelAliasRequest(name="fraud", alias="champion", version=1),
        )
        model = registry.get_model("fraud")
        assert [(v.version, v.current_stage) for v in model.latest_versions] == [
            (4, "None"),
            (2, "Staging"),
            (1, "Production"),
        ]
        assert dict(model.tags) == {"team": "risk"}
        assert dict(model.aliases) == {"champion": 1}

    def test_missing_model_is_not_found_on_name(self, registry: Registry) -> None:
        outcome = registry.fails(
            "GetRegisteredModel", pb.GetRegisteredModelRequest(name="ghost"), NOT_FOUND, "name"
        )
        assert "ghost" in outcome.details

    def test_empty_name_is_invalid_argument(self, registry: Registry) -> None:
        registry.fails("GetRegisteredModel", pb.GetRegisteredModelRequest(), INVALID, "name")


# -- RenameRegisteredModel ---------------------------------------------------------------------


class TestRenameRegisteredModel:
    def test_carries_versions_tags_and_aliases_and_frees_the_old_name(
        self, registry: Registry
    ) -> None:
        registry.model("fraud", tags={"team": "risk"})
        registry.version(tags={"k": "v"})
        registry.ok(
            "SetRegisteredModelAlias",
            pb.SetRegisteredModelAliasRequest(name="fraud", alias="champion", version=1),
        )
        renamed = registry.ok(
            "RenameRegisteredModel",
            pb.RenameRegisteredModelRequest(name="fraud", new_name="fraud-v2"),
        ).registered_model
        assert renamed.name == "fraud-v2"
        assert dict(renamed.tags) == {"team": "risk"}
        assert dict(renamed.aliases) == {"champion": 1}
        assert [v.name for v in renamed.latest_versions] == ["fraud-v2"]
        version = registry.get_version("fraud-v2", 1)
        assert dict(version.tags) == {"k": "v"}
        assert list(version.aliases) == ["champion"]
        registry.fails(
            "GetRegisteredModel", pb.GetRegisteredModelRequest(name="fraud"), NOT_FOUND, "name"
        )

    def test_onto_a_taken_name_is_already_exists_on_new_name(self, registry: Registry) -> None:
        registry.model("fraud")
        registry.model("churn")
        request = pb.RenameRegisteredModelRequest(name="fraud", new_name="churn")
        registry.fails("RenameRegisteredModel", request, ALREADY_EXISTS, "new_name")
        assert registry.get_model("fraud").name == "fraud"

    def test_missing_model_is_not_found(self, registry: Registry) -> None:
        request = pb.RenameRegisteredModelRequest(name="ghost", new_name="spirit")
        registry.fails("RenameRegisteredModel", request, NOT_FOUND, "name")

    def test_empty_new_name_is_invalid_argument_on_new_name(self, registry: Registry) -> None:
        registry.model("fraud")
        request = pb.RenameRegisteredModelRequest(name="fraud", new_name="")
        registry.fails("RenameRegisteredModel", request, INVALID, "new_name")


# -- UpdateRegisteredModel ---------------------------------------------------------------------


class TestUpdateRegisteredModel:
    def test_sets_the_description(self, registry: Registry) -> None:
        before = registry.model("fraud", description="old")
        updated = registry.ok(
            "UpdateRegisteredModel",
            pb.UpdateRegisteredModelRequest(name="fraud", description="new"),
        ).registered_model
        assert updated.description == "new"
        assert updated.last_updated_timestamp > before.last_updated_timestamp
        assert registry.get_model("fraud").description == "new"

    def test_absent_description_leaves_it_unchanged(self, registry: Registry) -> None:
        registry.model("fraud", description="keep me")
        request = pb.UpdateRegisteredModelRequest(name="fraud")
        assert not request.HasField("description")
        updated = registry.ok("UpdateRegisteredModel", request).registered_model
        assert updated.description == "keep me"
        assert registry.get_model("fraud").description == "keep me"

    def test_empty_description_clears_it(self, registry: Registry) -> None:
        registry.model("fraud", description="drop me")
        request = pb.UpdateRegisteredModelRequest(name="fraud", description="")
        assert request.HasField("description")
        assert registry.ok("UpdateRegisteredModel", request).registered_model.description == ""
        assert registry.get_model("fraud").description == ""

    def test_missing_model_is_not_found(self, registry: Registry) -> None:
        request = pb.UpdateRegisteredModelRequest(name="ghost", description="x")
        registry.fails("UpdateRegisteredModel", request, NOT_FOUND, "name")

    def test_control_character_in_description_is_invalid_argument(self, registry: Registry) -> None:
        registry.model("fraud", description="old")
        request = pb.UpdateRegisteredModelRequest(name="fraud", description="nul\x00")
        registry.fails("UpdateRegisteredModel", request, INVALID, "description")
        assert registry.get_model("fraud").description == "old"


# -- DeleteRegisteredModel ---------------------------------------------------------------------


class TestDeleteRegisteredModel:
    def test_deletes_the_model_and_its_versions(self, registry: Registry) -> None:
        registry.model("fraud")
        registry.version()
        registry.ok("DeleteRegisteredModel", pb.DeleteRegisteredModelRequest(name="fraud"))
        registry.fails(
            "GetRegisteredModel", pb.GetRegisteredModelRequest(name="fraud"), NOT_FOUND, "name"
        )
        versions = registry.ok("SearchModelVersions", pb.SearchModelVersionsRequest())
        assert list(versions.model_versions) == []

    def test_missing_model_is_not_found(self, registry: Registry) -> None:
        request = pb.DeleteRegisteredModelRequest(name="ghost")
        registry.fails("DeleteRegisteredModel", request, NOT_FOUND, "name")


# -- SearchRegisteredModels --------------------------------------------------------------------


class TestSearchRegisteredModels:
    def test_filters_orders_and_pages(self, registry: Registry) -> None:
        for name in ["fraud-b", "fraud-a", "churn", "fraud-c"]:
            registry.model(name)
        request = pb.SearchRegisteredModelsRequest(
            filter="name LIKE 'fraud-%'", order_by=["name DESC"], page_size=2
        )
        first = registry.ok("SearchRegisteredModels", request)
        assert [m.name for m in first.registered_models] == ["fraud-c", "fraud-b"]
        assert first.next_page_token
        request.page_token = first.next_page_token
        second = registry.ok("SearchRegisteredModels", request)
        assert [m.name for m in second.registered_models] == ["fraud-a"]
        assert second.next_page_token == ""

    def test_malformed_filter_is_invalid_argument_on_filter(self, registry: Registry) -> None:
        request = pb.SearchRegisteredModelsRequest(filter="name = ")
        registry.fails("SearchRegisteredModels", request, INVALID, "filter")

    def test_unknown_filter_attribute_is_invalid_argument(self, registry: Registry) -> None:
        request = pb.SearchRegisteredModelsRequest(filter="colour = 'red'")
        registry.fails("SearchRegisteredModels", request, INVALID, "filter")

    def test_negative_page_size_is_invalid_argument_on_page_size(self, registry: Registry) -> None:
        request = pb.SearchRegisteredModelsRequest(page_size=-1)
        registry.fails("SearchRegisteredModels", request, INVALID, "page_size")

    def test_unknown_order_by_key_is_invalid_argument_on_order_by(self, registry: Registry) -> None:
        request = pb.SearchRegisteredModelsRequest(order_by=["colour ASC"])
        registry.fails("SearchRegisteredModels", request, INVALID, "order_by")

    def test_forged_page_token_is_invalid_argument_on_page_token(self, registry: Registry) -> None:
        request = pb.SearchRegisteredModelsRequest(page_token="not-a-token")
        registry.fails("SearchRegisteredModels", request, INVALID, "page_token")


# -- GetLatestVersions -------------------------------------------------------------------------


class TestGetLatestVersions:
    def test_returns_highest_version_in_each_requested_stage(self, registry: Registry) -> None:
        registry.model()
        for _ in range(4):
            registry.version()
        registry.stage(1, "Production")
        registry.stage(2, "Production")
        registry.stage(3, "Staging")
        only_production = registry.ok(
            "GetLatestVersions", pb.GetLatestVersionsRequest(name="fraud", stages=["production"])
        )
        assert [(v.version, v.current_stage) for v in only_production.model_versions] == [
            (2, "Production")
        ]
        every_stage = registry.ok("GetLatestVersions", pb.GetLatestVersionsRequest(name="fraud"))
        assert [(v.version, v.current_stage) for v in every_stage.model_versions] == [
            (4, "None"),
            (3, "Staging"),
            (2, "Production"),
        ]

    def test_unknown_stage_is_invalid_argument_on_stages(self, registry: Registry) -> None:
        registry.model()
        request = pb.GetLatestVersionsRequest(name="fraud", stages=["Prod"])
        registry.fails("GetLatestVersions", request, INVALID, "stages")

    def test_missing_model_is_not_found(self, registry: Registry) -> None:
        request = pb.GetLatestVersionsRequest(name="ghost")
        registry.fails("GetLatestVersions", request, NOT_FOUND, "name")


# -- CreateModelVersion ------------------------------------------------------------------------


class TestCreateModelVersion:
    def test_numbers_versions_and_records_the_run_of_a_runs_source(
        self, registry: Registry
    ) -> None:
        registry.model()
        first = registry.version(
            tags={"k": "v"},
            description="first",
            run_link="http://tracker/run",
            experiment_id="7",
        )
        assert first.name == "fraud"
        assert first.version == 1
        assert first.run_id == RUN
        assert first.source == f"runs:/{RUN}/model"
        assert first.current_stage == "None"
        assert first.status == READY
        assert first.status_message == ""
        assert dict(first.tags) == {"k": "v"}
        assert first.description == "first"
        assert first.run_link == "http://tracker/run"
        assert first.experiment_id == "7"
        assert first.creation_timestamp == first.last_updated_timestamp > 0
        assert registry.version(source="s3://bucket/other").version == 2

    def test_models_source_is_kept_as_a_reference_to_the_copied_version(
        self, registry: Registry
    ) -> None:
        registry.model("fraud")
        registry.version(source="s3://bucket/fraud/1")
        registry.model("copy")
        copied = registry.version("copy", source="models:/fraud/latest")
        assert copied.source == "models:/fraud/1"

    def test_missing_model_is_not_found_on_name(self, registry: Registry) -> None:
        request = pb.CreateModelVersionRequest(name="ghost", source="s3://bucket/x")
        registry.fails("CreateModelVersion", request, NOT_FOUND, "name")

    def test_run_id_contradicting_the_runs_source_is_invalid_argument_on_run_id(
        self, registry: Registry
    ) -> None:
        registry.model()
        request = pb.CreateModelVersionRequest(
            name="fraud", source=f"runs:/{RUN}/model", run_id="another-run"
        )
        registry.fails("CreateModelVersion", request, INVALID, "run_id")
        assert list(registry.get_model().latest_versions) == []
        # The rejected call did not consume a version number.
        assert registry.version().version == 1

    def test_empty_source_is_invalid_argument_on_source(self, registry: Registry) -> None:
        registry.model()
        request = pb.CreateModelVersionRequest(name="fraud", source="")
        registry.fails("CreateModelVersion", request, INVALID, "source")


# -- GetModelVersion ---------------------------------------------------------------------------


class TestGetModelVersion:
    def test_returns_the_version(self, registry: Registry) -> None:
        registry.model()
        created = registry.version(description="d")
        assert registry.get_version("fraud", 1) == created

    def test_missing_version_is_not_found_on_version(self, registry: Registry) -> None:
        registry.model()
        request = pb.GetModelVersionRequest(name="fraud", version=9)
        registry.fails("GetModelVersion", request, NOT_FOUND, "version")

    def test_missing_model_is_not_found_on_name(self, registry: Registry) -> None:
        request = pb.GetModelVersionRequest(name="ghost", version=1)
        registry.fails("GetModelVersion", request, NOT_FOUND, "name")

    @pytest.mark.parametrize("version", [0, -3])
    def test_version_below_one_is_invalid_argument_on_version(
        self, registry: Registry, version: int
    ) -> None:
        registry.model()
        request = pb.GetModelVersionRequest(name="fraud", version=version)
        registry.fails("GetModelVersion", request, INVALID, "version")


# -- UpdateModelVersion ------------------------------------------------------------------------


class TestUpdateModelVersion:
    def test_sets_the_description(self, registry: Registry) -> None:
        registry.model()
        before = registry.version(description="old")
        updated = registry.ok(
            "UpdateModelVersion",
            pb.UpdateModelVersionRequest(name="fraud", version=1, description="new"),
        ).model_version
        assert updated.description == "new"
        assert updated.last_updated_timestamp > before.last_updated_timestamp
        assert registry.get_version().description == "new"

    def test_absent_description_leaves_it_unchanged(self, registry: Registry) -> None:
        registry.model()
        registry.version(description="keep me")
        request = pb.UpdateModelVersionRequest(name="fraud", version=1)
        assert not request.HasField("description")
        assert registry.ok("UpdateModelVersion", request).model_version.description == "keep me"
        assert registry.get_version().description == "keep me"

    def test_empty_description_clears_it(self, registry: Registry) -> None:
        registry.model()
        registry.version(description="drop me")
        request = pb.UpdateModelVersionRequest(name="fraud", version=1, description="")
        assert registry.ok("UpdateModelVersion", request).model_version.description == ""
        assert registry.get_version().description == ""

    def test_missing_version_is_not_found(self, registry: Registry) -> None:
        registry.model()
        request = pb.UpdateModelVersionRequest(name="fraud", version=2, description="x")
        registry.fails("UpdateModelVersion", request, NOT_FOUND, "version")


# -- TransitionModelVersionStage ---------------------------------------------------------------


class TestTransitionModelVersionStage:
    def test_moves_the_version_and_spells_the_stage_canonically(self, registry: Registry) -> None:
        registry.model()
        created = registry.version()
        moved = registry.stage(1, "pRoDuCtIoN")
        assert moved.current_stage == "Production"
        assert moved.last_updated_timestamp > created.last_updated_timestamp
        assert registry.get_version().current_stage == "Production"

    def test_archive_existing_versions_archives_the_previous_occupants(
        self, registry: Registry
    ) -> None:
        registry.model()
        for _ in range(3):
            registry.version()
        registry.stage(1, "Production")
        registry.stage(2, "Staging")
        registry.stage(3, "Production", archive=True)
        stages = {v: registry.get_version(version=v).current_stage for v in (1, 2, 3)}
        assert stages == {1: "Archived", 2: "Staging", 3: "Production"}

    def test_without_archiving_both_stay_in_the_stage(self, registry: Registry) -> None:
        registry.model()
        registry.version()
        registry.version()
        registry.stage(1, "Production")
        registry.stage(2, "Production")
        assert registry.get_version(version=1).current_stage == "Production"

    def test_unknown_stage_is_invalid_argument_on_stage(self, registry: Registry) -> None:
        registry.model()
        registry.version()
        request = pb.TransitionModelVersionStageRequest(name="fraud", version=1, stage="Prod")
        registry.fails("TransitionModelVersionStage", request, INVALID, "stage")
        assert registry.get_version().current_stage == "None"

    def test_archiving_when_moving_to_archived_is_invalid_argument(
        self, registry: Registry
    ) -> None:
        registry.model()
        registry.version()
        registry.version()
        registry.stage(1, "Archived")
        request = pb.TransitionModelVersionStageRequest(
            name="fraud", version=2, stage="Archived", archive_existing_versions=True
        )
        registry.fails("TransitionModelVersionStage", request, INVALID, "archive_existing_versions")
        assert registry.get_version(version=2).current_stage == "None"

    def test_missing_version_is_not_found(self, registry: Registry) -> None:
        registry.model()
        request = pb.TransitionModelVersionStageRequest(name="fraud", version=1, stage="Staging")
        registry.fails("TransitionModelVersionStage", request, NOT_FOUND, "version")


# -- DeleteModelVersion ------------------------------------------------------------------------


class TestDeleteModelVersion:
    def test_deletes_the_version_and_never_reuses_its_number(self, registry: Registry) -> None:
        registry.model()
        registry.version()
        registry.version()
        registry.ok("DeleteModelVersion", pb.DeleteModelVersionRequest(name="fraud", version=2))
        registry.fails(
            "GetModelVersion",
            pb.GetModelVersionRequest(name="fraud", version=2),
            NOT_FOUND,
            "version",
        )
        assert registry.version().version == 3

    def test_missing_version_is_not_found(self, registry: Registry) -> None:
        registry.model()
        request = pb.DeleteModelVersionRequest(name="fraud", version=1)
        registry.fails("DeleteModelVersion", request, NOT_FOUND, "version")

    def test_version_zero_is_invalid_argument(self, registry: Registry) -> None:
        registry.model()
        request = pb.DeleteModelVersionRequest(name="fraud", version=0)
        registry.fails("DeleteModelVersion", request, INVALID, "version")


# -- SearchModelVersions -----------------------------------------------------------------------


class TestSearchModelVersions:
    def test_filters_by_name_and_run_id(self, registry: Registry) -> None:
        registry.model("fraud")
        registry.model("churn")
        registry.version("fraud", run_id="r1", source="s3://b/1")
        registry.version("fraud", run_id="r2", source="s3://b/2")
        registry.version("churn", run_id="r1", source="s3://b/3")
        request = pb.SearchModelVersionsRequest(filter="name = 'fraud' AND run_id IN ('r1', 'r9')")
        found = registry.ok("SearchModelVersions", request).model_versions
        assert [(v.name, v.version, v.run_id) for v in found] == [("fraud", 1, "r1")]

    def test_malformed_filter_is_invalid_argument_on_filter(self, registry: Registry) -> None:
        request = pb.SearchModelVersionsRequest(filter="run_id IN (")
        registry.fails("SearchModelVersions", request, INVALID, "filter")

    def test_negative_page_size_is_invalid_argument_on_page_size(self, registry: Registry) -> None:
        request = pb.SearchModelVersionsRequest(page_size=-5)
        registry.fails("SearchModelVersions", request, INVALID, "page_size")


# -- GetModelVersionDownloadUri ----------------------------------------------------------------


class TestGetModelVersionDownloadUri:
    def test_returns_the_versions_source(self, registry: Registry) -> None:
        registry.model()
        registry.version(source="s3://bucket/fraud/model")
        response = registry.ok(
            "GetModelVersionDownloadUri",
            pb.GetModelVersionDownloadUriRequest(name="fraud", version=1),
        )
        assert response.artifact_uri == "s3://bucket/fraud/model"

    def test_missing_version_is_not_found(self, registry: Registry) -> None:
        registry.model()
        request = pb.GetModelVersionDownloadUriRequest(name="fraud", version=4)
        registry.fails("GetModelVersionDownloadUri", request, NOT_FOUND, "version")


# -- model tags --------------------------------------------------------------------------------


class TestRegisteredModelTags:
    def test_set_creates_then_overwrites(self, registry: Registry) -> None:
        registry.model()
        for value in ("risk", "fraud-ops"):
            registry.ok(
                "SetRegisteredModelTag",
                pb.SetRegisteredModelTagRequest(name="fraud", key="team", value=value),
            )
        assert dict(registry.get_model().tags) == {"team": "fraud-ops"}

    def test_set_on_missing_model_is_not_found(self, registry: Registry) -> None:
        request = pb.SetRegisteredModelTagRequest(name="ghost", key="team", value="risk")
        registry.fails("SetRegisteredModelTag", request, NOT_FOUND, "name")

    def test_set_with_empty_key_is_invalid_argument_on_key(self, registry: Registry) -> None:
        registry.model()
        request = pb.SetRegisteredModelTagRequest(name="fraud", key="", value="risk")
        registry.fails("SetRegisteredModelTag", request, INVALID, "key")
        assert dict(registry.get_model().tags) == {}

    def test_delete_removes_the_tag_and_absent_tag_succeeds(self, registry: Registry) -> None:
        registry.model(tags={"team": "risk", "tier": "1"})
        for _ in range(2):
            registry.ok(
                "DeleteRegisteredModelTag",
                pb.DeleteRegisteredModelTagRequest(name="fraud", key="team"),
            )
        assert dict(registry.get_model().tags) == {"tier": "1"}

    def test_delete_on_missing_model_is_not_found(self, registry: Registry) -> None:
        request = pb.DeleteRegisteredModelTagRequest(name="ghost", key="team")
        registry.fails("DeleteRegisteredModelTag", request, NOT_FOUND, "name")


# -- version tags ------------------------------------------------------------------------------


class TestModelVersionTags:
    def test_set_creates_then_overwrites(self, registry: Registry) -> None:
        registry.model()
        registry.version()
        for value in ("0.91", "0.93"):
            registry.ok(
                "SetModelVersionTag",
                pb.SetModelVersionTagRequest(name="fraud", version=1, key="auc", value=value),
            )
        assert dict(registry.get_version().tags) == {"auc": "0.93"}

    def test_set_on_missing_version_is_not_found_on_version(self, registry: Registry) -> None:
        registry.model()
        request = pb.SetModelVersionTagRequest(name="fraud", version=3, key="auc", value="1")
        registry.fails("SetModelVersionTag", request, NOT_FOUND, "version")

    def test_set_with_too_long_value_is_invalid_argument_on_value(self, registry: Registry) -> None:
        registry.model()
        registry.version()
        request = pb.SetModelVersionTagRequest(
            name="fraud", version=1, key="blob", value="x" * 5001
        )
        registry.fails("SetModelVersionTag", request, INVALID, "value")
        assert dict(registry.get_version().tags) == {}

    def test_delete_removes_the_tag_and_absent_tag_succeeds(self, registry: Registry) -> None:
        registry.model()
        registry.version(tags={"auc": "0.9", "f1": "0.8"})
        for _ in range(2):
            registry.ok(
                "DeleteModelVersionTag",
                pb.DeleteModelVersionTagRequest(name="fraud", version=1, key="auc"),
            )
        assert dict(registry.get_version().tags) == {"f1": "0.8"}

    def test_delete_on_missing_version_is_not_found(self, registry: Registry) -> None:
        registry.model()
        request = pb.DeleteModelVersionTagRequest(name="fraud", version=1, key="auc")
        registry.fails("DeleteModelVersionTag", request, NOT_FOUND, "version")


# -- aliases -----------------------------------------------------------------------------------


class TestAliases:
    def set_alias(self, registry: Registry, alias: str, version: int) -> None:
        registry.ok(
            "SetRegisteredModelAlias",
            pb.SetRegisteredModelAliasRequest(name="fraud", alias=alias, version=version),
        )

    def test_set_points_the_alias_and_setting_again_moves_it(self, registry: Registry) -> None:
        registry.model()
        registry.version()
        registry.version()
        self.set_alias(registry, "champion", 1)
        assert list(registry.get_version(version=1).aliases) == ["champion"]
        self.set_alias(registry, "champion", 2)
        assert list(registry.get_version(version=1).aliases) == []
        assert list(registry.get_version(version=2).aliases) == ["champion"]
        assert dict(registry.get_model().aliases) == {"champion": 2}

    @pytest.mark.parametrize("alias", ["latest", "LATEST", "v1", "V12"])
    def test_reserved_alias_is_invalid_argument_on_alias(
        self, registry: Registry, alias: str
    ) -> None:
        registry.model()
        registry.version()
        request = pb.SetRegisteredModelAliasRequest(name="fraud", alias=alias, version=1)
        registry.fails("SetRegisteredModelAlias", request, INVALID, "alias")
        assert dict(registry.get_model().aliases) == {}

    @pytest.mark.parametrize("alias", ["", "has space", "dots.not.allowed", "a" * 256])
    def test_malformed_alias_is_invalid_argument_on_alias(
        self, registry: Registry, alias: str
    ) -> None:
        registry.model()
        registry.version()
        request = pb.SetRegisteredModelAliasRequest(name="fraud", alias=alias, version=1)
        registry.fails("SetRegisteredModelAlias", request, INVALID, "alias")

    def test_set_on_missing_version_is_not_found_on_version(self, registry: Registry) -> None:
        registry.model()
        request = pb.SetRegisteredModelAliasRequest(name="fraud", alias="champion", version=1)
        registry.fails("SetRegisteredModelAlias", request, NOT_FOUND, "version")

    def test_delete_removes_the_alias_and_absent_alias_succeeds(self, registry: Registry) -> None:
        registry.model()
        registry.version()
        self.set_alias(registry, "champion", 1)
        self.set_alias(registry, "shadow", 1)
        for _ in range(2):
            registry.ok(
                "DeleteRegisteredModelAlias",
                pb.DeleteRegisteredModelAliasRequest(name="fraud", alias="champion"),
            )
        assert dict(registry.get_model().aliases) == {"shadow": 1}

    def test_delete_on_missing_model_is_not_found(self, registry: Registry) -> None:
        request = pb.DeleteRegisteredModelAliasRequest(name="ghost", alias="champion")
        registry.fails("DeleteRegisteredModelAlias", request, NOT_FOUND, "name")

    def test_get_by_alias_returns_the_version(self, registry: Registry) -> None:
        registry.model()
        registry.version()
        registry.version()
        self.set_alias(registry, "champion", 1)
        found = registry.ok(
            "GetModelVersionByAlias",
            pb.GetModelVersionByAliasRequest(name="fraud", alias="champion"),
        ).model_version
        assert (found.version, list(found.aliases)) == (1, ["champion"])

    def test_latest_resolves_to_the_highest_existing_version(self, registry: Registry) -> None:
        registry.model()
        for _ in range(3):
            registry.version()
        registry.ok("DeleteModelVersion", pb.DeleteModelVersionRequest(name="fraud", version=3))
        found = registry.ok(
            "GetModelVersionByAlias",
            pb.GetModelVersionByAliasRequest(name="fraud", alias="latest"),
        ).model_version
        assert found.version == 2

    def test_get_by_unknown_alias_is_not_found_on_alias(self, registry: Registry) -> None:
        registry.model()
        registry.version()
        request = pb.GetModelVersionByAliasRequest(name="fraud", alias="champion")
        registry.fails("GetModelVersionByAlias", request, NOT_FOUND, "alias")


# -- unexpected failures -----------------------------------------------------------------------


class TestUnexpectedFailures:
    def test_unexpected_store_exception_is_internal_without_leaking_its_message(
        self, registry: Registry, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def explode(name: str) -> None:
            raise RuntimeError("secret connection string postgres://admin:pw@db")

        monkeypatch.setattr(registry.store, "get_registered_model", explode)
        outcome = registry.call("GetRegisteredModel", pb.GetRegisteredModelRequest(name="fraud"))
        assert outcome.code == grpc.StatusCode.INTERNAL
        assert "secret" not in outcome.details

    def test_unexpected_exception_in_a_write_is_internal(
        self, registry: Registry, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def explode(*args: Any, **kwargs: Any) -> None:
            raise KeyError("boom")

        monkeypatch.setattr(registry.store, "create_model_version", explode)
        registry.model()
        request = pb.CreateModelVersionRequest(name="fraud", source="s3://b/x")
        assert registry.call("CreateModelVersion", request).code == grpc.StatusCode.INTERNAL

    def test_unavailable_database_is_unavailable(
        self, registry: Registry, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def busy(*args: Any, **kwargs: Any) -> None:
            raise Unavailable("the database is unavailable: locked")

        monkeypatch.setattr(registry.store, "search_model_versions", busy)
        registry.fails(
            "SearchModelVersions",
            pb.SearchModelVersionsRequest(),
            (grpc.StatusCode.UNAVAILABLE, "TEMPORARILY_UNAVAILABLE"),
            None,
        )


# -- ImportRegisteredModel ---------------------------------------------------------------------


class TestImportRegisteredModel:
    def test_empty_stage_is_none_and_unspecified_status_is_ready(self, registry: Registry) -> None:
        request = pb.ImportRegisteredModelRequest(
            registered_model={"name": "fraud", "creation_timestamp": 1_000},
            model_versions=[{"version": 7, "source": "s3://b/7", "creation_timestamp": 2_000}],
        )
        response = registry.ok("ImportRegisteredModel", request)

        assert response.outcome == pb.IMPORT_OUTCOME_CREATED
        assert response.registered_model.creation_timestamp == 1_000
        version = registry.get_version("fraud", 7)
        assert (version.current_stage, version.status, version.creation_timestamp) == (
            "None",
            READY,
            2_000,
        )
        assert registry.version().version == 8

    def test_unspecified_policy_fails_on_an_existing_name(self, registry: Registry) -> None:
        registry.model("fraud")
        request = pb.ImportRegisteredModelRequest(registered_model={"name": "fraud"})
        registry.fails("ImportRegisteredModel", request, ALREADY_EXISTS, "registered_model.name")

    def test_a_bad_version_names_its_place_in_the_request(self, registry: Registry) -> None:
        request = pb.ImportRegisteredModelRequest(
            registered_model={"name": "fraud"},
            model_versions=[
                {"version": 1, "source": "s3://b/1"},
                {"version": 2, "source": "s3://b/2", "run_link": "line\nbreak"},
            ],
        )
        registry.fails("ImportRegisteredModel", request, INVALID, "model_versions[1].run_link")
        search = registry.ok("SearchRegisteredModels", pb.SearchRegisteredModelsRequest())
        assert list(search.registered_models) == []
