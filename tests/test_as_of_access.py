"""``as_of`` reads answer for the model that held the name at that time, and only to a caller who
may read that model: a name renamed away, deleted, or reused by another owner never shows one
owner's history to another, over gRPC or HTTP, on SQLite or PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import httpx
import pytest
from modelregistry.v1 import registry_service_pb2 as pb
from modelregistry.v1.registry_service_pb2_grpc import ModelRegistryServiceStub

from registry_service.config import Settings
from registry_service.server import RunningServer, start
from registry_service.store.registry_store import RegistryStore

NAME = "fraud-detector"
SECRET_SOURCE = "s3://alice-private/fraud/1"


@pytest.fixture
def running(store: RegistryStore) -> Iterator[RunningServer]:
    settings = Settings(
        port=0, http_port=0, auth="token", default_permission="NONE", webhooks=False
    )
    server = start(settings, store=store)
    yield server
    server.stop(None)


class Caller:
    """One user's calls of the two as_of reads, over gRPC and over HTTP."""

    def __init__(self, running: RunningServer, token: str) -> None:
        assert running.http is not None
        self.channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
        self.stub = ModelRegistryServiceStub(self.channel)
        self.metadata = (("authorization", f"Bearer {token}"),)
        self.http = httpx.Client(
            base_url=f"http://127.0.0.1:{running.http.port}/api/2.0/mlflow",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )

    def grpc_latest(self, as_of: int) -> tuple[str, list[pb.ModelVersion]]:
        request = pb.GetLatestVersionsRequest(name=NAME, as_of=as_of)
        try:
            answer = self.stub.GetLatestVersions(request, metadata=self.metadata, timeout=10)
        except grpc.RpcError as error:
            return f"{error.code().name}: {error.details()}", []
        return "OK", list(answer.model_versions)

    def grpc_alias(self, as_of: int) -> tuple[str, pb.ModelVersion | None]:
        request = pb.GetModelVersionByAliasRequest(name=NAME, alias="champion", as_of=as_of)
        try:
            answer = self.stub.GetModelVersionByAlias(request, metadata=self.metadata, timeout=10)
        except grpc.RpcError as error:
            return f"{error.code().name}: {error.details()}", None
        return "OK", answer.model_version

    def http_latest(self, as_of: int) -> tuple[int, dict[str, object]]:
        response = self.http.post(
            "/registered-models/get-latest-versions", json={"name": NAME, "as_of": as_of}
        )
        return response.status_code, response.json()

    def http_alias(self, as_of: int) -> tuple[int, dict[str, object]]:
        response = self.http.get(
            "/registered-models/alias", params={"name": NAME, "alias": "champion", "as_of": as_of}
        )
        return response.status_code, response.json()

    def close(self) -> None:
        self.channel.close()
        self.http.close()


@pytest.fixture
def users(running: RunningServer, tokens: dict[str, str]) -> Iterator[dict[str, Caller]]:
    callers = {user: Caller(running, token) for user, token in tokens.items()}
    yield callers
    for caller in callers.values():
        caller.close()


def _alices_model_then(users: dict[str, Caller]) -> int:
    """alice's private model under NAME; the time at which it was so, in epoch milliseconds."""
    alice = users["alice"]
    alice.stub.CreateRegisteredModel(
        pb.CreateRegisteredModelRequest(name=NAME, description="alice's"), metadata=alice.metadata
    )
    alice.stub.CreateModelVersion(
        pb.CreateModelVersionRequest(
            name=NAME, source=SECRET_SOURCE, description="private", tags={"k": "v"}
        ),
        metadata=alice.metadata,
    )
    alice.stub.SetRegisteredModelAlias(
        pb.SetRegisteredModelAliasRequest(name=NAME, alias="champion", version=1),
        metadata=alice.metadata,
    )
    time.sleep(0.05)
    then = time.time_ns() // 1_000_000
    time.sleep(0.05)
    return then


def _mallory_takes_the_name(users: dict[str, Caller]) -> None:
    mallory = users["mallory"]
    mallory.stub.CreateRegisteredModel(
        pb.CreateRegisteredModelRequest(name=NAME), metadata=mallory.metadata
    )
    mallory.stub.CreateModelVersion(
        pb.CreateModelVersionRequest(name=NAME, source="s3://mallory/1"), metadata=mallory.metadata
    )
    mallory.stub.SetRegisteredModelAlias(
        pb.SetRegisteredModelAliasRequest(name=NAME, alias="champion", version=1),
        metadata=mallory.metadata,
    )


def _rename(users: dict[str, Caller]) -> None:
    alice = users["alice"]
    alice.stub.RenameRegisteredModel(
        pb.RenameRegisteredModelRequest(name=NAME, new_name=f"{NAME}-old"), metadata=alice.metadata
    )


def _delete(users: dict[str, Caller]) -> None:
    alice = users["alice"]
    alice.stub.DeleteRegisteredModel(
        pb.DeleteRegisteredModelRequest(name=NAME), metadata=alice.metadata
    )


def _missing_then(users: dict[str, Caller]) -> tuple[str, str]:
    """What mallory hears for the name at a time no model held it (before alice made hers)."""
    mallory = users["mallory"]
    return mallory.grpc_latest(1)[0].replace(" at 1", ""), mallory.grpc_alias(1)[0].replace(
        " at 1", ""
    )


@pytest.mark.parametrize("leaves", [_rename, _delete], ids=["renamed", "deleted"])
def test_as_of_never_shows_another_owners_model_under_a_reused_name(
    users: dict[str, Caller], leaves: object
) -> None:
    assert callable(leaves)
    then = _alices_model_then(users)
    leaves(users)
    _mallory_takes_the_name(users)
    mallory = users["mallory"]

    latest, versions = mallory.grpc_latest(then)
    by_alias, version = mallory.grpc_alias(then)
    # Exactly the answer for a name nobody held then.
    missing_latest, missing_alias = _missing_then(users)
    assert latest.replace(f" at {then}", "") == missing_latest
    assert by_alias.replace(f" at {then}", "") == missing_alias
    assert latest.startswith("NOT_FOUND") and versions == []
    assert by_alias.startswith("NOT_FOUND") and version is None

    for status, body in (mallory.http_latest(then), mallory.http_alias(then)):
        assert status == 404
        assert body["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        assert SECRET_SOURCE not in str(body)

    # mallory's own model answers for the present as usual.
    now = time.time_ns() // 1_000_000 + 1000
    status, body = mallory.http_alias(now)
    assert status == 200, body
    assert body["model_version"]["source"] == "s3://mallory/1"  # type: ignore[index]


def test_as_of_answers_the_owner_of_a_renamed_model_and_an_admin_with_its_history(
    users: dict[str, Caller],
) -> None:
    then = _alices_model_then(users)
    _rename(users)
    _mallory_takes_the_name(users)
    for user in ("alice", "admin"):
        caller = users[user]
        status, versions = caller.grpc_latest(then)
        assert status == "OK"
        assert [v.source for v in versions] == [SECRET_SOURCE]
        status, version = caller.grpc_alias(then)
        assert status == "OK" and version is not None
        assert (version.source, list(version.aliases)) == (SECRET_SOURCE, ["champion"])
        http_status, body = caller.http_alias(then)
        assert http_status == 200
        assert body["model_version"]["source"] == SECRET_SOURCE  # type: ignore[index]


def test_as_of_of_a_deleted_model_answers_admins_only(users: dict[str, Caller]) -> None:
    """A deleted model's grants went with it: its history is the admins' to read."""
    then = _alices_model_then(users)
    _delete(users)
    _mallory_takes_the_name(users)
    assert users["alice"].grpc_alias(then)[0].startswith("NOT_FOUND")
    status, version = users["admin"].grpc_alias(then)
    assert status == "OK" and version is not None
    assert version.source == SECRET_SOURCE
