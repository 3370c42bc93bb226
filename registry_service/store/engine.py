"""Engines for SQLite and PostgreSQL: the one place where the two dialects differ."""

from __future__ import annotations

import math
from typing import Any

import sqlalchemy
from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import ConnectionPoolEntry

# Connection execution option that marks a transaction as one that will write.
WRITE_TRANSACTION = "registry_write_transaction"

# Seconds a call waits for the database (to connect, for a pooled connection, for SQLite's write
# lock) before it fails with UNAVAILABLE instead of hanging while the database is down or locked.
DEFAULT_TIMEOUT = 5.0
# libpq's connect_timeout is whole seconds, and it treats anything below 2 as 2.
_MIN_CONNECT_TIMEOUT_S = 2


def normalize_url(url: str) -> URL:
    """Accept plain ``postgresql://`` URLs and run them on psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def insert_unless_present(connection: Connection, table: Table) -> Any:
    """INSERT … ON CONFLICT DO NOTHING: both databases spell it alike, SQLAlchemy builds it per
    dialect."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def make_engine(url: str, *, pool_size: int = 10, timeout: float = DEFAULT_TIMEOUT) -> Engine:
    """An engine whose connections follow the registry's rules on either database.

    SQLite: WAL journal (readers never block the writer), synchronous=NORMAL, foreign keys on,
    case-sensitive LIKE (MLflow's LIKE is case-sensitive; ILIKE is the insensitive one), and BEGIN
    IMMEDIATE for write transactions so that concurrent writers queue on the lock instead of
    failing on a read-to-write upgrade. With WAL, NORMAL has written a commit to the WAL file (the
    operating system's cache) before the commit returns, so a killed or crashed server process
    loses nothing it acknowledged; only an operating-system crash or power loss can lose the last
    commits, which FULL would prevent at the price of an fsync per commit.

    ``timeout`` bounds every wait for the database, so that a database that is down or locked
    makes calls fail with UNAVAILABLE rather than hang.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, timeout)
    return sqlalchemy.create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=timeout,
        # A pooled connection to a database that restarted is found dead here and replaced, so
        # service resumes without a restart once the database is back.
        pool_pre_ping=True,
        connect_args={"connect_timeout": max(_MIN_CONNECT_TIMEOUT_S, math.ceil(timeout))},
    )


def _sqlite_engine(url: URL, timeout: float) -> Engine:
    engine = sqlalchemy.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": timeout},
        pool_size=8,
        max_overflow=8,
        pool_timeout=timeout,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # The driver's own transaction handling is switched off so that "begin" below decides.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA case_sensitive_like=ON")
        cursor.execute(f"PRAGMA busy_timeout={round(timeout * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        writes = connection.get_execution_options().get(WRITE_TRANSACTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

    return engine
