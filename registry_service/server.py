"""Builds and runs the gRPC server on a store."""

from __future__ import annotations

import logging
import signal
import threading
from concurrent import futures
from dataclasses import dataclass
from types import FrameType

import grpc
from google.protobuf import message_factory
from modelregistry.v1 import registry_service_pb2

from registry_service.config import Settings
from registry_service.gateway.http_server import HttpServer, start_http
from registry_service.grpc_errors import tolerant_parser
from registry_service.servicer import ModelRegistryServicer
from registry_service.store import schema
from registry_service.store.engine import is_sqlite, make_engine
from registry_service.store.registry_store import RegistryStore

log = logging.getLogger(__name__)

# How often the main thread wakes to run signal handlers queued by other threads.
_SIGNAL_POLL_S = 0.5


@dataclass
class RunningServer:
    """A started server and the port it really listens on."""

    server: grpc.Server
    port: int
    store: RegistryStore
    # The HTTP/JSON gateway on the same servicer; None when HTTP is off.
    http: HttpServer | None = None

    def stop(self, grace: float | None = None) -> None:
        stopped = self.server.stop(grace)
        if self.http is not None:
            self.http.stop(grace)
        stopped.wait()
        self.store.engine.dispose()


def open_store(settings: Settings) -> RegistryStore:
    """The store for ``settings.database_url``, schema checked.

    Embedded SQLite belongs to this server alone, so it is migrated in place (a new file just
    works); a shared PostgreSQL is migrated only by an operator's explicit `db upgrade`, never by
    whichever replica happens to start first.
    """
    engine = make_engine(settings.database_url, timeout=settings.database_timeout)
    if is_sqlite(engine):
        schema.upgrade(engine)
    else:
        schema.require_current(engine)
    return RegistryStore(
        engine,
        timeout=settings.database_timeout,
        idempotency_window=settings.idempotency_window,
    )


def add_registry_service(server: grpc.Server, servicer: ModelRegistryServicer) -> None:
    """What the generated add_ModelRegistryServiceServicer_to_server does, except that request
    bytes that do not parse are answered with INVALID_ARGUMENT (see ``tolerant_parser``)."""
    service = registry_service_pb2.DESCRIPTOR.services_by_name["ModelRegistryService"]
    handlers = {
        method.name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, method.name),
            request_deserializer=tolerant_parser(
                message_factory.GetMessageClass(method.input_type)
            ),
            response_serializer=message_factory.GetMessageClass(
                method.output_type
            ).SerializeToString,
        )
        for method in service.methods
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )
    server.add_registered_method_handlers(service.full_name, handlers)


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def start(settings: Settings, store: RegistryStore | None = None) -> RunningServer:
    store = store or open_store(settings)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.threads, thread_name_prefix="rpc"),
        # One process owns its port: without this, a second server would silently share it.
        options=[("grpc.so_reuseport", 0)],
    )
    servicer = ModelRegistryServicer(store)
    add_registry_service(server, servicer)
    address = format_address(settings.host, settings.port)
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as error:
        raise OSError(f"cannot listen on {address}: {error}") from error
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    server.start()
    log.info("listening on %s", format_address(settings.host, port))
    try:
        http = start_http(settings, servicer)
    except OSError as error:
        server.stop(None)
        http_address = format_address(settings.host, settings.http_port)
        raise OSError(f"cannot listen on {http_address} for http: {error}") from error
    if http is not None:
        log.info("http listening on %s", format_address(settings.host, http.port))
    return RunningServer(server=server, port=port, store=store, http=http)


def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, then let in-flight calls finish within the grace period."""
    stopping = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s; stopping within %.1fs", signal.Signals(signum).name, settings.grace)
        stopping.set()

    # Installed before the server announces its port, so a signal sent as soon as it is
    # listening is handled rather than killing the process.
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    running = start(settings)
    # The kernel may deliver the signal to one of grpc's threads; Python then runs the handler
    # only when the main thread next wakes up, which an untimed wait never does.
    while not stopping.wait(timeout=_SIGNAL_POLL_S):
        pass
    running.stop(settings.grace)
    log.info("stopped")
