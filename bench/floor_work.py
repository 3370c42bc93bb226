"""The least database work a call can do, for bench/floors.py: what the echo's method does on
top of answering, per kind of floor.

Each handler answers with the request's bytes, as the echo does, after:

- ``postgres-read``: one ``SELECT 1`` round trip on its thread's own PostgreSQL connection
  (autocommit, nothing parsed or planned beyond the constant);
- ``postgres-point-read``: the registry's own GetModelVersion statement for a random version of
  a random model of the seeded registry, run as the registry runs it (``rows_alone`` on a
  connection of its ``LoneReads``, bounded by a call's deadline), and its one row fetched but not
  decoded;
- ``postgres-row-read``: the same, with the least a point read can ask of the registry's schema
  in place of its statement: one row of ``model_versions`` by its primary key (model id and
  version number), without the model's name or the version's tags and aliases;
- ``postgres-write``: one single-row INSERT, committed, on its thread's own connection;
- ``sqlite-write``: one single-row INSERT into a WAL-mode SQLite file (synchronous=NORMAL, as
  the registry sets it), committed, under the registry's writer lock, which every process that
  serves the file queues on as the registry's writers do.

No registry code runs in them beyond the lock and the point reads' statements: no validation, no
interceptors, no decoding, no proto mapping. A registry call cannot cost less than its floor;
bench/floors.py measures how fast each floor goes on the same gRPC server, with the same workers
and threads, as the echo.
"""

from __future__ import annotations

import random
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import grpc
from sqlalchemy.engine import make_url

from registry_service.store.writer_lock import writer_lock

Handler = Callable[[bytes, grpc.ServicerContext], bytes]
# The table the write floors insert into (made by bench/floors.py before the servers start).
TABLE = "bench_floor"
KINDS = (
    "none",
    "postgres-read",
    "postgres-point-read",
    "postgres-row-read",
    "postgres-write",
    "sqlite-write",
)


def handler(kind: str, database_url: str) -> Handler:
    """The echo method for ``kind`` of floor, on ``database_url`` (unused for "none")."""
    if kind == "none":
        return _echo
    if kind in ("postgres-read", "postgres-write"):
        return _postgres(database_url, write=kind == "postgres-write")
    if kind in ("postgres-point-read", "postgres-row-read"):
        return _postgres_point_read(database_url, row_only=kind == "postgres-row-read")
    if kind == "sqlite-write":
        return _sqlite_write(database_url)
    raise ValueError(f"unknown floor {kind!r}: one of {', '.join(KINDS)}")


def _echo(request: bytes, _context: grpc.ServicerContext) -> bytes:
    return request


def _postgres(database_url: str, *, write: bool) -> Handler:
    import psycopg

    conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    connections = threading.local()
    statement = f"INSERT INTO {TABLE} (payload) VALUES (%s)" if write else "SELECT 1"

    def work(request: bytes, _context: grpc.ServicerContext) -> bytes:
        connection = getattr(connections, "connection", None)
        if connection is None:
            connection = connections.connection = psycopg.connect(conninfo, autocommit=True)
        with connection.cursor() as cursor:
            cursor.execute(statement, (request,) if write else None)
            if not write:
                cursor.fetchone()
        return request

    return work


def _postgres_point_read(database_url: str, *, row_only: bool) -> Handler:
    from sqlalchemy import bindparam, select

    from registry_service.config import Settings
    from registry_service.store.driver_sql import DriverStatement
    from registry_service.store.engine import LoneReads, call_bounds, make_engine

    # The statement itself, not a copy of it: the floor must cost what the registry's does.
    from registry_service.store.statements import VERSION_BY_NAME
    from registry_service.store.tables import model_versions

    statement = (
        DriverStatement(
            select(model_versions)
            .where(model_versions.c.model_id == bindparam("model"))
            .where(model_versions.c.version == bindparam("version"))
        )
        if row_only
        else VERSION_BY_NAME
    )
    engine = make_engine(database_url)
    with engine.connect() as connection:
        models = list(
            connection.exec_driver_sql(
                f"SELECT {'id' if row_only else 'name'}, last_version FROM registered_models"
                " WHERE last_version > 0"
            )
        )
    key = "model" if row_only else "name"
    # The registry's connections for reads alone, and the bounds it puts on a call without a
    # deadline of its own.
    reads = LoneReads(engine)
    deadline = Settings().max_deadline

    def work(request: bytes, _context: grpc.ServicerContext) -> bytes:
        model, last_version = random.choice(models)
        parameters = {key: model, "version": random.randint(1, last_version)}
        with call_bounds(deadline), reads.bounded() as (connection, timeout_ms):
            rows = statement.rows_alone(connection, parameters, timeout_ms)
        if len(rows) != 1:
            raise RuntimeError(f"no version {parameters}")
        return request

    return work


def _sqlite_write(database_url: str) -> Handler:
    url = make_url(database_url)
    lock = writer_lock(url)
    connections = threading.local()

    def connect() -> Any:
        connection = sqlite3.connect(url.database or "", isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA busy_timeout=10000")
        return connection

    def work(request: bytes, _context: grpc.ServicerContext) -> bytes:
        connection = getattr(connections, "connection", None)
        if connection is None:
            connection = connections.connection = connect()
        if not lock.acquire(timeout=10):
            raise RuntimeError("no turn at the writer lock within 10 s")
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(f"INSERT INTO {TABLE} (payload) VALUES (?)", (request,))
            connection.execute("COMMIT")
        finally:
            lock.release()
        return request

    return work
