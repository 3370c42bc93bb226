"""Point reads run on connections kept outside SQLAlchemy's pool (``engine.LoneReads``):
bounded by the call like every other statement, reused, and closed with the engine."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import NullPool

from registry_service.errors import DeadlineExceeded
from registry_service.store import schema
from registry_service.store.engine import call_bounds, make_engine
from registry_service.store.registry_store import RegistryStore


class Traced:
    """Every SQLite connection the engine opens, and each statement run on each of them."""

    def __init__(self, engine: Engine) -> None:
        self.connections: list[sqlite3.Connection] = []
        self.statements: list[tuple[int, str]] = []
        self.checkouts = 0
        event.listen(engine, "connect", self._connected)
        event.listen(engine, "checkout", self._checked_out)

    def _connected(self, raw: sqlite3.Connection, _record: Any) -> None:
        index = len(self.connections)
        self.connections.append(raw)
        raw.set_trace_callback(lambda sql: self.statements.append((index, sql)))

    def _checked_out(self, *_args: Any) -> None:
        self.checkouts += 1

    def on(self, index: int) -> list[str]:
        return [sql for on, sql in self.statements if on == index]


@pytest.fixture
def traced_store(tmp_path: Path) -> Iterator[tuple[RegistryStore, Traced, int]]:
    """A store with version 1 of "m" aliased champion, its connections traced, and the index of
    the connection its first point read opened: through the pool (whose connect events
    configure it), then taken from it."""
    engine = make_engine(f"sqlite:///{tmp_path / 'registry.db'}", pool_size=2, timeout=30)
    traced = Traced(engine)
    schema.upgrade(engine)
    store = RegistryStore(engine)
    store.create_model_version(store.create_registered_model("m").name, "s3://bucket/1")
    store.set_registered_model_alias("m", "champion", 1)
    with call_bounds(60.0):
        store.get_model_version("m", 1)
    yield store, traced, traced.statements[-1][0]
    engine.dispose()


def _reads_of_version(statements: list[str]) -> list[str]:
    return [sql for sql in statements if sql.startswith("SELECT") and "model_versions" in sql]


def test_point_reads_take_nothing_from_the_pool_and_share_one_connection(
    traced_store: tuple[RegistryStore, Traced, int],
) -> None:
    store, traced, lone = traced_store
    checkouts = traced.checkouts
    statements = len(traced.statements)
    for _ in range(3):
        with call_bounds(60.0):
            assert store.get_model_version("m", 1).aliases == ["champion"]
            assert store.get_model_version_by_alias("m", "champion").version == 1
    assert traced.checkouts == checkouts
    run = traced.statements[statements:]
    assert {on for on, _sql in run} == {lone}, run
    # Each read that reaches the database (repeated ones are answered from memory, see
    # store/read_cache.py) is its one statement: no BEGIN, COMMIT or PRAGMA around it.
    assert 1 <= len(_reads_of_version([sql for _on, sql in run])) == len(run) <= 6, run


def test_a_near_deadline_lowers_busy_timeout_for_its_own_read_only(
    traced_store: tuple[RegistryStore, Traced, int],
) -> None:
    store, traced, lone = traced_store
    before = len(traced.on(lone))
    # Each read after a change, so that it is not answered from memory (store/read_cache.py).
    store.set_registered_model_tag("m", "read", "1")
    with call_bounds(2.0):
        store.get_model_version("m", 1)
    store.set_registered_model_tag("m", "read", "2")
    with call_bounds(60.0):
        store.get_model_version("m", 1)
    statements = traced.on(lone)[before:]
    assert statements[0].startswith("PRAGMA busy_timeout=")
    assert 1_000 < int(statements[0].split("=")[1]) <= 2_000
    assert statements[2] == "PRAGMA busy_timeout=30000"
    assert len(_reads_of_version(statements)) == 2 and len(statements) == 4, statements
    assert traced.connections[lone].execute("PRAGMA busy_timeout").fetchone()[0] == 30_000


def test_a_read_whose_deadline_passed_fails_and_its_connection_is_not_reused(
    traced_store: tuple[RegistryStore, Traced, int],
) -> None:
    store, traced, lone = traced_store
    with call_bounds(0.0), pytest.raises(DeadlineExceeded):
        store.get_model_version("m", 1)
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        traced.connections[lone].execute("SELECT 1")
    with call_bounds(60.0):
        assert store.get_model_version("m", 1).version == 1


def test_disposing_the_engine_closes_the_idle_connections(
    traced_store: tuple[RegistryStore, Traced, int],
) -> None:
    store, traced, lone = traced_store
    store.engine.dispose()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        traced.connections[lone].execute("SELECT 1")


def test_cursor_event_listeners_keep_point_reads_in_the_pool(
    traced_store: tuple[RegistryStore, Traced, int],
) -> None:
    # Listeners (tracing, the plan checks) are handed a SQLAlchemy Connection with each
    # statement, which only a pooled read has.
    store, traced, _lone = traced_store
    seen: list[str] = []

    def before(_connection: Any, _cursor: Any, sql: str, *_: Any) -> None:
        seen.append(sql)

    event.listen(store.engine, "before_cursor_execute", before)
    checkouts = traced.checkouts
    try:
        store.get_model_version("m", 1)
    finally:
        event.remove(store.engine, "before_cursor_execute", before)
    assert traced.checkouts == checkouts + 1
    assert _reads_of_version(seen)


def _sessions(store: RegistryStore) -> int:
    """Client sessions on the store's database, other than the one asking."""
    admin = create_engine(store.engine.url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        count: int = connection.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ).scalar_one()
    return count


def test_postgresql_point_reads_take_nothing_from_the_pool_and_close_with_the_engine(
    postgres_store: RegistryStore,
) -> None:
    checkouts: list[Any] = []
    event.listen(postgres_store.engine, "checkout", lambda *args: checkouts.append(args))
    with call_bounds(60.0):
        postgres_store.get_model_version("m", 1)
    first = len(checkouts)
    for _ in range(5):
        with call_bounds(60.0):
            assert postgres_store.get_model_version("m", 1).source == "s3://bucket/1"
    assert len(checkouts) == first
    # The fixture's pool has one connection, which the first read took out of it.
    assert _sessions(postgres_store) == 1
    postgres_store.engine.dispose()
    assert _sessions(postgres_store) == 0
