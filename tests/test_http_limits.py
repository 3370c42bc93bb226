"""The HTTP gateway's limits, on the wire of a real server process: no body is read before its
sender is authenticated, none past --max-http-body; requests slower than --http-read-timeout
and connections beyond --max-http-connections are turned away; JSON too deep for the parser, or
not Unicode, is a client error. Requests go over raw sockets, so a test controls what is sent
and when."""

from __future__ import annotations

import http.client
import json
import select
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from registry_service.store.access_store import AccessStore
from registry_service.store.engine import make_engine
from registry_service.store.registry_store import RegistryStore

from .processes import PATIENCE_S, Served, serving
from .test_http_gateway import API

CREATE = f"{API}/registered-models/create"
GET = f"{API}/registered-models/get"
SEARCH = f"{API}/registered-models/search"
MIB = 1024 * 1024
MAX_BODY = MIB
READ_TIMEOUT_S = 1.0
# Seconds between the bytes of a request sent slowly: several fit in --http-read-timeout.
TRICKLE_S = 0.25


@dataclass
class Gateway:
    """A server process with --auth token, its HTTP port, and an admin's token."""

    served: Served
    token: str

    @property
    def port(self) -> int:
        assert self.served.http_port is not None
        return self.served.http_port


@pytest.fixture(scope="module")
def gateway(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    path = tmp_path_factory.mktemp("http-limits") / "registry.db"
    shutil.copy(sqlite_template, path)
    database = f"sqlite:///{path}"
    engine = make_engine(database)
    _, token = AccessStore(RegistryStore(engine)).create_token("root", admin=True)
    engine.dispose()
    with serving(
        *("--port", "0", "--database-url", database, "--auth", "token", "--no-webhooks"),
        *("--max-http-body", str(MAX_BODY), "--http-read-timeout", str(READ_TIMEOUT_S)),
    ) as served:
        yield Gateway(served, token)
        # What the limits turn away is the clients' doing, not the server's: no error is logged.
        assert not [line for line in served.logs() if line["level"] == "ERROR"], served.text()


def head(path: str, token: str | None, length: int | None) -> bytes:
    """A POST's line and headers; a body of unknown ``length`` is sent chunked."""
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    lines.append("Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def post(
    port: int, chunks: Iterable[bytes], *, token: str | None, length: int | None
) -> tuple[int, Any]:
    """POST ``chunks`` to registered-models/create and return the answer's status and JSON.

    The body is sent on a thread of its own while the answer is read, and sent on after it until
    the server closes the connection: the server answers before it has read the body, and a
    client that goes on sending must not make it hold more."""
    with connect(port) as connection:
        connection.sendall(head(CREATE, token, length))

        def send() -> None:
            try:
                for chunk in chunks:
                    framed = chunk if length is not None else b"%x\r\n%s\r\n" % (len(chunk), chunk)
                    connection.sendall(framed)
                if length is None:
                    connection.sendall(b"0\r\n\r\n")
            except OSError:
                pass  # Closed by the server, which has answered.

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        answer = http.client.HTTPResponse(connection)
        answer.begin()
        document = json.loads(answer.read())
        sender.join(PATIENCE_S)
        assert not sender.is_alive(), "the server neither read the body nor closed"
        return answer.status, document


def megabytes(count: int) -> Iterator[bytes]:
    block = b"x" * MIB
    for _ in range(count):
        yield block


def trickle(connection: socket.socket, data: bytes) -> bool:
    """Send ``data`` a byte every TRICKLE_S until the server answers or closes the connection;
    whether all of it went out."""
    for byte in data:
        readable, _, _ = select.select([connection], [], [], TRICKLE_S)
        if readable:
            return False
        connection.sendall(bytes([byte]))
    return True


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=PATIENCE_S)


def received_until_closed(connection: socket.socket) -> bytes:
    """What the server sends until it closes the connection, which it must do within a few
    --http-read-timeout."""
    connection.settimeout(READ_TIMEOUT_S * 5)
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def parsed(raw: bytes) -> tuple[int, Any]:
    """The status and JSON body of one HTTP response."""
    status_line, _, rest = raw.partition(b"\r\n")
    _, _, body = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), json.loads(body)


def memory_kib(pid: int) -> dict[str, int]:
    """The process's resident memory now (VmRSS) and at its highest so far (VmHWM), in KiB."""
    fields = (line.split(":") for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {name: int(value.split()[0]) for name, value in fields if name in ("VmRSS", "VmHWM")}


def test_a_large_post_without_a_valid_token_is_401_before_its_body_is_read(
    gateway: Gateway,
) -> None:
    # 300 MB announced, a few bytes sent: an answer proves the server read no further.
    for token in (None, "mrt_not-a-token"):
        status, error = post(gateway.port, [b'{"name": "'], token=token, length=300_000_000)
        assert (status, error["error_code"]) == (401, "UNAUTHENTICATED")


@pytest.mark.parametrize("length_known", [True, False], ids=["content-length", "chunked"])
def test_a_body_over_max_http_body_is_413_with_an_mlflow_error(
    gateway: Gateway, length_known: bool
) -> None:
    small, big = uuid.uuid4().hex, uuid.uuid4().hex
    body = json.dumps({"name": small}).encode()
    status, created = post(gateway.port, [body], token=gateway.token, length=len(body))
    assert (status, created["registered_model"]["name"]) == (200, small)

    # A well-formed request, one byte over the limit.
    padding = MAX_BODY - len(json.dumps({"name": big, "description": ""})) + 1
    body = json.dumps({"name": big, "description": "x" * padding}).encode()
    assert len(body) == MAX_BODY + 1
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    status, error = post(
        gateway.port, chunks, token=gateway.token, length=len(body) if length_known else None
    )
    assert status == 413
    assert error["error_code"] == "RESOURCE_EXHAUSTED"
    assert f"larger than {MAX_BODY} bytes" in error["message"]
    assert "--max-http-body (REGISTRY_MAX_HTTP_BODY)" in error["message"]

    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=PATIENCE_S)
    connection.request(
        "GET", f"{GET}?name={big}", headers={"Authorization": f"Bearer {gateway.token}"}
    )
    assert connection.getresponse().status == 404
    connection.close()


def test_concurrent_large_uploads_leave_the_server_memory_flat(gateway: Gateway) -> None:
    # Each kind of refusal once first, so that what it allocates once is in the baseline.
    post(gateway.port, megabytes(2), token=None, length=2 * MIB)
    post(gateway.port, megabytes(2), token=gateway.token, length=None)
    pid = gateway.served.process.pid
    before = memory_kib(pid)

    uploads = [(token, length) for token in (None, gateway.token) for length in (200 * MIB, None)]
    answers: list[int] = []

    def upload(token: str | None, length: int | None) -> None:
        answers.append(post(gateway.port, megabytes(200), token=token, length=length)[0])

    threads = [threading.Thread(target=upload, args=upload_args) for upload_args in uploads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = memory_kib(pid)

    assert sorted(answers) == [401, 401, 413, 413]
    # The highest the server's memory ever was, against where it stood before: 800 MiB were
    # offered to it, none of which it may hold.
    assert after["VmHWM"] - before["VmRSS"] < 64 * 1024, (before, after)


@pytest.mark.parametrize(
    "headers",
    [b"", b"POST /api/2.0/mlflow/registered-models/create HTTP/1.1\r\nHost: 127.0.0.1\r\n"],
    ids=["nothing", "a-byte-at-a-time"],
)
def test_a_connection_whose_headers_do_not_arrive_in_time_is_closed(
    gateway: Gateway, headers: bytes
) -> None:
    # Either would otherwise hold the connection for as long as the client liked.
    with connect(gateway.port) as connection:
        sent_all = trickle(connection, headers)
        assert received_until_closed(connection) == b""
    assert not (headers and sent_all)


def test_a_body_that_does_not_arrive_in_time_is_408_and_idle_time_between_requests_is_free(
    gateway: Gateway,
) -> None:
    body = json.dumps({"name": "slow"}).encode()
    with connect(gateway.port) as connection:
        before = json.dumps({"name": "before-the-pause"}).encode()
        connection.sendall(head(CREATE, gateway.token, len(before)) + before)
        answer = http.client.HTTPResponse(connection)
        answer.begin()
        answer.read()
        assert answer.status == 200
        # Longer than --http-read-timeout, shorter than uvicorn's keep-alive timeout (5 s): the
        # deadline counts from a request's first byte, not from the previous answer.
        time.sleep(READ_TIMEOUT_S * 1.5)
        connection.sendall(head(CREATE, gateway.token, len(body)))
        sent_all = trickle(connection, body)
        raw = received_until_closed(connection)
    assert not sent_all
    status, error = parsed(raw)
    assert status == 408
    assert error["error_code"] == "DEADLINE_EXCEEDED"
    assert "--http-read-timeout (REGISTRY_HTTP_READ_TIMEOUT)" in error["message"]


def test_requests_beyond_max_http_connections_are_503(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/r.db"
    with serving(
        "--port", "0", "--database-url", database, "--max-http-connections", "3"
    ) as served:
        assert served.http_port is not None
        port = served.http_port

        def search(connection: http.client.HTTPConnection) -> int:
            connection.request("GET", SEARCH)
            answer = connection.getresponse()
            answer.read()
            return answer.status

        # Kept alive, so each holds its connection.
        held = [http.client.HTTPConnection("127.0.0.1", port, timeout=PATIENCE_S) for _ in range(3)]
        assert [search(connection) for connection in held] == [200, 200, 200]
        one_more = http.client.HTTPConnection("127.0.0.1", port, timeout=PATIENCE_S)
        assert search(one_more) == 503
        one_more.close()

        held.pop().close()
        deadline = time.monotonic() + PATIENCE_S
        while True:
            with_room = http.client.HTTPConnection("127.0.0.1", port, timeout=PATIENCE_S)
            status = search(with_room)
            with_room.close()
            if status == 200:
                break
            # The server learns of the closed connection a moment after the close.
            assert time.monotonic() < deadline, status
            time.sleep(0.05)
        for connection in held:
            connection.close()


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 1000 + b"]" * 1000,
        b'{"a": ' * 1000 + b"1" + b"}" * 1000,
        b'{"name": "deep", "tags": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"name": "\\ud800"}',
    ],
    ids=["arrays", "objects", "in-a-field", "lone-surrogate"],
)
def test_hostile_json_is_400_invalid_parameter_value(gateway: Gateway, body: bytes) -> None:
    status, error = post(gateway.port, [body], token=gateway.token, length=len(body))
    assert (status, error["error_code"]) == (400, "INVALID_PARAMETER_VALUE"), error

    # Many brackets, none deep: the request an honest client sends.
    tags = [{"key": f"k{number}", "value": "[{[{"} for number in range(60)]
    fine = json.dumps({"name": uuid.uuid4().hex, "tags": tags}).encode()
    status, created = post(gateway.port, [fine], token=gateway.token, length=len(fine))
    assert status == 200, created
    assert len(created["registered_model"]["tags"]) == 60
