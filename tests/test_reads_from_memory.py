"""Point reads the store's memory answers (store/read_cache.py ``peek``) are answered on the
asyncio server's event loop, without a thread of their own (aio_calls): on SQLite they are
answered while every thread is busy; on both databases they pass the same call pipeline (request
id, one access-log line) and never return what a committed write replaced; on PostgreSQL the
reads on the loop share observations of the change token, each begun after the reads it
answers arrived."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import psycopg
import pytest
from modelregistry.v1 import registry_service_pb2 as pb
from modelregistry.v1.registry_service_pb2_grpc import ModelRegistryServiceStub
from sqlalchemy.engine import make_url

from registry_service.aio_calls import SharedTokens
from registry_service.aio_server import ServerLoop
from registry_service.config import Settings
from registry_service.domain import Stage
from registry_service.logs import JsonFormatter
from registry_service.server import RunningServer, start
from registry_service.store.engine import make_engine
from registry_service.store.read_cache import ANY_TOKEN
from registry_service.store.registry_store import RegistryStore

from .conftest import empty_postgres

CHAMPION = pb.GetModelVersionByAliasRequest(name="m", alias="champion")
LATEST = pb.GetLatestVersionsRequest(name="m", stages=["Production"])


@pytest.fixture
def sqlite_file(tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated, empty SQLite file: memory answers on SQLite only (see
    test_memory_answers_nothing_on_postgresql)."""
    path = tmp_path / "registry.db"
    shutil.copy(sqlite_template, path)
    return str(path)


def _serving(url: str) -> Iterator[tuple[RunningServer, ModelRegistryServiceStub]]:
    """A server with one thread for its unary calls, on ``url`` holding model "m" with
    versions 1 (alias champion, Production) and 2."""
    engine = make_engine(url)
    store = RegistryStore(engine)
    store.create_registered_model("m")
    store.create_model_version("m", "s3://b/1")
    store.create_model_version("m", "s3://b/2")
    store.set_registered_model_alias("m", "champion", 1)
    store.transition_model_version_stage("m", 1, Stage.PRODUCTION.value)
    running = start(Settings(port=0, http_port=-1, webhooks=False, threads=1), store=store)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield running, ModelRegistryServiceStub(channel)
    finally:
        running.stop(None)
        engine.dispose()


@pytest.fixture
def one_thread(sqlite_file: str) -> Iterator[tuple[RunningServer, ModelRegistryServiceStub]]:
    """``_serving`` on an SQLite file."""
    yield from _serving(f"sqlite:///{sqlite_file}")


@pytest.fixture
def on_each_database(
    database_url: str,
) -> Iterator[tuple[RunningServer, ModelRegistryServiceStub]]:
    """``_serving`` on each database."""
    yield from _serving(database_url)


def _remembered(stub: ModelRegistryServiceStub) -> None:
    """Read until memory holds the reads (the first read of a new store may keep its rows
    under the token it started with, not the one it reads from then on)."""
    for _ in range(3):
        stub.GetModelVersionByAlias(CHAMPION, timeout=10)
        stub.GetLatestVersions(LATEST, timeout=10)


@pytest.fixture
def writer_held(sqlite_file: str) -> Iterator[sqlite3.Connection]:
    """SQLite's write lock, held by another connection until the test releases it."""
    connection = sqlite3.connect(sqlite_file, isolation_level=None, timeout=10)
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    finally:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        connection.close()


def test_remembered_reads_are_answered_while_the_only_thread_is_busy(
    one_thread: tuple[RunningServer, ModelRegistryServiceStub], writer_held: sqlite3.Connection
) -> None:
    _, stub = one_thread
    _remembered(stub)
    # A write waiting for the lock holds the server's one thread.
    writing = stub.UpdateModelVersion.future(
        pb.UpdateModelVersionRequest(name="m", version=2, description="waits"), timeout=30
    )
    try:
        # Remembered: answered on the loop at once.
        assert stub.GetModelVersionByAlias(CHAMPION, timeout=3).model_version.version == 1
        latest = stub.GetLatestVersions(LATEST, timeout=3).model_versions
        assert [(v.version, v.current_stage) for v in latest] == [(1, "Production")]
        # Never read, so not in memory: it waits for the thread, past its deadline.
        with pytest.raises(grpc.RpcError) as waited:
            stub.GetModelVersion(pb.GetModelVersionRequest(name="m", version=2), timeout=1)
        assert waited.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    finally:
        writer_held.execute("ROLLBACK")
    assert writing.result().model_version.description == "waits"


class _JsonLines(logging.Handler):
    """The registry's log lines, as JSON objects, while installed."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict[str, object]] = []
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))

    def __enter__(self) -> list[dict[str, object]]:
        logger = logging.getLogger("registry_service")
        self._level = logger.level
        logger.addHandler(self)
        logger.setLevel(logging.INFO)
        return self.lines

    def __exit__(self, *_: object) -> None:
        logger = logging.getLogger("registry_service")
        logger.removeHandler(self)
        logger.setLevel(self._level)


def test_a_remembered_read_carries_its_request_id_and_logs_one_access_line(
    on_each_database: tuple[RunningServer, ModelRegistryServiceStub],
) -> None:
    _, stub = on_each_database
    _remembered(stub)
    with _JsonLines() as lines:
        _, call = stub.GetModelVersionByAlias.with_call(
            CHAMPION, timeout=5, metadata=(("x-request-id", "from-memory-1"),)
        )
    assert ("x-request-id", "from-memory-1") in call.trailing_metadata()
    ours = [line for line in lines if line.get("request_id") == "from-memory-1"]
    assert [line["logger"] for line in ours] == ["registry_service.access"], lines
    assert ours[0]["code"] == "OK"
    assert ours[0]["method"].endswith("/GetModelVersionByAlias")  # type: ignore[union-attr]
    assert all(line.get("request_id") == "from-memory-1" for line in lines), lines


def test_a_remembered_read_never_returns_what_a_committed_write_replaced(
    on_each_database: tuple[RunningServer, ModelRegistryServiceStub], database_url: str
) -> None:
    """Writes by another replica (another engine on the database) and by the server itself:
    each read after the write's commit returns the write, with its etag."""
    _, stub = on_each_database
    other_engine = make_engine(database_url)
    other = RegistryStore(other_engine)
    try:
        for round_number in range(20):
            _remembered(stub)
            target = 2 if round_number % 2 == 0 else 1
            if round_number % 4 < 2:
                other.set_registered_model_alias("m", "champion", target)
                promoted = other.transition_model_version_stage(
                    "m", target, Stage.PRODUCTION.value, archive_existing_versions=True
                )
            else:
                stub.SetRegisteredModelAlias(
                    pb.SetRegisteredModelAliasRequest(name="m", alias="champion", version=target)
                )
                promoted_message = stub.TransitionModelVersionStage(
                    pb.TransitionModelVersionStageRequest(
                        name="m", version=target, stage="Production", archive_existing_versions=True
                    )
                ).model_version
                promoted = other.get_model_version("m", target)
                assert promoted.etag == promoted_message.etag
            aliased = stub.GetModelVersionByAlias(CHAMPION, timeout=5).model_version
            assert aliased.version == target
            assert aliased.etag == promoted.etag
            latest = stub.GetLatestVersions(LATEST, timeout=5).model_versions
            assert [(v.version, v.etag) for v in latest] == [(target, promoted.etag)]
    finally:
        other_engine.dispose()


def test_memory_answers_only_what_a_read_put_there_and_nothing_after_a_change(
    sqlite_file: str,
) -> None:
    engine = make_engine(f"sqlite:///{sqlite_file}")
    other_engine = make_engine(f"sqlite:///{sqlite_file}")
    store, other = RegistryStore(engine), RegistryStore(other_engine)
    try:
        store.create_registered_model("m")
        store.create_model_version("m", "s3://b/1")
        store.set_registered_model_alias("m", "champion", 1)
        assert store.model_version_by_alias_in_memory("m", "champion") is None
        for _ in range(3):
            read = store.get_model_version_by_alias("m", "champion")
            store.get_model_version("m", 1)
            store.get_latest_versions("m")
            store.get_registered_model("m")
        assert store.model_version_by_alias_in_memory("m", "champion") is read
        assert store.model_version_in_memory("m", 1) is not None
        assert store.latest_versions_in_memory("m") is not None
        assert store.registered_model_in_memory("m") is not None
        # Stages that do not parse: the read says what is wrong, not memory.
        assert store.latest_versions_in_memory("m", ["Nowhere"]) is None
        other.update_model_version("m", 1, "changed elsewhere")
        assert store.model_version_by_alias_in_memory("m", "champion") is None
        assert store.model_version_in_memory("m", 1) is None
        assert store.latest_versions_in_memory("m") is None
        assert store.registered_model_in_memory("m") is None
        assert store.get_model_version("m", 1).description == "changed elsewhere"
    finally:
        engine.dispose()
        other_engine.dispose()


def test_memory_answers_on_postgresql_only_with_a_token_observed_after_the_read_began(
    postgres_store: RegistryStore, postgres_url: str
) -> None:
    """PostgreSQL's change token is a round trip: memory answers with a token observed after
    the read began, and a token observed before a change answers nothing after it."""
    for _ in range(3):
        read = postgres_store.get_model_version("m", 1)
    assert postgres_store.change_token_is_a_query
    assert postgres_store.model_version_in_memory("m", 1) is None
    # What memory holds at all: whether observing a token for the read is worth it.
    assert postgres_store.model_version_in_memory("m", 1, ANY_TOKEN) is read
    assert postgres_store.model_version_in_memory("m", 2, ANY_TOKEN) is None
    before = postgres_store.observe_change_token()
    assert postgres_store.model_version_in_memory("m", 1, before) is read
    other_engine = make_engine(postgres_url)
    try:
        RegistryStore(other_engine).update_model_version("m", 1, "changed elsewhere")
    finally:
        other_engine.dispose()
    after = postgres_store.observe_change_token()
    assert after != before
    assert postgres_store.model_version_in_memory("m", 1, after) is None
    assert postgres_store.get_model_version("m", 1).description == "changed elsewhere"


def test_calls_on_the_loop_share_a_token_observation_begun_after_they_arrived() -> None:
    """One observation at a time; calls that arrive while one runs get the next one, which
    begins after they arrived, and share it; a failed observation fails its waiters only."""
    observed: list[int] = []
    release = threading.Event()
    failing = [False]

    def observe() -> int:
        release.wait(5)
        if failing[0]:
            raise RuntimeError("database down")
        observed.append(len(observed) + 1)
        return observed[-1]

    async def scenario() -> None:
        tokens = SharedTokens(observe, pool)
        first = asyncio.ensure_future(tokens.after_now())
        await asyncio.sleep(0.05)
        # Arrived while the first observation runs: they wait for the next one.
        later = [asyncio.ensure_future(tokens.after_now()) for _ in range(5)]
        await asyncio.sleep(0.05)
        assert not first.done() and not any(each.done() for each in later)
        release.set()
        assert await first == 1
        assert await asyncio.gather(*later) == [2] * 5
        assert observed == [1, 2]
        # A cancelled waiter leaves the observation it waited for to the others.
        release.clear()
        running = asyncio.ensure_future(tokens.after_now())
        await asyncio.sleep(0.05)
        cancelled = asyncio.ensure_future(tokens.after_now())
        kept = asyncio.ensure_future(tokens.after_now())
        await asyncio.sleep(0.05)
        cancelled.cancel()
        release.set()
        assert await running == 3
        assert await kept == 4
        assert cancelled.cancelled()
        failing[0] = True
        with pytest.raises(RuntimeError, match="database down"):
            await tokens.after_now()
        failing[0] = False
        assert await tokens.after_now() == 5
        assert observed == [1, 2, 3, 4, 5]

    # On a loop of its own, as the server's: the browser tests' sync Playwright leaves a loop
    # running in this thread.
    loop = ServerLoop()
    try:
        with ThreadPoolExecutor(2) as pool:
            loop.run(scenario())
    finally:
        loop.close()


def test_concurrent_remembered_reads_and_writes_agree(
    one_thread: tuple[RunningServer, ModelRegistryServiceStub],
) -> None:
    """Readers on the loop while a writer moves the alias: once a move is acknowledged, no read
    that starts after it returns an older target."""
    _, stub = one_thread
    acknowledged = [1]
    stale: list[tuple[int, int]] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            floor = acknowledged[-1]
            seen = stub.GetModelVersionByAlias(CHAMPION, timeout=10).model_version.version
            # Targets only grow: an answer below what was acknowledged before the read is stale.
            if seen < floor:
                stale.append((seen, floor))

    for number in range(3, 23):
        stub.CreateModelVersion(pb.CreateModelVersionRequest(name="m", source=f"s3://b/{number}"))
    readers = [threading.Thread(target=read) for _ in range(4)]
    for reader in readers:
        reader.start()
    try:
        for target in range(3, 23):
            stub.SetRegisteredModelAlias(
                pb.SetRegisteredModelAliasRequest(name="m", alias="champion", version=target)
            )
            acknowledged.append(target)
    finally:
        done.set()
        for reader in readers:
            reader.join()
    assert stale == []
    assert stub.GetModelVersionByAlias(CHAMPION, timeout=5).model_version.version == 22


def test_a_remembered_read_that_times_out_waiting_for_its_token_is_logged_once(
    postgres_url: str,
) -> None:
    """On PostgreSQL a remembered read waits on the loop for a token observed in a thread. With
    the server's one thread held by a write waiting for a row lock, the read's deadline passes
    first: the caller gets DEADLINE_EXCEEDED, and the call has its one access-log line."""
    empty_postgres(postgres_url)
    serving = _serving(postgres_url)
    _, stub = next(serving)
    try:
        _remembered(stub)
        holder = psycopg.connect(
            make_url(postgres_url).set(drivername="postgresql").render_as_string(False)
        )
        try:
            holder.execute("SELECT id FROM registered_models WHERE name = 'm' FOR UPDATE")
            writing = stub.UpdateModelVersion.future(
                pb.UpdateModelVersionRequest(name="m", version=2, description="waits"),
                timeout=30,
            )
            time.sleep(0.5)
            with _JsonLines() as lines:
                with pytest.raises(grpc.RpcError) as waited:
                    stub.GetModelVersionByAlias(
                        CHAMPION, timeout=1, metadata=(("x-request-id", "waited-1"),)
                    )
                time.sleep(0.5)
            assert waited.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            ours = [line for line in lines if line.get("request_id") == "waited-1"]
            assert [line["logger"] for line in ours] == ["registry_service.access"], lines
            # Which of the two depends on whether the client's cancel (sent at its deadline)
            # or the server's own copy of the deadline, a little later, arrives first.
            assert ours[0]["code"] in ("DEADLINE_EXCEEDED", "CANCELLED"), ours
        finally:
            holder.rollback()
            holder.close()
        assert writing.result().model_version.description == "waits"
        # The token is observed again once the thread is free: the read answers.
        assert stub.GetModelVersionByAlias(CHAMPION, timeout=5).model_version.version == 1
    finally:
        serving.close()
