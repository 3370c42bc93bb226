"""Prometheus metrics under go-grpc-prometheus's names and labels, so that existing gRPC
dashboards and alerts work unchanged, and the HTTP endpoint that serves them.

Calls that arrive over HTTP are counted in the same series, under the RPC they call and the gRPC
code of their outcome; the ``transport`` label ("grpc" or "http") tells them apart."""

from __future__ import annotations

import logging
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, start_http_server

from registry_service.addresses import format_address

log = logging.getLogger(__name__)

_CALL_LABELS = ("grpc_type", "grpc_service", "grpc_method", "transport")


class ServerMetrics:
    """The counters and histogram one server updates for each call."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.started = Counter(
            "grpc_server_started_total",
            "Total number of RPCs started on the server.",
            _CALL_LABELS,
            registry=registry,
        )
        self.handled = Counter(
            "grpc_server_handled_total",
            "Total number of RPCs completed on the server, regardless of success or failure.",
            (*_CALL_LABELS, "grpc_code"),
            registry=registry,
        )
        self.handling_seconds = Histogram(
            "grpc_server_handling_seconds",
            "Histogram of response latency (seconds) of gRPC that had been application-level "
            "handled by the server.",
            _CALL_LABELS,
            registry=registry,
        )


def multiprocess_registry(path: str) -> CollectorRegistry:
    """A registry that adds up what every worker process wrote to ``path``."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)
    return registry


class MetricsEndpoint:
    """``registry`` served over HTTP at /metrics on ``host:port`` (0 picks a free port)."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._server: WSGIServer
        self._thread: Thread
        try:
            self._server, self._thread = start_http_server(port, host, registry)
        except OSError as error:
            raise OSError(
                f"cannot serve metrics on {format_address(host, port)}: {error.strerror}"
            ) from error
        self.port: int = self._server.server_port
        log.info("metrics on http://%s/metrics", format_address(host, self.port))

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
