"""The server interceptor every call passes through.

It gives the call a request id (the caller's ``x-request-id`` or a new one, returned in the
trailing metadata and put in every log line), makes the caller's trace context current, bounds
the call's database work by its deadline and cancellation, and when the call ends writes one JSON
access-log line and updates the Prometheus metrics.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, cast

import grpc

from registry_service import logs, tracing
from registry_service.metrics import ServerMetrics
from registry_service.store.engine import call_bounds

REQUEST_ID = "x-request-id"

log = logging.getLogger(__name__)
access_log = logging.getLogger("registry_service.access")

Observing = Callable[[grpc.ServicerContext], AbstractContextManager[None]]


class CallInterceptor(grpc.ServerInterceptor):
    def __init__(self, metrics: ServerMetrics, max_deadline: float) -> None:
        self._metrics = metrics
        self._max_deadline = max_deadline

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(details)
        if handler is None:
            return None
        kind = _call_type(handler)
        service, _, method = details.method.lstrip("/").partition("/")
        metadata = tuple(details.invocation_metadata or ())

        def observing(context: grpc.ServicerContext) -> AbstractContextManager[None]:
            return self._observing(context, kind, service, method, metadata)

        return _observed(handler, observing)

    @contextmanager
    def _observing(
        self,
        context: grpc.ServicerContext,
        kind: str,
        service: str,
        method: str,
        metadata: tuple[tuple[str, str | bytes], ...],
    ) -> Iterator[None]:
        call_id = next((str(v) for k, v in metadata if k == REQUEST_ID and v), uuid.uuid4().hex)
        token = logs.request_id.set(call_id)
        self._metrics.started.labels(kind, service, method).inc()
        started = time.perf_counter()
        failed = False
        try:
            with tracing.server_span(service, method, metadata):
                try:
                    if kind == "server_stream":
                        # A WatchEvents stream lives as long as its caller wants: --max-deadline
                        # does not cut it. Each of its reads is a short transaction bounded by
                        # the database timeout, and it stops once the caller is gone.
                        yield
                        return
                    # Without a deadline gRPC reports centuries remaining; the cap applies.
                    remaining = context.time_remaining()
                    budget = self._max_deadline if remaining is None else remaining
                    with call_bounds(min(budget, self._max_deadline)) as bounds:
                        finished = threading.Event()

                        def ended_by_caller() -> None:
                            # Runs when the call ends, on gRPC's thread; before the behavior
                            # returned, that means the caller cancelled or its deadline passed.
                            if not finished.is_set():
                                bounds.cancel()
                                log.info(
                                    "the caller went away; its call's work is rolled back",
                                    extra={logs.FIELDS: {"request_id": call_id}},
                                )

                        if not context.add_callback(ended_by_caller):
                            ended_by_caller()
                        yield
                        finished.set()
                except BaseException:
                    failed = True
                    raise
                finally:
                    context.set_trailing_metadata(
                        (*(context.trailing_metadata() or ()), (REQUEST_ID, call_id))
                    )
                    self._record(context, kind, service, method, failed, started)
        finally:
            logs.request_id.reset(token)

    def _record(
        self,
        context: grpc.ServicerContext,
        kind: str,
        service: str,
        method: str,
        failed: bool,
        started: float,
    ) -> None:
        seconds = time.perf_counter() - started
        code = _outcome(context, failed)
        self._metrics.handled.labels(kind, service, method, code.name).inc()
        self._metrics.handling_seconds.labels(kind, service, method).observe(seconds)
        fields: dict[str, Any] = {
            "method": f"/{service}/{method}",
            "code": code.name,
            "duration_ms": round(seconds * 1000, 3),
            "peer": context.peer(),
        }
        # With mTLS the caller is whoever its certificate names.
        names: Any = context.auth_context().get("x509_common_name")
        if names:
            fields["identity"] = names[0].decode()
        access_log.info("%s %s", fields["method"], code.name, extra={logs.FIELDS: fields})


def _outcome(context: grpc.ServicerContext, failed: bool) -> grpc.StatusCode:
    """The status the caller gets (or got, if it went away first)."""
    if not context.is_active():
        expired = context.time_remaining() == 0
        return grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED
    # The server's context has code() (what abort or set_code set); the stubs lack it.
    code: grpc.StatusCode | None = cast(Any, context).code()
    if code is not None:
        return code
    return grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK


def _call_type(handler: grpc.RpcMethodHandler[Any, Any]) -> str:
    """go-grpc-prometheus's grpc_type label."""
    if handler.request_streaming:
        return "bidi_stream" if handler.response_streaming else "client_stream"
    return "server_stream" if handler.response_streaming else "unary"


def _observed(
    handler: grpc.RpcMethodHandler[Any, Any], observing: Observing
) -> grpc.RpcMethodHandler[Any, Any]:
    """``handler`` with its behavior run inside ``observing(context)``."""
    behavior: Any = (
        handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream
    )
    if getattr(behavior, "experimental_non_blocking", False):
        # Health Watch streams answer from a callback and hold no thread while they wait; they
        # stay as they are rather than tie up a thread each for as long as they are open.
        return handler

    if handler.response_streaming:

        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
            with observing(context):
                yield from behavior(request, context)

    else:

        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
            with observing(context):
                return behavior(request, context)

    make = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }[handler.request_streaming, handler.response_streaming]
    return make(
        wrapped,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
