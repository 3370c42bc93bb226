"""`registry-service serve` and `db upgrade` as an operator runs them: real processes."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy
from mlflow import MlflowClient
from sqlalchemy.engine import make_url

from registry_service.client import RegistryClient
from registry_service.store import schema
from registry_service.store.engine import make_engine

from .conftest import POSTGRES_URL, SKIP_POSTGRES
from .processes import CLI, ROOT, serving, start_serving

# A schema older than this code's: the one before the newest migration.
OLDER_REVISION = "0006"


def readme_quickstart() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- quickstart -->\s*```python\n(.*?)```", text, re.DOTALL)
    assert match, "README.md has no quickstart block"
    return match.group(1)


def test_serve_logs_its_real_port_and_answers(tmp_path: Path) -> None:
    with (
        serving("--port", "0", "--database-url", f"sqlite:///{tmp_path}/r.db") as served,
        RegistryClient(served.address) as client,
    ):
        assert client.create_registered_model("m").name == "m"


def test_serve_reads_registry_environment_variables(tmp_path: Path) -> None:
    env = {"REGISTRY_PORT": "0", "REGISTRY_DATABASE_URL": f"sqlite:///{tmp_path}/env.db"}
    with serving(env=env) as served, RegistryClient(served.address) as client:
        client.create_registered_model("from-env")
    assert (tmp_path / "env.db").exists()


def test_default_database_is_a_sqlite_file_in_the_working_directory(tmp_path: Path) -> None:
    with (
        serving("--port", "0", cwd=tmp_path) as served,
        RegistryClient(served.address) as client,
    ):
        client.create_registered_model("kept")
    with (
        serving("--port", "0", cwd=tmp_path) as served,
        RegistryClient(served.address) as client,
    ):
        assert client.get_registered_model("kept").name == "kept"
    assert (tmp_path / "registry.db").exists()


def test_readme_quickstart_runs_against_a_served_registry(tmp_path: Path) -> None:
    code = readme_quickstart()
    assert "127.0.0.1:50051" in code
    with serving("--port", "0", "--database-url", f"sqlite:///{tmp_path}/q.db") as served:
        script = code.replace("127.0.0.1:50051", served.address)
        for _ in range(2):  # verbatim twice: the quickstart must not assume an empty registry
            result = subprocess.run(
                [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
            )
            assert result.returncode == 0, result.stderr


def test_port_in_use_is_refused_with_a_message(tmp_path: Path) -> None:
    with serving("--port", "0", "--database-url", f"sqlite:///{tmp_path}/a.db") as served:
        port = served.port
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
    with serving("--port", "0", "--database-url", database) as served:
        url = f"http://127.0.0.1:{served.http_port}"
        MlflowClient(registry_uri=url, tracking_uri=url).create_registered_model("over-http")
    with (
        serving("--port", "0", "--database-url", database) as served,
        RegistryClient(served.address) as client,
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


@pytest.mark.parametrize(
    ("flags", "environment", "message"),
    [
        ((), {"REGISTRY_PORT": "fifty"}, "REGISTRY_PORT='fifty' is not a valid int"),
        ((), {"REGISTRY_REFLECTION": "maybe"}, "REGISTRY_REFLECTION='maybe' is not true or false"),
        (("--workers", "0"), {}, "--workers (REGISTRY_WORKERS) must be above 0"),
        ((), {"REGISTRY_MAX_DEADLINE": "-1"}, "--max-deadline (REGISTRY_MAX_DEADLINE) must be"),
        (("--grace", "soon"), {}, "argument --grace: 'soon' is not a valid float"),
    ],
)
def test_bad_setting_is_refused_with_a_message_naming_it(
    flags: tuple[str, ...], environment: dict[str, str], message: str
) -> None:
    result = subprocess.run(
        [*CLI, "serve", *flags],
        capture_output=True,
        text=True,
        env={**os.environ, **environment},
        timeout=60,
    )
    assert result.returncode == 2
    assert message in result.stderr


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


def refused_to_serve(database_url: str) -> subprocess.CompletedProcess[str]:
    """`serve` on ``database_url``, which must stop it with exit status 2 and a message."""
    result = subprocess.run(
        [*CLI, "serve", "--port", "0", "--database-url", database_url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    return result


def test_serve_creates_the_schema_on_an_empty_postgres_database(
    empty_postgres_database: str,
) -> None:
    with (
        serving("--port", "0", "--database-url", empty_postgres_database) as served,
        RegistryClient(served.address) as client,
    ):
        client.create_registered_model("first-run")
        client.create_model_version("first-run", "s3://bucket/model")
        assert client.get_registered_model("first-run").name == "first-run"
    engine = make_engine(empty_postgres_database)
    try:
        assert schema.current_revision(engine) == schema.head_revision()
    finally:
        engine.dispose()


def test_replicas_starting_together_on_an_empty_postgres_database_create_it_once(
    empty_postgres_database: str,
) -> None:
    flags = ("--port", "0", "--database-url", empty_postgres_database)
    with ThreadPoolExecutor(2) as pool:
        replicas = list(pool.map(lambda _: start_serving(*flags), range(2)))
    try:
        for number, replica in enumerate(replicas):
            with RegistryClient(replica.address) as client:
                client.create_registered_model(f"from-replica-{number}")
        with RegistryClient(replicas[0].address) as client:
            assert len(client.search_registered_models()) == 2
    finally:
        for replica in replicas:
            assert replica.stop() == 0, replica.text()


def test_outdated_postgres_schema_refuses_to_serve_until_upgraded(
    empty_postgres_database: str,
) -> None:
    engine = make_engine(empty_postgres_database)
    try:
        schema.upgrade(engine, OLDER_REVISION)
    finally:
        engine.dispose()
    refused = refused_to_serve(empty_postgres_database)
    assert f"schema revision {OLDER_REVISION}" in refused.stderr
    assert "registry-service db upgrade" in refused.stderr

    upgraded = subprocess.run(
        [*CLI, "db", "upgrade", "--database-url", empty_postgres_database],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert upgraded.returncode == 0, upgraded.stderr

    with (
        serving("--port", "0", "--database-url", empty_postgres_database) as served,
        RegistryClient(served.address) as client,
    ):
        client.create_registered_model("on-postgres")
        assert client.get_registered_model("on-postgres").name == "on-postgres"


def test_postgres_database_holding_other_tables_refuses_to_serve(
    empty_postgres_database: str,
) -> None:
    engine = make_engine(empty_postgres_database)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE someone_elses (id integer)")
    finally:
        engine.dispose()
    refused = refused_to_serve(empty_postgres_database)
    assert "no registry schema" in refused.stderr
    assert "registry-service db upgrade" in refused.stderr
