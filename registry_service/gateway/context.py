"""Calls into the servicer for requests that arrived over HTTP, with the context gRPC would give.

The servicer reports a failure by aborting its context with a status whose trailing metadata
carries the ErrorInfo detail. This context turns the abort into an exception holding that status,
and ``grpc_errors`` turns the status back into the domain error, so an HTTP caller gets exactly
the error a gRPC caller gets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import grpc

from registry_service.errors import RegistryError
from registry_service.grpc_errors import from_rpc_error
from registry_service.identity import Caller

Metadata = tuple[tuple[str, str | bytes], ...]
Request = TypeVar("Request")
Response = TypeVar("Response")


@dataclass(frozen=True)
class HttpCall:
    """One HTTP request as a route's handler gets it on the executor: the authenticated caller,
    and the request's parts with its body already read within the limits."""

    caller: Caller
    path_params: Mapping[str, str]
    query: list[tuple[str, str]]
    body: bytes
    peer: str


# A route's work on the executor: from the request to the JSON object it is answered with;
# failures are raised as domain errors.
Handler = Callable[[HttpCall], dict[str, Any]]


class Aborted(grpc.RpcError):
    """The status a servicer method ended its call with, shaped like a failed gRPC call."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing_metadata: Metadata) -> None:
        super().__init__(details)
        self._code = code
        self._details = details
        self._trailing_metadata = trailing_metadata

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    # The stub declares objects with .key and .value; grpc, and rpc_status.from_call that reads
    # them, use (key, value) pairs.
    def trailing_metadata(self) -> Metadata:  # type: ignore[override]
        return self._trailing_metadata


class GatewayContext(grpc.ServicerContext):
    """A ServicerContext for one HTTP request: no deadline, no metadata, no peer identity."""

    def __init__(self, peer: str) -> None:
        self._peer = peer
        self._code = grpc.StatusCode.OK
        self._details = ""
        self._trailing_metadata: Metadata = ()

    def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        raise Aborted(code, details, self._trailing_metadata)

    def abort_with_status(self, status: grpc.Status) -> NoReturn:
        self._trailing_metadata = status.trailing_metadata
        self.abort(status.code, status.details)

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def set_trailing_metadata(self, trailing_metadata: Metadata) -> None:
        self._trailing_metadata = tuple(trailing_metadata)

    def raise_if_failed(self) -> None:
        """Report a status set without aborting, which gRPC would send instead of the response."""
        if self._code != grpc.StatusCode.OK:
            self.abort(self._code, self._details)

    def invocation_metadata(self) -> Metadata:
        return ()

    def send_initial_metadata(self, initial_metadata: Metadata) -> None:
        pass

    def peer(self) -> str:
        return self._peer

    def peer_identities(self) -> Iterable[bytes] | None:
        return None

    def peer_identity_key(self) -> str | None:
        return None

    def auth_context(self) -> Mapping[str, bytes]:
        return {}

    def is_active(self) -> bool:
        return True

    def time_remaining(self) -> float:
        return math.inf

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Callable[[], None]) -> bool:
        return False


def call_servicer(
    method: Callable[[Request, grpc.ServicerContext], Response], request: Request, peer: str
) -> Response:
    """``method``'s response to ``request``; raises the domain error when the call fails."""
    context = GatewayContext(peer)
    try:
        response = method(request, context)
        context.raise_if_failed()
    except Aborted as aborted:
        error: RegistryError = from_rpc_error(aborted)
        raise error from None
    return response
