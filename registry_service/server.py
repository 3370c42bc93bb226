"""Builds and runs the gRPC server on a store: interceptors, health, reflection, TLS, limits,
metrics and graceful shutdown."""

from __future__ import annotations

import gc
import logging
from collections import OrderedDict
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import message_factory
from grpc import aio
from grpc_health.v1 import health, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from modelregistry.v1 import events_pb2
from prometheus_client import CollectorRegistry

from registry_service.addresses import format_address
from registry_service.aio_calls import AioCallInterceptor, MemoryAnswers
from registry_service.aio_server import AioServer, LoopHealth, ServerLoop
from registry_service.auth import Access, warn_if_open
from registry_service.calls import CallPipeline
from registry_service.config import Settings
from registry_service.contract import SERVICE
from registry_service.contract import SERVICE_NAME as REGISTRY_SERVICE
from registry_service.gateway.http_server import HttpServer, start_http
from registry_service.grpc_errors import grpc_servicer, tolerant_parser
from registry_service.health import DatabaseHealth
from registry_service.interceptors import CallInterceptor
from registry_service.lineage import LineageResolver
from registry_service.metrics import MetricsEndpoint, ServerMetrics
from registry_service.retention import RetentionWorker
from registry_service.servicer import RegistryService
from registry_service.shutdown import ShutdownRequests
from registry_service.store import schema
from registry_service.store.access_store import AccessStore
from registry_service.store.engine import is_sqlite, make_engine
from registry_service.store.registry_store import RegistryStore
from registry_service.tls import server_credentials
from registry_service.tracking import TrackingServer
from registry_service.watch_feed import EventFeed
from registry_service.webhooks import UrlPolicy, WebhookSender, WebhookWorker

log = logging.getLogger(__name__)

# The collector's thresholds while serving (Python's are 700, 10, 10). Thousands of WatchEvents
# streams keep hundreds of thousands of objects alive, and every full collection walks them all:
# about 0.4 s with 5000 streams, a stall of every call the process serves, and at the default
# thresholds a fan-out set one off every few seconds. Collections far apart cost no memory worth
# counting: almost everything is freed by reference counting, not by the collector.
GC_THRESHOLDS = (50_000, 20, 10)

# Health answers for the server as a whole ("") and for the registry service by name.
HEALTH_SERVICES = (health.OVERALL_HEALTH, REGISTRY_SERVICE)


@dataclass
class RunningServer:
    """A started server and the port it really listens on."""

    server: AioServer
    port: int
    store: RegistryStore
    health: DatabaseHealth
    metrics: MetricsEndpoint | None
    # The HTTP/JSON gateway on the same servicer; None when HTTP is off.
    http: HttpServer | None
    feed: EventFeed
    # The asyncio server's loop, and the threads of its unary calls.
    loop: ServerLoop
    pool: futures.ThreadPoolExecutor
    # The webhook delivery worker; None when --webhooks is off.
    webhooks: WebhookWorker | None = None
    retention: RetentionWorker | None = None

    def stop(self, grace: float | None = None) -> None:
        """Health NOT_SERVING first, then stop taking calls (gRPC and HTTP) and give those in
        flight ``grace`` seconds to finish before they are cancelled. WatchEvents streams never
        finish on their own, so they are ended first (their clients resume elsewhere)."""
        self.health.shutdown()
        self.feed.close()
        if self.webhooks is not None:
            self.webhooks.stop()
        if self.retention is not None:
            self.retention.stop()
        stopped = self.server.stop(grace)
        if self.http is not None:
            self.http.stop(grace)
        stopped.wait()
        self.loop.close()
        self.pool.shutdown()
        if self.metrics is not None:
            self.metrics.stop()
        self.store.engine.dispose()


def open_store(settings: Settings) -> RegistryStore:
    """The store for ``settings.database_url``, schema checked.

    Embedded SQLite belongs to this server alone, so it is migrated in place (a new file just
    works). A shared PostgreSQL gets the schema when it is empty (a first run just works too), but
    an existing one is migrated only by an operator's explicit `db upgrade`, never by whichever
    replica happens to start first.
    """
    # A connection for each thread, and one for the health probe: none is opened per call.
    engine = make_engine(
        settings.database_url, pool_size=settings.threads + 1, timeout=settings.database_timeout
    )
    if is_sqlite(engine):
        schema.upgrade(engine)
    else:
        schema.create_if_empty(engine)
        schema.require_current(engine)
    return RegistryStore(
        engine,
        timeout=settings.database_timeout,
        idempotency_window=settings.idempotency_window,
    )


def add_registry_service(
    server: grpc.Server | aio.Server, registry: RegistryService, *, on_loop: bool = False
) -> None:
    """What the generated add_ModelRegistryServiceServicer_to_server does for ``registry``'s
    context-free methods (see ``grpc_errors.grpc_servicer``), except that request bytes that do
    not parse are answered with INVALID_ARGUMENT (see ``tolerant_parser``). ``on_loop``: for the
    asyncio server, whose WatchEvents streams wait on its loop (``WatchEventsAsync``)."""
    servicer = grpc_servicer(registry, SERVICE)
    if on_loop:
        servicer.WatchEvents = registry.WatchEventsAsync
    serializers: dict[str, Callable[[Any], bytes]] = {
        method.name: message_factory.GetMessageClass(method.output_type).SerializeToString
        for method in SERVICE.methods
    }
    if on_loop:
        serializers["WatchEvents"] = SerializedOnce()
    handlers = {
        method.name: (
            grpc.unary_stream_rpc_method_handler
            if method.server_streaming
            else grpc.unary_unary_rpc_method_handler
        )(
            getattr(servicer, method.name),
            request_deserializer=tolerant_parser(
                message_factory.GetMessageClass(method.input_type)
            ),
            response_serializer=serializers[method.name],
        )
        for method in SERVICE.methods
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(REGISTRY_SERVICE, handlers),)
    )
    server.add_registered_method_handlers(REGISTRY_SERVICE, handlers)


class SerializedOnce:
    """The WatchEvents serializer of the asyncio server: an event's response is serialized once
    for every stream that sends it (the fan-out hands them all the same message, see
    ``RegistryService.WatchEventsAsync``). Only the event loop calls it."""

    # Event responses kept with their bytes: those of the latest events.
    KEPT = 1024

    def __init__(self) -> None:
        # By id: messages are not hashable. Keeping the message keeps its id from being reused.
        self._kept: OrderedDict[int, tuple[Any, bytes]] = OrderedDict()

    def __call__(self, message: events_pb2.WatchEventsResponse) -> bytes:
        kept = self._kept.get(id(message))
        if kept is not None and kept[0] is message:
            return kept[1]
        data = message.SerializeToString()
        # Heartbeats are each a message of their own stream.
        if message.HasField("event"):
            self._kept[id(message)] = (message, data)
            if len(self._kept) > self.KEPT:
                self._kept.popitem(last=False)
        return data


def channel_options(settings: Settings, *, reuse_port: bool) -> list[tuple[str, int]]:
    def ms(seconds: float) -> int:
        return round(seconds * 1000)

    options = [
        # Without an explicit 0, a second server would silently share the port; 1 only for the
        # deliberate sharing of `--workers`.
        ("grpc.so_reuseport", int(reuse_port)),
        ("grpc.max_receive_message_length", settings.max_message_size),
        ("grpc.max_send_message_length", settings.max_message_size),
        # gRPC has no "off": a ping every 2^31 - 1 ms (24 days) is none.
        ("grpc.keepalive_time_ms", ms(settings.keepalive_time) or 2**31 - 1),
        ("grpc.keepalive_timeout_ms", ms(settings.keepalive_timeout)),
        # Idle connections are pinged too, without gRPC's default cap of two pings between
        # data frames: a peer that vanished without closing is noticed however long it idles.
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.max_connection_age_grace_ms", ms(settings.max_connection_age_grace)),
    ]
    if settings.max_connection_age > 0:
        options.append(("grpc.max_connection_age_ms", ms(settings.max_connection_age)))
    return options


def grpc_server(
    settings: Settings, pipeline: CallPipeline | None, *, reuse_port: bool
) -> grpc.Server:
    """The bare gRPC server of one process: its threads, call pipeline, channel options and call
    limit, with no service added yet. bench/echo.py serves its no-op ceilings on this too, so that
    the benchmark's ratios compare like with like; ``pipeline`` None (its bare echo only): no
    interceptor at all."""
    return grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.threads, thread_name_prefix="rpc"),
        interceptors=[] if pipeline is None else [CallInterceptor(pipeline)],
        options=channel_options(settings, reuse_port=reuse_port),
        maximum_concurrent_rpcs=settings.max_concurrent_calls or None,
    )


def aio_server(
    settings: Settings,
    pipeline: CallPipeline,
    pool: futures.ThreadPoolExecutor,
    *,
    reuse_port: bool,
    memory: MemoryAnswers | None = None,
) -> aio.Server:
    """The asyncio gRPC server of one process (``aio_server``), built on its loop: unary calls
    in ``pool`` but for the point reads ``memory`` answers, everything through the call
    pipeline, the same channel options and call limit as ``grpc_server``."""
    return aio.server(
        interceptors=[AioCallInterceptor(pipeline, pool, settings.max_concurrent_calls, memory)],
        options=channel_options(settings, reuse_port=reuse_port),
    )


def start(
    settings: Settings, store: RegistryStore | None = None, *, reuse_port: bool = False
) -> RunningServer:
    store = store or open_store(settings)
    store.deleted_retention = settings.deleted_retention
    warn_if_open(settings)
    # One for both: the servicer's token writes and the calls' token checks share the lifetime
    # cap and the last-use bookkeeping.
    access_store = AccessStore(store, max_ttl=settings.token_max_ttl)
    access = Access(settings, access_store)
    metrics_registry = CollectorRegistry()
    # One pipeline for both transports: the same steps, series and access log.
    pipeline = CallPipeline(ServerMetrics(metrics_registry), settings.max_deadline, access)
    loop = ServerLoop()
    pool = futures.ThreadPoolExecutor(max_workers=settings.threads, thread_name_prefix="rpc")

    # Streams hold no thread: they are bounded by memory, not by --threads.
    feed = EventFeed(
        store,
        settings.event_poll_interval,
        settings.event_heartbeat_interval,
        settings.max_watch_streams,
        settings.watch_buffer,
    )
    sender = WebhookSender(
        UrlPolicy(frozenset(settings.webhook_scheme_list), settings.webhook_allow_private),
        settings.webhook_timeout,
    )
    tracking = None if settings.tracking_uri is None else TrackingServer(settings.tracking_uri)
    registry = RegistryService(store, feed, sender, LineageResolver(tracking), access_store)

    async def build() -> aio.Server:
        return aio_server(settings, pipeline, pool, reuse_port=reuse_port, memory=registry)

    server = AioServer(loop.run(build()), loop)
    add_registry_service(server.server, registry, on_loop=True)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server.server)
    if settings.reflection:
        reflection.enable_server_reflection(
            (REGISTRY_SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), server.server
        )
    address = format_address(settings.host, settings.port)
    credentials = server_credentials(settings)
    try:
        port = (
            server.add_insecure_port(address)
            if credentials is None
            else server.add_secure_port(address, credentials)
        )
    except RuntimeError as error:
        raise OSError(f"cannot listen on {address}: {error}") from error
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    try:
        http = start_http(settings, registry, pipeline, reuse_port=reuse_port)
    except OSError as error:
        http_address = format_address(settings.host, settings.http_port)
        raise OSError(f"cannot listen on {http_address} for http: {error}") from error
    if http is not None:
        log.info("http listening on %s", format_address(settings.host, http.port))
    database_health = DatabaseHealth(
        LoopHealth(health_servicer, loop),
        store.engine,
        HEALTH_SERVICES,
        settings.health_check_interval,
    )
    database_health.start()
    metrics = (
        None
        if settings.metrics_port is None
        else MetricsEndpoint(metrics_registry, settings.host, settings.metrics_port)
    )
    server.start()
    webhooks = WebhookWorker(store.webhooks, sender, settings) if settings.webhooks else None
    if webhooks is not None:
        webhooks.start()
    retention = RetentionWorker(store, settings)
    retention.start()
    return RunningServer(
        server=server,
        port=port,
        store=store,
        health=database_health,
        metrics=metrics,
        http=http,
        feed=feed,
        loop=loop,
        pool=pool,
        webhooks=webhooks,
        retention=retention,
    )


def log_listening(host: str, port: int) -> None:
    log.info("listening on %s", format_address(host, port))


def serve(
    settings: Settings,
    *,
    reuse_port: bool = False,
    ready: Callable[[int], None] | None = None,
    shutdown: ShutdownRequests | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT (or a request to ``shutdown``), then shut down gracefully.

    ``ready`` is told the port once the server takes calls; by default it logs
    "listening on HOST:PORT".
    """
    shutdown = shutdown or ShutdownRequests()
    running = start(settings, reuse_port=reuse_port)
    # What start-up made (modules, the schema, protobuf descriptors) lives as long as the
    # process; out of the collector's sight, the first full collection under load does not walk
    # it all (about 80 ms of a worker's calls stalled, once, soon after it started serving).
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    (ready or (lambda port: log_listening(settings.host, port)))(running.port)
    shutdown.wait()
    log.info("stopping: health NOT_SERVING, %gs for calls in flight", settings.grace)
    running.stop(settings.grace)
    log.info("stopped")
