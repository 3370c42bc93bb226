"""Restore after delete, on SQLite and PostgreSQL, as callers see it over gRPC, HTTP and the CLI:
a deleted model or version is invisible to every read until restored, comes back exactly (new etag,
one event), never reuses a version number, refuses a taken name unless given a new one, and is
purged in batches once --deleted-retention has passed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest
from modelregistry.v1 import events_pb2

from registry_service.client import RegistryClient
from registry_service.config import Settings
from registry_service.errors import AlreadyExists, NotFound, RegistryError
from registry_service.retention import RetentionWorker
from registry_service.server import RunningServer, start
from registry_service.store.registry_store import RegistryStore

from .operator_cli import ok, ok_json, run

RESTORED = events_pb2.EVENT_TYPE_REGISTERED_MODEL_RESTORED
VERSION_RESTORED = events_pb2.EVENT_TYPE_MODEL_VERSION_RESTORED


def seed(client: RegistryClient, name: str = "fraud") -> None:
    """``name`` (tag team) with v1 (tag auc, alias champion, Production), v2 (alias shadow)."""
    client.create_registered_model(name, tags={"team": "risk"}, description="flags fraud")
    client.create_model_version(name, "s3://b/1", tags={"auc": "0.9"}, description="first")
    client.create_model_version(name, "s3://b/2")
    client.transition_model_version_stage(name, 1, "Production")
    client.set_registered_model_alias(name, "champion", 1)
    client.set_registered_model_alias(name, "shadow", 2)


def without_etags(message: Any) -> Any:
    """The message as a user compares it, etags aside (a restore is a change: new etags)."""
    copy = type(message)()
    copy.CopyFrom(message)
    copy.ClearField("etag")
    for version in getattr(copy, "latest_versions", []):
        version.ClearField("etag")
    return copy


def refusal(call: Any) -> RegistryError:
    with pytest.raises(RegistryError) as raised:
        call()
    return raised.value


def test_a_deleted_model_is_invisible_to_every_read_and_comes_back_exactly(
    client: RegistryClient,
) -> None:
    seed(client)
    model = client.get_registered_model("fraud")
    versions = [client.get_model_version("fraud", n) for n in (1, 2)]
    events_before = client.list_events()
    client.delete_registered_model("fraud")

    # Exactly the answers of a model that never existed.
    never = refusal(lambda: client.get_registered_model("never"))
    gone = refusal(lambda: client.get_registered_model("fraud"))
    assert (
        (gone.code, gone.reason)
        == (never.code, never.reason)
        == (
            grpc.StatusCode.NOT_FOUND,
            "RESOURCE_DOES_NOT_EXIST",
        )
    )
    for read in (
        lambda: client.get_model_version("fraud", 1),
        lambda: client.get_latest_versions("fraud"),
        lambda: client.get_model_version_by_alias("fraud", "champion"),
    ):
        assert isinstance(refusal(read), NotFound)
    assert client.search_registered_models() == []
    assert client.search_model_versions("name = 'fraud'") == []
    # The history stays: every earlier event, then the delete.
    assert client.list_events()[: len(events_before)] == events_before

    [deleted] = client.list_deleted_registered_models()
    assert deleted.registered_model.name == "fraud"
    assert deleted.version_count == 2
    assert deleted.registered_model.aliases == {"champion": 1, "shadow": 2}
    assert deleted.purge_timestamp - deleted.deletion_timestamp == 2_592_000_000

    restored = client.restore_registered_model("fraud")
    assert restored.etag != model.etag
    assert without_etags(restored) == without_etags(model)
    assert without_etags(client.get_registered_model("fraud")) == without_etags(model)
    for before in versions:
        after = client.get_model_version("fraud", before.version)
        assert after.etag != before.etag
        assert without_etags(after) == without_etags(before)
    assert client.get_model_version_by_alias("fraud", "champion").version == 1
    assert client.list_deleted_registered_models() == []
    [event] = client.list_events(event_types=[RESTORED])
    assert (event.model_name, event.version) == ("fraud", 0)
    assert len(client.list_events()) == len(events_before) + 2


def test_version_numbers_are_never_reused_and_a_restored_version_keeps_its_number(
    client: RegistryClient,
) -> None:
    seed(client)
    client.create_model_version("fraud", "s3://b/3", tags={"k": "v"})
    client.set_registered_model_alias("fraud", "canary", 3)
    v3 = client.get_model_version("fraud", 3)
    client.delete_model_version("fraud", 3)
    assert isinstance(refusal(lambda: client.get_model_version("fraud", 3)), NotFound)
    assert sorted(v.version for v in client.search_model_versions("name = 'fraud'")) == [1, 2]
    assert client.create_model_version("fraud", "s3://b/4").version == 4
    [deleted] = client.list_deleted_model_versions("fraud")
    assert deleted.model_version.version == 3 and list(deleted.model_version.aliases) == ["canary"]

    restored = client.restore_model_version("fraud", 3)
    assert restored.etag != v3.etag
    assert without_etags(restored) == without_etags(v3)
    assert client.get_model_version_by_alias("fraud", "canary").version == 3
    assert client.create_model_version("fraud", "s3://b/5").version == 5
    [event] = client.list_events(event_types=[VERSION_RESTORED])
    assert (event.model_name, event.version) == ("fraud", 3)
    # Restored once: the second try finds nothing to restore.
    assert isinstance(refusal(lambda: client.restore_model_version("fraud", 3)), NotFound)


def test_an_alias_moved_meanwhile_stays_where_it_is(client: RegistryClient) -> None:
    seed(client)
    client.delete_model_version("fraud", 2)
    client.set_registered_model_alias("fraud", "shadow", 1)
    restored = client.restore_model_version("fraud", 2)
    assert list(restored.aliases) == []
    assert client.get_model_version_by_alias("fraud", "shadow").version == 1


def test_a_version_of_a_deleted_model_needs_its_model_restored_first(
    client: RegistryClient,
) -> None:
    seed(client)
    client.delete_model_version("fraud", 2)
    client.delete_registered_model("fraud")
    refused = refusal(lambda: client.restore_model_version("fraud", 2))
    assert refused.code == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.field == "name" and "restore the model first" in str(refused)
    missing = refusal(lambda: client.restore_model_version("never", 1))
    assert missing.code == grpc.StatusCode.NOT_FOUND
    client.restore_registered_model("fraud")
    # The version deleted before its model is still restorable once the model is back.
    assert client.restore_model_version("fraud", 2).current_stage == "None"


def test_a_taken_name_is_refused_unless_a_new_name_is_given(client: RegistryClient) -> None:
    seed(client)
    client.delete_registered_model("fraud")
    client.create_registered_model("fraud")
    refused = refusal(lambda: client.restore_registered_model("fraud"))
    assert isinstance(refused, AlreadyExists) and refused.field == "name"
    client.create_registered_model("fraud-old")
    refused = refusal(lambda: client.restore_registered_model("fraud", "fraud-old"))
    assert isinstance(refused, AlreadyExists) and refused.field == "new_name"
    restored = client.restore_registered_model("fraud", "fraud-restored")
    assert restored.name == "fraud-restored"
    assert client.get_model_version_by_alias("fraud-restored", "champion").source == "s3://b/1"
    assert client.get_latest_versions("fraud") == []
    # as_of follows the restored model under its new name.
    now = int(time.time() * 1000) + 1000
    time.sleep(0.01)
    [production] = client.get_latest_versions("fraud-restored", ["Production"], as_of=now)
    assert production.version == 1 and production.name == "fraud-restored"


def test_as_of_before_the_delete_and_after_the_restore(client: RegistryClient) -> None:
    seed(client)
    time.sleep(0.005)
    before_delete = int(time.time() * 1000)
    time.sleep(0.005)
    client.delete_model_version("fraud", 1)
    client.delete_registered_model("fraud")
    time.sleep(0.005)
    while_deleted = int(time.time() * 1000)
    time.sleep(0.005)
    client.restore_registered_model("fraud")
    client.restore_model_version("fraud", 1)
    time.sleep(0.005)
    after = int(time.time() * 1000)
    assert client.get_model_version_by_alias("fraud", "champion", as_of=before_delete).version == 1
    assert isinstance(
        refusal(lambda: client.get_latest_versions("fraud", as_of=while_deleted)), NotFound
    )
    [production] = client.get_latest_versions("fraud", ["Production"], as_of=after)
    assert production.version == 1
    assert client.get_model_version_by_alias("fraud", "champion", as_of=after).version == 1


def test_purge_after_the_window_in_batches(store: RegistryStore) -> None:
    for index in range(5):
        name = f"m{index}"
        store.create_registered_model(name)
        store.create_model_version(name, "s3://b/1")
        store.create_model_version(name, "s3://b/2")
        store.delete_model_version(name, 2)
        store.delete_registered_model(name)
    store.create_registered_model("kept")
    store.create_model_version("kept", "s3://b/1")
    store.delete_model_version("kept", 1)
    # Nothing is due inside the window.
    assert store.purge_deleted() == 0
    store.deleted_retention = 0.001
    time.sleep(0.01)
    # 6 versions and 5 models, 2 rows a transaction.
    assert store.purge_deleted(batch=2) == 11
    assert store.list_deleted_registered_models().items == []
    assert store.list_deleted_model_versions("kept") == []
    with pytest.raises(NotFound):
        store.restore_registered_model("m0")
    assert store.purge_deleted() == 0


def test_the_background_worker_purges_and_zero_retention_keeps_nothing(
    store: RegistryStore,
) -> None:
    store.create_registered_model("m")
    store.delete_registered_model("m")
    store.deleted_retention = 0.001
    worker = RetentionWorker(store, Settings(), interval=0.02)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while store.list_deleted_registered_models().items:
            assert time.monotonic() < deadline, "the worker never purged"
            time.sleep(0.02)
    finally:
        worker.stop()
    store.deleted_retention = 0
    store.create_registered_model("m")
    store.delete_registered_model("m")
    assert store.list_deleted_registered_models().items == []
    with pytest.raises(NotFound):
        store.restore_registered_model("m")


def test_deleted_models_are_listed_newest_first_in_pages(store: RegistryStore) -> None:
    for index in range(5):
        store.create_registered_model(f"m{index}")
        store.delete_registered_model(f"m{index}")
    names: list[str] = []
    token = ""
    while True:
        page = store.list_deleted_registered_models(page_size=2, page_token=token)
        assert len(page.items) <= 2
        names += [deleted.model.name for deleted in page.items]
        token = page.next_page_token
        if not token:
            break
    assert names == ["m4", "m3", "m2", "m1", "m0"]


def test_a_restore_racing_a_create_of_the_same_name_has_one_winner(
    store: RegistryStore,
) -> None:
    for round_ in range(6):
        name = f"race{round_}"
        store.create_registered_model(name, tags={"t": "1"})
        store.create_model_version(name, "s3://b/1")
        store.delete_registered_model(name)
        outcomes: dict[str, object] = {}
        barrier = threading.Barrier(2)

        def attempt(
            kind: str,
            name: str = name,
            barrier: threading.Barrier = barrier,
            outcomes: dict[str, object] = outcomes,
        ) -> None:
            barrier.wait()
            try:
                if kind == "restore":
                    store.restore_registered_model(name)
                else:
                    store.create_registered_model(name)
                outcomes[kind] = "ok"
            except AlreadyExists as error:
                outcomes[kind] = error

        threads = [threading.Thread(target=attempt, args=(k,)) for k in ("restore", "create")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(str(v) == "ok" for v in outcomes.values()) == [False, True], outcomes
        model = store.get_registered_model(name)
        if outcomes["restore"] == "ok":
            assert model.tags == {"t": "1"} and store.list_deleted_registered_models().items == []
        else:
            # Nothing half-done: the new model is bare and the deleted one still restorable.
            assert model.tags == {} and store.get_latest_versions(name) == []
            assert store.restore_registered_model(name, f"{name}-b").tags == {"t": "1"}


@pytest.fixture
def authed(store: RegistryStore, tokens: dict[str, str]) -> Iterator[RunningServer]:
    running = start(
        Settings(port=0, http_port=0, auth="token", default_permission="NONE", webhooks=False),
        store=store,
    )
    yield running
    running.stop(None)


def test_permissions_come_back_and_decide_who_sees_and_restores_a_deleted_model(
    authed: RunningServer, tokens: dict[str, str]
) -> None:
    def as_user(user: str) -> RegistryClient:
        return RegistryClient(f"127.0.0.1:{authed.port}", token=tokens[user], timeout=10)

    with as_user("alice") as alice, as_user("mallory") as mallory, as_user("admin") as admin:
        alice.create_registered_model("fraud")
        alice.create_model_version("fraud", "s3://b/1")
        alice.set_registered_model_permission("fraud", "mallory", "READ")
        grants = alice.get_registered_model_permissions("fraud")
        alice.delete_registered_model("fraud")
        assert [d.registered_model.name for d in mallory.list_deleted_registered_models()] == [
            "fraud"
        ]
        assert mallory.list_deleted_registered_models()[0].deleted_by == "alice"
        refused = refusal(lambda: mallory.restore_registered_model("fraud"))
        assert refused.code == grpc.StatusCode.PERMISSION_DENIED
        alice.restore_registered_model("fraud")
        assert alice.get_registered_model_permissions("fraud") == grants
        # Without a grant on it, a deleted model is as missing as one that never was.
        admin.delete_registered_model_permission("fraud", "mallory")
        alice.delete_model_version("fraud", 1)
        alice.delete_registered_model("fraud")
        assert mallory.list_deleted_registered_models() == []
        hidden = refusal(lambda: mallory.restore_registered_model("fraud"))
        assert hidden.code == grpc.StatusCode.NOT_FOUND
        hidden = refusal(lambda: mallory.restore_model_version("fraud", 1))
        assert hidden.code == grpc.StatusCode.NOT_FOUND
        assert admin.restore_registered_model("fraud").name == "fraud"


def test_restore_over_http(http_server: RunningServer) -> None:
    assert http_server.http is not None
    base = f"http://127.0.0.1:{http_server.http.port}/api/2.0"
    with httpx.Client(base_url=base, timeout=10) as http:
        http.post("/mlflow/registered-models/create", json={"name": "fraud"}).raise_for_status()
        http.post(
            "/mlflow/model-versions/create", json={"name": "fraud", "source": "s3://b/1"}
        ).raise_for_status()
        http.request(
            "DELETE", "/mlflow/model-versions/delete", json={"name": "fraud", "version": "1"}
        ).raise_for_status()
        listed = http.get(
            "/modelregistry/model-versions/deleted/list", params={"name": "fraud"}
        ).json()
        assert listed["deleted_model_versions"][0]["model_version"]["version"] == "1"
        answer = http.post(
            "/modelregistry/model-versions/restore", json={"name": "fraud", "version": "1"}
        )
        assert answer.status_code == 200 and answer.json()["model_version"]["version"] == "1"
        http.request(
            "DELETE", "/mlflow/registered-models/delete", json={"name": "fraud"}
        ).raise_for_status()
        missing = http.get("/mlflow/registered-models/get", params={"name": "fraud"})
        assert missing.status_code == 404
        assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        listed = http.get("/modelregistry/registered-models/deleted/list").json()
        assert [d["registered_model"]["name"] for d in listed["deleted_registered_models"]] == [
            "fraud"
        ]
        http.post("/mlflow/registered-models/create", json={"name": "fraud"}).raise_for_status()
        taken = http.post("/modelregistry/registered-models/restore", json={"name": "fraud"})
        assert taken.status_code == 400
        assert taken.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
        restored = http.post(
            "/modelregistry/registered-models/restore",
            json={"name": "fraud", "new_name": "fraud-2"},
        )
        assert restored.status_code == 200
        assert restored.json()["registered_model"]["name"] == "fraud-2"


def test_restore_from_the_cli(server: RunningServer) -> None:
    with RegistryClient(f"127.0.0.1:{server.port}") as client:
        seed(client)
        client.delete_model_version("fraud", 2)
        client.delete_registered_model("fraud")
        client.create_registered_model("fraud")
    listed = ok(server, "models", "deleted").stdout
    assert "fraud" in listed and "VERSIONS" in listed
    [deleted] = ok_json(server, "models", "deleted")
    assert deleted["registered_model"]["name"] == "fraud" and deleted["version_count"] == 1
    refused = run(server, "models", "restore", "fraud")
    assert refused.exit_code == 1 and "already exists" in refused.stderr
    restored = ok_json(server, "models", "restore", "fraud", "--new-name", "fraud-2")
    assert restored["name"] == "fraud-2" and restored["aliases"] == {"champion": 1}
    [version] = ok_json(server, "versions", "deleted", "fraud-2")
    assert version["model_version"]["version"] == 2
    assert ok_json(server, "versions", "restore", "fraud-2", "2")["aliases"] == ["shadow"]
    assert "no deleted versions" in ok(server, "versions", "deleted", "fraud-2").stdout


def test_a_restore_fires_webhooks(store: RegistryStore) -> None:
    from registry_service.domain import EventType
    from registry_service.store.webhook_rows import WebhookFields

    hooks = store.webhooks
    webhook = hooks.create_webhook(
        WebhookFields(
            "https://ci.example.com/hook",
            [EventType.REGISTERED_MODEL_RESTORED, EventType.MODEL_VERSION_RESTORED],
            "",
            True,
            "",
            "",
        )
    )
    store.create_registered_model("m")
    store.create_model_version("m", "s3://b/1")
    store.delete_model_version("m", 1)
    store.restore_model_version("m", 1)
    store.delete_registered_model("m")
    store.restore_registered_model("m")
    while hooks.fan_out_events(100) == 100:
        pass
    deliveries = hooks.list_webhook_deliveries(webhook.id, None, 0, "").items
    assert sorted(d.event_type for d in deliveries) == [
        EventType.MODEL_VERSION_RESTORED,
        EventType.REGISTERED_MODEL_RESTORED,
    ]


def test_purges_running_at_once_share_the_work(store: RegistryStore) -> None:
    """As on several replicas: each row is purged once, and neither purge fails."""
    for index in range(12):
        store.create_registered_model(f"m{index}")
        store.delete_registered_model(f"m{index}")
    store.deleted_retention = 0.001
    time.sleep(0.01)
    counts: list[int] = []
    barrier = threading.Barrier(3)

    def purge() -> None:
        barrier.wait()
        counts.append(store.purge_deleted(batch=2))

    threads = [threading.Thread(target=purge) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(counts) == 3 and sum(counts) == 12, counts
    assert store.list_deleted_registered_models().items == []
