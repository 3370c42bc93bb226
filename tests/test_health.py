"""grpc.health.v1 on a real server process: overall and per service, following the database."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy.engine import make_url

from .conftest import POSTGRES_URL, SKIP_POSTGRES
from .processes import PATIENCE_S, TcpProxy, health_status, proxied, serving

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
REGISTRY = "modelregistry.v1.ModelRegistryService"


def test_health_is_serving_overall_and_for_the_registry_service(database_url: str) -> None:
    with (
        serving("--port", "0", "--database-url", database_url) as served,
        grpc.insecure_channel(served.address) as channel,
    ):
        assert health_status(channel) == SERVING
        assert health_status(channel, REGISTRY) == SERVING
        with pytest.raises(grpc.RpcError) as caught:
            health_status(channel, "no.such.Service")
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.fixture
def database_behind_proxy(postgres_url: str) -> Iterator[tuple[str, TcpProxy]]:
    if not POSTGRES_URL:
        pytest.skip(SKIP_POSTGRES)
    url = make_url(postgres_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    yield proxied(postgres_url, proxy), proxy
    proxy.down()


def test_health_is_not_serving_while_the_database_is_unreachable_and_recovers(
    database_behind_proxy: tuple[str, TcpProxy],
) -> None:
    url, proxy = database_behind_proxy
    with (
        serving("--port", "0", "--database-url", url, "--health-check-interval", "0.2") as served,
        grpc.insecure_channel(served.address) as channel,
    ):
        stub = health_pb2_grpc.HealthStub(channel)
        overall = stub.Watch(health_pb2.HealthCheckRequest(), timeout=PATIENCE_S * 2)
        registry = stub.Watch(
            health_pb2.HealthCheckRequest(service=REGISTRY), timeout=PATIENCE_S * 2
        )
        assert next(overall).status == SERVING
        assert next(registry).status == SERVING

        proxy.down()
        assert next(overall).status == NOT_SERVING
        assert next(registry).status == NOT_SERVING
        assert health_status(channel) == NOT_SERVING

        proxy.up()
        assert next(overall).status == SERVING
        assert next(registry).status == SERVING
        assert health_status(channel, REGISTRY) == SERVING
        overall.cancel()
        registry.cancel()
    served.wait_for_log(
        lambda line: line["message"].startswith("health NOT_SERVING, the database is unreachable")
    )
