"""How RegistryClient's channel calls the service: round_robin over every address and retries
on UNAVAILABLE with exponential backoff.

Reads are retried by gRPC itself, through the channel's service config. A mutation is retried
only when its request carries an idempotency key (a non-empty ``request_id`` field), since only
then can the server tell a repeat from a new request; the service config names methods, not
requests, so those retries are made by ``invoke``, under the same policy.
"""

from __future__ import annotations

import json
import random
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from registry_service.addresses import format_address
from registry_service.contract import SERVICE

T = TypeVar("T")

# Calls that change nothing, so that repeating one is always safe.
READ_METHODS = tuple(
    method.name
    for method in SERVICE.methods
    if method.name.startswith(("Get", "Search", "List")) and not method.server_streaming
)
IDEMPOTENCY_KEY = "request_id"


@dataclass(frozen=True)
class RetryPolicy:
    """gRPC's retry policy: attempt n waits random(0, min(initial * multiplier**(n-1), max))."""

    max_attempts: int = 4
    initial_backoff: float = 0.1
    max_backoff: float = 2.0
    backoff_multiplier: float = 2.0

    def as_service_config(self) -> dict[str, Any]:
        return {
            "maxAttempts": self.max_attempts,
            "initialBackoff": f"{self.initial_backoff}s",
            "maxBackoff": f"{self.max_backoff}s",
            "backoffMultiplier": self.backoff_multiplier,
            "retryableStatusCodes": ["UNAVAILABLE"],
        }


RETRY_POLICY = RetryPolicy()


def service_config(policy: RetryPolicy = RETRY_POLICY) -> str:
    """The channel's service config, as JSON.

    It sets no default deadline ("timeout"): with grpcio 1.85 a service-config timeout makes
    retried calls fail with DEADLINE_EXCEEDED long before it passes, so RegistryClient passes
    its default deadline with every call instead.
    """
    reads = [{"service": SERVICE.full_name, "method": name} for name in READ_METHODS]
    return json.dumps(
        {
            "loadBalancingConfig": [{"round_robin": {}}],
            "methodConfig": [{"name": reads, "retryPolicy": policy.as_service_config()}],
        }
    )


def invoke(method: Callable[..., T], request: Message, timeout: float | None) -> T:
    """``method(request)`` within ``timeout`` seconds; made again on UNAVAILABLE, under the
    retry policy, when the request carries an idempotency key (reads are retried by the
    channel's service config instead)."""

    def attempt(seconds_left: float | None) -> T:
        return method(request, timeout=seconds_left)

    if IDEMPOTENCY_KEY in request.DESCRIPTOR.fields_by_name and getattr(request, IDEMPOTENCY_KEY):
        return _with_retries(attempt, timeout, RETRY_POLICY)
    return attempt(timeout)


def _with_retries(
    call: Callable[[float | None], T], timeout: float | None, policy: RetryPolicy
) -> T:
    deadline = None if timeout is None else time.monotonic() + timeout
    backoff = policy.initial_backoff
    attempt = 1
    while True:
        left = None if deadline is None else max(deadline - time.monotonic(), 0)
        try:
            return call(left)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE or attempt == policy.max_attempts:
                raise
        time.sleep(random.uniform(0, backoff))
        backoff = min(backoff * policy.backoff_multiplier, policy.max_backoff)
        attempt += 1


def static_target(addresses: Sequence[str]) -> str:
    """One gRPC target naming every address (``host:port``, names resolved now), so that
    round_robin spreads calls over all of them: their IPv4 addresses, or their IPv6 addresses
    when none has an IPv4 one (a gRPC target holds one family)."""
    found: dict[int, list[str]] = {socket.AF_INET: [], socket.AF_INET6: []}
    for address in addresses:
        host, separator, port = address.rpartition(":")
        if not separator or not port.isdigit():
            raise ValueError(f"{address!r} is not host:port")
        for family, _, _, _, sockaddr in socket.getaddrinfo(
            host.strip("[]"), int(port), type=socket.SOCK_STREAM
        ):
            spelled = format_address(str(sockaddr[0]), int(sockaddr[1]))
            if family in found and spelled not in found[family]:
                found[family].append(spelled)
    if found[socket.AF_INET]:
        return "ipv4:" + ",".join(found[socket.AF_INET])
    return "ipv6:" + ",".join(found[socket.AF_INET6])
