"""Malformed and malicious requests through a real server on both backends: every RPC answers with
a canonical client-error status (never UNKNOWN or INTERNAL), stays up, and changes nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import pytest

from registry_service.server import RunningServer

from .test_grpc_integration import INVALID, SERVICE, TIMEOUT, Stub, expect_error, pb, snapshot

# gRPC's default limit on a received message, which the server keeps (README "Limits").
MAX_REQUEST_BYTES = 4 * 1024 * 1024

RawMethod = Callable[..., bytes]


@pytest.fixture
def channel(server: RunningServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as opened:
        yield opened


def raw_method(channel: grpc.Channel, name: str) -> RawMethod:
    """An RPC of the service that sends and receives bytes as they are, unchecked."""
    method: RawMethod = channel.unary_unary(f"/{SERVICE.full_name}/{name}")
    return method


# Bytes no protobuf parser accepts as a request message.
UNDECODABLE = {
    # Field 1 (a string in every request) holding bytes that are not UTF-8.
    "bad-utf8": b"\x0a\x02\xff\xfe",
    # A length-delimited field claiming more bytes than the message has.
    "truncated": b"\x0a\x10abc",
    # A varint that never ends.
    "endless-varint": b"\x10" + b"\xff" * 11,
    # Wire type 7 does not exist.
    "bad-wire-type": b"\x0f",
}


def test_undecodable_bytes_are_invalid_argument_on_every_rpc(
    stub: Stub, channel: grpc.Channel
) -> None:
    stub.CreateRegisteredModel(pb.CreateRegisteredModelRequest(name="kept"), timeout=TIMEOUT)
    before = snapshot(stub)
    for method in SERVICE.methods:
        for payload in UNDECODABLE.values():
            error = expect_error(raw_method(channel, method.name), payload, INVALID, None)
            assert method.input_type.full_name in error.details()
    assert snapshot(stub) == before


def test_a_request_over_the_message_limit_is_resource_exhausted_and_the_server_stays_up(
    stub: Stub,
) -> None:
    before = snapshot(stub)
    request = pb.CreateRegisteredModelRequest(name="big", description="d" * MAX_REQUEST_BYTES)
    with pytest.raises(grpc.RpcError) as caught:
        stub.CreateRegisteredModel(request, timeout=TIMEOUT)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert snapshot(stub) == before
    stub.CreateRegisteredModel(pb.CreateRegisteredModelRequest(name="after"), timeout=TIMEOUT)
