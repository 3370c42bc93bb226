"""What every call gets from the server's interceptor, seen from outside a real server process:
a request id, a JSON access-log line, Prometheus metrics, and the caller's trace context."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from modelregistry.v1 import registry_service_pb2 as pb
from modelregistry.v1 import registry_service_pb2_grpc
from opentelemetry import trace

from registry_service.domain import RegisteredModel
from registry_service.logs import JsonFormatter
from registry_service.server import RunningServer
from registry_service.store.registry_store import RegistryStore
from registry_service.tracing import server_span

from .processes import Served, serving

REGISTRY = "modelregistry.v1.ModelRegistryService"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"

Stub = registry_service_pb2_grpc.ModelRegistryServiceStub


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    database = tmp_path_factory.mktemp("interceptors") / "registry.db"
    with serving(
        "--port", "0", "--database-url", f"sqlite:///{database}", "--metrics-port", "0"
    ) as s:
        yield s


@pytest.fixture
def stub(served: Served) -> Iterator[Stub]:
    with grpc.insecure_channel(served.address) as channel:
        yield Stub(channel)


def trailing(call: grpc.Call | grpc.RpcError) -> dict[str, str | bytes]:
    return dict(call.trailing_metadata() or ())


def test_callers_request_id_comes_back_with_the_error_details_and_is_logged(
    served: Served, stub: Stub
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetRegisteredModel(
            pb.GetRegisteredModelRequest(name="missing"),
            metadata=(("x-request-id", "req-123"),),
            timeout=10,
        )
    error = caught.value
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert trailing(error)["x-request-id"] == "req-123"
    status = rpc_status.from_call(error)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    status.details[0].Unpack(info)
    assert info.reason == "RESOURCE_DOES_NOT_EXIST"

    line = served.wait_for_log(lambda line: line.get("request_id") == "req-123")
    assert line["logger"] == "registry_service.access"
    assert line["method"] == f"/{REGISTRY}/GetRegisteredModel"
    assert line["code"] == "NOT_FOUND"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["peer"].startswith("ipv4:127.0.0.1:")
    assert "identity" not in line  # plaintext: nobody to name


def test_a_request_id_is_made_for_calls_without_one(served: Served, stub: Stub) -> None:
    _, call = stub.CreateRegisteredModel.with_call(
        pb.CreateRegisteredModelRequest(name="made-id"), timeout=10
    )
    request_id = trailing(call)["x-request-id"]
    assert isinstance(request_id, str) and re.fullmatch(r"[0-9a-f]{32}", request_id)
    line = served.wait_for_log(lambda line: line.get("request_id") == request_id)
    assert (line["method"], line["code"]) == (f"/{REGISTRY}/CreateRegisteredModel", "OK")


def test_metrics_count_started_and_handled_calls_by_code_with_latency(
    served: Served, stub: Stub
) -> None:
    labels = {"grpc_type": "unary", "grpc_service": REGISTRY, "grpc_method": "GetModelVersion"}

    def counts() -> tuple[float, ...]:
        return (
            served.metric("grpc_server_started_total", **labels),
            served.metric("grpc_server_handled_total", grpc_code="OK", **labels),
            served.metric("grpc_server_handled_total", grpc_code="NOT_FOUND", **labels),
            served.metric("grpc_server_handling_seconds_count", **labels),
        )

    before = counts()
    stub.CreateRegisteredModel(pb.CreateRegisteredModelRequest(name="counted"), timeout=10)
    stub.CreateModelVersion(
        pb.CreateModelVersionRequest(name="counted", source="s3://b/1"), timeout=10
    )
    stub.GetModelVersion(pb.GetModelVersionRequest(name="counted", version=1), timeout=10)
    for version in (7, 8):
        with pytest.raises(grpc.RpcError):
            stub.GetModelVersion(
                pb.GetModelVersionRequest(name="counted", version=version), timeout=10
            )
    after = counts()
    assert [b - a for a, b in zip(before, after, strict=True)] == [3, 1, 2, 3]


def test_callers_trace_context_is_continued_in_the_log(served: Served, stub: Stub) -> None:
    stub.SearchRegisteredModels(
        pb.SearchRegisteredModelsRequest(),
        metadata=(("traceparent", TRACEPARENT), ("x-request-id", "traced")),
        timeout=10,
    )
    line = served.wait_for_log(lambda line: line.get("request_id") == "traced")
    assert line["trace_id"] == TRACE_ID


class _RecordingTracer(trace.NoOpTracer):
    def __init__(self, started: list[tuple[str, str | None]]) -> None:
        self._started = started

    def start_span(self, name: str, context: Any = None, *args: Any, **kwargs: Any) -> Any:
        parent = trace.get_current_span(context).get_span_context()
        self._started.append((name, format(parent.trace_id, "032x") if parent.is_valid else None))
        return super().start_span(name, context, *args, **kwargs)


class _RecordingProvider(trace.TracerProvider):
    def __init__(self) -> None:
        self.started: list[tuple[str, str | None]] = []

    def get_tracer(self, *_args: Any, **_kwargs: Any) -> trace.Tracer:
        return _RecordingTracer(self.started)


def test_a_configured_tracer_gets_a_span_for_every_call_traced_or_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Without a tracer SDK, a call without trace context starts no span (there would be nothing
    # to see of it); with one, each call is a span, a root one when the caller sent no context.
    provider = _RecordingProvider()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    with server_span("svc", "Untraced", (("x-request-id", "r1"),)):
        pass
    with server_span("svc", "Traced", (("traceparent", TRACEPARENT),)):
        pass
    assert provider.started == [("svc/Untraced", None), ("svc/Traced", TRACE_ID)]


def test_server_serves_without_the_otel_extra(tmp_path: Path) -> None:
    without_otel = [
        sys.executable,
        "-c",
        "import sys; sys.modules['opentelemetry'] = None\n"
        "from registry_service.cli import main; sys.exit(main())",
    ]
    with (
        serving(
            "--port", "0", "--database-url", f"sqlite:///{tmp_path}/r.db", command=without_otel
        ) as served,
        grpc.insecure_channel(served.address) as channel,
    ):
        Stub(channel).SearchRegisteredModels(
            pb.SearchRegisteredModelsRequest(),
            metadata=(("traceparent", TRACEPARENT), ("x-request-id", "untraced")),
            timeout=10,
        )
        line = served.wait_for_log(lambda line: line.get("request_id") == "untraced")
    assert line["code"] == "OK"
    assert "trace_id" not in line


def test_every_line_logged_during_a_call_carries_its_request_id(
    server: RunningServer, store: RegistryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    get_registered_model = store.get_registered_model

    def logging_get(name: str) -> RegisteredModel:
        logging.getLogger("somewhere.inside").warning("looking up %s", name)
        return get_registered_model(name)

    monkeypatch.setattr(store, "get_registered_model", logging_get)
    try:
        with (
            grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel,
            pytest.raises(grpc.RpcError),
        ):
            Stub(channel).GetRegisteredModel(
                pb.GetRegisteredModelRequest(name="m"),
                metadata=(("x-request-id", "in-call"),),
                timeout=10,
            )
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in written.getvalue().splitlines()]
    inside = [line for line in lines if line["logger"] == "somewhere.inside"]
    assert [(line["message"], line["request_id"]) for line in inside] == [
        ("looking up m", "in-call")
    ]
    access = [line for line in lines if line["logger"] == "registry_service.access"]
    assert [line["request_id"] for line in access] == ["in-call"]
