"""The change feed: one event per committed change, ListEvents, WatchEvents (resume, filters,
heartbeats, several server processes) and as_of reads against a scripted history."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from modelregistry.v1 import events_pb2, registry_service_pb2_grpc
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from registry_service.client import RegistryClient
from registry_service.config import Settings
from registry_service.domain import (
    ConflictPolicy,
    Event,
    EventType,
    ModelVersion,
    RegisteredModel,
    VersionStatus,
)
from registry_service.domain import Stage as S
from registry_service.errors import InvalidArgument, NotFound, RegistryError
from registry_service.identity import calling_as
from registry_service.server import RunningServer, start
from registry_service.store.engine import make_engine
from registry_service.store.registry_store import RegistryStore
from registry_service.store.tables import event_counter

from .processes import PATIENCE_S, serving

E = EventType


def events_of(store: RegistryStore, after: int = 0) -> list[Event]:
    return store.list_events(start_after=after, page_size=1000).items


def last_sequence(store: RegistryStore) -> int:
    found = events_of(store)
    return found[-1].sequence if found else 0


@pytest.fixture
def seeded(store: RegistryStore) -> RegistryStore:
    """m (tag t=1, description d): v1 (tag k0=v0) aliased prod, v2."""
    store.create_registered_model("m", {"t": "1"}, "d")
    store.create_model_version("m", "s3://b/1", tags={"k0": "v0"})
    store.create_model_version("m", "s3://b/2")
    store.set_registered_model_alias("m", "prod", 1)
    return store


# (operation, type, model_name, version, before, after-or-subset)
MUTATIONS: dict[str, tuple[Callable[[RegistryStore], Any], E, str, int, dict[str, Any], Any]] = {
    "create-model": (
        lambda s: s.create_registered_model("n", {"a": "b"}, "desc"),
        E.REGISTERED_MODEL_CREATED,
        "n",
        0,
        {},
        {"name": "n", "description": "desc", "tags": {"a": "b"}},
    ),
    "rename-model": (
        lambda s: s.rename_registered_model("m", "m2"),
        E.REGISTERED_MODEL_RENAMED,
        "m2",
        0,
        {"name": "m"},
        {"name": "m2"},
    ),
    "update-model": (
        lambda s: s.update_registered_model("m", "new"),
        E.REGISTERED_MODEL_UPDATED,
        "m",
        0,
        {"description": "d"},
        {"description": "new"},
    ),
    "delete-model": (
        lambda s: s.delete_registered_model("m"),
        E.REGISTERED_MODEL_DELETED,
        "m",
        0,
        {"name": "m"},
        {},
    ),
    "create-version": (
        lambda s: s.create_model_version("m", "s3://b/3", run_id="r3", tags={"x": "y"}),
        E.MODEL_VERSION_CREATED,
        "m",
        3,
        {},
        {"source": "s3://b/3", "run_id": "r3", "tags": {"x": "y"}, "current_stage": "None"},
    ),
    "update-version": (
        lambda s: s.update_model_version("m", 1, "better"),
        E.MODEL_VERSION_UPDATED,
        "m",
        1,
        {"description": ""},
        {"description": "better"},
    ),
    "transition": (
        lambda s: s.transition_model_version_stage("m", 1, "Staging"),
        E.MODEL_VERSION_STAGE_CHANGED,
        "m",
        1,
        {"current_stage": "None"},
        {"current_stage": "Staging"},
    ),
    "delete-version": (
        lambda s: s.delete_model_version("m", 2),
        E.MODEL_VERSION_DELETED,
        "m",
        2,
        {"current_stage": "None"},
        {},
    ),
    "set-model-tag": (
        lambda s: s.set_registered_model_tag("m", "t", "2"),
        E.REGISTERED_MODEL_TAG_SET,
        "m",
        0,
        {"key": "t", "value": "1"},
        {"key": "t", "value": "2"},
    ),
    "delete-model-tag": (
        lambda s: s.delete_registered_model_tag("m", "t"),
        E.REGISTERED_MODEL_TAG_DELETED,
        "m",
        0,
        {"key": "t", "value": "1"},
        {},
    ),
    "set-version-tag": (
        lambda s: s.set_model_version_tag("m", 1, "k", "v"),
        E.MODEL_VERSION_TAG_SET,
        "m",
        1,
        {},
        {"key": "k", "value": "v"},
    ),
    "delete-version-tag": (
        lambda s: s.delete_model_version_tag("m", 1, "k0"),
        E.MODEL_VERSION_TAG_DELETED,
        "m",
        1,
        {"key": "k0", "value": "v0"},
        {},
    ),
    "create-alias": (
        lambda s: s.set_registered_model_alias("m", "champion", 2),
        E.MODEL_VERSION_ALIAS_CREATED,
        "m",
        2,
        {},
        {"alias": "champion", "version": 2},
    ),
    "move-alias": (
        lambda s: s.set_registered_model_alias("m", "prod", 2),
        E.MODEL_VERSION_ALIAS_MOVED,
        "m",
        2,
        {"alias": "prod", "version": 1},
        {"alias": "prod", "version": 2},
    ),
    "delete-alias": (
        lambda s: s.delete_registered_model_alias("m", "prod"),
        E.MODEL_VERSION_ALIAS_DELETED,
        "m",
        1,
        {"alias": "prod", "version": 1},
        {},
    ),
}


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_every_mutation_writes_exactly_one_event_with_what_changed(
    seeded: RegistryStore, mutation: str
) -> None:
    operation, event_type, name, version, before, after = MUTATIONS[mutation]
    start_after = last_sequence(seeded)
    with calling_as("alice"):
        operation(seeded)
    [event] = events_of(seeded, start_after)
    assert event.sequence == start_after + 1
    assert (event.event_type, event.model_name, event.version) == (event_type, name, version)
    assert event.actor == "alice"
    assert event.before == before
    assert after.items() <= event.after.items()


def test_events_are_numbered_from_one_without_gaps(seeded: RegistryStore) -> None:
    assert [e.sequence for e in events_of(seeded)] == [1, 2, 3, 4]
    assert [e.event_type for e in events_of(seeded)] == [
        E.REGISTERED_MODEL_CREATED,
        E.MODEL_VERSION_CREATED,
        E.MODEL_VERSION_CREATED,
        E.MODEL_VERSION_ALIAS_CREATED,
    ]


@pytest.mark.parametrize(
    "rejected",
    [
        lambda s: s.create_registered_model("m"),  # exists
        lambda s: s.create_model_version("ghost", "s3://b/x"),
        lambda s: s.transition_model_version_stage("m", 9, "Production"),
        lambda s: s.update_registered_model("m", "x", etag="12345"),
        lambda s: s.delete_model_version("m", 1, etag="12345"),
        lambda s: s.set_registered_model_alias("m", "champion", 7),
        lambda s: s.rename_registered_model("m", "bad/name"),
    ],
)
def test_a_rejected_call_writes_no_event(
    seeded: RegistryStore, rejected: Callable[[RegistryStore], Any]
) -> None:
    before = events_of(seeded)
    with pytest.raises(RegistryError):
        rejected(seeded)
    assert events_of(seeded) == before


def test_an_idempotent_replay_writes_no_event(seeded: RegistryStore) -> None:
    request_id = "0b1e4c1e-8d2a-4c6f-9a10-5b1f3e6a7c21"
    seeded.transition_model_version_stage("m", 2, "Production", request_id=request_id)
    after_first = events_of(seeded)
    seeded.transition_model_version_stage("m", 2, "Production", request_id=request_id)
    assert events_of(seeded) == after_first
    assert after_first[-1].event_type is E.MODEL_VERSION_STAGE_CHANGED


def test_a_write_that_changes_nothing_announces_nothing(seeded: RegistryStore) -> None:
    before = events_of(seeded)
    seeded.set_registered_model_tag("m", "t", "1")
    seeded.set_registered_model_alias("m", "prod", 1)
    seeded.delete_registered_model_tag("m", "absent")
    seeded.delete_registered_model_alias("m", "absent")
    seeded.update_registered_model("m", "d")
    assert events_of(seeded) == before


def test_a_write_whose_events_cannot_be_stored_changes_nothing(seeded: RegistryStore) -> None:
    # The counter set back one: the next event's number is taken, so the event's INSERT fails
    # after the version's rows and the counter's UPDATE were written in the same transaction.
    with seeded.engine.begin() as connection:
        connection.execute(update(event_counter).values(last_sequence=3))
    with pytest.raises(IntegrityError):
        seeded.create_model_version("m", "s3://b/3")
    with pytest.raises(NotFound):
        seeded.get_model_version("m", 3)
    with seeded.engine.connect() as connection:
        assert connection.execute(select(event_counter.c.last_sequence)).scalar_one() == 3
    assert [e.sequence for e in events_of(seeded)] == [1, 2, 3, 4]


def test_an_archiving_transition_announces_each_archived_version(seeded: RegistryStore) -> None:
    seeded.transition_model_version_stage("m", 1, "Production")
    start_after = last_sequence(seeded)
    seeded.transition_model_version_stage("m", 2, "Production", archive_existing_versions=True)
    found = events_of(seeded, start_after)
    assert [(e.event_type, e.version, e.after) for e in found] == [
        (E.MODEL_VERSION_STAGE_CHANGED, 2, {"current_stage": "Production"}),
        (E.MODEL_VERSION_STAGE_CHANGED, 1, {"current_stage": "Archived"}),
    ]


def test_an_import_announces_the_model_its_versions_and_aliases(store: RegistryStore) -> None:
    model = RegisteredModel(
        name="imported",
        creation_timestamp=0,
        last_updated_timestamp=0,
        user_id="",
        description="",
        aliases={"champion": 2},
    )
    versions = [_imported_version(1, S.ARCHIVED), _imported_version(2, S.PRODUCTION)]
    store.import_registered_model(model, versions)
    store.import_registered_model(model, versions, on_conflict=ConflictPolicy.SKIP)
    found = events_of(store)
    assert [(e.event_type, e.version) for e in found] == [
        (E.REGISTERED_MODEL_CREATED, 0),
        (E.MODEL_VERSION_CREATED, 1),
        (E.MODEL_VERSION_CREATED, 2),
        (E.MODEL_VERSION_ALIAS_CREATED, 2),
    ]
    assert found[2].after["current_stage"] == "Production"


def _imported_version(number: int, stage: S) -> ModelVersion:
    return ModelVersion(
        name="imported",
        version=number,
        creation_timestamp=0,
        last_updated_timestamp=0,
        user_id="",
        current_stage=stage,
        description="",
        source=f"s3://b/{number}",
        run_id="",
        run_link="",
        experiment_id="",
        status=VersionStatus.READY,
        status_message="",
    )


# -- as_of -------------------------------------------------------------------------------------


def test_as_of_answers_what_was_in_production_and_where_an_alias_pointed(
    database_url: str,
) -> None:
    now = [1_000]
    engine = make_engine(database_url)
    store = RegistryStore(engine, clock=lambda: now[0])
    try:
        script: list[tuple[int, Callable[[], Any]]] = [
            (1_000, lambda: store.create_registered_model("fraud")),
            (2_000, lambda: store.create_model_version("fraud", "s3://b/1")),
            (3_000, lambda: store.transition_model_version_stage("fraud", 1, "Production")),
            (3_000, lambda: store.set_registered_model_alias("fraud", "champion", 1)),
            (4_000, lambda: store.create_model_version("fraud", "s3://b/2")),
            (
                5_000,
                lambda: store.transition_model_version_stage(
                    "fraud", 2, "Production", archive_existing_versions=True
                ),
            ),
            (5_000, lambda: store.set_registered_model_alias("fraud", "champion", 2)),
            (6_000, lambda: store.rename_registered_model("fraud", "fraud-v2")),
            (7_000, lambda: store.delete_model_version("fraud-v2", 2)),
        ]
        for at, step in script:
            now[0] = at
            step()

        def production(name: str, at: int) -> list[tuple[int, str]]:
            found = store.get_latest_versions(name, ["Production", "Archived"], as_of=at)
            return [(v.version, v.current_stage.value) for v in found]

        def champion(name: str, at: int) -> int:
            return store.get_model_version_by_alias(name, "champion", as_of=at).version

        assert production("fraud", 2_500) == []
        assert production("fraud", 3_500) == [(1, "Production")]
        assert production("fraud", 5_500) == [(2, "Production"), (1, "Archived")]
        assert champion("fraud", 3_500) == 1
        assert champion("fraud", 5_000) == 2
        assert store.get_model_version_by_alias("fraud", "latest", as_of=4_500).version == 2
        # Renamed at 6000: the old name answers until then, the new one after.
        assert champion("fraud-v2", 6_500) == 2
        with pytest.raises(NotFound):
            champion("fraud", 6_500)
        with pytest.raises(NotFound):
            champion("fraud-v2", 5_500)
        # Version 2 and the alias on it were deleted at 7000; history still knows them.
        assert production("fraud-v2", 7_500) == [(1, "Archived")]
        with pytest.raises(NotFound):
            champion("fraud-v2", 7_500)
        assert champion("fraud-v2", 6_999) == 2
        # Before the model existed, the history has nothing to say.
        with pytest.raises(NotFound) as missing:
            store.get_latest_versions("fraud", as_of=500)
        assert missing.value.field == "name"
        # The answer as of a time carries the version as it was then.
        then = store.get_model_version_by_alias("fraud", "champion", as_of=3_500)
        assert (then.source, then.current_stage, then.aliases) == (
            "s3://b/1",
            S.PRODUCTION,
            ["champion"],
        )
        with pytest.raises(InvalidArgument) as negative:
            store.get_latest_versions("fraud-v2", as_of=-1)
        assert negative.value.field == "as_of"
    finally:
        engine.dispose()


def test_as_of_over_grpc(client: RegistryClient) -> None:
    client.create_registered_model("fraud")
    client.create_model_version("fraud", "s3://b/1")
    client.transition_model_version_stage("fraud", 1, "Production")
    client.set_registered_model_alias("fraud", "champion", 1)
    future = client.list_events()[-1].timestamp + 60_000
    [latest] = client.get_latest_versions("fraud", ["Production"], as_of=future)
    assert (latest.version, latest.current_stage) == (1, "Production")
    assert client.get_model_version_by_alias("fraud", "champion", as_of=future).version == 1
    with pytest.raises(NotFound):
        client.get_model_version_by_alias("fraud", "champion", as_of=1)


# -- ListEvents --------------------------------------------------------------------------------


def test_list_events_pages_and_filters(client: RegistryClient) -> None:
    for name in ("a", "b"):
        client.create_registered_model(name)
        for number in range(1, 4):
            client.create_model_version(name, f"s3://b/{name}/{number}")
            client.transition_model_version_stage(name, number, "Staging")
    everything = client.list_events(page_size=4)
    assert [e.sequence for e in everything] == list(range(1, 15))
    only_a = client.list_events(model_names=["a"], page_size=2)
    assert {e.model_name for e in only_a} == {"a"} and len(only_a) == 7
    stages = client.list_events(
        event_types=[events_pb2.EVENT_TYPE_MODEL_VERSION_STAGE_CHANGED], page_size=5
    )
    assert len(stages) == 6
    assert stages[0].before["current_stage"] == "None"
    assert stages[0].after["current_stage"] == "Staging"
    later = client.list_events(start_after=10)
    assert [e.sequence for e in later] == [11, 12, 13, 14]


# -- WatchEvents -------------------------------------------------------------------------------


@pytest.fixture
def quick_server(store: RegistryStore) -> Iterator[RunningServer]:
    """A server whose idle streams poll and beat often."""
    running = start(
        Settings(
            port=0,
            http_port=-1,
            webhooks=False,
            event_poll_interval=0.05,
            event_heartbeat_interval=0.1,
        ),
        store=store,
    )
    yield running
    running.stop(None)


@pytest.fixture
def quick_client(quick_server: RunningServer) -> Iterator[RegistryClient]:
    with RegistryClient(f"127.0.0.1:{quick_server.port}") as client:
        yield client


def collect(events: Iterator[Any], count: int) -> list[Any]:
    return [next(events) for _ in range(count)]


def test_watch_replays_history_then_tails_new_events(quick_client: RegistryClient) -> None:
    quick_client.create_registered_model("fraud")
    stream = quick_client.watch()
    [created] = collect(stream, 1)
    assert created.event_type == events_pb2.EVENT_TYPE_REGISTERED_MODEL_CREATED
    quick_client.create_model_version("fraud", "s3://b/1")
    quick_client.set_registered_model_alias("fraud", "champion", 1)
    tail = collect(stream, 2)
    assert [e.sequence for e in tail] == [2, 3]
    assert tail[1].after["alias"] == "champion"
    stream.close()


def test_watch_filters_by_model_and_type_and_beats_while_idle(
    quick_server: RunningServer, quick_client: RegistryClient
) -> None:
    for name in ("a", "b"):
        quick_client.create_registered_model(name)
        quick_client.create_model_version(name, "s3://b/1")
    with grpc.insecure_channel(f"127.0.0.1:{quick_server.port}") as channel:
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        call = stub.WatchEvents(
            events_pb2.WatchEventsRequest(
                model_names=["b"], event_types=[events_pb2.EVENT_TYPE_MODEL_VERSION_CREATED]
            )
        )
        messages = iter(call)
        first = next(messages)
        assert (first.event.model_name, first.event.sequence) == ("b", 4)
        heartbeat = next(messages)
        assert not heartbeat.HasField("event")
        # The heartbeat says how far the stream read, past the events it filtered out.
        assert heartbeat.high_water_sequence == 4
        call.cancel()


def test_watch_resumes_after_a_disconnect_with_no_gap_and_no_duplicate(
    database_url: str,
) -> None:
    """The server goes away mid-stream; RegistryClient.watch reconnects to its successor and
    carries on after the last event it yielded."""
    args = ["--port", "0", "--database-url", database_url, "--event-poll-interval", "0.05"]
    with serving(*args) as first:
        port = first.port
        with RegistryClient(first.address) as writer:
            writer.create_registered_model("fraud")
            for number in range(1, 4):
                writer.create_model_version("fraud", f"s3://b/{number}")
        watcher = RegistryClient(first.address)
        stream = watcher.watch()
        seen = collect(stream, 2)
    # The first server has shut down; the same port serves again.
    with serving("--port", str(port), *args[2:]):
        # Written beside the server: the watcher's channel is what reconnects.
        engine = make_engine(database_url)
        RegistryStore(engine).create_model_version("fraud", "s3://b/4")
        engine.dispose()
        seen += collect(stream, 3)
        stream.close()
        watcher.close()
    assert [e.sequence for e in seen] == [1, 2, 3, 4, 5]


def test_watch_streams_are_capped_so_stuck_watchers_leave_threads_for_other_calls(
    store: RegistryStore,
) -> None:
    store.create_registered_model("fraud")
    settings = Settings(
        port=0,
        http_port=-1,
        webhooks=False,
        threads=4,
        max_watch_streams=2,
        event_poll_interval=0.05,
    )
    running = start(settings, store=store)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
            # Two watchers that read one message and then nothing more: stuck consumers.
            stuck = [stub.WatchEvents(events_pb2.WatchEventsRequest()) for _ in range(2)]
            for call in stuck:
                assert next(call).event.model_name == "fraud"
            with pytest.raises(grpc.RpcError) as refused:
                next(stub.WatchEvents(events_pb2.WatchEventsRequest(), timeout=PATIENCE_S))
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "--max-watch-streams" in (refused.value.details() or "")
            # The other calls still have threads: writes and reads from four callers at once.
            with RegistryClient(f"127.0.0.1:{running.port}") as client:
                workers = [
                    threading.Thread(
                        target=client.create_model_version, args=("fraud", f"s3://b/{n}")
                    )
                    for n in range(4)
                ]
                for worker in workers:
                    worker.start()
                for worker in workers:
                    worker.join(PATIENCE_S)
                assert len(client.search_model_versions("name = 'fraud'")) == 4
            # A watcher that leaves frees its slot for the next.
            stuck[0].cancel()
            deadline = time.monotonic() + PATIENCE_S
            while True:
                try:
                    call = stub.WatchEvents(events_pb2.WatchEventsRequest(), timeout=PATIENCE_S)
                    assert next(call).event.model_name == "fraud"
                    call.cancel()
                    break
                except grpc.RpcError as error:
                    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                    assert time.monotonic() < deadline, "the cancelled stream kept its slot"
                    time.sleep(0.05)
            stuck[1].cancel()
    finally:
        running.stop(None)


def test_a_server_shutting_down_ends_its_watch_streams_cleanly(store: RegistryStore) -> None:
    store.create_registered_model("fraud")
    running = start(Settings(port=0, http_port=-1, webhooks=False), store=store)
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        call = stub.WatchEvents(events_pb2.WatchEventsRequest())
        messages = iter(call)
        # The replayed event proves the stream is being served before shutdown starts.
        assert next(messages).event.model_name == "fraud"
        outcome: list[Any] = []

        def drain() -> None:
            try:
                outcome.extend(messages)
                outcome.append(call.code())
            except grpc.RpcError as error:
                outcome.append(error.code())

        reader = threading.Thread(target=drain)
        reader.start()
        # A grace far longer than any test: a stream that held shutdown would show as CANCELLED.
        running.stop(PATIENCE_S * 10)
        reader.join(PATIENCE_S)
    assert outcome == [grpc.StatusCode.OK]


def test_one_watcher_sees_every_write_to_two_server_processes_once_in_order(
    database_url: str,
) -> None:
    args = ["--port", "0", "--database-url", database_url, "--event-poll-interval", "0.05"]
    writers_count, per_writer = 4, 15
    with serving(*args) as one, serving(*args) as two:
        with RegistryClient(one.address) as setup:
            for writer in range(writers_count):
                setup.create_registered_model(f"model-{writer}")
        watcher = RegistryClient(one.address)
        stream = watcher.watch(start_after=writers_count)

        def write(writer: int) -> None:
            address = (one if writer % 2 else two).address
            with RegistryClient(address) as client:
                for number in range(per_writer):
                    client.create_model_version(f"model-{writer}", f"s3://b/{number}")

        threads = [threading.Thread(target=write, args=(w,)) for w in range(writers_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        total = writers_count * per_writer
        seen = collect(stream, total)
        stream.close()
        watcher.close()
    sequences = [e.sequence for e in seen]
    assert sequences == list(range(writers_count + 1, writers_count + total + 1))
    for writer in range(writers_count):
        versions = [e.version for e in seen if e.model_name == f"model-{writer}"]
        assert versions == list(range(1, per_writer + 1))
