"""Retention: old events and webhook deliveries pruned in batches, point-in-time answers after the
horizon unchanged by pruning, and clear refusals before it (as_of: FAILED_PRECONDITION,
WatchEvents start_after: OUT_OF_RANGE), over the store, gRPC and HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import httpx
import pytest
from modelregistry.v1 import events_pb2
from modelregistry.v1 import registry_service_pb2 as pb
from modelregistry.v1.registry_service_pb2_grpc import ModelRegistryServiceStub

from registry_service.config import Settings
from registry_service.domain import DeliveryStatus, EventType
from registry_service.errors import FailedPrecondition, NotFound, OutOfRange
from registry_service.retention import RetentionWorker
from registry_service.server import start
from registry_service.store.engine import make_engine
from registry_service.store.registry_store import RegistryStore
from registry_service.store.tables import model_snapshots, webhook_attempts, webhook_deliveries
from registry_service.store.webhook_rows import WebhookFields

Script = list[tuple[int, Callable[[], Any]]]
NAMES = ("fraud", "fraud-v2", "churn", "gone", "reborn")
TIMES = range(500, 16_001, 250)


@pytest.fixture
def clocked(database_url: str) -> Iterator[tuple[RegistryStore, list[int]]]:
    now = [1_000]
    engine = make_engine(database_url)
    yield RegistryStore(engine, clock=lambda: now[0]), now
    engine.dispose()


def history_script(store: RegistryStore) -> Script:
    """Two years of a registry squeezed into 15 seconds of clock: versions, stages with archiving,
    aliases, tags, descriptions, a rename, a deleted model and a name reused after it."""
    s = store
    return [
        (1_000, lambda: s.create_registered_model("fraud")),
        (1_000, lambda: s.create_registered_model("gone")),
        (1_500, lambda: s.create_model_version("fraud", "s3://b/1", tags={"team": "risk"})),
        (2_000, lambda: s.create_registered_model("churn")),
        (2_500, lambda: s.transition_model_version_stage("fraud", 1, "Production")),
        (2_500, lambda: s.set_registered_model_alias("fraud", "champion", 1)),
        (3_000, lambda: s.create_model_version("gone", "s3://g/1")),
        (3_500, lambda: s.create_model_version("fraud", "s3://b/2")),
        (4_000, lambda: s.update_model_version("fraud", 2, "better recall")),
        (4_500, lambda: s.set_model_version_tag("fraud", 2, "validated", "yes")),
        (5_000, lambda: s.delete_registered_model("gone")),
        (
            5_500,
            lambda: s.transition_model_version_stage(
                "fraud", 2, "Production", archive_existing_versions=True
            ),
        ),
        (5_500, lambda: s.set_registered_model_alias("fraud", "champion", 2)),
        (6_000, lambda: s.create_model_version("churn", "s3://c/1")),
        (6_500, lambda: s.rename_registered_model("fraud", "fraud-v2")),
        (7_000, lambda: s.create_registered_model("gone")),
        (7_500, lambda: s.create_model_version("gone", "s3://g2/1")),
        (8_000, lambda: s.delete_model_version_tag("fraud-v2", 1, "team")),
        (8_500, lambda: s.set_registered_model_alias("churn", "champion", 1)),
        (9_000, lambda: s.delete_model_version("fraud-v2", 1)),
        (9_500, lambda: s.transition_model_version_stage("churn", 1, "Staging")),
        (10_000, lambda: s.rename_registered_model("gone", "reborn")),
        (11_000, lambda: s.create_model_version("fraud-v2", "s3://b/3")),
        (12_000, lambda: s.delete_registered_model_alias("churn", "champion")),
        (13_000, lambda: s.transition_model_version_stage("fraud-v2", 3, "Staging")),
        (14_000, lambda: s.update_model_version("reborn", 1, "second life")),
    ]


def answers(store: RegistryStore, at: int) -> dict[str, Any]:
    """Everything history answers about every name at ``at``."""
    found: dict[str, Any] = {}
    for name in NAMES:
        try:
            found[name] = [
                (
                    v.version,
                    v.current_stage.value,
                    v.source,
                    v.description,
                    v.tags,
                    v.aliases,
                    v.creation_timestamp,
                    v.last_updated_timestamp,
                )
                for v in store.get_latest_versions(name, as_of=at)
            ]
        except NotFound:
            found[name] = "no model"
            continue
        for alias in ("champion", "latest"):
            try:
                found[f"{name}@{alias}"] = store.get_model_version_by_alias(
                    name, alias, as_of=at
                ).version
            except NotFound:
                found[f"{name}@{alias}"] = None
    return found


def subscribe(store: RegistryStore, *event_types: EventType) -> None:
    fields = WebhookFields(
        url="https://hooks.example.com/registry",
        event_types=list(event_types),
        secret="",
        enabled=True,
        description="",
        name="",
    )
    store.webhooks.create_webhook(fields)


def play(script: Script, now: list[int]) -> None:
    for at, step in script:
        now[0] = at
        step()


def test_answers_after_the_horizon_survive_every_batch_of_pruning(
    clocked: tuple[RegistryStore, list[int]],
) -> None:
    store, now = clocked
    play(history_script(store), now)
    before = {at: answers(store, at) for at in TIMES}
    total = len(store.list_events(page_size=1000).items)

    pruned_so_far = 0
    for older_than in (1_600, 5_100, 6_600, 9_100, 12_500, 20_000):
        # Batches of 3: a model's events split across batches, snapshots folded again each time.
        while (pruned := store.retention.prune_events(older_than, 3)) > 0:
            assert pruned <= 3
            pruned_so_far += pruned
            horizon = store.retention.horizon()
            remaining = store.list_events(page_size=1000).items
            assert len(remaining) == total - pruned_so_far
            assert all(event.sequence > horizon.sequence for event in remaining)
            for at in TIMES:
                if at >= horizon.timestamp:
                    assert answers(store, at) == before[at], (older_than, at)
                else:
                    with pytest.raises(FailedPrecondition) as refused:
                        store.get_latest_versions("churn", as_of=at)
                    assert refused.value.field == "as_of"
                    assert str(horizon.timestamp) in refused.value.message
        assert all(
            event.timestamp >= older_than for event in store.list_events(page_size=1000).items
        )
    assert pruned_so_far == total
    # Every model has a snapshot; the deleted one's says so (a restore may continue from it).
    with store.engine.connect() as connection:
        kept = sorted(
            (row.model_name, row.deleted) for row in connection.execute(model_snapshots.select())
        )
    assert kept == [("churn", False), ("fraud-v2", False), ("gone", True), ("reborn", False)]
    # The present is untouched by pruning.
    assert store.get_model_version_by_alias("fraud-v2", "latest").version == 3
    assert store.get_registered_model("reborn").name == "reborn"


def test_a_watch_that_starts_before_the_horizon_is_out_of_range(
    clocked: tuple[RegistryStore, list[int]],
) -> None:
    store, now = clocked
    play(history_script(store)[:8], now)
    assert store.retention.prune_events(3_000, 100) > 0
    horizon = store.retention.horizon()
    for start_after in (0, horizon.sequence - 1):
        with pytest.raises(OutOfRange) as refused:
            store.read_events(start_after, (), (), 10)
        assert refused.value.field == "start_after"
        assert str(horizon.sequence) in refused.value.message
    found, _ = store.read_events(horizon.sequence, (), (), 10)
    assert found and found[0].sequence == horizon.sequence + 1


def test_events_webhooks_still_need_are_kept(
    clocked: tuple[RegistryStore, list[int]],
) -> None:
    store, now = clocked
    subscribe(store, EventType.REGISTERED_MODEL_CREATED)
    play(history_script(store)[:4], now)
    # Nothing fanned out yet: every event is still owed to the webhook.
    assert store.retention.prune_events(10**12, 100) == 0
    assert store.webhooks.fan_out_events(100) > 0
    with store.engine.connect() as connection:
        pending = [
            row.event_sequence
            for row in connection.execute(webhook_deliveries.select())
            if row.status == DeliveryStatus.PENDING.value
        ]
    assert pending
    # Fanned out, but deliveries still pending: events from the oldest of them on are kept.
    store.retention.prune_events(10**12, 100)
    assert store.retention.horizon().sequence == min(pending) - 1


def test_finished_deliveries_are_pruned_with_their_attempts_and_pending_ones_kept(
    clocked: tuple[RegistryStore, list[int]],
) -> None:
    store, now = clocked
    subscribe(store, EventType.REGISTERED_MODEL_CREATED, EventType.MODEL_VERSION_CREATED)
    play(history_script(store)[:4], now)
    now[0] = 5_000
    store.webhooks.fan_out_events(100)
    for claimed in store.webhooks.claim_deliveries(1_000, 2):
        store.webhooks.record_delivery_attempt(claimed.id, 200, "", None)
    with store.engine.connect() as connection:
        statuses = {row.id: row.status for row in connection.execute(webhook_deliveries.select())}
    finished = {key for key, status in statuses.items() if status != DeliveryStatus.PENDING.value}
    assert len(finished) == 2 and len(statuses) > 2

    assert store.retention.prune_deliveries(4_000, 100) == 0
    assert store.retention.prune_deliveries(6_000, 1) == 1
    assert store.retention.prune_deliveries(6_000, 100) == 1
    with store.engine.connect() as connection:
        left = {row.id for row in connection.execute(webhook_deliveries.select())}
        attempts = {row.delivery_id for row in connection.execute(webhook_attempts.select())}
    assert left == set(statuses) - finished
    assert not attempts & finished


def test_the_server_prunes_by_itself_and_both_transports_refuse_before_the_horizon(
    clocked: tuple[RegistryStore, list[int]],
) -> None:
    store, now = clocked
    play(history_script(store), now)
    # The clock above is far in the past: with a retention of an hour, the server's first
    # retention turn prunes every event.
    running = start(Settings(port=0, http_port=0, event_retention=3600), store=store)
    try:
        deadline = time.monotonic() + 30
        while store.retention.horizon().sequence == 0:
            assert time.monotonic() < deadline, "the server never pruned"
            time.sleep(0.05)
        horizon = store.retention.horizon()
        assert horizon.timestamp == 14_000
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = ModelRegistryServiceStub(channel)
            with pytest.raises(grpc.RpcError) as refused:
                stub.GetLatestVersions(
                    pb.GetLatestVersionsRequest(name="churn", as_of=13_000), timeout=10
                )
            assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "as_of 13000" in refused.value.details()
            assert "14000" in refused.value.details()
            answer = stub.GetModelVersionByAlias(
                pb.GetModelVersionByAliasRequest(name="fraud-v2", alias="latest", as_of=14_500),
                timeout=10,
            )
            assert answer.model_version.version == 3

            stream = stub.WatchEvents(events_pb2.WatchEventsRequest(start_after=0), timeout=10)
            with pytest.raises(grpc.RpcError) as out_of_range:
                next(stream)
            assert out_of_range.value.code() == grpc.StatusCode.OUT_OF_RANGE
            assert "start_after" in out_of_range.value.details()

        assert running.http is not None
        base = f"http://127.0.0.1:{running.http.port}/api/2.0"
        http_refused = httpx.get(
            f"{base}/mlflow/registered-models/get-latest-versions",
            params={"name": "churn", "as_of": 13_000},
        )
        assert http_refused.status_code == 400, http_refused.text
        assert http_refused.json()["error_code"] == "INVALID_STATE"
        assert "as_of" in http_refused.json()["message"]
        watch = httpx.get(
            f"{base}/modelregistry/events/watch",
            params={"start_after": 0},
            headers={"Accept": "application/x-ndjson"},
        )
        # HTTP words it as MLflow would (its error codes have no OUT_OF_RANGE); the message says
        # what to do.
        assert watch.status_code == 400, watch.text
        assert watch.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "were pruned" in watch.json()["message"]
    finally:
        running.stop(None)


def test_concurrent_pruners_and_writers_leave_one_consistent_history(
    clocked: tuple[RegistryStore, list[int]],
) -> None:
    store, now = clocked
    play(history_script(store), now)
    before = {at: answers(store, at) for at in TIMES}
    errors: list[BaseException] = []
    stop = threading.Event()

    def write() -> None:
        try:
            number = 0
            while not stop.is_set():
                number += 1
                store.set_model_version_tag("churn", 1, "tick", str(number))
        except BaseException as error:
            errors.append(error)

    def prune() -> None:
        try:
            while store.retention.prune_events(12_500, 2):
                pass
        except BaseException as error:
            errors.append(error)

    now[0] = 20_000
    writer = threading.Thread(target=write)
    writer.start()
    pruners = [threading.Thread(target=prune) for _ in range(3)]
    for pruner in pruners:
        pruner.start()
    for pruner in pruners:
        pruner.join(60)
    stop.set()
    writer.join(60)
    assert not errors, errors
    horizon = store.retention.horizon()
    assert horizon.timestamp == 12_000
    events = store.list_events(page_size=1000).items
    assert events[0].sequence == horizon.sequence + 1
    assert [e.sequence for e in events] == list(range(events[0].sequence, events[-1].sequence + 1))
    for at in TIMES:
        if at >= horizon.timestamp:
            assert answers(store, at) == before[at], at


def test_a_retention_of_zero_keeps_everything(
    clocked: tuple[RegistryStore, list[int]],
) -> None:
    store, now = clocked
    play(history_script(store), now)
    worker = RetentionWorker(store, Settings(event_retention=0, delivery_log_retention=0))
    assert worker.run_once() == (0, 0, 0)
    assert store.retention.horizon().sequence == 0
    assert [v.version for v in store.get_latest_versions("churn", as_of=6_500)] == [1]


def test_a_model_deleted_before_the_horizon_and_restored_after_it_has_its_history(
    clocked: tuple[RegistryStore, list[int]],
) -> None:
    store, now = clocked
    play(
        [
            (1_000, lambda: store.create_registered_model("fraud")),
            (2_000, lambda: store.create_model_version("fraud", "s3://b/1")),
            (2_000, lambda: store.set_registered_model_alias("fraud", "champion", 1)),
            (3_000, lambda: store.delete_registered_model("fraud")),
        ],
        now,
    )
    assert store.retention.prune_events(4_000, 100) == 4
    now[0] = 5_000
    store.restore_registered_model("fraud")
    with pytest.raises(NotFound):
        store.get_latest_versions("fraud", as_of=4_500)
    restored = store.get_model_version_by_alias("fraud", "champion", as_of=5_500)
    assert (restored.version, restored.source) == (1, "s3://b/1")
