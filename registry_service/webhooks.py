"""Webhook delivery: a worker thread in each server process turns new events into deliveries and
POSTs them, signed the way MLflow signs its webhooks, so that receivers written for MLflow verify
ours unchanged:

    X-MLflow-Delivery-Id: <delivery id, the same on every attempt>
    X-MLflow-Timestamp:   <Unix seconds of this attempt>
    X-MLflow-Signature:   v1,<base64 of HMAC-SHA256(secret, "<delivery id>.<timestamp>.<body>")>

Delivery is at least once: every attempt and its result is stored before the next is planned, a
failure is retried with exponential backoff, and the state lives in the database, so deliveries
survive a restart and are shared by the replicas (see store/webhook_rows.py). A sender that dies
between sending and recording sends again after its lease ends: receivers drop duplicates by the
delivery id.

Each attempt resolves the URL's host once, checks every address it has (UrlPolicy), and connects
to one of those same addresses: a DNS answer that changes between the check and the connection
(rebinding) cannot send a delivery to an address the policy refuses.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from registry_service import webhook_addresses
from registry_service.background import BackgroundLoop
from registry_service.config import Settings
from registry_service.domain import Event, EventType
from registry_service.errors import InvalidArgument
from registry_service.store.webhook_store import WebhookStore
from registry_service.webhook_addresses import IPAddress, Resolver

log = logging.getLogger(__name__)

# Events turned into deliveries per transaction.
FANOUT_BATCH = 500
# Seconds a claim outlasts the request timeout. Deliveries are claimed one at a time, so a
# sender that dies holds up only the one it was sending, for no longer than this beyond it.
LEASE_MARGIN_S = 5.0
# The longest wait between attempts.
MAX_BACKOFF_S = 3600.0
# Kept of an endpoint's error answer in the delivery log.
MAX_ERROR_CHARS = 500
# Returned of an endpoint's answer to a test POST: enough to show what it said, bounded so that
# a chatty endpoint cannot make the response outgrow a gRPC message.
MAX_TEST_BODY_CHARS = 65536
# The data of a test POST that stands for an event, per entity: MLflow's example values where
# MLflow has the event, so that a receiver written for MLflow takes it as MLflow's test.
_EXAMPLE_VALUES: dict[str, dict[str, Any]] = {
    "registered_model": {
        "description": "An example registered model",
        "tags": {"example_key": "example_value"},
    },
    "model_version": {
        "source": "models:/123",
        "run_id": "abcd1234abcd5678",
        "description": "An example model version",
        "tags": {"example_key": "example_value"},
    },
    "registered_model_tag": {"key": "example_key", "value": "example_value"},
    "model_version_tag": {"key": "example_key", "value": "example_value"},
    "model_version_alias": {"alias": "example_alias"},
    "transition_request": {
        "id": 1,
        "stage": "Production",
        "comment": "An example transition request",
        "state": "PENDING",
        "user_id": "example_user",
    },
}


def signature(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """MLflow's X-MLflow-Signature value."""
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def payload(event: Event) -> bytes:
    """The POST body: MLflow's envelope (entity, action, timestamp, data) around the event. Data
    holds MLflow's payload fields (name, version as a string, and what changed), and the feed's
    sequence and actor beside them."""
    entity, _, action = event.event_type.value.partition(".")
    values = event.after or event.before
    data: dict[str, Any] = {"name": event.model_name, **values}
    if event.version:
        data["version"] = str(event.version)
    body = {
        "entity": entity,
        "action": action,
        "timestamp": datetime.fromtimestamp(event.timestamp / 1000, UTC).isoformat(),
        "sequence": event.sequence,
        "actor": event.actor,
        "data": data,
        "before": event.before,
    }
    return json.dumps(body, sort_keys=True).encode()


@dataclass(frozen=True)
class Destination:
    """Where a delivery goes: its URL, and the checked addresses of the URL's host, one of which
    the delivery connects to."""

    url: httpx.URL
    addresses: Sequence[IPAddress]


@dataclass(frozen=True)
class UrlPolicy:
    """Which URLs webhooks may be sent to: the allowed schemes, and unless ``allow_private``,
    only hosts whose every address is public (see webhook_addresses.py)."""

    schemes: frozenset[str]
    allow_private: bool
    resolve: Resolver = webhook_addresses.resolve

    def check(self, url: str) -> None:
        """Refuse, naming the field, a URL whose scheme is not allowed or whose host is or
        resolves to a non-public address: early feedback, since the host may resolve
        differently by the time of a delivery, which checks again."""
        parsed = self._parse(url)
        if self.allow_private:
            return
        try:
            addresses = self._addresses(parsed)
        except OSError:
            # A name not resolvable today may be tomorrow; each delivery resolves it again.
            return
        self._refuse_non_public(url, addresses)

    def destination(self, url: str) -> Destination:
        """The URL and the addresses its host has now, all checked: a delivery connects to one
        of these, so that what is checked is what is connected to. Raises InvalidArgument for a
        refused URL, OSError for a host that does not resolve."""
        parsed = self._parse(url)
        addresses = self._addresses(parsed)
        if not self.allow_private:
            self._refuse_non_public(url, addresses)
        return Destination(parsed, addresses)

    def _parse(self, url: str) -> httpx.URL:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as error:
            raise InvalidArgument(f"url {url[:200]!r} is not a URL: {error}", field="url") from None
        if parsed.scheme not in self.schemes:
            raise InvalidArgument(
                f"url must use {' or '.join(sorted(self.schemes))}, got {url[:200]!r}",
                field="url",
            )
        if not parsed.raw_host:
            raise InvalidArgument(f"url {url[:200]!r} names no host", field="url")
        return parsed

    def _addresses(self, url: httpx.URL) -> Sequence[IPAddress]:
        host = url.raw_host.decode("ascii")
        with contextlib.suppress(ValueError):
            # An address literal is its own answer: no lookup.
            return [ipaddress.ip_address(host)]
        addresses = self.resolve(host)
        if not addresses:
            raise OSError(f"{host} has no addresses")
        return addresses

    def _refuse_non_public(self, url: str, addresses: Sequence[IPAddress]) -> None:
        for address in addresses:
            why = webhook_addresses.refusal(address)
            if why:
                raise InvalidArgument(
                    f"url {url[:200]!r} is refused: {why}, and this server sends webhooks to "
                    "public addresses only",
                    field="url",
                )


@dataclass(frozen=True)
class Outcome:
    """What one POST got: the status code (0 without an answer), an error ("" on success) and
    the start of the answer's body."""

    response_code: int
    error: str
    response_body: str = ""


class WebhookSender:
    """Signs and POSTs deliveries; also serves TestWebhook."""

    def __init__(self, policy: UrlPolicy, timeout: float) -> None:
        self.policy = policy
        self._timeout = timeout

    def send(self, url: str, secret: str, delivery_id: str, body: bytes) -> Outcome:
        try:
            destination = self.policy.destination(url)
        except InvalidArgument as error:
            return Outcome(0, error.message)
        except OSError as error:
            return Outcome(0, f"cannot resolve the host of {url[:200]!r}: {error}")
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "registry-service-webhooks",
            "X-MLflow-Delivery-Id": delivery_id,
            "X-MLflow-Timestamp": timestamp,
        }
        if secret:
            headers["X-MLflow-Signature"] = signature(secret, delivery_id, timestamp, body)
        try:
            response = self._post(destination, headers, body)
        except httpx.HTTPError as error:
            return Outcome(0, f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS])
        answer = response.text[:MAX_TEST_BODY_CHARS]
        if 200 <= response.status_code < 300:
            return Outcome(response.status_code, "", answer)
        return Outcome(
            response.status_code,
            f"HTTP {response.status_code}: {answer[:MAX_ERROR_CHARS]}",
            answer,
        )

    def _post(
        self, destination: Destination, headers: dict[str, str], body: bytes
    ) -> httpx.Response:
        """POST to the first of the destination's addresses that takes a connection, as the
        URL's host: the request names no host that could be looked up again (and answer
        differently), while the Host header, TLS SNI and certificate check keep the URL's."""
        url = destination.url
        name = {"sni_hostname": url.raw_host.decode("ascii")}
        headers = {**headers, "Host": url.netloc.decode("ascii")}
        # An explicit transport: environment proxies would connect wherever they liked, not
        # to the checked address. The transport still reads SSL_CERT_FILE and SSL_CERT_DIR.
        # Redirects are not followed: they could lead to an address the policy refuses.
        with httpx.Client(transport=httpx.HTTPTransport(), timeout=self._timeout) as client:

            def post(address: IPAddress) -> httpx.Response:
                pinned = url.copy_with(host=str(address))
                return client.post(pinned, content=body, headers=headers, extensions=name)

            *others, last = destination.addresses
            for address in others:
                # As any client of a multi-homed host, try its next address when one refuses.
                with contextlib.suppress(httpx.ConnectError):
                    return post(address)
            return post(last)

    def test(self, url: str, secret: str, event_type: EventType | None = None) -> Outcome:
        """One POST now: a delivery of ``event_type`` with example data, or without one the
        registry's own test body."""
        if event_type is None:
            body = json.dumps(
                {
                    "entity": "webhook",
                    "action": "test",
                    "timestamp": datetime.now(UTC).isoformat(),
                    "data": {"message": "a test delivery from the model registry"},
                }
            ).encode()
        else:
            body = payload(example_event(event_type, round(time.time() * 1000)))
        return self.send(url, secret, str(uuid.uuid4()), body)


def example_event(event_type: EventType, timestamp: int) -> Event:
    """An event of ``event_type`` on model "example_model" (version 1 for a version's events),
    with sequence 0, which no committed event has."""
    entity, _, action = event_type.value.partition(".")
    values = _EXAMPLE_VALUES[entity]
    # A deletion's values are what was there before it; anything else's what is there after.
    before, after = (values, {}) if action == "deleted" else ({}, values)
    version = 1 if entity.startswith("model_version") else 0
    return Event(0, timestamp, "", event_type, "example_model", version, before, after)


class WebhookWorker(BackgroundLoop):
    """The delivery loop of one server process: fan out new events, then send what is due."""

    def __init__(self, store: WebhookStore, sender: WebhookSender, settings: Settings) -> None:
        super().__init__("webhooks", settings.webhook_poll_interval)
        self._store = store
        self._sender = sender
        self._max_attempts = settings.webhook_max_attempts
        self._backoff = settings.webhook_retry_backoff
        self._lease_ms = round((settings.webhook_timeout + LEASE_MARGIN_S) * 1000)

    def run_once(self) -> int:
        """One turn: queue deliveries for new events, then send the due ones; returns how many
        were sent."""
        while self._store.fan_out_events(FANOUT_BATCH) == FANOUT_BATCH:
            pass
        sent = 0
        while not self.stopped.is_set():
            claimed = self._store.claim_deliveries(self._lease_ms, 1)
            if not claimed:
                break
            [delivery] = claimed
            outcome = self._sender.send(
                delivery.url, delivery.secret, delivery.id, payload(delivery.event)
            )
            self._store.record_delivery_attempt(
                delivery.id,
                outcome.response_code,
                outcome.error,
                None if not outcome.error else self._retry_at(delivery.attempts + 1),
            )
            sent += 1
        return sent

    def _retry_at(self, attempts: int) -> int | None:
        """When to try again after ``attempts`` failed attempts; None once they are used up."""
        if attempts >= self._max_attempts:
            return None
        wait: float = min(self._backoff * 2.0 ** (attempts - 1), MAX_BACKOFF_S)
        return self._store.now() + round(wait * 1000)
