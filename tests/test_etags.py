"""etag on RegisteredModel and ModelVersion through a real server on both backends: it changes on
every change to the resource and only then, and a write that carries a stale etag fails with
ABORTED and changes nothing."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from registry_service.client import RegistryClient
from registry_service.errors import Aborted
from registry_service.server import RunningServer

from .test_grpc_integration import (
    INVALID,
    SERVICE,
    TIMEOUT,
    Stub,
    create_model,
    create_version,
    expect_error,
    get_model,
    get_version,
    pb,
    snapshot,
    transition,
)

ABORTED = (grpc.StatusCode.ABORTED, "ABORTED")
ETAG = re.compile(r"[0-9a-f]{16}")


def etags(stub: Stub, name: str = "fraud") -> tuple[str, dict[int, str]]:
    """The model's etag and each of its versions' etags."""
    versions = stub.SearchModelVersions(
        pb.SearchModelVersionsRequest(filter=f"name = '{name}'"), timeout=TIMEOUT
    ).model_versions
    return get_model(stub, name).etag, {v.version: v.etag for v in versions}


def test_every_returned_resource_carries_its_current_etag(stub: Stub) -> None:
    created = create_model(stub, "fraud")
    version = create_version(stub, "fraud")
    model = get_model(stub, "fraud")

    assert ETAG.fullmatch(created.etag) and ETAG.fullmatch(version.etag)
    assert model.etag != created.etag  # the new version changed the model
    assert model.latest_versions[0].etag == version.etag == get_version(stub, "fraud", 1).etag
    moved = transition(stub, "fraud", 1, "Staging")
    assert moved.etag == get_version(stub, "fraud", 1).etag != version.etag
    [found] = stub.SearchRegisteredModels(pb.SearchRegisteredModelsRequest()).registered_models
    assert found.etag == get_model(stub, "fraud").etag


# Each change to "fraud" (v1 in Production, v2 in Staging, champion -> v1), and the versions whose
# etags it changes besides the model's own.
CHANGES: dict[str, tuple[Callable[[Stub], object], set[int]]] = {
    "update-model": (
        lambda s: s.UpdateRegisteredModel(
            pb.UpdateRegisteredModelRequest(name="fraud", description="d")
        ),
        set(),
    ),
    "set-model-tag": (
        lambda s: s.SetRegisteredModelTag(
            pb.SetRegisteredModelTagRequest(name="fraud", key="k", value="v")
        ),
        set(),
    ),
    "delete-model-tag": (
        lambda s: s.DeleteRegisteredModelTag(
            pb.DeleteRegisteredModelTagRequest(name="fraud", key="team")
        ),
        set(),
    ),
    "create-version": (
        lambda s: s.CreateModelVersion(
            pb.CreateModelVersionRequest(name="fraud", source="s3://b/3")
        ),
        set(),
    ),
    "update-version": (
        lambda s: s.UpdateModelVersion(
            pb.UpdateModelVersionRequest(name="fraud", version=2, description="d")
        ),
        {2},
    ),
    "transition": (
        lambda s: s.TransitionModelVersionStage(
            pb.TransitionModelVersionStageRequest(name="fraud", version=2, stage="Archived")
        ),
        {2},
    ),
    "transition-archiving-the-previous": (
        lambda s: s.TransitionModelVersionStage(
            pb.TransitionModelVersionStageRequest(
                name="fraud", version=2, stage="Production", archive_existing_versions=True
            )
        ),
        {1, 2},
    ),
    "delete-version": (
        lambda s: s.DeleteModelVersion(pb.DeleteModelVersionRequest(name="fraud", version=2)),
        set(),
    ),
    "set-version-tag": (
        lambda s: s.SetModelVersionTag(
            pb.SetModelVersionTagRequest(name="fraud", version=1, key="k", value="v")
        ),
        {1},
    ),
    "delete-version-tag": (
        lambda s: s.DeleteModelVersionTag(
            pb.DeleteModelVersionTagRequest(name="fraud", version=1, key="auc")
        ),
        {1},
    ),
    "move-alias": (
        lambda s: s.SetRegisteredModelAlias(
            pb.SetRegisteredModelAliasRequest(name="fraud", alias="champion", version=2)
        ),
        {1, 2},
    ),
    "add-alias": (
        lambda s: s.SetRegisteredModelAlias(
            pb.SetRegisteredModelAliasRequest(name="fraud", alias="shadow", version=2)
        ),
        {2},
    ),
    "delete-alias": (
        lambda s: s.DeleteRegisteredModelAlias(
            pb.DeleteRegisteredModelAliasRequest(name="fraud", alias="champion")
        ),
        {1},
    ),
}


@pytest.fixture
def staged(registry: Stub) -> Stub:
    transition(registry, "fraud", 1, "Production")
    transition(registry, "fraud", 2, "Staging")
    return registry


@pytest.mark.parametrize("change", CHANGES)
def test_a_change_gives_new_etags_to_the_model_and_exactly_the_versions_it_touches(
    staged: Stub, change: str
) -> None:
    apply, touched = CHANGES[change]
    model_before, versions_before = etags(staged)
    apply(staged)
    model_after, versions_after = etags(staged)

    assert model_after != model_before
    changed = {
        number
        for number, etag in versions_after.items()
        if number in versions_before and etag != versions_before[number]
    }
    assert changed == touched


def test_renaming_gives_the_model_a_new_etag(registry: Stub) -> None:
    before = get_model(registry, "fraud").etag
    request = pb.RenameRegisteredModelRequest(name="fraud", new_name="fraud-2")
    renamed = registry.RenameRegisteredModel(request, timeout=TIMEOUT).registered_model
    assert renamed.etag == get_model(registry, "fraud-2").etag != before


@pytest.mark.parametrize(
    "no_op",
    [
        pb.DeleteRegisteredModelTagRequest(name="fraud", key="absent"),
        pb.DeleteModelVersionTagRequest(name="fraud", version=1, key="absent"),
        pb.DeleteRegisteredModelAliasRequest(name="fraud", alias="absent"),
    ],
    ids=["model-tag", "version-tag", "alias"],
)
def test_deleting_something_absent_changes_no_etag(registry: Stub, no_op: Any) -> None:
    before = snapshot(registry)
    getattr(registry, no_op.DESCRIPTOR.name.removesuffix("Request"))(no_op, timeout=TIMEOUT)
    assert snapshot(registry) == before


# Every write that takes an etag, a request for it on ``registry``, and whose etag it takes.
GUARDED: dict[str, tuple[str, Callable[[str], Any], str]] = {
    "rename-model": (
        "RenameRegisteredModel",
        lambda etag: pb.RenameRegisteredModelRequest(name="fraud", new_name="f2", etag=etag),
        "model",
    ),
    "update-model": (
        "UpdateRegisteredModel",
        lambda etag: pb.UpdateRegisteredModelRequest(name="fraud", description="d", etag=etag),
        "model",
    ),
    "delete-model": (
        "DeleteRegisteredModel",
        lambda etag: pb.DeleteRegisteredModelRequest(name="fraud", etag=etag),
        "model",
    ),
    "set-model-tag": (
        "SetRegisteredModelTag",
        lambda etag: pb.SetRegisteredModelTagRequest(name="fraud", key="k", value="v", etag=etag),
        "model",
    ),
    "delete-model-tag": (
        "DeleteRegisteredModelTag",
        lambda etag: pb.DeleteRegisteredModelTagRequest(name="fraud", key="team", etag=etag),
        "model",
    ),
    "set-alias": (
        "SetRegisteredModelAlias",
        lambda etag: pb.SetRegisteredModelAliasRequest(
            name="fraud", alias="champion", version=2, etag=etag
        ),
        "model",
    ),
    "delete-alias": (
        "DeleteRegisteredModelAlias",
        lambda etag: pb.DeleteRegisteredModelAliasRequest(
            name="fraud", alias="champion", etag=etag
        ),
        "model",
    ),
    "update-version": (
        "UpdateModelVersion",
        lambda etag: pb.UpdateModelVersionRequest(
            name="fraud", version=1, description="d", etag=etag
        ),
        "version",
    ),
    "transition": (
        "TransitionModelVersionStage",
        lambda etag: pb.TransitionModelVersionStageRequest(
            name="fraud", version=1, stage="Staging", etag=etag
        ),
        "version",
    ),
    "delete-version": (
        "DeleteModelVersion",
        lambda etag: pb.DeleteModelVersionRequest(name="fraud", version=1, etag=etag),
        "version",
    ),
    "set-version-tag": (
        "SetModelVersionTag",
        lambda etag: pb.SetModelVersionTagRequest(
            name="fraud", version=1, key="k", value="v", etag=etag
        ),
        "version",
    ),
    "delete-version-tag": (
        "DeleteModelVersionTag",
        lambda etag: pb.DeleteModelVersionTagRequest(name="fraud", version=1, key="auc", etag=etag),
        "version",
    ),
}


def current_etag(stub: Stub, resource: str) -> str:
    if resource == "model":
        return get_model(stub, "fraud").etag
    return get_version(stub, "fraud", 1).etag


def change_behind_the_callers_back(stub: Stub, resource: str) -> None:
    """Another client's write to the resource."""
    if resource == "model":
        stub.SetRegisteredModelTag(
            pb.SetRegisteredModelTagRequest(name="fraud", key="by", value="someone else")
        )
    else:
        stub.SetModelVersionTag(
            pb.SetModelVersionTagRequest(name="fraud", version=1, key="by", value="someone else")
        )


def test_every_write_to_an_existing_resource_takes_an_etag() -> None:
    takes_etag = {m.name for m in SERVICE.methods if "etag" in m.input_type.fields_by_name}
    # These take a transition request's own etag: tests/test_transition_requests.py.
    answers = {"ApproveTransitionRequest", "RejectTransitionRequest", "CancelTransitionRequest"}
    assert takes_etag - answers == {rpc for rpc, _, _ in GUARDED.values()}


@pytest.mark.parametrize("write", GUARDED)
def test_a_write_with_a_stale_etag_is_aborted_and_changes_nothing(
    registry: Stub, write: str
) -> None:
    rpc, make, resource = GUARDED[write]
    stale = current_etag(registry, resource)
    change_behind_the_callers_back(registry, resource)
    before = snapshot(registry)

    error = expect_error(getattr(registry, rpc), make(stale), ABORTED, "etag")

    assert "changed" in error.details()
    assert snapshot(registry) == before
    getattr(registry, rpc)(make(current_etag(registry, resource)), timeout=TIMEOUT)
    assert snapshot(registry) != before


@pytest.mark.parametrize(
    "etag",
    ["nope", "0" * 15, "0" * 17, "ABCDEF0123456789", '"0123456789abcdef"', "g" * 16, "é" * 16],
)
def test_a_malformed_etag_is_invalid_and_changes_nothing(registry: Stub, etag: str) -> None:
    before = snapshot(registry)
    request = pb.UpdateRegisteredModelRequest(name="fraud", description="d", etag=etag)
    expect_error(registry.UpdateRegisteredModel, request, INVALID, "etag")
    assert snapshot(registry) == before


def test_the_etag_of_a_deleted_model_does_not_match_a_new_model_of_the_same_name(
    registry: Stub,
) -> None:
    old = get_model(registry, "churn").etag
    registry.DeleteRegisteredModel(pb.DeleteRegisteredModelRequest(name="churn"))
    create_model(registry, "churn")
    request = pb.UpdateRegisteredModelRequest(name="churn", description="d", etag=old)
    expect_error(registry.UpdateRegisteredModel, request, ABORTED, "etag")


def test_an_etag_vouches_only_for_its_own_resource(registry: Stub) -> None:
    version_1 = get_version(registry, "fraud", 1).etag
    model = get_model(registry, "fraud").etag
    for etag in (version_1, model):
        request = pb.UpdateModelVersionRequest(name="fraud", version=2, description="d", etag=etag)
        expect_error(registry.UpdateModelVersion, request, ABORTED, "etag")


def test_the_client_passes_etags_and_raises_aborted(registry: Stub, server: RunningServer) -> None:
    with RegistryClient(f"127.0.0.1:{server.port}") as client:
        version = client.get_model_version("fraud", 1)
        # A stage and a description in one call: the description is checked against the etag
        # the stage change returned, not the one passed in.
        updated = client.update_model_version(
            "fraud", 1, description="d", stage="Staging", etag=version.etag
        )
        assert (updated.current_stage, updated.description) == ("Staging", "d")
        with pytest.raises(Aborted) as caught:
            client.set_model_version_tag("fraud", 1, "k", "v", etag=version.etag)
        assert (caught.value.code, caught.value.reason, caught.value.field) == (
            grpc.StatusCode.ABORTED,
            "ABORTED",
            "etag",
        )
