"""request_id on every write, through a real server on both backends: a retry returns the first
response and changes nothing; a reused id with another request is refused; the id is kept for the
configured window, and remembered only for writes that committed."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from modelregistry.v1 import requests_pb2, trash_pb2
from modelregistry.v1.model_version_pb2 import ModelVersion
from modelregistry.v1.registered_model_pb2 import RegisteredModel

from registry_service.client import RegistryClient
from registry_service.config import Settings
from registry_service.errors import InvalidArgument
from registry_service.server import RunningServer
from registry_service.store.engine import make_engine
from registry_service.store.registry_store import RegistryStore

from .processes import serving
from .test_grpc_integration import (
    INVALID,
    NOT_FOUND,
    SERVICE,
    TIMEOUT,
    Stub,
    create_model,
    expect_error,
    pb,
    snapshot,
    transition,
)


def new_id() -> str:
    return str(uuid.uuid4())


# Every write of the service, as the RPC and a request that succeeds on ``registry``.
WRITES: dict[str, tuple[str, Callable[[], Message]]] = {
    "create-model": (
        "CreateRegisteredModel",
        lambda: pb.CreateRegisteredModelRequest(name="new", tags={"k": "v"}),
    ),
    "rename-model": (
        "RenameRegisteredModel",
        lambda: pb.RenameRegisteredModelRequest(name="fraud", new_name="fraud-2"),
    ),
    "update-model": (
        "UpdateRegisteredModel",
        lambda: pb.UpdateRegisteredModelRequest(name="fraud", description="d"),
    ),
    "delete-model": (
        "DeleteRegisteredModel",
        lambda: pb.DeleteRegisteredModelRequest(name="fraud"),
    ),
    "create-version": (
        "CreateModelVersion",
        lambda: pb.CreateModelVersionRequest(name="fraud", source="s3://b/3"),
    ),
    "update-version": (
        "UpdateModelVersion",
        lambda: pb.UpdateModelVersionRequest(name="fraud", version=1, description="d"),
    ),
    "transition": (
        "TransitionModelVersionStage",
        lambda: pb.TransitionModelVersionStageRequest(
            name="fraud", version=2, stage="Production", archive_existing_versions=True
        ),
    ),
    "delete-version": (
        "DeleteModelVersion",
        lambda: pb.DeleteModelVersionRequest(name="fraud", version=2),
    ),
    "set-model-tag": (
        "SetRegisteredModelTag",
        lambda: pb.SetRegisteredModelTagRequest(name="fraud", key="team", value="ops"),
    ),
    "delete-model-tag": (
        "DeleteRegisteredModelTag",
        lambda: pb.DeleteRegisteredModelTagRequest(name="fraud", key="team"),
    ),
    "set-version-tag": (
        "SetModelVersionTag",
        lambda: pb.SetModelVersionTagRequest(name="fraud", version=1, key="auc", value="0.95"),
    ),
    "delete-version-tag": (
        "DeleteModelVersionTag",
        lambda: pb.DeleteModelVersionTagRequest(name="fraud", version=1, key="auc"),
    ),
    "set-alias": (
        "SetRegisteredModelAlias",
        lambda: pb.SetRegisteredModelAliasRequest(name="fraud", alias="champion", version=2),
    ),
    "delete-alias": (
        "DeleteRegisteredModelAlias",
        lambda: pb.DeleteRegisteredModelAliasRequest(name="fraud", alias="champion"),
    ),
    "ask": (
        "CreateTransitionRequest",
        lambda: requests_pb2.CreateTransitionRequestRequest(
            name="fraud", version=2, stage="Production"
        ),
    ),
    # The registry fixture below deletes model "gone" and version 1 of "retired" for these.
    "restore-model": (
        "RestoreRegisteredModel",
        lambda: trash_pb2.RestoreRegisteredModelRequest(name="gone"),
    ),
    "restore-version": (
        "RestoreModelVersion",
        lambda: trash_pb2.RestoreModelVersionRequest(name="retired", version=1),
    ),
    "import-model": (
        "ImportRegisteredModel",
        lambda: pb.ImportRegisteredModelRequest(
            registered_model=RegisteredModel(name="imported", aliases={"champion": 3}),
            model_versions=[ModelVersion(version=3, source="s3://b/imported/3")],
        ),
    ),
}


@pytest.fixture
def registry(registry: Stub) -> Stub:
    """conftest's registry, and something to restore: model gone, version 1 of retired."""
    for name in ("gone", "retired"):
        create_model(registry, name)
        registry.CreateModelVersion(pb.CreateModelVersionRequest(name=name, source="s3://b/1"))
    registry.DeleteRegisteredModel(pb.DeleteRegisteredModelRequest(name="gone"))
    registry.DeleteModelVersion(pb.DeleteModelVersionRequest(name="retired", version=1))
    return registry


def write_with_id(stub: Stub, write: str, request_id: str) -> tuple[Callable[..., Any], Any]:
    rpc, make = WRITES[write]
    request: Any = make()
    request.request_id = request_id
    return getattr(stub, rpc), request


def test_every_rpc_that_changes_something_takes_a_request_id() -> None:
    takes_id = {
        method.name
        for method in SERVICE.methods
        if "request_id" in method.input_type.fields_by_name
    }
    reads = {
        m.name for m in SERVICE.methods if m.name.startswith(("Get", "Search", "List", "Watch"))
    }
    # Webhook administration: its retries are tested in test_webhooks. TestWebhook sends a POST
    # and stores nothing.
    webhook_writes = {"CreateWebhook", "UpdateWebhook", "DeleteWebhook"}
    assert takes_id == {rpc for rpc, _ in WRITES.values()} | webhook_writes
    assert takes_id == (
        {m.name for m in SERVICE.methods}
        - reads
        - ACCESS_WRITES
        - REQUEST_ANSWERS
        - {"TestWebhook"}
    )


# Writes without a request_id: setting or deleting a grant and revoking a token are idempotent by
# nature, and CreateAccessToken's answer is a secret, never stored to be replayed (a retry makes
# a second token, which the client does not send unasked).
ACCESS_WRITES = {
    "CreateAccessToken",
    "RevokeAccessToken",
    "SetRegisteredModelPermission",
    "DeleteRegisteredModelPermission",
}
# Answers to a transition request need no request_id: a repeat finds the request no longer
# pending (FAILED_PRECONDITION, or ABORTED with the etag read) and changes nothing
# (tests/test_transition_requests.py).
REQUEST_ANSWERS = {
    "ApproveTransitionRequest",
    "RejectTransitionRequest",
    "CancelTransitionRequest",
}


@pytest.mark.parametrize("write", WRITES)
def test_a_retried_write_returns_the_first_response_and_changes_nothing(
    registry: Stub, write: str
) -> None:
    method, request = write_with_id(registry, write, new_id())
    first = method(request, timeout=TIMEOUT)
    after_first = snapshot(registry)

    retried = method(request, timeout=TIMEOUT)

    assert retried == first
    # Etags are in the snapshot: even a write that sets the same values again would show.
    assert snapshot(registry) == after_first


@pytest.mark.parametrize("write", WRITES)
def test_a_request_id_reused_for_another_request_is_invalid_and_changes_nothing(
    registry: Stub, write: str
) -> None:
    request_id = new_id()
    method, request = write_with_id(registry, write, request_id)
    method(request, timeout=TIMEOUT)
    before = snapshot(registry)

    # The same RPC, asking about another model.
    if "name" in request.DESCRIPTOR.fields_by_name:
        request.name = "churn"
    else:
        request.registered_model.name = "churn"
    error = expect_error(method, request, INVALID, "request_id")

    assert request_id in error.details()
    assert snapshot(registry) == before


def test_a_request_id_reused_for_another_rpc_is_invalid(registry: Stub) -> None:
    request_id = new_id()
    method, request = write_with_id(registry, "set-model-tag", request_id)
    method(request, timeout=TIMEOUT)
    before = snapshot(registry)
    method, request = write_with_id(registry, "delete-model-tag", request_id)
    expect_error(method, request, INVALID, "request_id")
    assert snapshot(registry) == before


@pytest.mark.parametrize(
    "request_id",
    [
        "not-a-uuid",
        "12345",
        "1b4e28ba2fa111d2883f0016d3cca427",  # no hyphens
        "{1b4e28ba-2fa1-11d2-883f-0016d3cca427}",
        "urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        "1b4e28ba-2fa1-11d2-883f-0016d3cca427 ",
        "1b4e28ba-2fa1-11d2-883f-0016d3cca42g",
        "\uff11b4e28ba-2fa1-11d2-883f-0016d3cca427",  # a full-width digit one
        "1b4e28ba-2fa1-11d2-883f-0016d3cca427" * 100,
        "'; DROP TABLE idempotent_requests; --",
    ],
)
def test_a_malformed_request_id_is_invalid_and_changes_nothing(
    registry: Stub, request_id: str
) -> None:
    before = snapshot(registry)
    method, request = write_with_id(registry, "create-version", request_id)
    expect_error(method, request, INVALID, "request_id")
    assert snapshot(registry) == before


def test_a_request_id_is_the_same_in_upper_and_lower_case(registry: Stub) -> None:
    request_id = new_id()
    method, request = write_with_id(registry, "create-version", request_id.upper())
    first = method(request, timeout=TIMEOUT)
    request.request_id = request_id.lower()
    assert method(request, timeout=TIMEOUT) == first
    assert first.model_version.version == 3


def test_a_retry_gets_the_original_response_even_after_later_changes(registry: Stub) -> None:
    method, request = write_with_id(registry, "create-version", new_id())
    created = method(request, timeout=TIMEOUT).model_version
    transition(registry, "fraud", created.version, "Production")

    replayed = method(request, timeout=TIMEOUT).model_version

    assert replayed == created
    assert replayed.current_stage == "None"


def test_a_failed_write_is_not_remembered(stub: Stub) -> None:
    request = pb.CreateModelVersionRequest(name="later", source="s3://b/later", request_id=new_id())
    expect_error(stub.CreateModelVersion, request, NOT_FOUND, "name")
    create_model(stub, "later")
    assert stub.CreateModelVersion(request, timeout=TIMEOUT).model_version.version == 1


def test_concurrent_calls_with_one_request_id_create_one_version(registry: Stub) -> None:
    callers = 8
    method, request = write_with_id(registry, "create-version", new_id())
    barrier = threading.Barrier(callers)

    def send(_: int) -> Any:
        barrier.wait(timeout=60)
        return method(request, timeout=TIMEOUT)

    with ThreadPoolExecutor(max_workers=callers) as pool:
        responses = list(pool.map(send, range(callers)))

    assert all(response == responses[0] for response in responses)
    assert responses[0].model_version.version == 3
    versions = registry.SearchModelVersions(
        pb.SearchModelVersionsRequest(filter="name = 'fraud'"), timeout=TIMEOUT
    ).model_versions
    assert sorted(v.version for v in versions) == [1, 2, 3]


class ResendEveryCall(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Sends every call twice, as a channel does that retries after losing the first response."""

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        continuation(details, request).result()
        return continuation(details, request)


def test_the_client_gives_each_write_a_request_id_that_its_retries_share(
    server: RunningServer,
) -> None:
    channel = grpc.intercept_channel(
        grpc.insecure_channel(f"127.0.0.1:{server.port}"), ResendEveryCall()
    )
    with RegistryClient(channel=channel) as client:
        model = client.create_registered_model("m")
        version = client.register_model("s3://b/1", "m")
        client.delete_model_version("m", version.version)
        second = client.create_model_version("m", "s3://b/2")
        client.set_registered_model_alias("m", "champion", second.version)
        assert client.get_registered_model("m").name == model.name
    channel.close()
    assert second.version == 2


def test_the_window_is_a_setting() -> None:
    settings = Settings.from_environment({"REGISTRY_IDEMPOTENCY_WINDOW": "90.5"})
    assert settings.idempotency_window == 90.5
    assert Settings().idempotency_window == 86_400


def test_a_request_id_is_remembered_for_the_window_and_free_after_it(database_url: str) -> None:
    now = [1_800_000_000_000]
    engine = make_engine(database_url)
    store = RegistryStore(engine, clock=lambda: now[0], idempotency_window=60)
    try:
        store.create_registered_model("m")
        request_id = new_id()
        first = store.create_model_version("m", "s3://b/1", request_id=request_id)

        now[0] += 60_000
        assert store.create_model_version("m", "s3://b/1", request_id=request_id) == first
        with pytest.raises(InvalidArgument) as caught:
            store.create_model_version("m", "s3://b/other", request_id=request_id)
        assert caught.value.field == "request_id"

        now[0] += 1
        again = store.create_model_version("m", "s3://b/other", request_id=request_id)
        assert (again.version, again.source) == (2, "s3://b/other")
    finally:
        engine.dispose()


def test_serve_takes_the_window_from_its_flag(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/r.db"
    with (
        serving("--port", "0", "--database-url", url, "--idempotency-window", "0") as served,
        RegistryClient(served.address) as client,
    ):
        client.create_registered_model("m")
        request_id = new_id()
        client.create_model_version("m", "s3://b/m", request_id=request_id)
        # A window of zero remembers an id for no time at all; let the clock move past it.
        time.sleep(0.01)
        assert client.create_model_version("m", "s3://b/m", request_id=request_id).version == 2
