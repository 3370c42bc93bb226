"""WatchEvents for a fleet: one tail per process fans out to every stream, filters and
permissions applied per stream; every event once and in order under concurrent writers; a
stream that falls a whole buffer behind ends with RESOURCE_EXHAUSTED while the others keep up."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from modelregistry.v1 import events_pb2, registry_service_pb2_grpc
from modelregistry.v1 import registry_service_pb2 as pb

from registry_service.client import RegistryClient
from registry_service.config import Settings
from registry_service.errors import ResourceExhausted
from registry_service.proto_mapping import event_types_of
from registry_service.server import RunningServer, start
from registry_service.servicer import RegistryService
from registry_service.store.commit_notifications import CommitNotifications
from registry_service.store.engine import make_engine
from registry_service.store.registry_store import RegistryStore
from registry_service.watch_feed import EventFeed

from .conftest import empty_postgres
from .processes import PATIENCE_S

WRITERS, PER_WRITER = 4, 12


@pytest.fixture
def server(store: RegistryStore) -> Iterator[RunningServer]:
    running = start(
        Settings(
            port=0,
            http_port=-1,
            webhooks=False,
            event_poll_interval=0.05,
            event_heartbeat_interval=0.2,
        ),
        store=store,
    )
    yield running
    running.stop(None)


def read_events(call: Any, count: int, into: list[events_pb2.Event]) -> None:
    """Collect ``count`` events of ``call`` (heartbeats skipped), then cancel it."""
    try:
        for response in call:
            if response.HasField("event"):
                into.append(response.event)
                if len(into) == count:
                    break
    finally:
        call.cancel()


def test_every_subscriber_gets_each_event_it_admits_once_in_order_under_concurrent_writers(
    server: RunningServer, store: RegistryStore
) -> None:
    for writer in range(WRITERS):
        store.create_registered_model(f"model-{writer}")
    address = f"127.0.0.1:{server.port}"
    # (start_after, model_names, event_types): unfiltered from the start (a replay joining the
    # fan-out), from now, by model, by type, by both.
    requests = [
        events_pb2.WatchEventsRequest(),
        events_pb2.WatchEventsRequest(start_after=WRITERS),
        events_pb2.WatchEventsRequest(start_after=WRITERS, model_names=["model-1", "model-2"]),
        events_pb2.WatchEventsRequest(
            event_types=[
                events_pb2.EVENT_TYPE_MODEL_VERSION_ALIAS_CREATED,
                events_pb2.EVENT_TYPE_MODEL_VERSION_ALIAS_MOVED,
            ]
        ),
        events_pb2.WatchEventsRequest(
            model_names=["model-3"], event_types=[events_pb2.EVENT_TYPE_MODEL_VERSION_CREATED]
        ),
    ]

    with grpc.insecure_channel(address) as channel:
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        calls = [stub.WatchEvents(request) for request in requests]
        # Each stream is served (its first heartbeat or event) before the writers start.
        firsts = [next(iter(call)) for call in calls]

        def write(writer: int) -> None:
            with RegistryClient(address) as client:
                for number in range(1, PER_WRITER + 1):
                    client.create_model_version(f"model-{writer}", f"s3://b/{number}")
                    client.set_registered_model_alias(f"model-{writer}", "champion", number)

        writers = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join(PATIENCE_S)
        expected = [
            store.list_events(
                r.start_after, list(r.model_names), event_types_of(r.event_types), 1000
            ).items
            for r in requests
        ]
        received: list[list[events_pb2.Event]] = [[] for _ in requests]
        for index, first in enumerate(firsts):
            if first.HasField("event"):
                received[index].append(first.event)
        readers = [
            threading.Thread(
                target=read_events,
                args=(call, len(expected[index]), received[index]),
                daemon=True,
            )
            for index, call in enumerate(calls)
        ]
        for thread in readers:
            thread.start()
        for thread in readers:
            thread.join(PATIENCE_S)
    for want, got in zip(expected, received, strict=True):
        assert want, "the scenario gives every subscriber events"
        assert [e.sequence for e in got] == [e.sequence for e in want]
        assert [(e.model_name, e.version) for e in got] == [(e.model_name, e.version) for e in want]


def test_a_stuck_subscriber_ends_with_resource_exhausted_and_the_others_keep_receiving(
    store: RegistryStore,
) -> None:
    store.create_registered_model("fraud")
    feed = EventFeed(
        store, poll_interval=0.05, heartbeat_interval=0.2, max_streams=10, buffer_size=5
    )
    service = RegistryService(store, feed)
    try:
        stuck = service.WatchEvents(events_pb2.WatchEventsRequest(start_after=1), lambda: True)
        live = service.WatchEvents(events_pb2.WatchEventsRequest(start_after=1), lambda: True)
        # Both are served (each has joined the fan-out) before the writes.
        assert not next(stuck).HasField("event")
        assert not next(live).HasField("event")
        received: list[int] = []
        for number in range(1, 21):
            store.create_model_version("fraud", f"s3://b/{number}")
            while len(received) < number:
                response = next(live)
                if response.HasField("event"):
                    received.append(response.event.version)
        assert received == list(range(1, 21))
        with pytest.raises(ResourceExhausted) as ended:
            for _ in range(10):
                next(stuck)
        assert "--watch-buffer" in ended.value.message
        stuck.close()
        live.close()
    finally:
        feed.close()


@pytest.fixture
def postgres_database(postgres_url: str) -> str:
    empty_postgres(postgres_url)
    return postgres_url


def test_postgres_tells_a_listener_of_each_commit_of_another_process(
    postgres_database: str,
) -> None:
    heard = threading.Event()
    engine = make_engine(postgres_database)
    notifications = CommitNotifications(engine.url, heard.set)
    notifications.start()
    try:
        assert notifications.listening.wait(PATIENCE_S)
        heard.clear()
        # Another process's store: its commits reach this one only through PostgreSQL.
        writer_engine = make_engine(postgres_database)
        RegistryStore(writer_engine).create_registered_model("fraud")
        writer_engine.dispose()
        assert heard.wait(PATIENCE_S)
    finally:
        notifications.stop()
        engine.dispose()


def test_a_write_on_another_replica_reaches_a_stream_long_before_the_poll_interval(
    postgres_database: str,
) -> None:
    running = start(
        Settings(
            port=0,
            http_port=-1,
            webhooks=False,
            database_url=postgres_database,
            # Far beyond the test's patience: only NOTIFY can deliver in time.
            event_poll_interval=PATIENCE_S * 20,
            event_heartbeat_interval=0.2,
        )
    )
    writer_engine = make_engine(postgres_database)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
            call = stub.WatchEvents(events_pb2.WatchEventsRequest(), timeout=PATIENCE_S)
            responses = iter(call)
            assert not next(responses).HasField("event")
            # Past the tail's first quick polls after it started.
            time.sleep(2)
            RegistryStore(writer_engine).create_registered_model("fraud")
            event = next(r for r in responses if r.HasField("event")).event
            assert (event.model_name, event.sequence) == ("fraud", 1)
            call.cancel()
    finally:
        writer_engine.dispose()
        running.stop(None)


def test_hundreds_of_streams_hold_no_threads_and_each_gets_every_write(
    server: RunningServer, store: RegistryStore
) -> None:
    streams = 300
    store.create_registered_model("fraud")
    threads_before = threading.active_count()
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        # More than --max-concurrent-calls (100): streams are bounded by --max-watch-streams.
        calls = [stub.WatchEvents(events_pb2.WatchEventsRequest()) for _ in range(streams)]
        for call in calls:
            assert next(call).event.model_name == "fraud"
        # Every stream is open and waiting; the process runs about as many threads as before
        # (the loop's few helpers at most), not one per stream.
        assert threading.active_count() - threads_before < 30
        store.create_model_version("fraud", "s3://b/1")
        for call in calls:
            response = next(r for r in call if r.HasField("event"))
            assert (response.event.sequence, response.event.version) == (2, 1)
            call.cancel()


def test_the_fan_out_gives_each_caller_the_events_of_the_models_it_may_read(
    store: RegistryStore, tokens: dict[str, str]
) -> None:
    settings = Settings(
        port=0,
        http_port=-1,
        webhooks=False,
        auth="token",
        default_permission="NONE",
        event_heartbeat_interval=0.2,
    )
    running = start(settings, store=store)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)

            def as_user(user: str) -> tuple[tuple[str, str]]:
                return (("authorization", f"Bearer {tokens[user]}"),)

            calls = {
                user: stub.WatchEvents(events_pb2.WatchEventsRequest(), metadata=as_user(user))
                for user in ("admin", "alice", "mallory")
            }
            # Joined the fan-out (each has its first heartbeat) before anything is written.
            for call in calls.values():
                assert not next(call).HasField("event")
            for user in ("alice", "mallory"):
                stub.CreateRegisteredModel(
                    pb.CreateRegisteredModelRequest(name=f"{user}-model"), metadata=as_user(user)
                )
                stub.CreateModelVersion(
                    pb.CreateModelVersionRequest(name=f"{user}-model", source="s3://b/1"),
                    metadata=as_user(user),
                )
            expected = {
                user: [
                    e.sequence
                    for e in stub.ListEvents(
                        events_pb2.ListEventsRequest(), metadata=as_user(user)
                    ).events
                ]
                for user in calls
            }
            assert expected["admin"] == [1, 2, 3, 4]
            assert expected["alice"] == [1, 2]
            assert expected["mallory"] == [3, 4]
            for user, call in calls.items():
                received: list[events_pb2.Event] = []
                read_events(call, len(expected[user]), received)
                assert [e.sequence for e in received] == expected[user], user
    finally:
        running.stop(None)


def test_a_stream_joining_while_the_tail_reads_a_batch_gets_that_batch(
    server: RunningServer, store: RegistryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tail hands a batch to the streams joined when it started reading it, a chunk at a
    time; a stream whose replay ended before the batch committed, and which tries to join while
    the batch is read, must still get it (it replays once more) rather than join past it."""
    feed = server.feed
    store.create_registered_model("fraud")
    replayed_once, tail_read, join_tried = threading.Event(), threading.Event(), threading.Event()
    replayed, joined, read_feed = feed._replayed, feed._join, store.read_feed

    def replay_then_hold(subscription: Any) -> Any:
        items = replayed(subscription)
        if not replayed_once.is_set():
            replayed_once.set()
            # The stream's first replay is done; it tries to join once the tail has read.
            assert tail_read.wait(PATIENCE_S)
        return items

    def join(subscription: Any) -> bool:
        result = joined(subscription)
        if tail_read.is_set():
            join_tried.set()
        return result

    def read_then_hold(*args: Any) -> Any:
        batch = read_feed(*args)
        if batch.events and not tail_read.is_set():
            tail_read.set()
            assert join_tried.wait(PATIENCE_S)
        return batch

    monkeypatch.setattr(feed, "_replayed", replay_then_hold)
    monkeypatch.setattr(feed, "_join", join)
    monkeypatch.setattr(store, "read_feed", read_then_hold)
    received: list[int] = []

    def watch() -> None:
        stream = feed.watch(0, [], [], lambda: len(received) < 3)
        for event, _ in stream:
            if event is not None:
                received.append(event.sequence)
        stream.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    assert replayed_once.wait(PATIENCE_S)
    store.create_model_version("fraud", "s3://b/1")
    assert join_tried.wait(PATIENCE_S)
    deadline = time.monotonic() + PATIENCE_S
    while len(received) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    store.create_model_version("fraud", "s3://b/2")
    watcher.join(PATIENCE_S)
    assert not watcher.is_alive()
    assert received == [1, 2, 3]
