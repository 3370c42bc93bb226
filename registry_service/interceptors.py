"""The server interceptor every call passes through.

It gives the call a request id (the caller's ``x-request-id`` or a new one, returned in the
trailing metadata and put in every log line), makes the caller's trace context current, bounds
the call's database work by its deadline and cancellation, and when the call ends writes one JSON
access-log line and updates the Prometheus metrics.
"""

from __future__ import annotations

import logging
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
        # Per method path: its labels and metric series, the same for every call, so they are
        # built on a method's first call only. (The handler itself is new per call whenever an
        # inner interceptor, such as the auth guard, wraps it, so it is wrapped per call.)
        self._calls: dict[str, _MethodCalls] = {}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(details)
        if handler is None:
            return None
        calls = self._calls.get(details.method)
        if calls is None:
            calls = _MethodCalls(self._metrics, _call_type(handler), details.method)
            self._calls[details.method] = calls

        def observing(context: grpc.ServicerContext) -> AbstractContextManager[None]:
            return self._observing(context, calls)

        return _observed(handler, observing)

    @contextmanager
    def _observing(self, context: grpc.ServicerContext, calls: _MethodCalls) -> Iterator[None]:
        metadata = tuple(context.invocation_metadata() or ())
        call_id = next((str(v) for k, v in metadata if k == REQUEST_ID and v), uuid.uuid4().hex)
        token = logs.request_id.set(call_id)
        calls.started.inc()
        started = time.perf_counter()
        failed = False
        try:
            with tracing.server_span(calls.service, calls.method, metadata):
                try:
                    if calls.kind == "server_stream":
                        # A WatchEvents stream lives as long as its caller wants: --max-deadline
                        # does not cut it. Each of its reads is a short transaction bounded by
                        # the database timeout, and it stops once the caller is gone.
                        yield
                        return
                    # Without a deadline gRPC reports centuries remaining; the cap applies.
                    remaining = context.time_remaining()
                    budget = self._max_deadline if remaining is None else remaining
                    with call_bounds(min(budget, self._max_deadline)) as bounds:
                        # A plain flag, read on gRPC's thread: nothing waits on it, and a
                        # threading.Event per call was a measurable part of every call.
                        finished = False

                        def ended_by_caller() -> None:
                            # Runs when the call ends, on gRPC's thread; before the behavior
                            # returned, that means the caller cancelled or its deadline passed.
                            if not finished:
                                bounds.cancel()
                                log.info(
                                    "the caller went away; its call's work is rolled back",
                                    extra={logs.FIELDS: {"request_id": call_id}},
                                )

                        if not context.add_callback(ended_by_caller):
                            ended_by_caller()
                        yield
                        finished = True
                except BaseException:
                    failed = True
                    raise
                finally:
                    context.set_trailing_metadata(
                        (*(context.trailing_metadata() or ()), (REQUEST_ID, call_id))
                    )
                    _record(context, calls, failed, started)
        finally:
            logs.request_id.reset(token)


class _MethodCalls:
    """One method's labels and metric series."""

    def __init__(self, metrics: ServerMetrics, kind: str, path: str) -> None:
        self.kind = kind
        self.path = path
        self.service, _, self.method = path.lstrip("/").partition("/")
        labels = (kind, self.service, self.method)
        self.started = metrics.started.labels(*labels)
        self.handling_seconds = metrics.handling_seconds.labels(*labels)
        self._handled = metrics.handled
        self._handled_by_code: dict[grpc.StatusCode, Any] = {}

    def handled(self, code: grpc.StatusCode) -> Any:
        """The handled-calls counter of ``code``."""
        counter = self._handled_by_code.get(code)
        if counter is None:
            counter = self._handled.labels(self.kind, self.service, self.method, code.name)
            self._handled_by_code[code] = counter
        return counter


def _record(
    context: grpc.ServicerContext, calls: _MethodCalls, failed: bool, started: float
) -> None:
    seconds = time.perf_counter() - started
    code = _outcome(context, failed)
    calls.handled(code).inc()
    calls.handling_seconds.observe(seconds)
    fields: dict[str, Any] = {
        "method": calls.path,
        "code": code.name,
        "duration_ms": round(seconds * 1000, 3),
        "peer": context.peer(),
    }
    # With mTLS the caller is whoever its certificate names.
    names: Any = context.auth_context().get("x509_common_name")
    if names:
        fields["identity"] = names[0].decode()
    access_log.info("%s %s", calls.path, code.name, extra={logs.FIELDS: fields})


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
