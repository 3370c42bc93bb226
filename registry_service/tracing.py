"""OpenTelemetry trace-context propagation, active when the `otel` extra is installed.

A call's W3C ``traceparent``/``tracestate`` metadata becomes the parent of a server span that is
current while the call runs, so spans the process records (with an SDK configured, e.g. by
``opentelemetry-instrument``) join the caller's trace, and log lines carry its trace id. Without
the extra this module does nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

try:
    from opentelemetry import propagate, trace
except ImportError:  # the otel extra is not installed
    propagate = trace = None  # type: ignore[assignment]


@contextmanager
def server_span(
    service: str, method: str, metadata: Sequence[tuple[str, str | bytes]]
) -> Iterator[None]:
    if trace is None or not _may_be_traced(metadata):
        yield
        return
    carrier = {key: value for key, value in metadata if isinstance(value, str)}
    with trace.get_tracer(__name__).start_as_current_span(
        f"{service}/{method}",
        context=propagate.extract(carrier),
        kind=trace.SpanKind.SERVER,
        attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": method},
    ):
        yield


def _may_be_traced(metadata: Sequence[tuple[str, str | bytes]]) -> bool:
    """Whether the call's span would show anywhere: with a tracer SDK configured every call is
    a span, and without one the API's no-op tracer still continues a caller's trace (its ids in
    the call's log lines) when the call carries trace context. Neither, and the span would be
    the invalid one: starting it cost about a tenth of the Python time of a point read."""
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return True
    fields = _fields_read_by(propagate.get_global_textmap())
    return any(key in fields for key, _value in metadata)


@lru_cache(maxsize=4)
def _fields_read_by(propagator: Any) -> frozenset[str]:
    """The metadata keys ``propagator`` extracts from (it builds the set anew on each ask)."""
    return frozenset(propagator.fields)


def current_ids() -> tuple[str, str] | None:
    """The current span's trace id and span id in hex, when there is a valid span."""
    if trace is None:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
