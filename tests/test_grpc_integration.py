"""Every RPC through a real server and a real channel, on both backends: what a gRPC client in any
language sees on the wire (status codes, google.rpc.ErrorInfo details, field values)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from modelregistry.v1 import (
    access_pb2,
    events_pb2,
    model_version_pb2,
    registry_service_pb2,
    registry_service_pb2_grpc,
    requests_pb2,
    trash_pb2,
    webhooks_pb2,
)

pb = registry_service_pb2
Stub = registry_service_pb2_grpc.ModelRegistryServiceStub
SERVICE = pb.DESCRIPTOR.services_by_name["ModelRegistryService"]

DOMAIN = "modelregistry.v1"
NOT_FOUND = (grpc.StatusCode.NOT_FOUND, "RESOURCE_DOES_NOT_EXIST")
ALREADY_EXISTS = (grpc.StatusCode.ALREADY_EXISTS, "RESOURCE_ALREADY_EXISTS")
INVALID = (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PARAMETER_VALUE")
READY = model_version_pb2.MODEL_VERSION_STATUS_READY
TIMEOUT = 10.0
# More pages than any search in these tests can need: a search still going is not advancing.
MAX_PAGES = 50


def now_millis() -> int:
    return time.time_ns() // 1_000_000


def expect_error(
    method: Callable[..., Any],
    request: Any,
    expected: tuple[grpc.StatusCode, str],
    field: str | None,
) -> grpc.RpcError:
    """Call ``method`` and check the failure: code, message, and exactly one ErrorInfo."""
    code, reason = expected
    with pytest.raises(grpc.RpcError) as caught:
        method(request, timeout=TIMEOUT)
    error = caught.value
    assert error.code() == code, (error.code(), error.details())
    assert error.details()
    status = rpc_status.from_call(error)
    assert status is not None, "the status carries no grpc-status-details-bin"
    assert status.code == code.value[0]
    assert status.message == error.details()
    infos = []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            infos.append(info)
    assert len(infos) == 1, status
    assert infos[0].reason == reason
    assert infos[0].domain == DOMAIN
    assert infos[0].metadata.get("field") == field
    return error


def create_model(stub: Stub, name: str, **fields: Any) -> Any:
    request = pb.CreateRegisteredModelRequest(name=name, **fields)
    return stub.CreateRegisteredModel(request, timeout=TIMEOUT).registered_model


def create_version(stub: Stub, name: str, source: str = "s3://bucket/model", **fields: Any) -> Any:
    request = pb.CreateModelVersionRequest(name=name, source=source, **fields)
    return stub.CreateModelVersion(request, timeout=TIMEOUT).model_version


def get_model(stub: Stub, name: str) -> Any:
    request = pb.GetRegisteredModelRequest(name=name)
    return stub.GetRegisteredModel(request, timeout=TIMEOUT).registered_model


def get_version(stub: Stub, name: str, version: int) -> Any:
    request = pb.GetModelVersionRequest(name=name, version=version)
    return stub.GetModelVersion(request, timeout=TIMEOUT).model_version


def transition(stub: Stub, name: str, version: int, stage: str, archive: bool = False) -> Any:
    request = pb.TransitionModelVersionStageRequest(
        name=name, version=version, stage=stage, archive_existing_versions=archive
    )
    return stub.TransitionModelVersionStage(request, timeout=TIMEOUT).model_version


def set_alias(stub: Stub, name: str, alias: str, version: int) -> None:
    request = pb.SetRegisteredModelAliasRequest(name=name, alias=alias, version=version)
    stub.SetRegisteredModelAlias(request, timeout=TIMEOUT)


def all_models(stub: Stub, page_size: int, **fields: Any) -> list[Any]:
    """Every model of a search, following next_page_token until it is empty."""
    found: list[Any] = []
    token = ""
    for _ in range(MAX_PAGES):
        request = pb.SearchRegisteredModelsRequest(page_size=page_size, page_token=token, **fields)
        response = stub.SearchRegisteredModels(request, timeout=TIMEOUT)
        assert len(response.registered_models) <= page_size
        found.extend(response.registered_models)
        token = response.next_page_token
        if not token:
            return found
    raise AssertionError(f"still paging after {MAX_PAGES} pages: {len(found)} items so far")


def all_versions(stub: Stub, page_size: int, **fields: Any) -> list[Any]:
    found: list[Any] = []
    token = ""
    for _ in range(MAX_PAGES):
        request = pb.SearchModelVersionsRequest(page_size=page_size, page_token=token, **fields)
        response = stub.SearchModelVersions(request, timeout=TIMEOUT)
        assert len(response.model_versions) <= page_size
        found.extend(response.model_versions)
        token = response.next_page_token
        if not token:
            return found
    raise AssertionError(f"still paging after {MAX_PAGES} pages: {len(found)} items so far")


def model_names(stub: Stub, filter: str = "", order_by: list[str] | None = None) -> list[str]:
    request = pb.SearchRegisteredModelsRequest(filter=filter, order_by=order_by or [])
    response = stub.SearchRegisteredModels(request, timeout=TIMEOUT)
    return [m.name for m in response.registered_models]


def version_keys(
    stub: Stub, filter: str = "", order_by: list[str] | None = None
) -> list[tuple[str, int]]:
    request = pb.SearchModelVersionsRequest(filter=filter, order_by=order_by or [])
    response = stub.SearchModelVersions(request, timeout=TIMEOUT)
    return [(v.name, v.version) for v in response.model_versions]


def snapshot(stub: Stub) -> tuple[bytes, bytes]:
    """Everything the registry holds, as bytes: models (with latest versions, tags, aliases) and
    versions (with tags, aliases, stages, timestamps)."""
    models = stub.SearchRegisteredModels(
        pb.SearchRegisteredModelsRequest(page_size=1000), timeout=TIMEOUT
    )
    versions = stub.SearchModelVersions(
        pb.SearchModelVersionsRequest(page_size=1000, order_by=["name", "version_number"]),
        timeout=TIMEOUT,
    )
    assert not models.next_page_token
    assert not versions.next_page_token
    return (
        models.SerializeToString(deterministic=True),
        versions.SerializeToString(deterministic=True),
    )


# -- the normal path of every RPC ------------------------------------------------------------


class TestRegisteredModelRpcs:
    def test_create_returns_the_model_with_millisecond_timestamps(self, stub: Stub) -> None:
        before = now_millis()
        model = create_model(stub, "fraud", tags={"team": "risk"}, description="scores payments")
        after = now_millis()
        assert model.name == "fraud"
        assert dict(model.tags) == {"team": "risk"}
        assert model.description == "scores payments"
        assert before <= model.creation_timestamp <= after
        assert model.last_updated_timestamp == model.creation_timestamp
        assert get_model(stub, "fraud") == model

    def test_get_lists_the_latest_version_per_stage_in_stage_order(self, stub: Stub) -> None:
        create_model(stub, "fraud")
        for _ in range(5):
            create_version(stub, "fraud")
        transition(stub, "fraud", 1, "Archived")
        transition(stub, "fraud", 2, "Production")
        transition(stub, "fraud", 3, "Staging")
        model = get_model(stub, "fraud")
        assert [(v.version, v.current_stage) for v in model.latest_versions] == [
            (5, "None"),
            (3, "Staging"),
            (2, "Production"),
            (1, "Archived"),
        ]
        assert all(v.name == "fraud" for v in model.latest_versions)

    def test_update_sets_keeps_or_clears_the_description(self, stub: Stub) -> None:
        create_model(stub, "fraud", description="first")
        update = stub.UpdateRegisteredModel
        updated = update(pb.UpdateRegisteredModelRequest(name="fraud", description="second"))
        assert updated.registered_model.description == "second"
        kept = update(pb.UpdateRegisteredModelRequest(name="fraud"))
        assert kept.registered_model.description == "second"
        cleared = update(pb.UpdateRegisteredModelRequest(name="fraud", description=""))
        assert cleared.registered_model.description == ""
        assert get_model(stub, "fraud").description == ""

    def test_update_moves_last_updated_timestamp(self, stub: Stub) -> None:
        created = create_model(stub, "fraud")
        time.sleep(0.005)
        updated = stub.UpdateRegisteredModel(
            pb.UpdateRegisteredModelRequest(name="fraud", description="x")
        ).registered_model
        assert updated.creation_timestamp == created.creation_timestamp
        assert updated.last_updated_timestamp > created.last_updated_timestamp

    def test_rename_carries_versions_tags_and_aliases(self, stub: Stub) -> None:
        create_model(stub, "fraud", tags={"team": "risk"}, description="d")
        create_version(stub, "fraud", tags={"auc": "0.9"})
        create_version(stub, "fraud")
        transition(stub, "fraud", 2, "Production")
        set_alias(stub, "fraud", "champion", 2)
        renamed = stub.RenameRegisteredModel(
            pb.RenameRegisteredModelRequest(name="fraud", new_name="fraud-detector")
        ).registered_model
        assert renamed.name == "fraud-detector"
        assert dict(renamed.tags) == {"team": "risk"}
        assert renamed.description == "d"
        assert dict(renamed.aliases) == {"champion": 2}
        assert get_model(stub, "fraud-detector") == renamed
        assert dict(get_version(stub, "fraud-detector", 1).tags) == {"auc": "0.9"}
        by_alias = stub.GetModelVersionByAlias(
            pb.GetModelVersionByAliasRequest(name="fraud-detector", alias="champion")
        ).model_version
        assert (by_alias.name, by_alias.version, by_alias.current_stage) == (
            "fraud-detector",
            2,
            "Production",
        )
        assert sorted(version_keys(stub, "name = 'fraud-detector'")) == [
            ("fraud-detector", 1),
            ("fraud-detector", 2),
        ]
        assert version_keys(stub, "name = 'fraud'") == []
        expect_error(
            stub.GetRegisteredModel, pb.GetRegisteredModelRequest(name="fraud"), NOT_FOUND, "name"
        )
        # The old name is free again.
        assert create_model(stub, "fraud").name == "fraud"
        assert list(get_model(stub, "fraud").latest_versions) == []

    def test_delete_removes_everything_under_the_model(self, stub: Stub) -> None:
        create_model(stub, "fraud", tags={"team": "risk"})
        create_version(stub, "fraud", tags={"auc": "0.9"})
        create_version(stub, "fraud")
        set_alias(stub, "fraud", "champion", 1)
        create_model(stub, "churn")
        create_version(stub, "churn")
        stub.DeleteRegisteredModel(pb.DeleteRegisteredModelRequest(name="fraud"))
        expect_error(
            stub.GetRegisteredModel, pb.GetRegisteredModelRequest(name="fraud"), NOT_FOUND, "name"
        )
        assert version_keys(stub) == [("churn", 1)]
        # A model created under the same name starts empty: nothing survived the delete.
        recreated = create_model(stub, "fraud")
        assert dict(recreated.tags) == {}
        assert dict(recreated.aliases) == {}
        assert list(recreated.latest_versions) == []
        assert create_version(stub, "fraud").version == 1
        assert dict(get_version(stub, "fraud", 1).tags) == {}
        assert list(get_version(stub, "fraud", 1).aliases) == []

    def test_tags_are_set_overwritten_and_deleted(self, stub: Stub) -> None:
        create_model(stub, "fraud")
        for key, value in [("team", "risk"), ("tier", "1"), ("team", "fraud-ops")]:
            stub.SetRegisteredModelTag(
                pb.SetRegisteredModelTagRequest(name="fraud", key=key, value=value)
            )
        assert dict(get_model(stub, "fraud").tags) == {"team": "fraud-ops", "tier": "1"}
        stub.DeleteRegisteredModelTag(pb.DeleteRegisteredModelTagRequest(name="fraud", key="tier"))
        stub.DeleteRegisteredModelTag(pb.DeleteRegisteredModelTagRequest(name="fraud", key="tier"))
        assert dict(get_model(stub, "fraud").tags) == {"team": "fraud-ops"}


class TestModelVersionRpcs:
    def test_create_numbers_versions_and_reports_them_ready_in_stage_none(self, stub: Stub) -> None:
        model = create_model(stub, "fraud")
        before = now_millis()
        first = create_version(
            stub,
            "fraud",
            source="runs:/3f2a/model",
            tags={"auc": "0.91"},
            run_link="http://tracker/runs/3f2a",
            description="first cut",
            experiment_id="12",
        )
        after = now_millis()
        assert first.name == "fraud"
        assert first.version == 1
        assert isinstance(first.version, int)
        assert first.source == "runs:/3f2a/model"
        assert first.run_id == "3f2a"
        assert first.current_stage == "None"
        assert first.status == READY
        assert first.status_message == ""
        assert first.run_link == "http://tracker/runs/3f2a"
        assert first.experiment_id == "12"
        assert first.description == "first cut"
        assert dict(first.tags) == {"auc": "0.91"}
        assert list(first.aliases) == []
        assert before <= first.creation_timestamp <= after
        assert first.last_updated_timestamp == first.creation_timestamp
        second = create_version(stub, "fraud", source="s3://bucket/2", run_id="explicit")
        assert (second.version, second.run_id) == (2, "explicit")
        assert get_version(stub, "fraud", 1) == first
        # A new version is a change to the model.
        assert get_model(stub, "fraud").last_updated_timestamp >= second.creation_timestamp
        assert get_model(stub, "fraud").creation_timestamp == model.creation_timestamp

    @pytest.mark.parametrize(
        "reference", ["models:/fraud/1", "models:/fraud/Production", "models:/fraud@champion"]
    )
    def test_models_source_copies_the_referenced_version(self, stub: Stub, reference: str) -> None:
        create_model(stub, "fraud")
        create_version(stub, "fraud", source="s3://bucket/fraud/1")
        create_version(stub, "fraud", source="s3://bucket/fraud/2")
        transition(stub, "fraud", 1, "Production")
        set_alias(stub, "fraud", "champion", 1)
        create_model(stub, "copy")
        assert create_version(stub, "copy", source=reference).source == "models:/fraud/1"
        download = stub.GetModelVersionDownloadUri(
            pb.GetModelVersionDownloadUriRequest(name="copy", version=1)
        )
        assert download.artifact_uri == "s3://bucket/fraud/1"

    def test_update_sets_keeps_or_clears_the_description(self, stub: Stub) -> None:
        create_model(stub, "fraud")
        create_version(stub, "fraud", description="first")
        update = stub.UpdateModelVersion
        request = pb.UpdateModelVersionRequest(name="fraud", version=1, description="second")
        assert update(request).model_version.description == "second"
        kept = update(pb.UpdateModelVersionRequest(name="fraud", version=1)).model_version
        assert kept.description == "second"
        cleared = update(pb.UpdateModelVersionRequest(name="fraud", version=1, description=""))
        assert cleared.model_version.description == ""
        assert get_version(stub, "fraud", 1).description == ""

    def test_transition_spells_the_stage_canonically_and_stamps_the_change(
        self, stub: Stub
    ) -> None:
        create_model(stub, "fraud")
        created = create_version(stub, "fraud")
        time.sleep(0.005)
        moved = transition(stub, "fraud", 1, "staging")
        assert moved.current_stage == "Staging"
        assert moved.last_updated_timestamp > created.last_updated_timestamp
        assert moved.creation_timestamp == created.creation_timestamp
        assert get_version(stub, "fraud", 1).current_stage == "Staging"

    @pytest.mark.parametrize("target", ["Production", "Staging"])
    def test_transition_with_archiving_leaves_one_version_in_the_stage(
        self, stub: Stub, target: str
    ) -> None:
        create_model(stub, "fraud")
        for _ in range(4):
            create_version(stub, "fraud")
        transition(stub, "fraud", 1, target)
        transition(stub, "fraud", 2, target)
        transition(stub, "fraud", 3, "None" if target == "Staging" else "Staging")
        transition(stub, "fraud", 4, target.upper(), archive=True)
        stages = [get_version(stub, "fraud", v).current_stage for v in (1, 2, 3, 4)]
        other = "None" if target == "Staging" else "Staging"
        assert stages == ["Archived", "Archived", other, target]
        latest = stub.GetLatestVersions(pb.GetLatestVersionsRequest(name="fraud", stages=[target]))
        assert [v.version for v in latest.model_versions] == [4]

    def test_get_latest_versions_per_stage(self, stub: Stub) -> None:
        create_model(stub, "fraud")
        for _ in range(4):
            create_version(stub, "fraud")
        transition(stub, "fraud", 1, "Production")
        transition(stub, "fraud", 2, "Production")
        transition(stub, "fraud", 3, "Staging")
        request = pb.GetLatestVersionsRequest(name="fraud", stages=["PRODUCTION"])
        production = stub.GetLatestVersions(request).model_versions
        assert [(v.version, v.current_stage) for v in production] == [(2, "Production")]
        every = stub.GetLatestVersions(pb.GetLatestVersionsRequest(name="fraud")).model_versions
        assert [(v.version, v.current_stage) for v in every] == [
            (4, "None"),
            (3, "Staging"),
            (2, "Production"),
        ]
        archived = pb.GetLatestVersionsRequest(name="fraud", stages=["Archived"])
        assert list(stub.GetLatestVersions(archived).model_versions) == []

    def test_delete_removes_the_version_its_tags_and_aliases_and_never_reuses_it(
        self, stub: Stub
    ) -> None:
        create_model(stub, "fraud")
        create_version(stub, "fraud")
        create_version(stub, "fraud", tags={"auc": "0.9"})
        set_alias(stub, "fraud", "champion", 2)
        stub.DeleteModelVersion(pb.DeleteModelVersionRequest(name="fraud", version=2))
        expect_error(
            stub.GetModelVersion,
            pb.GetModelVersionRequest(name="fraud", version=2),
            NOT_FOUND,
            "version",
        )
        assert dict(get_model(stub, "fraud").aliases) == {}
        expect_error(
            stub.GetModelVersionByAlias,
            pb.GetModelVersionByAliasRequest(name="fraud", alias="champion"),
            NOT_FOUND,
            "alias",
        )
        assert version_keys(stub) == [("fraud", 1)]
        third = create_version(stub, "fraud")
        assert third.version == 3
        assert dict(third.tags) == {}

    def test_download_uri_is_the_source(self, stub: Stub) -> None:
        create_model(stub, "fraud")
        create_version(stub, "fraud", source="s3://bucket/fraud/v1")
        response = stub.GetModelVersionDownloadUri(
            pb.GetModelVersionDownloadUriRequest(name="fraud", version=1)
        )
        assert response.artifact_uri == "s3://bucket/fraud/v1"

    def test_version_tags_are_set_overwritten_and_deleted(self, stub: Stub) -> None:
        create_model(stub, "fraud")
        create_version(stub, "fraud")
        for key, value in [("auc", "0.9"), ("f1", "0.8"), ("auc", "0.95")]:
            stub.SetModelVersionTag(
                pb.SetModelVersionTagRequest(name="fraud", version=1, key=key, value=value)
            )
        assert dict(get_version(stub, "fraud", 1).tags) == {"auc": "0.95", "f1": "0.8"}
        for _ in range(2):
            stub.DeleteModelVersionTag(
                pb.DeleteModelVersionTagRequest(name="fraud", version=1, key="f1")
            )
        assert dict(get_version(stub, "fraud", 1).tags) == {"auc": "0.95"}


class TestAliasRpcs:
    def test_set_get_move_and_delete(self, stub: Stub) -> None:
        create_model(stub, "fraud")
        create_version(stub, "fraud")
        create_version(stub, "fraud")
        set_alias(stub, "fraud", "champion", 1)
        set_alias(stub, "fraud", "challenger", 1)
        assert list(get_version(stub, "fraud", 1).aliases) == ["challenger", "champion"]
        set_alias(stub, "fraud", "champion", 2)
        assert dict(get_model(stub, "fraud").aliases) == {"challenger": 1, "champion": 2}
        found = stub.GetModelVersionByAlias(
            pb.GetModelVersionByAliasRequest(name="fraud", alias="champion")
        ).model_version
        assert (found.version, list(found.aliases)) == (2, ["champion"])
        for _ in range(2):
            stub.DeleteRegisteredModelAlias(
                pb.DeleteRegisteredModelAliasRequest(name="fraud", alias="challenger")
            )
        assert dict(get_model(stub, "fraud").aliases) == {"champion": 2}
        assert list(get_version(stub, "fraud", 1).aliases) == []

    def test_latest_resolves_to_the_highest_existing_version(self, stub: Stub) -> None:
        create_model(stub, "fraud")
        for _ in range(3):
            create_version(stub, "fraud")
        stub.DeleteModelVersion(pb.DeleteModelVersionRequest(name="fraud", version=3))
        found = stub.GetModelVersionByAlias(
            pb.GetModelVersionByAliasRequest(name="fraud", alias="latest")
        ).model_version
        assert found.version == 2

    def test_latest_of_a_model_without_versions_is_not_found(self, stub: Stub) -> None:
        create_model(stub, "fraud")
        expect_error(
            stub.GetModelVersionByAlias,
            pb.GetModelVersionByAliasRequest(name="fraud", alias="latest"),
            NOT_FOUND,
            "alias",
        )


# -- search ----------------------------------------------------------------------------------


@pytest.fixture
def catalog(stub: Stub) -> Stub:
    """Models and versions to search:

    fraud-a (team=risk): v1 run r1 Production, v2 run r2
    fraud-b (team=ops):  v1 run r3
    churn   (team=risk): v1 run r1 Staging
    prompt  (mlflow.prompt.is_prompt=true): v1 run r9
    """
    create_model(stub, "fraud-a", tags={"team": "risk"}, description="card fraud")
    create_model(stub, "fraud-b", tags={"team": "ops"})
    create_model(stub, "churn", tags={"team": "risk"})
    create_model(stub, "prompt", tags={"mlflow.prompt.is_prompt": "true"})
    create_version(stub, "fraud-a", source="runs:/r1/model", tags={"validated": "yes"})
    create_version(stub, "fraud-a", source="runs:/r2/model")
    create_version(stub, "fraud-b", source="runs:/r3/model")
    create_version(stub, "churn", source="runs:/r1/churn")
    create_version(stub, "prompt", source="runs:/r9/prompt")
    transition(stub, "fraud-a", 1, "Production")
    transition(stub, "churn", 1, "Staging")
    set_alias(stub, "fraud-a", "champion", 1)
    return stub


class TestSearchRegisteredModels:
    def test_empty_filter_lists_every_model_by_name(self, catalog: Stub) -> None:
        assert model_names(catalog) == ["churn", "fraud-a", "fraud-b", "prompt"]

    @pytest.mark.parametrize(
        ("filter", "expected"),
        [
            ("name = 'fraud-a'", ["fraud-a"]),
            ("name != 'fraud-a'", ["churn", "fraud-b", "prompt"]),
            ("name LIKE 'fraud-%'", ["fraud-a", "fraud-b"]),
            ("name LIKE 'FRAUD-%'", []),
            ("name ILIKE 'FRAUD-%'", ["fraud-a", "fraud-b"]),
            ("tag.team = 'risk'", ["churn", "fraud-a"]),
            ("tags.team = 'ops'", ["fraud-b"]),
            ("name LIKE 'fraud%' AND tag.team = 'risk'", ["fraud-a"]),
            ("tag.team != 'risk'", ["fraud-b", "prompt"]),
            ("alias = 'champion'", ["fraud-a"]),
            ("description LIKE '%fraud%'", ["fraud-a"]),
        ],
    )
    def test_filter(self, catalog: Stub, filter: str, expected: list[str]) -> None:
        assert model_names(catalog, filter) == expected

    def test_mlflow_clients_prompt_clause_matches_untagged_models(self, catalog: Stub) -> None:
        clause = "tag.`mlflow.prompt.is_prompt` != 'true'"
        assert model_names(catalog, clause) == ["churn", "fraud-a", "fraud-b"]
        with_like = f"name LIKE 'fraud%' AND {clause}"
        assert model_names(catalog, with_like) == ["fraud-a", "fraud-b"]

    def test_order_by(self, catalog: Stub) -> None:
        assert model_names(catalog, order_by=["name DESC"]) == [
            "prompt",
            "fraud-b",
            "fraud-a",
            "churn",
        ]
        time.sleep(0.005)
        catalog.UpdateRegisteredModel(
            pb.UpdateRegisteredModelRequest(name="fraud-b", description="touched")
        )
        newest_first = model_names(catalog, order_by=["last_updated_timestamp DESC"])
        assert newest_first[0] == "fraud-b"
        response = catalog.SearchRegisteredModels(
            pb.SearchRegisteredModelsRequest(order_by=["timestamp ASC"])
        )
        oldest_first = [(m.creation_timestamp, m.name) for m in response.registered_models]
        assert len(oldest_first) == 4
        assert oldest_first == sorted(oldest_first)

    def test_paging_visits_every_model_once(self, stub: Stub) -> None:
        names = [f"model-{i:02d}" for i in range(11)]
        for name in reversed(names):
            create_model(stub, name)
        for order_by in ([], ["name DESC"], ["creation_timestamp ASC"]):
            paged = [m.name for m in all_models(stub, page_size=3, order_by=order_by)]
            assert sorted(paged) == names, order_by
            assert len(paged) == len(set(paged)), order_by
            unpaged = [m.name for m in all_models(stub, page_size=100, order_by=order_by)]
            assert paged == unpaged, order_by
        assert [m.name for m in all_models(stub, page_size=4)] == names

    @pytest.mark.parametrize("order_by", [["name ASC"], ["name DESC"]])
    def test_paging_one_model_at_a_time_advances(self, catalog: Stub, order_by: list[str]) -> None:
        paged = [m.name for m in all_models(catalog, page_size=1, order_by=order_by)]
        expected = ["churn", "fraud-a", "fraud-b", "prompt"]
        assert paged == (expected if order_by == ["name ASC"] else expected[::-1])

    def test_last_page_has_no_token(self, catalog: Stub) -> None:
        response = catalog.SearchRegisteredModels(pb.SearchRegisteredModelsRequest(page_size=4))
        assert len(response.registered_models) == 4
        assert response.next_page_token == ""

    def test_token_reused_with_another_filter_is_invalid_argument(self, catalog: Stub) -> None:
        first = catalog.SearchRegisteredModels(
            pb.SearchRegisteredModelsRequest(filter="name LIKE '%'", page_size=1)
        )
        assert first.next_page_token
        expect_error(
            catalog.SearchRegisteredModels,
            pb.SearchRegisteredModelsRequest(
                filter="name LIKE 'fraud%'", page_size=1, page_token=first.next_page_token
            ),
            INVALID,
            "page_token",
        )
        expect_error(
            catalog.SearchRegisteredModels,
            pb.SearchRegisteredModelsRequest(
                filter="name LIKE '%'",
                order_by=["name DESC"],
                page_size=1,
                page_token=first.next_page_token,
            ),
            INVALID,
            "page_token",
        )

    def test_model_token_is_not_accepted_by_version_search(self, catalog: Stub) -> None:
        first = catalog.SearchRegisteredModels(pb.SearchRegisteredModelsRequest(page_size=1))
        expect_error(
            catalog.SearchModelVersions,
            pb.SearchModelVersionsRequest(page_size=1, page_token=first.next_page_token),
            INVALID,
            "page_token",
        )

    def test_page_size_above_the_maximum_is_capped(self, catalog: Stub) -> None:
        response = catalog.SearchRegisteredModels(
            pb.SearchRegisteredModelsRequest(page_size=2_000_000)
        )
        assert len(response.registered_models) == 4
        assert response.next_page_token == ""

    def test_results_carry_latest_versions_tags_and_aliases(self, catalog: Stub) -> None:
        (model,) = catalog.SearchRegisteredModels(
            pb.SearchRegisteredModelsRequest(filter="name = 'fraud-a'")
        ).registered_models
        assert model == get_model(catalog, "fraud-a")
        assert [(v.version, v.current_stage) for v in model.latest_versions] == [
            (2, "None"),
            (1, "Production"),
        ]
        assert dict(model.aliases) == {"champion": 1}


class TestSearchModelVersions:
    @pytest.mark.parametrize(
        ("filter", "expected"),
        [
            ("name = 'fraud-a'", [("fraud-a", 1), ("fraud-a", 2)]),
            ("name LIKE 'fraud%'", [("fraud-a", 1), ("fraud-a", 2), ("fraud-b", 1)]),
            ("run_id = 'r1'", [("churn", 1), ("fraud-a", 1)]),
            ("run_id IN ('r1', 'r3')", [("churn", 1), ("fraud-a", 1), ("fraud-b", 1)]),
            ("run_id NOT IN ('r1', 'r3')", [("fraud-a", 2), ("prompt", 1)]),
            ("name = 'fraud-a' AND run_id IN ('r2')", [("fraud-a", 2)]),
            ("tag.validated = 'yes'", [("fraud-a", 1)]),
            ("current_stage = 'production'", [("fraud-a", 1)]),
            ("version_number > 1", [("fraud-a", 2)]),
            ("source_path LIKE '%/churn'", [("churn", 1)]),
            ("alias = 'champion'", [("fraud-a", 1)]),
        ],
    )
    def test_filter(self, catalog: Stub, filter: str, expected: list[tuple[str, int]]) -> None:
        assert sorted(version_keys(catalog, filter)) == expected

    def test_results_are_complete_versions(self, catalog: Stub) -> None:
        (version,) = catalog.SearchModelVersions(
            pb.SearchModelVersionsRequest(filter="alias = 'champion'")
        ).model_versions
        assert version == get_version(catalog, "fraud-a", 1)
        assert version.status == READY
        assert list(version.aliases) == ["champion"]
        assert dict(version.tags) == {"validated": "yes"}

    def test_order_by(self, catalog: Stub) -> None:
        by_name = version_keys(catalog, order_by=["name ASC", "version_number DESC"])
        assert by_name == [
            ("churn", 1),
            ("fraud-a", 2),
            ("fraud-a", 1),
            ("fraud-b", 1),
            ("prompt", 1),
        ]
        by_number = version_keys(catalog, order_by=["version_number DESC"])
        assert by_number == [
            ("fraud-a", 2),
            ("churn", 1),
            ("fraud-a", 1),
            ("fraud-b", 1),
            ("prompt", 1),
        ]

    def test_default_order_is_most_recently_updated_first(self, stub: Stub) -> None:
        create_model(stub, "fraud")
        for _ in range(3):
            create_version(stub, "fraud")
        time.sleep(0.005)
        transition(stub, "fraud", 1, "Staging")
        assert version_keys(stub)[0] == ("fraud", 1)

    def test_paging_visits_every_version_once(self, stub: Stub) -> None:
        expected = []
        for name in ("b-model", "a-model", "c-model"):
            create_model(stub, name)
            for _ in range(4):
                version = create_version(stub, name)
                expected.append((name, version.version))
        for order_by in ([], ["name DESC", "version_number ASC"], ["timestamp DESC"]):
            paged = [(v.name, v.version) for v in all_versions(stub, 5, order_by=order_by)]
            assert sorted(paged) == sorted(expected), order_by
            assert len(set(paged)) == len(paged), order_by
            unpaged = [(v.name, v.version) for v in all_versions(stub, 100, order_by=order_by)]
            assert paged == unpaged, order_by
        filtered = all_versions(stub, 2, filter="name = 'a-model'")
        # Later versions were updated no earlier, and ties go to the higher version number.
        assert [(v.name, v.version) for v in filtered] == [("a-model", n) for n in (4, 3, 2, 1)]

    @pytest.mark.parametrize(
        "order_by", [[], ["version_number ASC"], ["name ASC", "version_number DESC"]]
    )
    def test_paging_one_version_at_a_time_advances(
        self, catalog: Stub, order_by: list[str]
    ) -> None:
        paged = [(v.name, v.version) for v in all_versions(catalog, 1, order_by=order_by)]
        unpaged = version_keys(catalog, order_by=order_by)
        assert len(unpaged) == 5
        assert paged == unpaged

    def test_token_reused_with_another_filter_is_invalid_argument(self, catalog: Stub) -> None:
        first = catalog.SearchModelVersions(
            pb.SearchModelVersionsRequest(filter="run_id IN ('r1', 'r2')", page_size=1)
        )
        assert first.next_page_token
        expect_error(
            catalog.SearchModelVersions,
            pb.SearchModelVersionsRequest(
                filter="run_id IN ('r1')", page_size=1, page_token=first.next_page_token
            ),
            INVALID,
            "page_token",
        )


# -- documented errors, and that a rejected call writes nothing -------------------------------

V = "s3://bucket/model"
# fmt: off
ERROR_CASES: list[tuple[str, str, Any, tuple[grpc.StatusCode, str], str]] = [
    ("create-duplicate", "CreateRegisteredModel",
     pb.CreateRegisteredModelRequest(name="fraud", description="again"), ALREADY_EXISTS, "name"),
    ("create-empty-name", "CreateRegisteredModel",
     pb.CreateRegisteredModelRequest(name=""), INVALID, "name"),
    ("create-slash-name", "CreateRegisteredModel",
     pb.CreateRegisteredModelRequest(name="a/b"), INVALID, "name"),
    ("create-long-name", "CreateRegisteredModel",
     pb.CreateRegisteredModelRequest(name="n" * 257), INVALID, "name"),
    ("create-bad-tag-key", "CreateRegisteredModel",
     pb.CreateRegisteredModelRequest(name="new", tags={"bad\nkey": "v"}), INVALID, "tags.key"),
    ("get-missing", "GetRegisteredModel",
     pb.GetRegisteredModelRequest(name="ghost"), NOT_FOUND, "name"),
    ("rename-onto-taken", "RenameRegisteredModel",
     pb.RenameRegisteredModelRequest(name="fraud", new_name="churn"), ALREADY_EXISTS, "new_name"),
    ("rename-missing", "RenameRegisteredModel",
     pb.RenameRegisteredModelRequest(name="ghost", new_name="spirit"), NOT_FOUND, "name"),
    ("rename-to-bad-name", "RenameRegisteredModel",
     pb.RenameRegisteredModelRequest(name="fraud", new_name="a/b"), INVALID, "new_name"),
    ("update-missing", "UpdateRegisteredModel",
     pb.UpdateRegisteredModelRequest(name="ghost", description="x"), NOT_FOUND, "name"),
    ("update-long-description", "UpdateRegisteredModel",
     pb.UpdateRegisteredModelRequest(name="fraud", description="x" * 65537), INVALID,
     "description"),
    ("delete-missing", "DeleteRegisteredModel",
     pb.DeleteRegisteredModelRequest(name="ghost"), NOT_FOUND, "name"),
    ("search-models-bad-filter", "SearchRegisteredModels",
     pb.SearchRegisteredModelsRequest(filter="name = "), INVALID, "filter"),
    ("search-models-unknown-attribute", "SearchRegisteredModels",
     pb.SearchRegisteredModelsRequest(filter="run_id = 'r1'"), INVALID, "filter"),
    ("search-models-negative-page-size", "SearchRegisteredModels",
     pb.SearchRegisteredModelsRequest(page_size=-1), INVALID, "page_size"),
    ("search-models-bad-order", "SearchRegisteredModels",
     pb.SearchRegisteredModelsRequest(order_by=["name SIDEWAYS"]), INVALID, "order_by"),
    ("search-models-forged-token", "SearchRegisteredModels",
     pb.SearchRegisteredModelsRequest(page_token="bm90IGEgdG9rZW4"), INVALID, "page_token"),
    ("latest-missing", "GetLatestVersions",
     pb.GetLatestVersionsRequest(name="ghost"), NOT_FOUND, "name"),
    ("latest-bad-stage", "GetLatestVersions",
     pb.GetLatestVersionsRequest(name="fraud", stages=["Prod"]), INVALID, "stages"),
    ("version-of-missing-model", "CreateModelVersion",
     pb.CreateModelVersionRequest(name="ghost", source=V), NOT_FOUND, "name"),
    ("version-contradicting-run", "CreateModelVersion",
     pb.CreateModelVersionRequest(name="fraud", source="runs:/r1/m", run_id="r2"), INVALID,
     "run_id"),
    ("version-empty-source", "CreateModelVersion",
     pb.CreateModelVersionRequest(name="fraud", source=""), INVALID, "source"),
    ("version-runs-source-without-run", "CreateModelVersion",
     pb.CreateModelVersionRequest(name="fraud", source="runs:/"), INVALID, "source"),
    ("version-source-of-missing-model", "CreateModelVersion",
     pb.CreateModelVersionRequest(name="fraud", source="models:/ghost/1"), NOT_FOUND, "source"),
    ("version-source-of-missing-version", "CreateModelVersion",
     pb.CreateModelVersionRequest(name="fraud", source="models:/fraud/9"), NOT_FOUND, "source"),
    ("version-source-bad-stage", "CreateModelVersion",
     pb.CreateModelVersionRequest(name="fraud", source="models:/fraud/Prod"), INVALID, "source"),
    ("version-bad-tag-value", "CreateModelVersion",
     pb.CreateModelVersionRequest(name="fraud", source=V, tags={"k": "v" * 5001}), INVALID,
     "tags[k]"),
    ("get-version-missing", "GetModelVersion",
     pb.GetModelVersionRequest(name="fraud", version=9), NOT_FOUND, "version"),
    ("get-version-of-missing-model", "GetModelVersion",
     pb.GetModelVersionRequest(name="ghost", version=1), NOT_FOUND, "name"),
    ("get-version-zero", "GetModelVersion",
     pb.GetModelVersionRequest(name="fraud", version=0), INVALID, "version"),
    ("get-version-beyond-32-bits", "GetModelVersion",
     pb.GetModelVersionRequest(name="fraud", version=2**31), INVALID, "version"),
    ("update-version-missing", "UpdateModelVersion",
     pb.UpdateModelVersionRequest(name="fraud", version=9, description="x"), NOT_FOUND,
     "version"),
    ("update-version-of-missing-model", "UpdateModelVersion",
     pb.UpdateModelVersionRequest(name="ghost", version=1, description="x"), NOT_FOUND, "name"),
    ("update-version-bad-description", "UpdateModelVersion",
     pb.UpdateModelVersionRequest(name="fraud", version=1, description="\x00"), INVALID,
     "description"),
    ("transition-bad-stage", "TransitionModelVersionStage",
     pb.TransitionModelVersionStageRequest(name="fraud", version=1, stage="Prod"), INVALID,
     "stage"),
    ("transition-archive-into-archived", "TransitionModelVersionStage",
     pb.TransitionModelVersionStageRequest(
         name="fraud", version=2, stage="Archived", archive_existing_versions=True),
     INVALID, "archive_existing_versions"),
    ("transition-archive-into-none", "TransitionModelVersionStage",
     pb.TransitionModelVersionStageRequest(
         name="fraud", version=1, stage="None", archive_existing_versions=True),
     INVALID, "archive_existing_versions"),
    ("transition-missing-version", "TransitionModelVersionStage",
     pb.TransitionModelVersionStageRequest(name="fraud", version=9, stage="Production"),
     NOT_FOUND, "version"),
    ("transition-version-zero", "TransitionModelVersionStage",
     pb.TransitionModelVersionStageRequest(name="fraud", version=0, stage="Production"),
     INVALID, "version"),
    ("delete-version-missing", "DeleteModelVersion",
     pb.DeleteModelVersionRequest(name="fraud", version=9), NOT_FOUND, "version"),
    ("delete-version-negative", "DeleteModelVersion",
     pb.DeleteModelVersionRequest(name="fraud", version=-1), INVALID, "version"),
    ("search-versions-bad-filter", "SearchModelVersions",
     pb.SearchModelVersionsRequest(filter="run_id IN ("), INVALID, "filter"),
    ("search-versions-bad-number", "SearchModelVersions",
     pb.SearchModelVersionsRequest(filter="version_number = 'two'"), INVALID, "filter"),
    ("search-versions-bad-stage", "SearchModelVersions",
     pb.SearchModelVersionsRequest(filter="current_stage = 'Prod'"), INVALID, "filter"),
    ("search-versions-negative-page-size", "SearchModelVersions",
     pb.SearchModelVersionsRequest(page_size=-7), INVALID, "page_size"),
    ("search-versions-bad-order", "SearchModelVersions",
     pb.SearchModelVersionsRequest(order_by=["colour"]), INVALID, "order_by"),
    ("download-uri-missing", "GetModelVersionDownloadUri",
     pb.GetModelVersionDownloadUriRequest(name="fraud", version=9), NOT_FOUND, "version"),
    ("set-tag-missing-model", "SetRegisteredModelTag",
     pb.SetRegisteredModelTagRequest(name="ghost", key="k", value="v"), NOT_FOUND, "name"),
    ("set-tag-empty-key", "SetRegisteredModelTag",
     pb.SetRegisteredModelTagRequest(name="fraud", key="", value="v"), INVALID, "key"),
    ("set-tag-long-value", "SetRegisteredModelTag",
     pb.SetRegisteredModelTagRequest(name="fraud", key="k", value="v" * 5001), INVALID, "value"),
    ("delete-tag-missing-model", "DeleteRegisteredModelTag",
     pb.DeleteRegisteredModelTagRequest(name="ghost", key="team"), NOT_FOUND, "name"),
    ("set-version-tag-missing", "SetModelVersionTag",
     pb.SetModelVersionTagRequest(name="fraud", version=9, key="k", value="v"), NOT_FOUND,
     "version"),
    ("set-version-tag-bad-key", "SetModelVersionTag",
     pb.SetModelVersionTagRequest(name="fraud", version=1, key="a\tb", value="v"), INVALID,
     "key"),
    ("delete-version-tag-missing", "DeleteModelVersionTag",
     pb.DeleteModelVersionTagRequest(name="fraud", version=9, key="auc"), NOT_FOUND, "version"),
    ("alias-latest", "SetRegisteredModelAlias",
     pb.SetRegisteredModelAliasRequest(name="fraud", alias="latest", version=2), INVALID,
     "alias"),
    ("alias-version-like", "SetRegisteredModelAlias",
     pb.SetRegisteredModelAliasRequest(name="fraud", alias="v2", version=2), INVALID, "alias"),
    ("alias-bad-characters", "SetRegisteredModelAlias",
     pb.SetRegisteredModelAliasRequest(name="fraud", alias="prod/eu", version=2), INVALID,
     "alias"),
    ("alias-missing-version", "SetRegisteredModelAlias",
     pb.SetRegisteredModelAliasRequest(name="fraud", alias="shadow", version=9), NOT_FOUND,
     "version"),
    ("alias-missing-model", "SetRegisteredModelAlias",
     pb.SetRegisteredModelAliasRequest(name="ghost", alias="shadow", version=1), NOT_FOUND,
     "name"),
    ("delete-alias-missing-model", "DeleteRegisteredModelAlias",
     pb.DeleteRegisteredModelAliasRequest(name="ghost", alias="champion"), NOT_FOUND, "name"),
    ("delete-alias-empty", "DeleteRegisteredModelAlias",
     pb.DeleteRegisteredModelAliasRequest(name="fraud", alias=""), INVALID, "alias"),
    ("by-alias-unknown", "GetModelVersionByAlias",
     pb.GetModelVersionByAliasRequest(name="fraud", alias="nobody"), NOT_FOUND, "alias"),
    ("by-alias-missing-model", "GetModelVersionByAlias",
     pb.GetModelVersionByAliasRequest(name="ghost", alias="champion"), NOT_FOUND, "name"),
    ("import-existing-name", "ImportRegisteredModel",
     pb.ImportRegisteredModelRequest(registered_model={"name": "fraud"}), ALREADY_EXISTS,
     "registered_model.name"),
    ("import-bad-stage", "ImportRegisteredModel",
     pb.ImportRegisteredModelRequest(
         registered_model={"name": "new"},
         model_versions=[{"version": 1, "source": "s3://b/1", "current_stage": "Prod"}]),
     INVALID, "model_versions[0].current_stage"),
    ("import-bad-status", "ImportRegisteredModel",
     pb.ImportRegisteredModelRequest(
         registered_model={"name": "new"},
         model_versions=[{"version": 1, "source": "s3://b/1", "status": 9}]),
     INVALID, "model_versions[0].status"),
    ("import-alias-to-missing-version", "ImportRegisteredModel",
     pb.ImportRegisteredModelRequest(
         registered_model={"name": "new", "aliases": {"champion": 2}},
         model_versions=[{"version": 1, "source": "s3://b/1"}]),
     INVALID, "registered_model.aliases"),
    ("import-bad-policy", "ImportRegisteredModel",
     pb.ImportRegisteredModelRequest(registered_model={"name": "new"}, on_conflict=9), INVALID,
     "on_conflict"),
    ("latest-negative-as-of", "GetLatestVersions",
     pb.GetLatestVersionsRequest(name="fraud", as_of=-1), INVALID, "as_of"),
    ("alias-as-of-before-history", "GetModelVersionByAlias",
     pb.GetModelVersionByAliasRequest(name="fraud", alias="champion", as_of=1), NOT_FOUND, "name"),
    ("watch-negative-start", "WatchEvents",
     events_pb2.WatchEventsRequest(start_after=-1), INVALID, "start_after"),
    ("watch-unspecified-type", "WatchEvents",
     events_pb2.WatchEventsRequest(event_types=[0]), INVALID, "event_types"),
    ("watch-bad-model-name", "WatchEvents",
     events_pb2.WatchEventsRequest(model_names=["a/b"]), INVALID, "model_names"),
    ("list-events-unknown-type", "ListEvents",
     events_pb2.ListEventsRequest(event_types=[99]), INVALID, "event_types"),
    ("list-events-bad-token", "ListEvents",
     events_pb2.ListEventsRequest(page_token="xyz"), INVALID, "page_token"),
    ("create-webhook-ftp", "CreateWebhook",
     webhooks_pb2.CreateWebhookRequest(url="ftp://hooks.example.com/x", event_types=[5]),
     INVALID, "url"),
    ("create-webhook-no-types", "CreateWebhook",
     webhooks_pb2.CreateWebhookRequest(url="https://hooks.example.com/x"), INVALID,
     "event_types"),
    ("create-webhook-private", "CreateWebhook",
     webhooks_pb2.CreateWebhookRequest(url="https://10.0.0.7/x", event_types=[5]), INVALID,
     "url"),
    ("update-webhook-missing", "UpdateWebhook",
     webhooks_pb2.UpdateWebhookRequest(id="ghost"), NOT_FOUND, "id"),
    ("delete-webhook-missing", "DeleteWebhook",
     webhooks_pb2.DeleteWebhookRequest(id="ghost"), NOT_FOUND, "id"),
    ("test-webhook-missing", "TestWebhook",
     webhooks_pb2.TestWebhookRequest(id="ghost"), NOT_FOUND, "id"),
    ("list-deliveries-bad-status", "ListWebhookDeliveries",
     webhooks_pb2.ListWebhookDeliveriesRequest(status=9), INVALID, "status"),
    ("ask-stage-and-alias", "CreateTransitionRequest",
     requests_pb2.CreateTransitionRequestRequest(
         name="fraud", version=2, stage="Production", alias="champion"), INVALID, "stage"),
    ("ask-missing-version", "CreateTransitionRequest",
     requests_pb2.CreateTransitionRequestRequest(name="fraud", version=9, stage="Staging"),
     NOT_FOUND, "version"),
    ("list-requests-bad-state", "ListTransitionRequests",
     requests_pb2.ListTransitionRequestsRequest(state=9), INVALID, "state"),
    ("approve-missing", "ApproveTransitionRequest",
     requests_pb2.ApproveTransitionRequestRequest(id=999), NOT_FOUND, "id"),
    ("approve-huge-id", "ApproveTransitionRequest",
     requests_pb2.ApproveTransitionRequestRequest(id=2**31), INVALID, "id"),
    ("reject-no-id", "RejectTransitionRequest",
     requests_pb2.RejectTransitionRequestRequest(), INVALID, "id"),
    ("cancel-missing", "CancelTransitionRequest",
     requests_pb2.CancelTransitionRequestRequest(id=999), NOT_FOUND, "id"),
    ("token-no-user", "CreateAccessToken", access_pb2.CreateAccessTokenRequest(), INVALID,
     "user_id"),
    ("tokens-bad-user", "ListAccessTokens", access_pb2.ListAccessTokensRequest(user_id="a\nb"),
     INVALID, "user_id"),
    ("revoke-no-id", "RevokeAccessToken", access_pb2.RevokeAccessTokenRequest(), INVALID, "id"),
    ("revoke-missing", "RevokeAccessToken", access_pb2.RevokeAccessTokenRequest(id=999),
     NOT_FOUND, "id"),
    ("grant-missing-model", "SetRegisteredModelPermission",
     access_pb2.SetRegisteredModelPermissionRequest(
         name="ghost", user_id="ann", permission=access_pb2.PERMISSION_READ),
     NOT_FOUND, "name"),
    ("grant-no-level", "SetRegisteredModelPermission",
     access_pb2.SetRegisteredModelPermissionRequest(name="fraud", user_id="ann"), INVALID,
     "permission"),
    ("grant-no-user", "SetRegisteredModelPermission",
     access_pb2.SetRegisteredModelPermissionRequest(
         name="fraud", permission=access_pb2.PERMISSION_READ),
     INVALID, "user_id"),
    ("permissions-missing-model", "GetRegisteredModelPermissions",
     access_pb2.GetRegisteredModelPermissionsRequest(name="ghost"), NOT_FOUND, "name"),
    ("revoke-permission-missing-model", "DeleteRegisteredModelPermission",
     access_pb2.DeleteRegisteredModelPermissionRequest(name="ghost", user_id="ann"), NOT_FOUND,
     "name"),
    ("restore-model-never-deleted", "RestoreRegisteredModel",
     trash_pb2.RestoreRegisteredModelRequest(name="ghost"), NOT_FOUND, "name"),
    ("restore-model-bad-new-name", "RestoreRegisteredModel",
     trash_pb2.RestoreRegisteredModelRequest(name="ghost", new_name="a/b"), INVALID, "new_name"),
    ("restore-live-version", "RestoreModelVersion",
     trash_pb2.RestoreModelVersionRequest(name="fraud", version=2), NOT_FOUND, "version"),
    ("restore-version-missing-model", "RestoreModelVersion",
     trash_pb2.RestoreModelVersionRequest(name="ghost", version=1), NOT_FOUND, "name"),
    ("list-deleted-models-bad-token", "ListDeletedRegisteredModels",
     trash_pb2.ListDeletedRegisteredModelsRequest(page_token="x"), INVALID, "page_token"),
    ("list-deleted-versions-missing-model", "ListDeletedModelVersions",
     trash_pb2.ListDeletedModelVersionsRequest(name="ghost"), NOT_FOUND, "name"),
]
# Takes no input, so it has no error a caller could provoke (with --auth none).
# GetCurrentIdentity and ListWebhooks take no input, so no input of theirs can be wrong.
WITHOUT_ERROR_CASES = {"GetCurrentIdentity", "ListWebhooks"}
# fmt: on


@pytest.fixture
def seeded(stub: Stub) -> Stub:
    """fraud (tag team=risk): v1 Production aliased champion, v2 None; and an empty churn."""
    create_model(stub, "fraud", tags={"team": "risk"}, description="original")
    create_version(stub, "fraud", source="runs:/r1/model", tags={"auc": "0.9"})
    create_version(stub, "fraud", source="s3://bucket/fraud/2")
    transition(stub, "fraud", 1, "Production")
    set_alias(stub, "fraud", "champion", 1)
    create_model(stub, "churn")
    return stub


@pytest.mark.parametrize(
    ("method", "request_message", "expected", "field"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_documented_error_changes_nothing(
    seeded: Stub,
    method: str,
    request_message: Any,
    expected: tuple[grpc.StatusCode, str],
    field: str,
) -> None:
    before = snapshot(seeded)
    rpc = getattr(seeded, method)
    if SERVICE.methods_by_name[method].server_streaming:
        streaming = rpc

        def rpc(request: Any, timeout: float) -> list[Any]:
            return list(streaming(request, timeout=timeout))

    expect_error(rpc, request_message, expected, field)
    assert snapshot(seeded) == before


def test_every_rpc_has_an_error_case() -> None:
    assert {case[1] for case in ERROR_CASES} == set(SERVICE.methods_by_name) - WITHOUT_ERROR_CASES


def test_rejected_archiving_transition_moves_no_version(seeded: Stub) -> None:
    transition(seeded, "fraud", 2, "Archived")
    request = pb.TransitionModelVersionStageRequest(
        name="fraud", version=1, stage="Archived", archive_existing_versions=True
    )
    expect_error(seeded.TransitionModelVersionStage, request, INVALID, "archive_existing_versions")
    assert get_version(seeded, "fraud", 1).current_stage == "Production"
    assert get_version(seeded, "fraud", 2).current_stage == "Archived"


# -- ImportRegisteredModel ----------------------------------------------------------------------


def import_request(name: str = "imported", **fields: Any) -> Any:
    """A model created at T, with versions 1 (Production, aliased champion) and 3 (no stage
    given, no status given): version 2 was deleted in the registry it comes from."""
    t = 1_600_000_000_000
    return pb.ImportRegisteredModelRequest(
        registered_model={
            "name": name,
            "creation_timestamp": t,
            "last_updated_timestamp": t + 5,
            "user_id": "alice",
            "description": "copied",
            "tags": {"team": "risk"},
            "aliases": {"champion": 1},
        },
        model_versions=[
            {"version": 3, "source": "s3://b/3", "creation_timestamp": t + 3},
            {
                "version": 1,
                "source": "runs:/r1/model",
                "run_id": "r1",
                "run_link": "https://tracking/r1",
                "current_stage": "production",
                "status": READY,
                "user_id": "bob",
                "creation_timestamp": t + 1,
                "last_updated_timestamp": t + 2,
                "tags": {"auc": "0.9"},
            },
        ],
        **fields,
    )


def test_import_over_the_wire_keeps_numbers_stages_and_timestamps(stub: Stub) -> None:
    response = stub.ImportRegisteredModel(import_request(), timeout=TIMEOUT)

    assert response.outcome == pb.IMPORT_OUTCOME_CREATED
    assert response.registered_model == get_model(stub, "imported")
    model = response.registered_model
    assert (model.creation_timestamp, model.user_id, dict(model.aliases)) == (
        1_600_000_000_000,
        "alice",
        {"champion": 1},
    )
    first = get_version(stub, "imported", 1)
    assert (first.current_stage, first.status, first.user_id, first.run_link) == (
        "Production",
        READY,
        "bob",
        "https://tracking/r1",
    )
    assert (first.last_updated_timestamp, dict(first.tags), list(first.aliases)) == (
        1_600_000_000_002,
        {"auc": "0.9"},
        ["champion"],
    )
    third = get_version(stub, "imported", 3)
    assert (third.current_stage, third.status) == ("None", READY)
    expect_error(
        stub.GetModelVersion,
        pb.GetModelVersionRequest(name="imported", version=2),
        NOT_FOUND,
        "version",
    )
    assert create_version(stub, "imported").version == 4


def test_import_conflict_policies_over_the_wire(stub: Stub) -> None:
    stub.ImportRegisteredModel(import_request(), timeout=TIMEOUT)
    before = snapshot(stub)

    skipped = stub.ImportRegisteredModel(
        import_request(on_conflict=pb.IMPORT_CONFLICT_POLICY_SKIP), timeout=TIMEOUT
    )
    assert skipped.outcome == pb.IMPORT_OUTCOME_SKIPPED
    assert snapshot(stub) == before

    renamed = stub.ImportRegisteredModel(
        import_request(on_conflict=pb.IMPORT_CONFLICT_POLICY_RENAME), timeout=TIMEOUT
    )
    assert renamed.outcome == pb.IMPORT_OUTCOME_RENAMED
    assert renamed.registered_model.name == "imported-imported"
    assert get_version(stub, "imported-imported", 3).source == "s3://b/3"
