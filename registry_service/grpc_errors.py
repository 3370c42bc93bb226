"""The one place where domain errors become gRPC statuses, and statuses become domain errors; and
the gRPC adapter of the context-free service methods (``grpc_servicer``), which does the former.

Every status carries a google.rpc.ErrorInfo detail: ``reason`` is MLflow's error code and the
``field`` metadata names the request field at fault, so clients can act on errors without
parsing messages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from registry_service.errors import (
    Aborted,
    AlreadyExists,
    Cancelled,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OutOfRange,
    PermissionDenied,
    RegistryError,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)

ERROR_DOMAIN = "modelregistry.v1"
# A status message travels twice in the trailers (grpc-message, percent-encoded, and inside
# grpc-status-details-bin), and clients refuse trailers beyond 8 to 16 KiB. Messages quote the
# offending input, which may be far longer, so they are cut to this many UTF-8 bytes.
MAX_MESSAGE_BYTES = 1024

log = logging.getLogger(__name__)

_CODE_OF_ERROR: dict[type[RegistryError], grpc.StatusCode] = {
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    Aborted: grpc.StatusCode.ABORTED,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    OutOfRange: grpc.StatusCode.OUT_OF_RANGE,
    DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    Cancelled: grpc.StatusCode.CANCELLED,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
}
_ERROR_OF_CODE = {code: error for error, code in _CODE_OF_ERROR.items()}


def status_code_of(error: RegistryError) -> grpc.StatusCode:
    for error_type in type(error).__mro__:
        if error_type in _CODE_OF_ERROR:
            return _CODE_OF_ERROR[error_type]
    return grpc.StatusCode.INTERNAL


def _bounded(message: str) -> str:
    encoded = message.encode()
    if len(encoded) <= MAX_MESSAGE_BYTES:
        return message
    ellipsis = "…"
    kept = encoded[: MAX_MESSAGE_BYTES - len(ellipsis.encode())]
    return kept.decode(errors="ignore") + ellipsis


def to_status(error: RegistryError) -> grpc.Status:
    code = status_code_of(error)
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN)
    if error.field:
        info.metadata["field"] = error.field
    detail = any_pb2.Any()
    detail.Pack(info)
    status: grpc.Status = rpc_status.to_status(
        status_pb2.Status(code=code.value[0], message=_bounded(error.message), details=[detail])
    )
    return status


def from_rpc_error(error: grpc.RpcError) -> RegistryError:
    """The domain error a failed call stands for, with its gRPC code and ErrorInfo reason."""
    code = error.code()
    message = error.details() or code.name
    reason: str | None = None
    field: str | None = None
    status = rpc_status.from_call(error)
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
                field = info.metadata.get("field")
    error_type = _ERROR_OF_CODE.get(code, RegistryError)
    return error_type(message, field=field, code=code, reason=reason or code.name)


INTERNAL: grpc.Status = rpc_status.to_status(
    status_pb2.Status(code=code_pb2.INTERNAL, message="internal error")
)


def abort_with_status(context: grpc.ServicerContext, status: grpc.Status) -> None:
    # What abort_with_status does, spelled out because grpcio-testing's context lacks
    # abort_with_status.
    context.set_trailing_metadata(status.trailing_metadata)
    context.abort(status.code, status.details)


def tolerant_parser(message_class: type[Message]) -> Callable[[bytes], Any]:
    """A request deserializer that hands bytes it cannot parse (bad UTF-8 in a string field,
    truncated or garbled messages) to the behavior as an InvalidArgument for ``unary_behavior`` to
    raise: grpc answers a deserializer's exception with INTERNAL, and bad input is not a bug."""

    def parse(data: bytes) -> Message | InvalidArgument:
        try:
            return message_class.FromString(data)
        except DecodeError as error:
            return InvalidArgument(
                f"the request is not a valid {message_class.DESCRIPTOR.full_name} message: {error}"
            )

    return parse


def unary_behavior(method: Callable[[Any], Message]) -> Callable[[Any, grpc.ServicerContext], Any]:
    """gRPC's behavior for the context-free service ``method``: a domain error aborts the call
    with its status, and anything unexpected aborts with INTERNAL (logged with its traceback)
    instead of UNKNOWN. A request that ``tolerant_parser`` could not parse arrives as its
    InvalidArgument and is answered as such."""

    def behavior(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            if isinstance(request, InvalidArgument):
                raise request
            return method(request)
        except RegistryError as error:
            abort_with_status(context, to_status(error))
        except Exception:
            log.exception("unexpected error in %s", method.__name__)
            abort_with_status(context, INTERNAL)
        raise AssertionError("context.abort returned")  # pragma: no cover

    return behavior


def stream_behavior(
    method: Callable[[Any, Callable[[], bool]], Iterator[Message]],
) -> Callable[[Any, grpc.ServicerContext], Iterator[Any]]:
    """``unary_behavior`` for a server-streaming method, which streams while the caller is
    there: a domain error raised while the stream runs (before the first message, or later)
    ends it with its status."""

    def behavior(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            if isinstance(request, InvalidArgument):
                raise request
            yield from method(request, context.is_active)
        except RegistryError as error:
            abort_with_status(context, to_status(error))
        except Exception:
            log.exception("unexpected error in %s", method.__name__)
            abort_with_status(context, INTERNAL)

    return behavior


def grpc_servicer(service: object, descriptor: ServiceDescriptor) -> Any:
    """An object with gRPC's behavior for each method of ``descriptor``, made from ``service``'s
    context-free methods of the same names: what ``grpc_testing`` and the server's handlers
    take."""
    behaviors = {
        method.name: (stream_behavior if method.server_streaming else unary_behavior)(
            getattr(service, method.name)
        )
        for method in descriptor.methods
    }
    return SimpleNamespace(**behaviors)
