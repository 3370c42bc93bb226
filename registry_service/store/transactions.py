"""The transactions every operation of the registry runs in: one per call, bounded by the deadline
of the call it serves (see engine.call_bounds).

Writers on SQLite queue on a lock shared by every process on the file (see writer_lock). Every
write runs through ``Transactions.write``, which makes a retried request_id a replay (see
idempotency) and flushes the change's events into the outbox in the change's own transaction.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from registry_service.defaults import DATABASE_TIMEOUT_S, IDEMPOTENCY_WINDOW_S
from registry_service.errors import Unavailable
from registry_service.identity import current_caller
from registry_service.store import idempotency, outbox
from registry_service.store.driver_sql import DriverConnection, DriverStatement
from registry_service.store.engine import (
    WRITE_TRANSACTION,
    LoneReads,
    bounded_statement,
    bounded_transaction,
    first_line,
    holding,
    is_sqlite,
)
from registry_service.store.read_cache import ReadCache
from registry_service.store.writer_lock import writer_lock

T = TypeVar("T")


def now_millis() -> int:
    return time.time_ns() // 1_000_000


class Transactions:
    """The database of one registry and the transactions its operations run in; the access and
    webhook stores run their work in these same transactions."""

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], int] = now_millis,
        *,
        timeout: float = DATABASE_TIMEOUT_S,
        idempotency_window: float = IDEMPOTENCY_WINDOW_S,
    ) -> None:
        self._engine = engine
        self._clock = clock
        # SQLite admits one writer at a time. Queueing writers on a lock shared by every process
        # on the file is cheaper and fairer than SQLite's sleep-and-retry busy handler.
        self._write_lock = writer_lock(engine.url) if is_sqlite(engine) else None
        # Seconds a writer waits for its turn on that lock, like every other wait for the database.
        self._timeout = timeout
        self._idempotency_window_ms = round(idempotency_window * 1000)
        self._lone_reads = LoneReads(engine)
        self._read_cache = ReadCache(engine, self.read_alone_after)
        self._commit_listeners: list[Callable[[], None]] = []

    @property
    def engine(self) -> Engine:
        return self._engine

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with (
            _database_errors_as_unavailable(),
            self._engine.connect() as connection,
            bounded_transaction(connection),
        ):
            yield connection

    def read_alone(
        self, statement: DriverStatement, parameters: Mapping[str, object]
    ) -> Sequence[Any]:
        """The rows of a read that is one statement, run on its own: no BEGIN and COMMIT, and
        on PostgreSQL one round trip (see ``DriverStatement.rows_alone``), and outside
        SQLAlchemy's pool (see ``LoneReads``)."""
        return self.read_alone_after(statement, parameters, "")[1]

    def read_alone_after(
        self, statement: DriverStatement, parameters: Mapping[str, object], before: str
    ) -> tuple[Sequence[Any], Sequence[Any]]:
        """``read_alone`` with the rows of the query ``before`` (driver SQL, no parameters)
        read just ahead of the statement, on PostgreSQL in the same round trip (see
        ``DriverStatement.rows_alone_after``); "": none."""
        with _database_errors_as_unavailable():
            if self._lone_reads.usable():
                with self._lone_reads.bounded() as (connection, timeout_ms):
                    return statement.rows_alone_after(connection, parameters, timeout_ms, before)
            with self._engine.connect() as pooled:
                connection = DriverConnection.around(pooled)
                with bounded_statement(connection) as timeout_ms:
                    return statement.rows_alone_after(connection, parameters, timeout_ms, before)

    def cached(self, key: Hashable, load: Callable[[], T | None]) -> T | None:
        """What ``load`` (a point read) returns, from memory when the database has not changed
        since it last returned it for ``key`` (see read_cache). Only for callers whose access
        needs no per-model decision (``model_access.checks_caller()`` false); None is not kept."""
        return self._read_cache.read(key, load)

    def in_memory(self, key: Hashable, token: Hashable | None = None) -> Any | None:
        """What ``cached`` would return for ``key`` from memory, found without waiting for
        anything; None when memory alone cannot tell (see ``ReadCache.peek``; ``token``: one
        ``observe_change_token`` returned after the read began, where ``change_token_is_a_query``).
        The same callers only."""
        return self._read_cache.peek(key, token)

    @property
    def change_token_is_a_query(self) -> bool:
        """Whether ``in_memory`` answers only with a token from ``observe_change_token``."""
        return self._read_cache.token_is_a_query

    def observe_change_token(self) -> Hashable:
        """The database's change token as of now, for ``in_memory`` (one round trip)."""
        return self._read_cache.observe_token()

    def cached_rows(
        self,
        key: Hashable,
        statement: DriverStatement,
        parameters: Mapping[str, object],
        decode: Callable[[Sequence[Any]], T | None],
    ) -> T | None:
        """``cached`` for a read that is one statement (``read_alone``), ``decode``d from its
        rows: on PostgreSQL a read not in memory observes the change token in the same round
        trip as its rows."""
        return self._read_cache.read_rows(key, statement, parameters, decode)

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        with (
            _database_errors_as_unavailable(),
            holding(self._write_lock, self._timeout),
            self._engine.connect() as connection,
        ):
            connection.execution_options(**{WRITE_TRANSACTION: True})
            with bounded_transaction(connection):
                yield connection

    def write(
        self,
        operation: str,
        request_id: str,
        arguments: Mapping[str, object],
        codec: idempotency.Codec[T],
        change: Callable[[Connection], T],
    ) -> T:
        """Run ``change`` in one write transaction. With a request_id the id is claimed and the
        result remembered in that same transaction, or the remembered result of an earlier call
        with the id is returned and nothing changes."""
        # The caller is part of the request: another caller's replay of a request_id must not be
        # answered with a result made under someone else's permissions.
        request = idempotency.request_of(
            operation, request_id, {**arguments, "caller": current_caller()}
        )
        with self.writing() as connection:
            try:
                if request is not None:
                    replay = idempotency.claim(
                        connection, request, codec, self._clock(), self._idempotency_window_ms
                    )
                    if replay is not None:
                        return replay.result
                result = change(connection)
                if request is not None:
                    idempotency.remember(connection, request, codec, result)
                # Last, so that the event counter's row lock orders commits (see outbox).
                announced = outbox.flush(connection, self._clock(), current_caller())
            finally:
                outbox.discard(connection)
        # Committed: this process's feed reads it now rather than at its next poll.
        if announced:
            for listener in self._commit_listeners:
                listener()
        return result

    def on_events_committed(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (quick, non-blocking) after each write of this store that committed
        events."""
        self._commit_listeners.append(listener)

    def now(self) -> int:
        """The store's clock, in epoch milliseconds."""
        return self._clock()


@contextmanager
def _database_errors_as_unavailable() -> Iterator[None]:
    """A database that is down, restarting or locked is a retryable condition, not a bug."""
    try:
        yield
    # The driver's own errors too: a connection the lone reads open outside SQLAlchemy's pool
    # (see engine.LoneReads) fails with them, unwrapped.
    except (
        OperationalError,
        PoolTimeoutError,
        psycopg.OperationalError,
        sqlite3.OperationalError,
    ) as error:
        raise Unavailable(f"the database is unavailable: {first_line(error)}") from error
    except DBAPIError as error:
        if error.connection_invalidated:
            raise Unavailable(f"the database connection was lost: {first_line(error)}") from error
        raise
