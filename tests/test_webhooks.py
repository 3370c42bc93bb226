"""Webhooks: a real HTTP receiver on 127.0.0.1 verifies MLflow-style signatures and counts
deliveries; retries, the delivery log, a server killed during retries, URL policy, secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import pytest
from modelregistry.v1 import events_pb2, webhooks_pb2

from registry_service.client import RegistryClient
from registry_service.config import Settings
from registry_service.errors import InvalidArgument
from registry_service.server import RunningServer, start
from registry_service.store.registry_store import RegistryStore

from .processes import PATIENCE_S, serving

SECRET = "receiver-shared-secret"
CREATED = events_pb2.EVENT_TYPE_MODEL_VERSION_CREATED
ALIAS_CREATED = events_pb2.EVENT_TYPE_MODEL_VERSION_ALIAS_CREATED


@dataclass
class Delivery:
    delivery_id: str
    body: dict[str, Any]
    verified: bool
    answered: int


@dataclass
class Receiver:
    """An HTTP endpoint that checks each POST's signature as an MLflow receiver would and
    answers with ``failures`` first (one status per request), then 200."""

    url: str = ""
    failures: list[int] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def succeeded(self) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if d.answered == 200]

    def wait_for(self, done: Callable[[Receiver], bool]) -> None:
        deadline = time.monotonic() + PATIENCE_S
        while not done(self):
            assert time.monotonic() < deadline, f"deliveries so far: {self.deliveries}"
            time.sleep(0.02)


def verify(headers: Any, body: bytes) -> bool:
    delivery_id = headers["X-MLflow-Delivery-Id"]
    timestamp = headers["X-MLflow-Timestamp"]
    version, _, signature = headers["X-MLflow-Signature"].partition(",")
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(SECRET.encode(), signed, hashlib.sha256).digest())
    return version == "v1" and hmac.compare_digest(signature.encode(), expected)


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A Receiver listening on 127.0.0.1; each answer's body is "received <delivery id>"."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            delivery_id = self.headers["X-MLflow-Delivery-Id"]
            with state.lock:
                status = state.failures.pop(0) if state.failures else 200
                state.deliveries.append(
                    Delivery(delivery_id, json.loads(body), verify(self.headers, body), status)
                )
            answer = f"received {delivery_id}".encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as state:
        yield state


def settled(
    client: RegistryClient, webhook_id: str, count: int
) -> list[webhooks_pb2.WebhookDelivery]:
    """The delivery log once ``count`` deliveries are no longer pending: a receiver sees a POST
    a moment before the server records its answer."""
    deadline = time.monotonic() + PATIENCE_S
    while True:
        log = client.list_webhook_deliveries(webhook_id)
        done = [d for d in log if d.status != webhooks_pb2.DELIVERY_STATUS_PENDING]
        if len(done) == count:
            return log
        assert time.monotonic() < deadline, log
        time.sleep(0.02)


LOCAL_WEBHOOKS = {
    "webhook_schemes": "https,http",
    "webhook_allow_private": True,
    "webhook_poll_interval": 0.05,
    "webhook_retry_backoff": 0.05,
}


@pytest.fixture
def delivering(store: RegistryStore) -> Iterator[RunningServer]:
    """A server delivering webhooks to local addresses, quickly."""
    running = start(
        Settings(port=0, http_port=-1, webhook_max_attempts=3, **LOCAL_WEBHOOKS),  # type: ignore[arg-type]
        store=store,
    )
    yield running
    running.stop(None)


@pytest.fixture
def hooks(delivering: RunningServer) -> Iterator[RegistryClient]:
    with RegistryClient(f"127.0.0.1:{delivering.port}") as client:
        yield client


def test_deliveries_are_signed_like_mlflow_and_counted_once_each(
    hooks: RegistryClient, receiver: Receiver
) -> None:
    webhook = hooks.create_webhook(receiver.url, [CREATED, ALIAS_CREATED], SECRET)
    hooks.create_registered_model("fraud")
    for number in range(1, 4):
        hooks.create_model_version("fraud", f"s3://b/{number}", run_id=f"r{number}")
    hooks.set_registered_model_alias("fraud", "champion", 3)
    hooks.set_registered_model_tag("fraud", "team", "risk")  # not subscribed
    receiver.wait_for(lambda r: len(r.succeeded()) == 4)
    got = receiver.succeeded()
    assert all(d.verified for d in got)
    assert len({d.delivery_id for d in got}) == 4
    bodies = sorted((d.body for d in got), key=lambda b: b["sequence"])
    assert [(b["entity"], b["action"]) for b in bodies] == [("model_version", "created")] * 3 + [
        ("model_version_alias", "created")
    ]
    assert {"name": "fraud", "version": "1", "source": "s3://b/1"}.items() <= bodies[0][
        "data"
    ].items()
    assert bodies[0]["data"]["run_id"] == "r1"
    assert bodies[3]["data"]["alias"] == "champion"
    log = settled(hooks, webhook.id, 4)
    assert {d.status for d in log} == {webhooks_pb2.DELIVERY_STATUS_SUCCEEDED}
    assert all([a.response_code for a in d.attempts] == [200] for d in log)


def test_a_failing_endpoint_is_retried_and_every_attempt_is_logged(
    hooks: RegistryClient, receiver: Receiver
) -> None:
    receiver.failures = [500, 503]
    webhook = hooks.create_webhook(receiver.url, [CREATED], SECRET)
    hooks.create_registered_model("fraud")
    hooks.create_model_version("fraud", "s3://b/1")
    receiver.wait_for(lambda r: len(r.succeeded()) == 1)
    # Every attempt carried the same delivery id, so the receiver can drop repeats.
    assert len({d.delivery_id for d in receiver.deliveries}) == 1
    [delivery] = settled(hooks, webhook.id, 1)
    assert delivery.status == webhooks_pb2.DELIVERY_STATUS_SUCCEEDED
    assert [a.response_code for a in delivery.attempts] == [500, 503, 200]
    assert "HTTP 500" in delivery.attempts[0].error
    assert delivery.attempts[2].error == ""


def test_a_delivery_that_keeps_failing_is_marked_failed_after_the_last_attempt(
    hooks: RegistryClient, receiver: Receiver
) -> None:
    receiver.failures = [500] * 10
    webhook = hooks.create_webhook(receiver.url, [CREATED], SECRET)
    hooks.create_registered_model("fraud")
    hooks.create_model_version("fraud", "s3://b/1")

    def failed() -> list[webhooks_pb2.WebhookDelivery]:
        return hooks.list_webhook_deliveries(webhook.id, webhooks_pb2.DELIVERY_STATUS_FAILED)

    receiver.wait_for(lambda r: bool(failed()))
    [delivery] = failed()
    assert len(delivery.attempts) == 3  # --webhook-max-attempts
    assert len(receiver.deliveries) == 3


def test_disabled_webhooks_and_unsubscribed_events_are_not_delivered(
    hooks: RegistryClient, receiver: Receiver
) -> None:
    hooks.create_webhook(receiver.url, [CREATED], SECRET, enabled=False)
    enabled = hooks.create_webhook(receiver.url, [ALIAS_CREATED], SECRET)
    hooks.create_registered_model("fraud")
    hooks.create_model_version("fraud", "s3://b/1")
    hooks.set_registered_model_alias("fraud", "champion", 1)
    receiver.wait_for(lambda r: len(r.succeeded()) == 1)
    assert receiver.succeeded()[0].body["action"] == "created"
    assert receiver.succeeded()[0].body["entity"] == "model_version_alias"
    assert [d.webhook_id for d in hooks.list_webhook_deliveries()] == [enabled.id]


def test_a_webhook_gets_the_events_after_its_creation_not_those_before_any_webhook_existed(
    hooks: RegistryClient, receiver: Receiver, delivering: RunningServer
) -> None:
    hooks.create_registered_model("fraud")
    hooks.create_model_version("fraud", "s3://b/1")
    # With no webhook to deliver to, the fan-out passes these events without reading them.
    deadline = time.monotonic() + PATIENCE_S
    with delivering.store.engine.connect() as connection:
        while (
            connection.exec_driver_sql("SELECT last_sequence FROM webhook_cursor").scalar_one() < 2
        ):
            assert time.monotonic() < deadline, "the fan-out never passed the first events"
            connection.rollback()
            time.sleep(0.02)
    webhook = hooks.create_webhook(receiver.url, [CREATED], SECRET)
    hooks.create_model_version("fraud", "s3://b/2")
    receiver.wait_for(lambda r: len(r.succeeded()) == 1)
    time.sleep(0.3)  # several fan-out turns: nothing more arrives
    [delivery] = receiver.succeeded()
    assert delivery.body["data"]["version"] == "2", delivery.body
    assert len(hooks.list_webhook_deliveries(webhook.id)) == 1


def test_test_webhook_posts_a_signed_test_delivery_now(
    hooks: RegistryClient, receiver: Receiver
) -> None:
    webhook = hooks.create_webhook(receiver.url, [CREATED], SECRET)
    result = hooks.test_webhook(webhook.id)
    assert (result.success, result.response_code, result.error) == (True, 200, "")
    [delivery] = receiver.deliveries
    assert delivery.verified
    assert (delivery.body["entity"], delivery.body["action"]) == ("webhook", "test")
    receiver.failures = [502]
    failed = hooks.test_webhook(webhook.id)
    assert (failed.success, failed.response_code) == (False, 502)


def test_webhook_administration_never_returns_the_secret(hooks: RegistryClient) -> None:
    created = hooks.create_webhook(
        "https://hooks.example.com/a", [CREATED], SECRET, description="deploys"
    )
    assert created.has_secret and "secret" not in created.DESCRIPTOR.fields_by_name
    [listed] = hooks.list_webhooks()
    assert listed == created
    updated = hooks.update_webhook(created.id, enabled=False, event_types=[ALIAS_CREATED])
    assert (updated.enabled, list(updated.event_types), updated.url) == (
        False,
        [ALIAS_CREATED],
        "https://hooks.example.com/a",
    )
    assert updated.has_secret  # not in the mask: kept
    assert not hooks.update_webhook(created.id, secret="").has_secret
    hooks.delete_webhook(created.id)
    assert hooks.list_webhooks() == []


def test_a_retried_create_makes_one_webhook(hooks: RegistryClient) -> None:
    request_id = "6a1f0a3e-2b9c-4f7e-8d21-0c5b9e7a4f13"
    first = hooks.create_webhook("https://hooks.example.com/a", [CREATED], request_id=request_id)
    again = hooks.create_webhook("https://hooks.example.com/a", [CREATED], request_id=request_id)
    assert again == first
    assert len(hooks.list_webhooks()) == 1


@pytest.mark.parametrize(
    "url",
    ["http://hooks.example.com/a", "https://127.0.0.1/a", "https://10.1.2.3/a", "ftp://x/a"],
)
def test_by_default_only_https_to_public_addresses_is_accepted(
    client: RegistryClient, url: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        client.create_webhook(url, [CREATED])
    assert refused.value.field == "url"
    assert client.list_webhooks() == []


def test_update_webhook_refuses_unknown_mask_fields(hooks: RegistryClient) -> None:
    webhook = hooks.create_webhook("https://hooks.example.com/a", [CREATED])
    request = webhooks_pb2.UpdateWebhookRequest(id=webhook.id)
    request.update_mask.paths.append("owner")
    with pytest.raises(grpc.RpcError) as refused:
        hooks._stub.UpdateWebhook(request, timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "update_mask" in str(refused.value.details())


def test_every_event_is_delivered_after_the_server_is_killed_during_retries(
    database_url: str, receiver: Receiver
) -> None:
    flags = [
        "--database-url", database_url, "--port", "0",
        "--webhook-schemes", "https,http", "--webhook-allow-private",
        "--webhook-poll-interval", "0.05", "--webhook-retry-backoff", "0.05",
        "--webhook-max-attempts", "1000", "--webhook-timeout", "1",
    ]  # fmt: skip
    receiver.failures = [503] * 10_000
    with serving(*flags) as first, RegistryClient(first.address) as client:
        client.create_webhook(receiver.url, [CREATED], SECRET)
        client.create_registered_model("fraud")
        for number in range(1, 6):
            client.create_model_version("fraud", f"s3://b/{number}")
        # Every delivery has failed at least once: they are all in their retries.
        receiver.wait_for(
            lambda r: {d.body["data"]["version"] for d in r.deliveries} == {"1", "2", "3", "4", "5"}
        )
        first.process.kill()
        first.process.wait()
    with receiver.lock:
        receiver.failures.clear()
    with serving(*flags):
        receiver.wait_for(
            lambda r: (
                {d.body["data"]["version"] for d in r.succeeded()} == {"1", "2", "3", "4", "5"}
            )
        )
    assert all(d.verified for d in receiver.deliveries)
