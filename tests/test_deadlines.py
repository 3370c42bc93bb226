"""Deadlines and cancellation bound the database work of a real server process: a call that
runs out of time or is cancelled ends, rolled back, even while the database is still busy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from modelregistry.v1 import registry_service_pb2 as pb
from modelregistry.v1 import registry_service_pb2_grpc
from sqlalchemy import event
from sqlalchemy.engine import make_url

from registry_service.client import RegistryClient
from registry_service.errors import DeadlineExceeded
from registry_service.store import schema
from registry_service.store.engine import call_bounds, make_engine
from registry_service.store.registry_store import RegistryStore

from .processes import Log, serving, writes_blocked

# Less than SQLite's 30 s busy timeout, and PostgreSQL would wait for the lock forever: a call
# whose access-log line shows up within this while writes are still blocked was cut short.
WITHIN_S = 20.0


def logged_for(request_id: str) -> Callable[[Log], bool]:
    def matches(line: Log) -> bool:
        return line["logger"] == "registry_service.access" and line.get("request_id") == request_id

    return matches


def test_client_deadline_ends_the_database_work_and_writes_nothing(
    database_url: str, store: RegistryStore
) -> None:
    with serving("--port", "0", "--database-url", database_url) as served:
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(
            grpc.insecure_channel(served.address)
        )
        with writes_blocked(database_url):
            with pytest.raises(grpc.RpcError) as caught:
                stub.CreateRegisteredModel(
                    pb.CreateRegisteredModelRequest(name="late"),
                    timeout=1,
                    metadata=(("x-request-id", "late-call"),),
                )
            assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            line = served.wait_for_log(logged_for("late-call"), patience=WITHIN_S)
            # The client cancels at its deadline; the server's copy of the deadline is a little
            # later (it starts when the call arrives), so either may end the call there first.
            assert line["code"] in ("DEADLINE_EXCEEDED", "CANCELLED")
        assert store.search_registered_models().items == []


def test_call_without_deadline_gets_the_servers_max_deadline(
    database_url: str, store: RegistryStore
) -> None:
    with (
        serving("--port", "0", "--database-url", database_url, "--max-deadline", "1") as served,
        RegistryClient(served.address, timeout=None) as client,
        writes_blocked(database_url),
        pytest.raises(DeadlineExceeded) as caught,
    ):
        client.create_registered_model("unbounded")
    assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert caught.value.reason == "DEADLINE_EXCEEDED"  # the server's ErrorInfo, not the client's
    assert store.search_registered_models().items == []


def test_cancelled_call_rolls_back_and_leaves_nothing_written(
    database_url: str, store: RegistryStore
) -> None:
    with serving("--port", "0", "--database-url", database_url, "--metrics-port", "0") as served:
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(
            grpc.insecure_channel(served.address)
        )
        with writes_blocked(database_url):
            call = stub.CreateRegisteredModel.future(
                pb.CreateRegisteredModelRequest(name="abandoned", tags={"k": "v"}),
                timeout=60,
                metadata=(("x-request-id", "abandoned-call"),),
            )
            served.wait_for_metric(
                "grpc_server_started_total", 1, grpc_method="CreateRegisteredModel"
            )
            assert call.cancel()
            # Until the server has heard of the cancellation, the call is still wanted.
            served.wait_for_log(
                lambda line: (
                    line["message"].startswith("the caller went away")
                    and line["request_id"] == "abandoned-call"
                )
            )
            if make_url(database_url).get_backend_name() == "postgresql":
                # PostgreSQL is sent a cancel request: the waiting statement ends at once.
                # (SQLite cannot interrupt a lock wait; it rolls back when the wait ends.)
                served.wait_for_log(logged_for("abandoned-call"), patience=WITHIN_S)
        # The database is free again: a call that ignored its cancellation would now commit.
        line = served.wait_for_log(logged_for("abandoned-call"))
        assert line["code"] == "CANCELLED"
        with RegistryClient(served.address) as client:
            client.create_registered_model("after")
    assert [model.name for model in store.search_registered_models().items] == ["after"]


def test_a_near_deadline_lowers_sqlite_busy_timeout_for_its_own_call_only(
    tmp_path: Path,
) -> None:
    # A lock wait must end by the call's deadline, and the next call on the same pooled
    # connection must get the engine's own busy_timeout back.
    engine = make_engine(f"sqlite:///{tmp_path / 'registry.db'}", pool_size=1, timeout=30)
    schema.upgrade(engine)
    store = RegistryStore(engine)
    store.create_model_version(store.create_registered_model("m").name, "s3://bucket/1")
    during: list[int] = []

    def busy_timeout(connection: Any, *_args: Any) -> None:
        raw = connection.connection.dbapi_connection
        during.append(raw.execute("PRAGMA busy_timeout").fetchone()[0])

    event.listen(engine, "before_cursor_execute", busy_timeout)
    with call_bounds(2.0):
        store.get_model_version("m", 1)
    with call_bounds(60.0):
        store.get_model_version("m", 1)
    event.remove(engine, "before_cursor_execute", busy_timeout)
    with engine.connect() as connection:
        after = connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one()
    engine.dispose()
    assert 1_000 < during[0] <= 2_000
    assert during[1:] == [30_000]
    assert after == 30_000
