"""`registry-service serve` and `db upgrade` as an operator runs them: real processes."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy
from mlflow import MlflowClient
from sqlalchemy.engine import make_url

from registry_service.client import RegistryClient

from .conftest import POSTGRES_URL, SKIP_POSTGRES

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "registry_service"]
LISTENING = re.compile(r"(?<!http )listening on (\S+):(\d+)")
HTTP_LISTENING = re.compile(r"http listening on (\S+):(\d+)")


@contextmanager
def server_process(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    until: re.Pattern[str] = LISTENING,
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """Start `registry-service serve`; yield the process and the port of the first log line
    matching ``until``. A process still running at the end is killed. HTTP takes a free port
    unless ``env`` or ``args`` say otherwise: its default, 5000, may be taken on a shared
    machine."""
    process = subprocess.Popen(
        [*CLI, "serve", *args],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "REGISTRY_HTTP_PORT": "0", **(env or {})},
        cwd=cwd,
    )
    assert process.stderr is not None
    try:
        port = None
        lines = []
        for line in process.stderr:
            lines.append(line)
            match = until.search(line)
            if match:
                port = int(match.group(2))
                break
        assert port is not None, "server exited before listening:\n" + "".join(lines)
        # Keep draining the log, so that a server writing a lot never blocks on a full pipe.
        threading.Thread(target=process.stderr.read, daemon=True).start()
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@contextmanager
def serving(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    until: re.Pattern[str] = LISTENING,
) -> Iterator[int]:
    """Start `registry-service serve`, yield the port of the first log line matching ``until``,
    then SIGTERM it and expect 0."""
    with server_process(*args, env=env, cwd=cwd, until=until) as (process, port):
        yield port
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def readme_quickstart() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- quickstart -->\s*```python\n(.*?)```", text, re.DOTALL)
    assert match, "README.md has no quickstart block"
    return match.group(1)


def test_serve_logs_its_real_port_and_answers(tmp_path: Path) -> None:
    with (
        serving("--port", "0", "--database-url", f"sqlite:///{tmp_path}/r.db") as port,
        RegistryClient(f"127.0.0.1:{port}") as client,
    ):
        assert client.create_registered_model("m").name == "m"


def test_serve_reads_registry_environment_variables(tmp_path: Path) -> None:
    env = {"REGISTRY_PORT": "0", "REGISTRY_DATABASE_URL": f"sqlite:///{tmp_path}/env.db"}
    with serving(env=env) as port, RegistryClient(f"127.0.0.1:{port}") as client:
        client.create_registered_model("from-env")
    assert (tmp_path / "env.db").exists()


def test_default_database_is_a_sqlite_file_in_the_working_directory(tmp_path: Path) -> None:
    with (
        serving("--port", "0", cwd=tmp_path) as port,
        RegistryClient(f"127.0.0.1:{port}") as client,
    ):
        client.create_registered_model("kept")
    with (
        serving("--port", "0", cwd=tmp_path) as port,
        RegistryClient(f"127.0.0.1:{port}") as client,
    ):
        assert client.get_registered_model("kept").name == "kept"
    assert (tmp_path / "registry.db").exists()


def test_readme_quickstart_runs_against_a_served_registry(tmp_path: Path) -> None:
    code = readme_quickstart()
    assert "127.0.0.1:50051" in code
    with serving("--port", "0", "--database-url", f"sqlite:///{tmp_path}/q.db") as port:
        script = code.replace("127.0.0.1:50051", f"127.0.0.1:{port}")
        for _ in range(2):  # verbatim twice: the quickstart must not assume an empty registry
            result = subprocess.run(
                [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
            )
            assert result.returncode == 0, result.stderr


def test_port_in_use_is_refused_with_a_message(tmp_path: Path) -> None:
    with serving("--port", "0", "--database-url", f"sqlite:///{tmp_path}/a.db") as port:
        result = subprocess.run(
            [*CLI, "serve", "--port", str(port), "--database-url", f"sqlite:///{tmp_path}/b.db"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_serve_answers_the_mlflow_client_over_http_beside_grpc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    database = f"sqlite:///{tmp_path}/r.db"
    with serving("--port", "0", "--database-url", database, until=HTTP_LISTENING) as http_port:
        url = f"http://127.0.0.1:{http_port}"
        MlflowClient(registry_uri=url, tracking_uri=url).create_registered_model("over-http")
    with (
        serving("--port", "0", "--database-url", database) as port,
        RegistryClient(f"127.0.0.1:{port}") as client,
    ):
        assert client.get_registered_model("over-http").name == "over-http"


def test_http_port_in_use_is_refused_with_a_message(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*CLI, "serve", "--port", "0", "--http-port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port} for http" in result.stderr


def test_http_port_minus_one_turns_http_off(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    env = {"REGISTRY_HTTP_PORT": str(port)}  # the flag wins over the variable
    with (
        serving("--port", "0", "--http-port", "-1", env=env, cwd=tmp_path),
        pytest.raises(ConnectionRefusedError),
    ):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_bad_environment_value_is_refused() -> None:
    result = subprocess.run(
        [*CLI, "serve"],
        capture_output=True,
        text=True,
        env={**os.environ, "REGISTRY_PORT": "fifty"},
        timeout=60,
    )
    assert result.returncode == 2
    assert "REGISTRY_PORT" in result.stderr


@pytest.fixture
def empty_postgres_database() -> Iterator[str]:
    if not POSTGRES_URL:
        pytest.skip(SKIP_POSTGRES)
    admin = sqlalchemy.create_engine(
        make_url(POSTGRES_URL).set(drivername="postgresql+psycopg"),
        isolation_level="AUTOCOMMIT",
    )
    name = f"registry_cli_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def test_outdated_postgres_schema_refuses_to_serve_until_upgraded(
    empty_postgres_database: str,
) -> None:
    refused = subprocess.run(
        [*CLI, "serve", "--port", "0", "--database-url", empty_postgres_database],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert "registry-service db upgrade" in refused.stderr

    upgraded = subprocess.run(
        [*CLI, "db", "upgrade", "--database-url", empty_postgres_database],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert upgraded.returncode == 0, upgraded.stderr

    with (
        serving("--port", "0", "--database-url", empty_postgres_database) as port,
        RegistryClient(f"127.0.0.1:{port}") as client,
    ):
        client.create_registered_model("on-postgres")
        assert client.get_registered_model("on-postgres").name == "on-postgres"
