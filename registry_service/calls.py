"""The one pipeline every call passes through, whichever transport brought it.

A call, over gRPC (``interceptors``) or HTTP (``gateway/app.py``), is served as:

1. its request id: the caller's ``x-request-id``, or a new one; put in every log line of the call
   and handed back to the transport, which returns it (trailing metadata, a response header);
2. its tracing span, continuing the caller's trace context;
3. its deadline and cancellation, bound to its database work (``store.engine.call_bounds``):
   what the caller asked for, capped by --max-deadline; the transport cancels when the caller
   goes away. Server streams have no deadline: they last as long as their caller wants;
4. identity and permission (``auth``): the caller is authenticated, then allowed the call;
5. when it ends, its metrics (the same series for both transports, told apart by a ``transport``
   label) and one access-log line naming the authenticated user.

The transport owns only what is its own: how metadata, deadlines and peers arrive, how a
disconnect is noticed, and how an error is written back.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from registry_service import identity, logs, tracing
from registry_service.auth import STREAM_RECHECK_SECONDS, Access, AuthContext, Metadata
from registry_service.contract import SERVICE_NAME
from registry_service.errors import RegistryError
from registry_service.grpc_errors import status_code_of
from registry_service.metrics import ServerMetrics
from registry_service.store.engine import CallBounds, call_bounds

REQUEST_ID = "x-request-id"

T = TypeVar("T")

log = logging.getLogger(__name__)
access_log = logging.getLogger("registry_service.access")


def _no_auth_context() -> AuthContext:
    return {}


@dataclass(frozen=True)
class Arrival:
    """A call as its transport received it."""

    transport: str
    # The full method path, "/package.Service/Method", as gRPC names it.
    path: str
    # go-grpc-prometheus's grpc_type: "unary" or "server_stream".
    kind: str
    # gRPC metadata or HTTP headers, lower-case keys.
    metadata: Metadata
    peer: str
    # Seconds the caller gives the call; None when it set no deadline.
    timeout: float | None
    # The TLS peer's properties (mTLS identities); read only when the auth mode asks.
    auth_context: Callable[[], AuthContext] = _no_auth_context


class Series:
    """One method's labels and metric series on one transport, built on its first call."""

    def __init__(self, metrics: ServerMetrics, transport: str, kind: str, path: str) -> None:
        self.kind = kind
        self.path = path
        self.service, _, self.method = path.lstrip("/").partition("/")
        self._labels = (kind, self.service, self.method, transport)
        self.started = metrics.started.labels(*self._labels)
        self.handling_seconds = metrics.handling_seconds.labels(*self._labels)
        self._handled = metrics.handled
        self._handled_by_code: dict[str, Any] = {}

    def handled(self, code: str) -> Any:
        """The handled-calls counter of ``code``."""
        counter = self._handled_by_code.get(code)
        if counter is None:
            counter = self._handled.labels(*self._labels, code)
            self._handled_by_code[code] = counter
        return counter


class ActiveCall:
    """A call inside the pipeline: what the transport reads from it and tells it."""

    def __init__(self, pipeline: CallPipeline, arrival: Arrival, request_id: str) -> None:
        self._pipeline = pipeline
        self.arrival = arrival
        self.request_id = request_id
        self.rpc = arrival.path.rpartition("/")[2]
        # The status the caller got, as a gRPC code name; set by the transport where it knows
        # better than the pipeline (an abort, a cancellation), else read from how the call ended.
        self.code: str | None = None
        self.caller: identity.Caller | None = None
        self.bounds: CallBounds | None = None
        # Fields the transport adds to the access-log line (HTTP's status).
        self.log_fields: dict[str, Any] = {}

    def cancel(self) -> None:
        """The caller went away: roll back the call's database work now."""
        if self.bounds is not None and not self.bounds.cancelled:
            self.bounds.cancel()
            # Told from the transport's thread or loop, outside the call's context: the
            # request id is named here.
            log.info(
                "the caller went away; its call's work is rolled back",
                extra={logs.FIELDS: {"request_id": self.request_id}},
            )

    def identify(self) -> identity.Caller:
        """Who the caller is; Unauthenticated when nobody the server knows."""
        access = self._pipeline.access
        self.caller = (
            identity.UNAUTHENTICATED
            if access is None
            else access.caller(self.arrival.metadata, self.arrival.auth_context)
        )
        return self.caller

    @contextmanager
    def authorized(self, request: object, rpc: str | None = None) -> Iterator[None]:
        """Run the enclosed work as the identified caller, once the access rules of ``rpc`` (by
        default the call's own; an MLflow route calls several RPCs) allow ``request``;
        PermissionDenied (or the store's NOT_FOUND, later) when they do not."""
        rpc = rpc or self.rpc
        access = self._pipeline.access
        if access is None or not self.arrival.path.startswith(f"/{SERVICE_NAME}/"):
            # Health and reflection stay open: meshes and load balancers probe them without
            # credentials.
            yield
            return
        caller = self.caller if self.caller is not None else self.identify()
        if not access.checks(rpc):
            # Without authentication every caller is the store's default admin: nothing to do.
            yield
            return
        with access.serving(rpc, request, caller):
            yield

    def streamed(self, messages: Iterator[T]) -> Generator[T, None, None]:
        """``messages``, ended by Unauthenticated once the caller's credentials stop holding:
        a watch outlives its credentials by at most a second (the next heartbeat, when idle).
        Closing this closes ``messages`` at once, in the same context, rather than leave their
        cleanup (a watch slot, the caller's context) to the garbage collector."""
        try:
            checked = time.monotonic()
            for message in messages:
                if time.monotonic() - checked >= STREAM_RECHECK_SECONDS:
                    self.identify()
                    checked = time.monotonic()
                yield message
        finally:
            # A generator has close(); a handler may return any iterator.
            close = getattr(messages, "close", None)
            if close is not None:
                close()


class CallPipeline:
    """The steps of ``calls``, shared by every transport of one server."""

    def __init__(self, metrics: ServerMetrics, max_deadline: float, access: Access | None) -> None:
        # None serves no ModelRegistryService (bench/echo.py): no call needs a caller then.
        self.access = access
        self._metrics = metrics
        self._max_deadline = max_deadline
        # Per (transport, kind, path): the same labels and series for every call, so built on a
        # method's first call only.
        self._series: dict[tuple[str, str, str], Series] = {}

    def deadline(self, timeout: float | None) -> float:
        """The seconds a call gets: what the caller asked for, capped by --max-deadline."""
        return self._max_deadline if timeout is None else min(timeout, self._max_deadline)

    @contextmanager
    def call(self, arrival: Arrival) -> Iterator[ActiveCall]:
        """Serve the enclosed call; see the module's docstring for the steps."""
        series = self._series_of(arrival)
        request_id = _request_id(arrival.metadata)
        active = ActiveCall(self, arrival, request_id)
        token = logs.request_id.set(request_id)
        series.started.inc()
        started = time.perf_counter()
        failed = False
        try:
            with tracing.server_span(series.service, series.method, arrival.metadata):
                try:
                    if arrival.kind == "server_stream":
                        # A WatchEvents stream lives as long as its caller wants: --max-deadline
                        # does not cut it. Each of its reads is a short transaction bounded by
                        # the database timeout, and it stops once the caller is gone.
                        yield active
                    else:
                        with call_bounds(self.deadline(arrival.timeout)) as bounds:
                            active.bounds = bounds
                            yield active
                except RegistryError as error:
                    active.code = active.code or status_code_of(error).name
                    raise
                except BaseException:
                    failed = True
                    raise
                finally:
                    self._record(active, series, failed, started)
        finally:
            logs.request_id.reset(token)

    def _series_of(self, arrival: Arrival) -> Series:
        key = (arrival.transport, arrival.kind, arrival.path)
        series = self._series.get(key)
        if series is None:
            series = Series(self._metrics, arrival.transport, arrival.kind, arrival.path)
            self._series[key] = series
        return series

    def _record(self, active: ActiveCall, series: Series, failed: bool, started: float) -> None:
        seconds = time.perf_counter() - started
        # An exception that is no domain error is a bug: INTERNAL, as gRPC's adapter answers it.
        code = active.code or ("INTERNAL" if failed else "OK")
        series.handled(code).inc()
        series.handling_seconds.observe(seconds)
        fields: dict[str, Any] = {
            "method": series.path,
            "transport": active.arrival.transport,
            "code": code,
            "duration_ms": round(seconds * 1000, 3),
            "peer": active.arrival.peer,
            **active.log_fields,
        }
        # The authenticated user: a token's user or a client certificate's name; with mTLS
        # but no --auth, the name on the certificate the transport verified.
        if active.caller is not None and active.caller.user_id:
            fields["identity"] = active.caller.user_id
        else:
            names: Any = active.arrival.auth_context().get("x509_common_name")
            if names:
                fields["identity"] = next(iter(names)).decode()
        access_log.info("%s %s", series.path, code, extra={logs.FIELDS: fields})


def _request_id(metadata: Sequence[tuple[str, str | bytes]]) -> str:
    for key, value in metadata:
        if key == REQUEST_ID and value and isinstance(value, str):
            return value
    return uuid.uuid4().hex
