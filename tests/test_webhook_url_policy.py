"""The webhook URL policy judges the addresses a delivery really connects to: every address of
the host, in each IPv6 spelling of an IPv4 address, resolved once per attempt and then connected
to, so that a DNS answer that changes in between (rebinding) reaches nothing the policy refuses,
while the Host header, TLS SNI and certificate check keep the URL's name."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from modelregistry.v1 import webhooks_pb2

from registry_service.client import RegistryClient
from registry_service.config import Settings
from registry_service.errors import InvalidArgument
from registry_service.server import start
from registry_service.store.registry_store import RegistryStore
from registry_service.webhook_addresses import IPAddress
from registry_service.webhooks import Outcome, UrlPolicy, WebhookSender

from .certificates import Authority, Pair
from .test_webhooks import CREATED, LOCAL_WEBHOOKS, settled

# A global address: where a host name resolves "publicly" in these tests.
PUBLIC = "93.184.216.34"
NAME = "hooks.example.test"

# Non-public addresses in IPv6 spellings that Python's is_global alone calls global.
SPELLINGS = {
    "ipv4-compatible": "::127.0.0.1",
    "ipv4-translated": "::ffff:0:127.0.0.1",
    "nat64-loopback": "64:ff9b::127.0.0.1",
    "nat64-metadata": "64:ff9b::169.254.169.254",
    "nat64-local-use": "64:ff9b:1::808:808",
    "6to4-loopback": "2002:7f00:1::",
    "6to4-private": "2002:c0a8:101::",
    "site-local": "fec0::1",
    "global-multicast": "ff0e::1",
    "ipv4-multicast": "239.255.255.250",
}
NON_PUBLIC = {
    **SPELLINGS,
    "ipv4-mapped": "::ffff:127.0.0.1",
    # Teredo: server 8.8.8.8, client 127.0.0.1 (stored XOR 0xffffffff).
    "teredo-client": "2001:0:808:808::80ff:fffe",
    # Teredo: server 10.0.0.1, client 8.8.8.8.
    "teredo-server": "2001:0:a00:1::f7f7:f7f7",
    "ipv6-loopback": "::1",
    "ipv6-unspecified": "::",
    "ipv6-link-local": "fe80::1",
    "unique-local": "fd00::1",
    "loopback": "127.0.0.1",
    "unspecified": "0.0.0.0",
    "private-10": "10.1.2.3",
    "private-172": "172.16.0.1",
    "private-192": "192.168.0.1",
    "link-local": "169.254.169.254",
    "shared": "100.64.0.1",
    "reserved": "240.0.0.1",
    "broadcast": "255.255.255.255",
}


def https_url(host: str) -> str:
    return f"https://[{host}]/a" if ":" in host else f"https://{host}/a"


@dataclass
class Network:
    """The process's DNS and TCP as every layer sees them: each lookup of a name in ``answers``
    takes its next answer (the last one repeats) and is recorded; other names and numeric hosts
    resolve as usual. Every connection is recorded by the host it was asked for, and one to a
    host in ``routes`` goes to the address given there instead."""

    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    routes: dict[str, str] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)
    connections: list[str] = field(default_factory=list)


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> Network:
    fake = Network()
    real_getaddrinfo = socket.getaddrinfo
    real_create_connection = socket.create_connection

    def getaddrinfo(host: bytes | str | None, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in fake.answers:
            return real_getaddrinfo(host, port, *args, **kwargs)
        fake.lookups.append(name)
        answers = fake.answers[name]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return [found for a in answer for found in real_getaddrinfo(a, port, *args, **kwargs)]

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        host, port = address
        fake.connections.append(host)
        return real_create_connection((fake.routes.get(host, host), port), *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    return fake


@dataclass
class Receiver:
    """An endpoint on 127.0.0.1 that answers every POST with 200, recording its Host header and,
    over HTTPS, the server name each handshake asked for (SNI)."""

    port: int = 0
    hosts: list[str] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)


@contextmanager
def receiving(certificate: Pair | None = None) -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            state.hosts.append(self.headers["Host"])
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if certificate is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate.cert, certificate.key)
        context.sni_callback = lambda _socket, name, _context: state.server_names.append(name)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    state.port = server.server_address[1]
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


@pytest.fixture
def tls_receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """An HTTPS receiver whose certificate names localhost and 127.0.0.1 (not NAME), issued by a
    CA the sender trusts through SSL_CERT_FILE."""
    authority = Authority(tmp_path, "webhook-test-ca")
    monkeypatch.setenv("SSL_CERT_FILE", str(authority.cert))
    with receiving(authority.issue("webhook-receiver", server=True)) as state:
        yield state


@dataclass
class Resolver:
    """An injected resolver with fixed answers, counting its lookups."""

    answers: dict[str, list[str]]
    lookups: list[str] = field(default_factory=list)

    def __call__(self, host: str) -> Sequence[IPAddress]:
        self.lookups.append(host)
        return [ipaddress.ip_address(a) for a in self.answers[host]]


def local_sender(resolver: Resolver) -> WebhookSender:
    return WebhookSender(UrlPolicy(frozenset({"http", "https"}), True, resolver), timeout=5)


@pytest.mark.parametrize("address", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_literal_spellings_of_non_public_addresses_are_refused(
    client: RegistryClient, address: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        client.create_webhook(https_url(address), [CREATED])
    assert refused.value.field == "url"
    assert client.list_webhooks() == []


@pytest.mark.parametrize("address", NON_PUBLIC.values(), ids=NON_PUBLIC.keys())
def test_a_host_name_with_any_non_public_address_is_refused(
    client: RegistryClient, network: Network, address: str
) -> None:
    network.answers[NAME] = [[PUBLIC, address]]
    with pytest.raises(InvalidArgument) as refused:
        client.create_webhook(https_url(NAME), [CREATED])
    assert refused.value.field == "url"
    assert str(ipaddress.ip_address(address)) in refused.value.message
    assert client.list_webhooks() == []


def test_update_webhook_refuses_a_host_with_a_private_address(
    client: RegistryClient, network: Network
) -> None:
    # Public, including the NAT64 and 6to4 spellings of a public IPv4 address.
    network.answers[NAME] = [[PUBLIC, "64:ff9b::8.8.8.8", "2002:808:808::"]]
    network.answers["intranet.example.test"] = [["2606:4700::1111", "10.0.0.7"]]
    webhook = client.create_webhook(https_url(NAME), [CREATED])
    with pytest.raises(InvalidArgument) as refused:
        client.update_webhook(webhook.id, url=https_url("intranet.example.test"))
    assert refused.value.field == "url"
    assert "10.0.0.7" in refused.value.message
    assert [w.url for w in client.list_webhooks()] == [https_url(NAME)]


def test_a_host_that_rebinds_to_loopback_after_its_check_is_never_connected_to_there(
    network: Network, receiver: Receiver
) -> None:
    network.answers[NAME] = [[PUBLIC], ["127.0.0.1"]]
    # The public host is the receiver, so that the first delivery is answered.
    network.routes[PUBLIC] = "127.0.0.1"
    sender = WebhookSender(UrlPolicy(frozenset({"http"}), allow_private=False), timeout=5)
    url = f"http://{NAME}:{receiver.port}/hook"
    first = sender.send(url, "", "delivery-1", b"{}")
    second = sender.send(url, "", "delivery-2", b"{}")
    # One lookup per attempt, and the only connection went to the address that was checked.
    assert network.lookups == [NAME, NAME]
    assert network.connections == [PUBLIC]
    assert first == Outcome(200, "")
    assert receiver.hosts == [f"{NAME}:{receiver.port}"]
    assert second.response_code == 0
    assert "127.0.0.1 is a loopback address" in second.error


def test_a_delivery_connects_to_the_resolved_address_and_names_the_host(
    store: RegistryStore, network: Network, receiver: Receiver
) -> None:
    network.answers[NAME] = [["127.0.0.1"]]
    running = start(Settings(port=0, http_port=-1, **LOCAL_WEBHOOKS), store=store)  # type: ignore[arg-type]
    try:
        with RegistryClient(f"127.0.0.1:{running.port}") as client:
            webhook = client.create_webhook(f"http://{NAME}:{receiver.port}/hook", [CREATED])
            client.create_registered_model("fraud")
            client.create_model_version("fraud", "s3://b/1")
            [delivery] = settled(client, webhook.id, 1)
    finally:
        running.stop(None)
    assert delivery.status == webhooks_pb2.DELIVERY_STATUS_SUCCEEDED
    assert receiver.hosts == [f"{NAME}:{receiver.port}"]
    assert network.lookups == [NAME]
    assert network.connections == ["127.0.0.1"]


def test_a_delivery_tries_the_next_checked_address_when_one_refuses_the_connection(
    receiver: Receiver,
) -> None:
    # Nothing listens on 127.0.0.2: the receiver is bound to 127.0.0.1 alone.
    resolver = Resolver({NAME: ["127.0.0.2", "127.0.0.1"]})
    outcome = local_sender(resolver).send(f"http://{NAME}:{receiver.port}/", "", "d", b"{}")
    assert outcome == Outcome(200, "")
    assert resolver.lookups == [NAME]
    assert receiver.hosts == [f"{NAME}:{receiver.port}"]


def test_https_to_a_resolved_address_sends_the_name_as_sni_and_host(
    tls_receiver: Receiver,
) -> None:
    resolver = Resolver({"localhost": ["127.0.0.1"]})
    url = f"https://localhost:{tls_receiver.port}/hook"
    assert local_sender(resolver).send(url, "", "d", b"{}") == Outcome(200, "")
    assert resolver.lookups == ["localhost"]
    assert tls_receiver.server_names == ["localhost"]
    assert tls_receiver.hosts == [f"localhost:{tls_receiver.port}"]


def test_https_verifies_the_certificate_against_the_name_not_the_address(
    tls_receiver: Receiver,
) -> None:
    # The certificate is valid for 127.0.0.1, the address connected to, but not for NAME.
    resolver = Resolver({NAME: ["127.0.0.1"]})
    outcome = local_sender(resolver).send(f"https://{NAME}:{tls_receiver.port}/", "", "d", b"{}")
    assert outcome.response_code == 0
    assert "CERTIFICATE_VERIFY_FAILED" in outcome.error, outcome.error
    assert tls_receiver.server_names == [NAME]
    assert tls_receiver.hosts == []
