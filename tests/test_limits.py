"""Connection and call limits of a real server process: message size, concurrent calls,
connection age and keepalive."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2
from modelregistry.v1 import registry_service_pb2 as pb
from modelregistry.v1 import registry_service_pb2_grpc

from registry_service.client import RegistryClient
from registry_service.errors import RegistryError

from .processes import PATIENCE_S, health_status, serving, writes_blocked

HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS, PING = 4, 6
ACK = 1


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/r.db"


def test_message_larger_than_max_message_size_is_resource_exhausted(database: str) -> None:
    with (
        serving("--port", "0", "--database-url", database, "--max-message-size", "2048") as served,
        RegistryClient(served.address) as client,
    ):
        assert client.create_registered_model("small", description="x" * 1000).name == "small"
        with pytest.raises(RegistryError) as caught:
            client.create_registered_model("large", description="x" * 4000)
        assert caught.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert [m.name for m in client.search_registered_models()] == ["small"]


def test_calls_beyond_max_concurrent_calls_are_resource_exhausted(database: str) -> None:
    with (
        serving(
            "--port",
            "0",
            "--database-url",
            database,
            "--max-concurrent-calls",
            "2",
            "--metrics-port",
            "0",
        ) as served,
        grpc.insecure_channel(served.address) as channel,
    ):
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        with writes_blocked(database):
            in_progress = [
                stub.CreateRegisteredModel.future(
                    pb.CreateRegisteredModelRequest(name=name), timeout=PATIENCE_S
                )
                for name in ("first", "second")
            ]
            served.wait_for_metric(
                "grpc_server_started_total", 2, grpc_method="CreateRegisteredModel"
            )
            with pytest.raises(grpc.RpcError) as caught:
                health_status(channel)
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert [call.result().registered_model.name for call in in_progress] == [
            "first",
            "second",
        ]
        assert health_status(channel) == health_pb2.HealthCheckResponse.SERVING


def test_connections_older_than_max_connection_age_are_closed(database: str) -> None:
    with (
        serving("--port", "0", "--database-url", database, "--max-connection-age", "1") as served,
        grpc.insecure_channel(served.address) as channel,
    ):
        assert health_status(channel) == health_pb2.HealthCheckResponse.SERVING
        went_idle = threading.Event()

        def watch(state: grpc.ChannelConnectivity) -> None:
            if state == grpc.ChannelConnectivity.IDLE:
                went_idle.set()

        channel.subscribe(watch)
        assert went_idle.wait(PATIENCE_S), "the server never closed the connection"
        channel.unsubscribe(watch)
        assert health_status(channel) == health_pb2.HealthCheckResponse.SERVING


def test_idle_connections_get_keepalive_pings(database: str) -> None:
    with (
        serving("--port", "0", "--database-url", database, "--keepalive-time", "0.5") as served,
        socket.create_connection(("127.0.0.1", served.port), timeout=PATIENCE_S) as connection,
    ):
        connection.sendall(HTTP2_PREFACE + _frame(SETTINGS, 0))
        frames = _frames(connection)
        for kind, flags in frames:
            if kind == SETTINGS and not flags & ACK:
                connection.sendall(_frame(SETTINGS, ACK))
            if kind == PING and not flags & ACK:
                break
        else:
            raise AssertionError("the connection closed without a keepalive ping")


def _frame(kind: int, flags: int) -> bytes:
    """An empty HTTP/2 frame on stream 0."""
    return (0).to_bytes(3, "big") + bytes([kind, flags]) + struct.pack(">I", 0)


def _frames(connection: socket.socket) -> Iterator[tuple[int, int]]:
    """(type, flags) of each HTTP/2 frame the server sends, until it closes."""
    buffered = b""
    while True:
        while len(buffered) < 9:
            chunk = connection.recv(65536)
            if not chunk:
                return
            buffered += chunk
        length = int.from_bytes(buffered[:3], "big")
        while len(buffered) < 9 + length:
            chunk = connection.recv(65536)
            if not chunk:
                return
            buffered += chunk
        yield buffered[3], buffered[4]
        buffered = buffered[9 + length :]
