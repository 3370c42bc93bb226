"""Fixtures: migrated stores on SQLite and PostgreSQL, real servers on port 0, clients."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import sqlalchemy
from modelregistry.v1 import registry_service_pb2 as pb
from modelregistry.v1.registry_service_pb2_grpc import ModelRegistryServiceStub
from sqlalchemy.engine import make_url

from registry_service.client import RegistryClient
from registry_service.config import Settings
from registry_service.server import RunningServer, start
from registry_service.store import schema
from registry_service.store.access_store import AccessStore
from registry_service.store.engine import make_engine
from registry_service.store.registry_store import RegistryStore
from registry_service.store.tables import metadata

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get("REGISTRY_TEST_POSTGRES_URL", "")
SKIP_POSTGRES = "REGISTRY_TEST_POSTGRES_URL is not set: PostgreSQL cases skipped"
BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def googleapis_module() -> Path:
    """protos/buf.yaml's second module, copied from googleapis-common-protos by make."""
    subprocess.run(["make", "-s", "googleapis"], cwd=ROOT, check=True)
    return ROOT / "protos" / "third_party" / "googleapis"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy instead of re-running migrations."""
    path = tmp_path_factory.mktemp("template") / "registry.db"
    engine = make_engine(f"sqlite:///{path}")
    schema.upgrade(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session, dropped at the end."""
    if not POSTGRES_URL:
        pytest.skip(SKIP_POSTGRES)
    admin = sqlalchemy.create_engine(
        make_url(POSTGRES_URL).set(drivername="postgresql+psycopg"),
        isolation_level="AUTOCOMMIT",
    )
    name = f"registry_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    schema.upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def empty_postgres(url: str) -> None:
    engine = make_engine(url)
    tables = ", ".join(table.name for table in metadata.sorted_tables)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        # The single-row counters the migrations seed (see store/outbox.py, webhooks, retention).
        for counter in ("event_counter", "webhook_cursor"):
            connection.exec_driver_sql(f"INSERT INTO {counter} VALUES (1, 0)")
        connection.exec_driver_sql("INSERT INTO event_horizon VALUES (1, 0, 0)")
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "registry.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    empty_postgres(url)
    return url


@pytest.fixture
def store(database_url: str) -> Iterator[RegistryStore]:
    engine = make_engine(database_url)
    yield RegistryStore(engine)
    engine.dispose()


@pytest.fixture
def postgres_store(postgres_url: str) -> Iterator[RegistryStore]:
    """A PostgreSQL store with one pooled connection, holding model "m" with version 1."""
    empty_postgres(postgres_url)
    engine = make_engine(postgres_url, pool_size=1)
    store = RegistryStore(engine)
    store.create_registered_model("m")
    store.create_model_version("m", "s3://bucket/1")
    yield store
    engine.dispose()


@pytest.fixture
def tokens(store: RegistryStore) -> dict[str, str]:
    """Bearer tokens of ``store`` for an admin and two users, alice and mallory (a model's owner
    and someone probing it)."""
    access = AccessStore(store)
    return {
        user: access.create_token(user, admin=user == "admin")[1]
        for user in ("admin", "alice", "mallory")
    }


@pytest.fixture
def stage_warnings_ignored() -> Iterator[None]:
    """Stages are deprecated in MLflow but are part of the registry's contract: the mlflow
    client's FutureWarning about them is noise in tests that use them on purpose."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        yield


@pytest.fixture
def server(store: RegistryStore) -> Iterator[RunningServer]:
    """A real gRPC server on a free port, serving ``store``."""
    # No webhook worker: its background writes would change the rows tests compare.
    running = start(Settings(port=0, http_port=-1, webhooks=False), store=store)
    yield running
    running.stop(None)


@pytest.fixture
def http_server(store: RegistryStore) -> Iterator[RunningServer]:
    """A real server serving ``store`` over gRPC and HTTP/JSON, each on a free port."""
    running = start(Settings(port=0, http_port=0, webhooks=False), store=store)
    yield running
    running.stop(None)


@pytest.fixture
def client(server: RunningServer) -> Iterator[RegistryClient]:
    with RegistryClient(f"127.0.0.1:{server.port}") as registry_client:
        yield registry_client


@pytest.fixture
def stub(server: RunningServer) -> Iterator[ModelRegistryServiceStub]:
    """The generated stub on a real channel to ``server``: what a client in any language sees."""
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield ModelRegistryServiceStub(channel)


@pytest.fixture
def registry(stub: ModelRegistryServiceStub) -> ModelRegistryServiceStub:
    """``stub`` on a small registry: fraud (tag team) with v1 (tag auc, alias champion) and v2,
    and an empty churn."""
    stub.CreateRegisteredModel(pb.CreateRegisteredModelRequest(name="fraud", tags={"team": "r"}))
    stub.CreateModelVersion(
        pb.CreateModelVersionRequest(name="fraud", source="s3://b/1", tags={"auc": "0.9"})
    )
    stub.CreateModelVersion(pb.CreateModelVersionRequest(name="fraud", source="s3://b/2"))
    stub.SetRegisteredModelAlias(
        pb.SetRegisteredModelAliasRequest(name="fraud", alias="champion", version=1)
    )
    stub.CreateRegisteredModel(pb.CreateRegisteredModelRequest(name="churn"))
    return stub
