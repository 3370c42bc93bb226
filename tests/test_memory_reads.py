"""Point reads answered on the asyncio server's loop from memory (aio_calls, read_cache's
memory_only): on SQLite a repeated read needs no thread, and is what a read of the database would
return, before and after a write; a read memory cannot answer (a miss, an error, PostgreSQL's
token, a caller whose permission is decided per model) goes to a thread as before; either way the
call passes the pipeline once (one access-log line, its request id)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import grpc
import pytest
from modelregistry.v1 import registry_service_pb2 as pb
from modelregistry.v1 import registry_service_pb2_grpc

from registry_service.calls import REQUEST_ID
from registry_service.config import Settings
from registry_service.server import RunningServer, start
from registry_service.store.registry_store import RegistryStore

BY_ALIAS = "/modelregistry.v1.ModelRegistryService/GetModelVersionByAlias"


class Threads:
    """Counts the calls the server's pool runs."""

    def __init__(self, running: RunningServer, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        submit = running.pool.submit

        def counted(*args: Any, **kwargs: Any) -> Future[Any]:
            self.count += 1
            return submit(*args, **kwargs)

        monkeypatch.setattr(running.pool, "submit", counted)


def serve(store: RegistryStore, **settings: Any) -> RunningServer:
    return start(Settings(port=0, http_port=-1, webhooks=False, **settings), store=store)


@pytest.fixture
def running(store: RegistryStore) -> Iterator[RunningServer]:
    server = serve(store)
    yield server
    server.stop(None)


def stub_of(running: RunningServer) -> Iterator[Any]:
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield registry_service_pb2_grpc.ModelRegistryServiceStub(channel)


@pytest.fixture
def stub(running: RunningServer) -> Iterator[Any]:
    yield from stub_of(running)


def registered(stub: Any) -> None:
    stub.CreateRegisteredModel(pb.CreateRegisteredModelRequest(name="fraud"))
    for number in (1, 2):
        stub.CreateModelVersion(
            pb.CreateModelVersionRequest(name="fraud", source=f"s3://b/{number}")
        )
    stub.SetRegisteredModelAlias(
        pb.SetRegisteredModelAliasRequest(name="fraud", alias="champion", version=1)
    )


def by_alias(stub: Any) -> pb.ModelVersion:
    response = stub.GetModelVersionByAlias(
        pb.GetModelVersionByAliasRequest(name="fraud", alias="champion")
    )
    return response.model_version


def test_a_repeated_read_is_answered_without_a_thread_and_a_write_is_seen_at_once(
    running: RunningServer,
    stub: Any,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    registered(stub)
    first = by_alias(stub)
    threads = Threads(running, monkeypatch)
    caplog.set_level(logging.INFO, logger="registry_service.access")
    again, call = stub.GetModelVersionByAlias.with_call(
        pb.GetModelVersionByAliasRequest(name="fraud", alias="champion"),
        metadata=((REQUEST_ID, "read-from-memory"),),
    )
    assert again.model_version == first
    assert (REQUEST_ID, "read-from-memory") in call.trailing_metadata()
    # SQLite's change token is a read of memory; PostgreSQL's is a round trip, in a thread.
    assert threads.count == (0 if database_url.startswith("sqlite") else 1)
    # The pipeline ran once: one access-log line.
    assert [r.getMessage() for r in caplog.records] == [f"{BY_ALIAS} OK"]
    moved = stub.SetRegisteredModelAlias(
        pb.SetRegisteredModelAliasRequest(name="fraud", alias="champion", version=2)
    )
    assert moved is not None
    after = by_alias(stub)
    assert (after.version, after.aliases) == (2, ["champion"])
    assert by_alias(stub).etag == after.etag


def test_reads_memory_cannot_answer_get_the_answers_of_the_database(
    running: RunningServer, stub: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    registered(stub)
    by_alias(stub)
    threads = Threads(running, monkeypatch)
    with pytest.raises(grpc.RpcError) as missing:
        stub.GetModelVersionByAlias(pb.GetModelVersionByAliasRequest(name="fraud", alias="gone"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert "gone" in (missing.value.details() or "")
    with pytest.raises(grpc.RpcError) as invalid:
        stub.GetModelVersion(pb.GetModelVersionRequest(name="", version=1))
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # A version no one has read yet: a miss, read in a thread.
    version = stub.GetModelVersion(pb.GetModelVersionRequest(name="fraud", version=2))
    assert version.model_version.source == "s3://b/2"
    assert threads.count == 3


def test_callers_whose_permission_is_decided_per_model_are_never_answered_from_memory(
    store: RegistryStore, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    running = serve(store, auth="token", default_permission="NONE")
    try:
        for stub in stub_of(running):
            admin = (("authorization", f"Bearer {tokens['admin']}"),)
            mallory = (("authorization", f"Bearer {tokens['mallory']}"),)
            stub.CreateRegisteredModel(pb.CreateRegisteredModelRequest(name="m"), metadata=admin)
            request = pb.GetRegisteredModelRequest(name="m")
            assert stub.GetRegisteredModel(request, metadata=admin).registered_model.name == "m"
            threads = Threads(running, monkeypatch)
            assert stub.GetRegisteredModel(request, metadata=admin).registered_model.name == "m"
            with pytest.raises(grpc.RpcError) as refused:
                stub.GetRegisteredModel(request, metadata=mallory)
            assert refused.value.code() in (
                grpc.StatusCode.PERMISSION_DENIED,
                grpc.StatusCode.NOT_FOUND,
            )
            assert threads.count == 2
    finally:
        running.stop(None)
