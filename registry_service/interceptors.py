"""The gRPC side of the call pipeline (``calls``): the server interceptor every call passes through.

It hands the call to the pipeline with what gRPC tells of it (metadata, deadline, peer, TLS
identities), cancels the call's database work when gRPC reports the caller gone, answers a
refusal of the pipeline (authentication, permission) with its status, and returns the request id
in the trailing metadata.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, cast

import grpc

from registry_service import grpc_errors
from registry_service.auth import AuthContext
from registry_service.calls import REQUEST_ID, ActiveCall, Arrival, CallPipeline
from registry_service.contract import SERVICE_NAME
from registry_service.errors import PermissionDenied, RegistryError

Serving = Callable[[Any, grpc.ServicerContext], AbstractContextManager[ActiveCall]]


class CallInterceptor(grpc.ServerInterceptor):
    def __init__(self, pipeline: CallPipeline) -> None:
        self._pipeline = pipeline
        # Per method path: its wrapped handler. The service's handlers never change once it
        # serves, and wrapping one per call was a measurable part of a point read's CPU.
        self._handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        path: str = details.method
        wrapped = self._handlers.get(path)
        if wrapped is None:
            handler = continuation(details)
            if handler is None:
                # Not kept: the paths of methods nobody serves are the callers' to invent.
                return None
            wrapped = self._handlers[path] = self._wrapped(handler, path)
        return wrapped

    def _wrapped(
        self, handler: grpc.RpcMethodHandler[Any, Any], path: str
    ) -> grpc.RpcMethodHandler[Any, Any]:
        kind = _call_type(handler)
        pipeline = self._pipeline

        @contextmanager
        def serving(request: Any, context: grpc.ServicerContext) -> Iterator[ActiveCall]:
            remaining = context.time_remaining()
            arrival = Arrival(
                transport="grpc",
                path=path,
                kind=kind,
                metadata=tuple(context.invocation_metadata() or ()),
                peer=context.peer(),
                # Without a deadline gRPC reports centuries remaining; the cap applies.
                timeout=remaining,
                auth_context=cast(Callable[[], AuthContext], context.auth_context),
            )
            with pipeline.call(arrival) as active:
                failed = True
                try:
                    with (
                        _cancelled_with_caller(active, context),
                        _refused_with_status(context),
                        active.authorized(request),
                    ):
                        yield active
                    failed = False
                finally:
                    # An exception no abort answered reaches the caller as UNKNOWN.
                    active.code = _outcome(context, "UNKNOWN" if failed else "OK")
                    context.set_trailing_metadata(
                        (*(context.trailing_metadata() or ()), (REQUEST_ID, active.request_id))
                    )

        return _observed(handler, path, serving)


@contextmanager
def _cancelled_with_caller(active: ActiveCall, context: grpc.ServicerContext) -> Iterator[None]:
    """Cancel the call's database work when gRPC ends the call before its behavior returned:
    the caller cancelled or its deadline passed."""
    if active.bounds is None:
        # A stream: it reads ``context.is_active`` itself.
        yield
        return
    # A plain flag, read on gRPC's thread: nothing waits on it, and a threading.Event per call
    # was a measurable part of every call.
    finished = False

    def ended() -> None:
        if not finished:
            active.cancel()

    if not context.add_callback(ended):
        ended()
    try:
        yield
    finally:
        finished = True


@contextmanager
def _refused_with_status(context: grpc.ServicerContext) -> Iterator[None]:
    """A domain error the pipeline raised (authentication, permission) aborts with its status;
    the service's own errors are mapped by its behavior (``grpc_errors``) and arrive as aborts."""
    try:
        yield
    except RegistryError as error:
        grpc_errors.abort_with_status(context, grpc_errors.to_status(error))


def _outcome(context: grpc.ServicerContext, ended: str) -> str:
    """The status the caller gets (or got, if it went away first); ``ended`` when the call set
    none."""
    if not context.is_active():
        expired = context.time_remaining() == 0
        return "DEADLINE_EXCEEDED" if expired else "CANCELLED"
    # The server's context has code() (what abort or set_code set); the stubs lack it.
    status: grpc.StatusCode | None = cast(Any, context).code()
    if status is not None:
        return str(status.name)
    return ended


def _call_type(handler: grpc.RpcMethodHandler[Any, Any]) -> str:
    """go-grpc-prometheus's grpc_type label."""
    if handler.request_streaming:
        return "bidi_stream" if handler.response_streaming else "client_stream"
    return "server_stream" if handler.response_streaming else "unary"


def _observed(
    handler: grpc.RpcMethodHandler[Any, Any], path: str, serving: Serving
) -> grpc.RpcMethodHandler[Any, Any]:
    """``handler`` with its behavior run inside ``serving(request, context)``."""
    behavior: Any = (
        handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream
    )
    if getattr(behavior, "experimental_non_blocking", False):
        # Health Watch streams answer from a callback and hold no thread while they wait; they
        # stay as they are rather than tie up a thread each for as long as they are open.
        return handler

    if handler.request_streaming and path.startswith(f"/{SERVICE_NAME}/"):
        # A client or bidirectional stream has no single request to authorize: closed until
        # someone decides how to check it.
        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
            with serving(request, context) as active:
                raise PermissionDenied(
                    f"{active.rpc} streams requests, which no access rule covers"
                )

    elif handler.response_streaming:

        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
            with serving(request, context) as active:
                yield from active.streamed(behavior(request, context))

    else:

        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
            with serving(request, context):
                return behavior(request, context)

    return rehandled(handler, wrapped)


def rehandled(
    handler: grpc.RpcMethodHandler[Any, Any], behavior: Any
) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler of ``handler``'s kind (unary or streaming each way) and (de)serializers that
    runs ``behavior`` instead."""
    make = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }[handler.request_streaming, handler.response_streaming]
    return make(
        behavior,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
