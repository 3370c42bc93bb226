"""Permission decisions under racing renames: the decision and the write act on the same model.

mallory holds a lower level on alice's model ``victim`` and owns ``swap``. While the two models
trade names (swap→tmp, victim→swap, swap→victim, tmp→swap), threads call the RPCs that mallory may
make on her own ``swap`` but not on alice's. Whatever model ``swap`` names at each instant, no call
of mallory's may change alice's model beyond what mallory's level allows, on either database.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf.message import Message
from modelregistry.v1 import access_pb2
from modelregistry.v1 import registry_service_pb2 as pb
from modelregistry.v1.registry_service_pb2_grpc import ModelRegistryServiceStub
from sqlalchemy import select

from registry_service.config import Settings
from registry_service.server import RunningServer, start
from registry_service.store.registry_store import RegistryStore
from registry_service.store.tables import (
    events,
    registered_model_permissions,
    registered_models,
)

# How long the attack runs per case: long enough for many renames to interleave with the calls.
ATTACK_SECONDS = 2.0
# Threads per attacking call.
ATTACKERS = 2
RENAME_CYCLE = (("swap", "tmp"), ("victim", "swap"), ("swap", "victim"), ("tmp", "swap"))

Call = Callable[[ModelRegistryServiceStub, tuple[tuple[str, str], ...]], Message]


@dataclass(frozen=True)
class Attack:
    # mallory's grant on alice's model.
    level: str
    # Who renames: mallory herself (she may, with EDIT) or an admin's script.
    renamer: str
    calls: tuple[Call, ...]


def _grant(stub: ModelRegistryServiceStub, metadata: tuple[tuple[str, str], ...]) -> Message:
    request = access_pb2.SetRegisteredModelPermissionRequest(
        name="swap", user_id="mallory", permission=access_pb2.PERMISSION_MANAGE
    )
    return stub.SetRegisteredModelPermission(request, metadata=metadata, timeout=10)


def _revoke_alice(stub: ModelRegistryServiceStub, metadata: tuple[tuple[str, str], ...]) -> Message:
    request = access_pb2.DeleteRegisteredModelPermissionRequest(name="swap", user_id="alice")
    return stub.DeleteRegisteredModelPermission(request, metadata=metadata, timeout=10)


def _to_production(
    stub: ModelRegistryServiceStub, metadata: tuple[tuple[str, str], ...]
) -> Message:
    request = pb.TransitionModelVersionStageRequest(name="swap", version=1, stage="Production")
    return stub.TransitionModelVersionStage(request, metadata=metadata, timeout=10)


def _out_of_production(
    stub: ModelRegistryServiceStub, metadata: tuple[tuple[str, str], ...]
) -> Message:
    request = pb.TransitionModelVersionStageRequest(name="swap", version=2, stage="Archived")
    return stub.TransitionModelVersionStage(request, metadata=metadata, timeout=10)


def _protected_alias(
    stub: ModelRegistryServiceStub, metadata: tuple[tuple[str, str], ...]
) -> Message:
    request = pb.SetRegisteredModelAliasRequest(name="swap", alias="Champion", version=1)
    return stub.SetRegisteredModelAlias(request, metadata=metadata, timeout=10)


def _delete_model(stub: ModelRegistryServiceStub, metadata: tuple[tuple[str, str], ...]) -> Message:
    """Delete "swap" and, when that was mallory's own, create it again so the renames go on
    (without versions: creating those is within her EDIT on alice's model)."""
    deleted = stub.DeleteRegisteredModel(
        pb.DeleteRegisteredModelRequest(name="swap"), metadata=metadata, timeout=10
    )
    stub.CreateRegisteredModel(
        pb.CreateRegisteredModelRequest(name="swap"), metadata=metadata, timeout=10
    )
    return deleted


def _tag(stub: ModelRegistryServiceStub, metadata: tuple[tuple[str, str], ...]) -> Message:
    request = pb.SetRegisteredModelTagRequest(name="swap", key="owner", value="mallory")
    return stub.SetRegisteredModelTag(request, metadata=metadata, timeout=10)


def _describe(stub: ModelRegistryServiceStub, metadata: tuple[tuple[str, str], ...]) -> Message:
    request = pb.UpdateRegisteredModelRequest(name="swap", description="mallory was here")
    return stub.UpdateRegisteredModel(request, metadata=metadata, timeout=10)


def _version_tag(stub: ModelRegistryServiceStub, metadata: tuple[tuple[str, str], ...]) -> Message:
    request = pb.SetModelVersionTagRequest(name="swap", version=1, key="k", value="mallory")
    return stub.SetModelVersionTag(request, metadata=metadata, timeout=10)


def _alias(stub: ModelRegistryServiceStub, metadata: tuple[tuple[str, str], ...]) -> Message:
    request = pb.SetRegisteredModelAliasRequest(name="swap", alias="shadow", version=1)
    return stub.SetRegisteredModelAlias(request, metadata=metadata, timeout=10)


def _new_version(stub: ModelRegistryServiceStub, metadata: tuple[tuple[str, str], ...]) -> Message:
    request = pb.CreateModelVersionRequest(name="swap", source="s3://mallory/model")
    return stub.CreateModelVersion(request, metadata=metadata, timeout=10)


ATTACKS = {
    # The finding as reported: EDIT on alice's model, mallory renaming.
    "edit-to-manage": Attack(
        "EDIT",
        "mallory",
        (
            _grant,
            _revoke_alice,
            _to_production,
            _out_of_production,
            _protected_alias,
            _delete_model,
        ),
    ),
    # READ only: no write of any kind may reach alice's model, whoever renames.
    "read-to-edit": Attack(
        "READ",
        "admin",
        (
            _tag,
            _describe,
            _version_tag,
            _alias,
            _new_version,
            _grant,
            _to_production,
            _delete_model,
        ),
    ),
}


@pytest.fixture
def token_server(store: RegistryStore) -> Iterator[RunningServer]:
    running = start(
        Settings(
            port=0,
            http_port=-1,
            auth="token",
            default_permission="NONE",
            protected_aliases="champion",
            webhooks=False,
        ),
        store=store,
    )
    yield running
    running.stop(None)


def _as(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


@pytest.mark.parametrize("attack_name", sorted(ATTACKS))
def test_racing_renames_never_let_mallory_past_her_level_on_alices_model(
    store: RegistryStore, token_server: RunningServer, tokens: dict[str, str], attack_name: str
) -> None:
    attack = ATTACKS[attack_name]
    alice, mallory = _as(tokens["alice"]), _as(tokens["mallory"])
    renamer = _as(tokens[attack.renamer])
    with grpc.insecure_channel(f"127.0.0.1:{token_server.port}") as channel:
        stub = ModelRegistryServiceStub(channel)
        stub.CreateRegisteredModel(
            pb.CreateRegisteredModelRequest(name="victim", description="alice's"), metadata=alice
        )
        for number in (1, 2):
            stub.CreateModelVersion(
                pb.CreateModelVersionRequest(name="victim", source=f"s3://alice/{number}"),
                metadata=alice,
            )
        stub.TransitionModelVersionStage(
            pb.TransitionModelVersionStageRequest(name="victim", version=2, stage="Production"),
            metadata=alice,
        )
        stub.SetRegisteredModelPermission(
            access_pb2.SetRegisteredModelPermissionRequest(
                name="victim",
                user_id="mallory",
                permission=access_pb2.Permission.Value(f"PERMISSION_{attack.level}"),
            ),
            metadata=alice,
        )
        stub.CreateRegisteredModel(pb.CreateRegisteredModelRequest(name="swap"), metadata=mallory)
        stub.CreateModelVersion(
            pb.CreateModelVersionRequest(name="swap", source="s3://mallory/1"), metadata=mallory
        )
        stub.CreateModelVersion(
            pb.CreateModelVersionRequest(name="swap", source="s3://mallory/2"), metadata=mallory
        )
        victim_id = _model_id(store, "victim")
        before = _snapshot(store, victim_id)

        stop = threading.Event()
        outcomes: Counter[str] = Counter()
        failures: list[BaseException] = []
        lock = threading.Lock()

        def recorded(loop: Callable[..., None]) -> Callable[..., None]:
            def run(*args: object) -> None:
                try:
                    loop(*args)
                except BaseException as error:
                    failures.append(error)

            return run

        def rename_loop() -> None:
            while not stop.is_set():
                for old, new in RENAME_CYCLE:
                    try:
                        stub.RenameRegisteredModel(
                            pb.RenameRegisteredModelRequest(name=old, new_name=new),
                            metadata=renamer,
                            timeout=10,
                        )
                    except grpc.RpcError as error:
                        # mallory deleting her own swap ends the cycle's source of names.
                        assert error.code() in (
                            grpc.StatusCode.NOT_FOUND,
                            grpc.StatusCode.ALREADY_EXISTS,
                        ), error

        def attack_loop(call: Call) -> None:
            while not stop.is_set():
                try:
                    call(stub, mallory)
                    code = "OK"
                except grpc.RpcError as error:
                    code = error.code().name
                    assert error.code() in (
                        grpc.StatusCode.PERMISSION_DENIED,
                        grpc.StatusCode.NOT_FOUND,
                        grpc.StatusCode.FAILED_PRECONDITION,
                        grpc.StatusCode.ALREADY_EXISTS,
                    ), error
                with lock:
                    outcomes[code] += 1

        threads = [threading.Thread(target=recorded(rename_loop))] + [
            threading.Thread(target=recorded(attack_loop), args=(call,))
            for call in attack.calls
            for _ in range(ATTACKERS)
        ]
        for thread in threads:
            thread.start()
        time.sleep(ATTACK_SECONDS)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
            assert not thread.is_alive()

    assert not failures, failures
    # The race was run: some of mallory's calls reached alice's model under the name "swap" and
    # were refused on it. (Without renames, every call on swap would be hers and succeed.)
    assert outcomes["PERMISSION_DENIED"] + outcomes["NOT_FOUND"] > 0, outcomes
    after = _snapshot(store, victim_id)
    assert after["grants"] == {"alice": "MANAGE", "mallory": attack.level}
    assert after["exists"]
    kept = ("description", "tags", "aliases", "versions", "stages", "version_tags")
    assert {key: after[key] for key in kept} == {key: before[key] for key in kept}
    allowed = {"registered_model.renamed"} if attack.renamer == "mallory" else set()
    assert set(_actions_of(store, victim_id, "mallory")) <= allowed


def _model_id(store: RegistryStore, name: str) -> int:
    with store.engine.connect() as connection:
        return int(
            connection.execute(
                select(registered_models.c.id).where(registered_models.c.name == name)
            ).scalar_one()
        )


def _snapshot(store: RegistryStore, model_id: int) -> dict[str, object]:
    """Alice's model as its rows are, found by its id whatever it is called now."""
    with store.engine.connect() as connection:
        row = connection.execute(
            select(registered_models).where(registered_models.c.id == model_id)
        ).one_or_none()
        grants = dict(
            connection.execute(
                select(
                    registered_model_permissions.c.user_id,
                    registered_model_permissions.c.permission,
                ).where(registered_model_permissions.c.model_id == model_id)
            ).all()
        )
    if row is None:
        return {"exists": False, "grants": grants}
    model = store.get_registered_model(row.name)
    versions = {v.version: v for v in store.search_model_versions(f"name = '{row.name}'").items}
    return {
        "exists": True,
        "grants": grants,
        "description": model.description,
        "tags": model.tags,
        "versions": sorted(versions),
        "stages": {n: v.current_stage for n, v in versions.items()},
        "version_tags": {n: v.tags for n, v in versions.items()},
        "aliases": model.aliases,
    }


def _actions_of(store: RegistryStore, model_id: int, actor: str) -> list[str]:
    with store.engine.connect() as connection:
        return list(
            connection.execute(
                select(events.c.event_type)
                .where(events.c.model_id == model_id)
                .where(events.c.actor == actor)
            ).scalars()
        )


def test_another_callers_replay_of_a_request_id_is_not_answered_with_the_first_result(
    token_server: RunningServer, tokens: dict[str, str]
) -> None:
    """A remembered result was made under its caller's permissions: someone else who learns the
    request_id and sends the same request gets no copy of it."""
    alice, mallory = _as(tokens["alice"]), _as(tokens["mallory"])
    request_id = "0f0e0d0c-0b0a-4908-8706-050403020100"
    with grpc.insecure_channel(f"127.0.0.1:{token_server.port}") as channel:
        stub = ModelRegistryServiceStub(channel)
        stub.CreateRegisteredModel(pb.CreateRegisteredModelRequest(name="victim"), metadata=alice)
        request = pb.CreateModelVersionRequest(
            name="victim", source="s3://alice/secret/1", request_id=request_id
        )
        first = stub.CreateModelVersion(request, metadata=alice).model_version
        with pytest.raises(grpc.RpcError) as raised:
            stub.CreateModelVersion(request, metadata=mallory)
        assert raised.value.code() != grpc.StatusCode.OK
        assert "s3://alice/secret/1" not in str(raised.value.details())
        # alice's own retry still gets her first answer.
        assert stub.CreateModelVersion(request, metadata=alice).model_version == first
        update = pb.UpdateModelVersionRequest(
            name="victim",
            version=1,
            description="alice's",
            request_id=request_id.replace("0f", "1f"),
        )
        stub.UpdateModelVersion(update, metadata=alice)
        with pytest.raises(grpc.RpcError) as raised:
            stub.UpdateModelVersion(update, metadata=mallory)
        assert raised.value.code() in (
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.StatusCode.NOT_FOUND,
        )
