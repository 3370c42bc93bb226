"""A real server whose database goes away: calls fail with UNAVAILABLE within the server's own
database timeout (the client's deadline is longer, so a hang would show as DEADLINE_EXCEEDED), and
succeed again once the database is back, without restarting the server.

PostgreSQL is reached through a TCP proxy the test cuts and restores (the shared cluster itself
keeps running); SQLite is locked by another process.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Literal

import grpc
import pytest
from sqlalchemy.engine import make_url

from registry_service.config import Settings
from registry_service.server import RunningServer, start

from .conftest import empty_postgres
from .test_grpc_integration import TIMEOUT, Stub, create_model, create_version, expect_error, pb

UNAVAILABLE = (grpc.StatusCode.UNAVAILABLE, "TEMPORARILY_UNAVAILABLE")
# The server's bound on every wait for the database, in seconds (libpq rounds connect timeouts
# below 2 seconds up to 2). Calls carry a deadline of TIMEOUT, several times longer: a call still
# waiting then is hanging, and fails with DEADLINE_EXCEEDED instead of UNAVAILABLE.
DATABASE_TIMEOUT = 2.0

Mode = Literal["forward", "refuse", "blackhole"]


class TcpProxy:
    """A TCP forwarder from a port on 127.0.0.1 to the database, which a test can cut.

    ``refuse`` closes every connection and each new one at once, as a stopped server does;
    ``blackhole`` closes every connection and leaves each new one unanswered, as an unreachable
    host does; ``forward`` restores service.
    """

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._mode: Mode = "forward"
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def set_mode(self, mode: Mode) -> None:
        with self._lock:
            self._mode = mode
            dropped, self._sockets = self._sockets, set()
        for sock in dropped:
            _close(sock)

    def close(self) -> None:
        self._listener.close()
        self.set_mode("refuse")

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # the listener was closed
                return
            with self._lock:
                mode = self._mode
                if mode != "refuse":
                    self._sockets.add(client)
            if mode == "refuse":
                _close(client)
            elif mode == "forward":
                threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self._target)
        except OSError:
            _close(client)
            return
        with self._lock:
            still_forwarding = client in self._sockets
            if still_forwarding:
                self._sockets.add(upstream)
        if not still_forwarding:
            _close(upstream)
            return
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
    finally:
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    # shutdown wakes a thread blocked in recv on the socket; close alone may not.
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@contextmanager
def serving(database_url: str) -> Iterator[Stub]:
    running: RunningServer = start(
        Settings(port=0, http_port=-1, database_url=database_url, database_timeout=DATABASE_TIMEOUT)
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield Stub(channel)
    finally:
        running.stop(None)


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """A proxy to the session's PostgreSQL database, and the URL that goes through it."""
    empty_postgres(postgres_url)
    url = make_url(postgres_url)
    tcp = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    yield tcp, url.set(host="127.0.0.1", port=tcp.port).render_as_string(hide_password=False)
    tcp.close()


def read(stub: Stub) -> tuple[Callable[..., Any], Any]:
    return stub.GetModelVersion, pb.GetModelVersionRequest(name="m", version=1)


def write(stub: Stub) -> tuple[Callable[..., Any], Any]:
    return stub.CreateModelVersion, pb.CreateModelVersionRequest(name="m", source="s3://b/next")


def call(method_and_request: tuple[Callable[..., Any], Any]) -> Any:
    method, request = method_and_request
    return method(request, timeout=TIMEOUT)


@pytest.mark.parametrize("outage", ["refuse", "blackhole"])
def test_postgres_outage_is_unavailable_and_service_resumes_without_restart(
    proxy: tuple[TcpProxy, str], outage: Mode
) -> None:
    tcp, url = proxy
    with serving(url) as stub:
        create_model(stub, "m")
        create_version(stub, "m", source="s3://b/1")

        tcp.set_mode(outage)
        for method, request in (read(stub), write(stub)):
            error = expect_error(method, request, UNAVAILABLE, None)
            assert "database" in error.details()

        tcp.set_mode("forward")
        # A connection kept for point reads that proved alive within the last second is not
        # pinged (store/engine.py), so the first read after the outage may find it dead: one
        # retryable UNAVAILABLE, as tests/test_connection_checks.py shows. The next one serves.
        try:
            first = call(read(stub))
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.UNAVAILABLE, error
            first = call(read(stub))
        assert first.model_version.source == "s3://b/1"
        assert call(write(stub)).model_version.version == 2


@contextmanager
def sqlite_write_lock_held(path: Path) -> Iterator[None]:
    """Another process holds the database's write lock, as a backup tool or a second server
    writing to the same file would."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys\n"
            f"connection = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
            "connection.execute('BEGIN IMMEDIATE')\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.stdin.close()
        assert holder.wait(timeout=30) == 0


def test_locked_sqlite_fails_queued_writers_with_unavailable_and_resumes(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    # Twice as many writers as the deadline has database timeouts: had they waited for each
    # other's busy timeouts in turn, the last ones would end in DEADLINE_EXCEEDED.
    writers = int(TIMEOUT / DATABASE_TIMEOUT) * 2
    with serving(f"sqlite:///{path}") as stub:
        create_model(stub, "m")
        create_version(stub, "m", source="s3://b/1")

        with sqlite_write_lock_held(path), ThreadPoolExecutor(max_workers=writers) as pool:

            def attempt(_: int) -> grpc.StatusCode:
                try:
                    call(write(stub))
                except grpc.RpcError as error:
                    return error.code()
                return grpc.StatusCode.OK

            codes = list(pool.map(attempt, range(writers)))
            assert codes == [grpc.StatusCode.UNAVAILABLE] * writers
            # WAL readers never wait for the writer: reads go on during the outage.
            assert call(read(stub)).model_version.source == "s3://b/1"

        assert call(write(stub)).model_version.version == 2
