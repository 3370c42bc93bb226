"""Real `registry-service serve` processes for tests, and ways to make their database slow or
unreachable from outside."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import grpc
import sqlalchemy
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "registry_service"]
LISTENING = re.compile(r"(?<!http )listening on (\S+):(\d+)")
HTTP_LISTENING = re.compile(r"http listening on (\S+):(\d+)")
METRICS = re.compile(r"metrics on http://(\S+):(\d+)/metrics")
# Seconds a test waits for something the server should do soon; far above what it takes.
PATIENCE_S = 30.0
# Seconds `mlflow server` may take to migrate its database and answer /health.
MLFLOW_START_TIMEOUT = 180

Log = dict[str, Any]


class Served:
    """A running server process, its ports, and the JSON lines it logged so far."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.port = 0
        self.metrics_port: int | None = None
        self.http_port: int | None = None
        self._lines: list[str] = []
        self._changed = threading.Condition()
        assert process.stderr is not None
        stderr = process.stderr
        for line in stderr:
            self._lines.append(line)
            if match := METRICS.search(line):
                self.metrics_port = int(match.group(2))
            if match := HTTP_LISTENING.search(line):
                self.http_port = int(match.group(2))
            if match := LISTENING.search(line):
                self.port = int(match.group(2))
                break
        assert self.port, "server exited before listening:\n" + "".join(self._lines)
        # Read on, or a server that logs a lot would block on a full pipe.
        threading.Thread(target=self._read, args=(stderr,), daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _read(self, stderr: Any) -> None:
        for line in stderr:
            with self._changed:
                self._lines.append(line)
                self._changed.notify_all()

    def text(self) -> str:
        with self._changed:
            return "".join(self._lines)

    def logs(self) -> list[Log]:
        with self._changed:
            lines = list(self._lines)
        return [json.loads(line) for line in lines if line.startswith("{")]

    def access_logs(self, method: str | None = None) -> list[Log]:
        return [
            line
            for line in self.logs()
            if line["logger"] == "registry_service.access"
            and (method is None or line["method"].endswith("/" + method))
        ]

    def wait_for_log(self, matches: Callable[[Log], bool], patience: float = PATIENCE_S) -> Log:
        deadline = time.monotonic() + patience
        with self._changed:
            while True:
                for line in self.logs():
                    if matches(line):
                        return line
                left = deadline - time.monotonic()
                assert left > 0, "no such log line:\n" + "".join(self._lines)
                # Woken by this server's new lines, and now and then for a predicate that
                # looks at other servers' lines too.
                self._changed.wait(min(left, 0.1))

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples of ``name`` whose labels include ``labels``."""
        assert self.metrics_port is not None, "started without --metrics-port"
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )

    def wait_for_metric(self, name: str, value: float, **labels: str) -> None:
        deadline = time.monotonic() + PATIENCE_S
        while self.metric(name, **labels) != value:
            assert time.monotonic() < deadline, f"{name}{labels} never became {value}"
            time.sleep(0.05)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=PATIENCE_S)


def start_serving(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT, command: list[str] = CLI
) -> Served:
    process = subprocess.Popen(
        [*command, "serve", *args],
        stderr=subprocess.PIPE,
        text=True,
        # Both transports take free ports unless told otherwise: their defaults (50051, 5000)
        # may be taken, by another test's server or by something else on the machine.
        env={**os.environ, "REGISTRY_PORT": "0", "REGISTRY_HTTP_PORT": "0", **(env or {})},
        cwd=cwd,
    )
    try:
        return Served(process)
    except BaseException:
        process.kill()
        process.wait()
        raise


@contextmanager
def serving(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT, command: list[str] = CLI
) -> Iterator[Served]:
    """Start `registry-service serve`, yield it once it listens, then SIGTERM it and expect 0
    (unless the test already ended it)."""
    served = start_serving(*args, env=env, cwd=cwd, command=command)
    try:
        yield served
    finally:
        if served.process.poll() is None:
            assert served.stop() == 0, served.text()


def health_status(channel: grpc.Channel, service: str = "") -> Any:
    response = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=service), timeout=10
    )
    return response.status


@contextmanager
def writes_blocked(database_url: str) -> Iterator[None]:
    """Hold, from outside the server, a lock that every registry write waits for; reads go on."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        connection = sqlite3.connect(str(url.database), isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
        return
    engine = sqlalchemy.create_engine(url.set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as locker, locker.begin():
            locker.exec_driver_sql("LOCK TABLE registered_models IN EXCLUSIVE MODE")
            yield
    finally:
        engine.dispose()


class TcpProxy:
    """Forwards a local port to ``target``; ``down()`` drops every connection and refuses new
    ones, as an unreachable database would; ``up()`` serves again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self._target = target
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.port = 0
        self.up()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        assert self._listener is not None
        self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._listener = None
        with self._lock:
            for connection in self._connections:
                with suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            self._connections.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self._target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def proxied(database_url: str, proxy: TcpProxy) -> str:
    """``database_url`` reached through ``proxy``."""
    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    return url.render_as_string(hide_password=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def mlflow_serving(
    folder: Path, *options: str, port: int = 0, env: dict[str, str] | None = None
) -> Iterator[str]:
    """A real MLflow tracking server, the oracle for compatibility: its model registry in a fresh
    sqlite file under ``folder``, artifacts served from there too, with more ``options`` of
    `mlflow server` and more ``env`` variables, on ``port`` (a free one when 0). Yields its
    URL."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(Path(sys.executable).with_name("mlflow")), "server",
        "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination", str(folder / "artifacts"), "--serve-artifacts",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1", *options,
    ]  # fmt: skip
    with (folder / "server.log").open("w") as log:
        process = subprocess.Popen(
            command,
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own session, so that stopping it stops the web workers it starts too; no job
            # runner, whose worker pool would only compete with the tests for two cores.
            start_new_session=True,
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(env or {})},
        )
        try:
            deadline = time.monotonic() + MLFLOW_START_TIMEOUT
            while not _answers_health(url):
                assert process.poll() is None and time.monotonic() < deadline, (
                    "mlflow server did not start:\n" + (folder / "server.log").read_text()
                )
                time.sleep(0.5)
            yield url
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=PATIENCE_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _answers_health(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
