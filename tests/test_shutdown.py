"""Graceful shutdown of a real server process: SIGTERM during calls in flight."""

from __future__ import annotations

import signal
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from modelregistry.v1 import registry_service_pb2 as pb
from modelregistry.v1 import registry_service_pb2_grpc

from registry_service.store.registry_store import RegistryStore

from .processes import PATIENCE_S, health_status, start_serving, writes_blocked

IN_FLIGHT = 4


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_lets_calls_in_flight_finish_after_health_turns_not_serving(
    database_url: str, store: RegistryStore, signum: signal.Signals
) -> None:
    # The calls must still be waiting for the database when the server stops listening: a
    # database timeout longer than the test's patience, so that a slow machine does not see
    # them give up (UNAVAILABLE after the default 5 s) first.
    served = start_serving(
        *("--port", "0", "--database-url", database_url, "--metrics-port", "0"),
        *("--grace", "60", "--database-timeout", str(PATIENCE_S * 2)),
    )
    try:
        channel = grpc.insecure_channel(served.address)
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(), timeout=PATIENCE_S * 2
        )
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING

        with writes_blocked(database_url):
            in_flight = [
                stub.CreateRegisteredModel.future(
                    pb.CreateRegisteredModelRequest(name=f"m{i}"), timeout=PATIENCE_S * 2
                )
                for i in range(IN_FLIGHT)
            ]
            served.wait_for_metric(
                "grpc_server_started_total", IN_FLIGHT, grpc_method="CreateRegisteredModel"
            )
            served.process.send_signal(signum)

            assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
            watch.cancel()
            wait_until_refused(served.address)
            assert not any(call.done() for call in in_flight)

        names = sorted(call.result().registered_model.name for call in in_flight)
        assert names == [f"m{i}" for i in range(IN_FLIGHT)]
        assert served.process.wait(timeout=PATIENCE_S) == 0
        channel.close()
    finally:
        if served.process.poll() is None:
            served.process.kill()

    served.wait_for_log(lambda line: line["message"] == "stopped")
    stored = sorted(model.name for model in store.search_registered_models().items)
    assert stored == [f"m{i}" for i in range(IN_FLIGHT)]


def wait_until_refused(address: str) -> None:
    """Health checks on fresh connections until one is refused: the server stopped listening.
    (A call that races the closing listener may be accepted and then cancelled instead.)"""
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        with grpc.insecure_channel(address) as fresh:
            try:
                health_status(fresh)
            except grpc.RpcError as error:
                if error.code() == grpc.StatusCode.UNAVAILABLE:
                    return
        time.sleep(0.05)
    raise AssertionError(f"{address} still takes new calls")
