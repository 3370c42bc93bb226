"""RegistryClient's channel policy: deadlines, retries on UNAVAILABLE (reads always, mutations
only with an idempotency key) and round_robin over several replicas."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message
from modelregistry.v1 import registry_service_pb2 as pb
from modelregistry.v1 import registry_service_pb2_grpc
from sqlalchemy.engine import make_url

from registry_service.client import RegistryClient
from registry_service.errors import DeadlineExceeded, Unavailable
from registry_service.retry_policy import RETRY_POLICY, invoke

from .conftest import POSTGRES_URL, SKIP_POSTGRES
from .processes import TcpProxy, proxied, serving, writes_blocked


def test_calls_carry_the_clients_default_deadline(database_url: str) -> None:
    with (
        serving("--port", "0", "--database-url", database_url) as served,
        RegistryClient(served.address, timeout=1) as client,
        writes_blocked(database_url),
        pytest.raises(DeadlineExceeded) as caught,
    ):
        client.create_registered_model("waits")
    assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED


def test_calls_are_spread_round_robin_over_every_address(tmp_path: Path) -> None:
    with (
        serving("--port", "0", "--database-url", f"sqlite:///{tmp_path}/a.db") as first,
        serving("--port", "0", "--database-url", f"sqlite:///{tmp_path}/b.db") as second,
        RegistryClient([first.address, f"localhost:{second.port}"]) as client,
    ):

        def served() -> list[int]:
            return [len(s.access_logs("CreateRegisteredModel")) for s in (first, second)]

        # round_robin picks among the addresses it has connected to: on a loaded machine the
        # second connection may come up only after the first batch, so calls go on in batches
        # (up to 500) until both replicas have answered some.
        for batch in range(25):
            for i in range(20):
                client.create_registered_model(f"m{batch}-{i}")
            first.wait_for_log(lambda _, calls=20 * (batch + 1): sum(served()) == calls)
            if min(served()) > 0:
                break
    assert min(served()) > 0, f"one replica got every call: {served()}"


def test_unavailable_reads_and_keyed_writes_are_retried_and_unkeyed_writes_are_not(
    postgres_url: str,
) -> None:
    if not POSTGRES_URL:
        pytest.skip(SKIP_POSTGRES)
    url = make_url(postgres_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    attempts = RETRY_POLICY.max_attempts
    try:
        with serving("--port", "0", "--database-url", proxied(postgres_url, proxy)) as served:
            proxy.down()  # the server answers, but its database is unreachable: UNAVAILABLE
            with RegistryClient(served.address) as client:
                with pytest.raises(Unavailable):
                    client.get_registered_model("m")
                with pytest.raises(Unavailable):
                    client.create_registered_model("keyed")  # RegistryClient adds a request_id
            with grpc.insecure_channel(served.address) as channel, pytest.raises(grpc.RpcError):
                stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
                invoke(stub.CreateRegisteredModel, pb.CreateRegisteredModelRequest(name="u"), 30)

            def logged(method: str) -> list[str]:
                return [line["code"] for line in served.access_logs(method)]

            # Every attempt was logged before its answer left the server; wait until read.
            served.wait_for_log(
                lambda _: (
                    len(logged("GetRegisteredModel")) >= attempts
                    and len(logged("CreateRegisteredModel")) >= attempts + 1
                )
            )
            reads, writes = logged("GetRegisteredModel"), logged("CreateRegisteredModel")
            proxy.up()
    finally:
        proxy.down()
    assert reads == ["UNAVAILABLE"] * attempts
    assert writes == ["UNAVAILABLE"] * (attempts + 1)  # the keyed write's attempts, then one


# -- mutations with an idempotency key -------------------------------------------------------
# No registry request has a request_id field yet, so these use a request type made here.


def _request_with_key() -> type[Message]:
    file = descriptor_pb2.FileDescriptorProto(
        name="idempotent_test.proto", package="idempotent_test", syntax="proto3"
    )
    message = file.message_type.add(name="CreateRequest")
    message.field.add(
        name="request_id",
        number=1,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("idempotent_test.CreateRequest")
    )


CreateRequest = _request_with_key()
SERVICE = "idempotent_test.Service"


class FlakyServer:
    """A real gRPC server whose one method fails with ``code`` the first ``failures`` times."""

    def __init__(self, failures: int, code: grpc.StatusCode) -> None:
        self.attempts = 0

        def create(request: Message, context: grpc.ServicerContext) -> Message:
            self.attempts += 1
            if self.attempts <= failures:
                context.abort(code, f"attempt {self.attempts} fails")
            return request

        handler = grpc.unary_unary_rpc_method_handler(
            create,
            request_deserializer=CreateRequest.FromString,
            response_serializer=CreateRequest.SerializeToString,
        )
        # One thread: attempts are counted one at a time.
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=1), options=[("grpc.so_reuseport", 0)]
        )
        self.server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler(SERVICE, {"Create": handler})]
        )
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def create(self, request: Message) -> Message:
        """The call as RegistryClient makes it."""
        with grpc.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            method = channel.unary_unary(
                f"/{SERVICE}/Create",
                request_serializer=CreateRequest.SerializeToString,
                response_deserializer=CreateRequest.FromString,
            )
            return invoke(method, request, 30)


@pytest.fixture
def flaky() -> Iterator[Callable[..., FlakyServer]]:
    servers: list[FlakyServer] = []

    def make(failures: int, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE) -> FlakyServer:
        servers.append(FlakyServer(failures, code))
        return servers[-1]

    yield make
    for server in servers:
        server.server.stop(None)


def test_mutation_with_a_request_id_is_retried_until_it_succeeds(
    flaky: Callable[..., FlakyServer],
) -> None:
    server = flaky(failures=2)
    assert server.create(CreateRequest(request_id="key-1")) == CreateRequest(request_id="key-1")
    assert server.attempts == 3


def test_mutation_without_a_request_id_is_tried_once(
    flaky: Callable[..., FlakyServer],
) -> None:
    server = flaky(failures=2)
    with pytest.raises(grpc.RpcError) as caught:
        server.create(CreateRequest())
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert server.attempts == 1


def test_retries_stop_after_the_policys_attempts(flaky: Callable[..., FlakyServer]) -> None:
    server = flaky(failures=100)
    with pytest.raises(grpc.RpcError) as caught:
        server.create(CreateRequest(request_id="key-2"))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert server.attempts == RETRY_POLICY.max_attempts


def test_only_unavailable_is_retried(flaky: Callable[..., FlakyServer]) -> None:
    server = flaky(failures=1, code=grpc.StatusCode.ABORTED)
    with pytest.raises(grpc.RpcError) as caught:
        server.create(CreateRequest(request_id="key-3"))
    assert caught.value.code() == grpc.StatusCode.ABORTED
    assert server.attempts == 1
