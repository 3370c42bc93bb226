"""Engines for SQLite and PostgreSQL: the one place where the two dialects differ."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from functools import partial
from typing import Any

import sqlalchemy
from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from registry_service.defaults import DATABASE_TIMEOUT_S
from registry_service.errors import Cancelled, DeadlineExceeded, RegistryError, Unavailable
from registry_service.store import driver_sql
from registry_service.store.driver_sql import DriverConnection
from registry_service.store.writer_lock import WriterLock

log = logging.getLogger(__name__)

# Connection execution option that marks a transaction as one that will write.
WRITE_TRANSACTION = "registry_write_transaction"

# libpq's connect_timeout is whole seconds, and it treats anything below 2 as 2.
_MIN_CONNECT_TIMEOUT_S = 2

# How long PostgreSQL gets to answer a connection attempt; an unreachable host otherwise holds a
# call (and the health probe) for the operating system's TCP timeout, minutes.
POSTGRES_CONNECT_TIMEOUT_S = 5

# SQLite runs the progress handler every this many virtual machine instructions.
SQLITE_PROGRESS_STEPS = 1000


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


def make_engine(url: str, *, pool_size: int = 10, timeout: float = DATABASE_TIMEOUT_S) -> Engine:
    """An engine whose connections follow the registry's rules on either database.

    SQLite: WAL journal (readers never block the writer), synchronous=NORMAL, foreign keys on,
    case-sensitive LIKE (MLflow's LIKE is case-sensitive; ILIKE is the insensitive one), and BEGIN
    IMMEDIATE for write transactions so that concurrent writers queue on the lock instead of
    failing on a read-to-write upgrade. With WAL, NORMAL has written a commit to the WAL file (the
    operating system's cache) before the commit returns, so a killed or crashed server process
    loses nothing it acknowledged; only an operating-system crash or power loss can lose the last
    commits, which FULL would prevent at the price of an fsync per commit.

    ``timeout`` bounds every wait for the database, so that a database that is down or locked
    makes calls fail with UNAVAILABLE rather than hang. ``pool_size`` connections are kept open
    (as many again may be opened beyond them, and closed when returned): a server passes its
    thread count, since a connection opened per call costs more than most calls.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, timeout, pool_size)
    connect_args = {}
    if "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = max(_MIN_CONNECT_TIMEOUT_S, math.ceil(timeout))
    engine = sqlalchemy.create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=timeout,
        connect_args=connect_args,
    )
    _ping_when_idle(engine)
    _begin_with_statement_timeout(engine)
    return engine


def _begin_with_statement_timeout(engine: Engine) -> None:
    """Transactions are begun by us, not by psycopg: BEGIN and, inside a call, SET LOCAL
    statement_timeout to the call's time left, sent as one query. psycopg's own BEGIN would be
    one round trip and the SET another, on every transaction (a write's are BEGIN, the model's
    lock, its statements, COMMIT). Point reads take no transaction at all (``rows_alone``)."""

    @event.listens_for(engine, "connect")
    def _connected(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.autocommit = True

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            # Asked for no transaction (VACUUM, CREATE INDEX CONCURRENTLY).
            return
        raw: Any = connection.connection.dbapi_connection
        if not raw.autocommit:
            # SQLAlchemy's reset after such an AUTOCOMMIT connection turned psycopg's back on.
            # (Read first: psycopg's setter takes the connection's lock and runs its wait loop.)
            raw.autocommit = True
        bounds = _current_call.get()
        driver_sql.run(
            connection,
            "BEGIN"
            if bounds is None
            else f"BEGIN; SET LOCAL statement_timeout = {_budget_ms(bounds)}",
        )


# A PostgreSQL connection that proved alive (a commit, a point read) within this many seconds is
# used without a ping; one that has not (idle, or its last work failed) is pinged first.
PING_AFTER_IDLE_S = 1.0
# Key of the time (time.monotonic()) a connection last proved alive (a commit, or a statement
# alone that ran) in its info.
_ALIVE_AT = "registry_alive_at"


def _ping_when_idle(engine: Engine) -> None:
    """A pooled connection to a database that restarted is found dead at checkout and replaced,
    so service resumes without a restart once the database is back. SQLAlchemy's pre-ping does
    that with a round trip before every transaction, about 10 % of a PostgreSQL point read's CPU
    and wall time (521 → 466 µs, 896 → 806 µs in-process); a connection that just committed is
    alive as surely as one that just answered a ping. One that dies within the second after a
    commit fails its next call (UNAVAILABLE, retryable), and that disconnect makes the pool
    replace every connection it holds."""

    @event.listens_for(engine, "commit")
    def _committed(connection: Connection) -> None:
        connection.info[_ALIVE_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        if time.monotonic() - record.info.get(_ALIVE_AT, -math.inf) < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # The pool discards this connection and checks out (or opens) another.
            raise DisconnectionError(first_line(error)) from error


def _sqlite_engine(url: URL, timeout: float, pool_size: int) -> Engine:
    engine = sqlalchemy.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": timeout},
        pool_size=pool_size,
        max_overflow=pool_size,
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
        # Kept with the connection: a call's deadline lowers busy_timeout and restores this one.
        _record.info[_BUSY_TIMEOUT_MS] = round(timeout * 1000)

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        writes = connection.get_execution_options().get(WRITE_TRANSACTION, False)
        # On the driver directly: SQLAlchemy's execution machinery cost more than the BEGIN.
        driver_sql.run(connection, "BEGIN IMMEDIATE" if writes else "BEGIN")

    return engine


# Key of the engine's SQLite busy_timeout in each pooled connection's info.
_BUSY_TIMEOUT_MS = "registry_busy_timeout_ms"


def first_line(error: Exception) -> str:
    """The driver's own message, without SQLAlchemy's statement and background link."""
    text = str(getattr(error, "orig", None) or error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def ping(engine: Engine, timeout: float) -> None:
    """Raise unless the database answers a query within ``timeout`` seconds."""
    with call_bounds(timeout), engine.connect() as connection, bounded_transaction(connection):
        connection.exec_driver_sql("SELECT 1")


# -- deadlines and cancellation ---------------------------------------------------------------


class CallBounds:
    """The time left to the call a transaction serves, and whether its caller went away."""

    def __init__(self, seconds: float) -> None:
        self._deadline = time.monotonic() + seconds
        # A plain flag, not a threading.Event: nothing waits on it, and every call makes one.
        self._cancelled = False
        # Interrupts the statement running for this call; set only while a transaction is open.
        self._interrupt: Callable[[], None] | None = None
        self._lock = threading.Lock()

    def remaining(self) -> float:
        return self._deadline - time.monotonic()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def over(self) -> bool:
        return self.cancelled or self.remaining() <= 0

    def ended(self) -> RegistryError | None:
        """Why this call's database work must stop, if it must."""
        if self.cancelled:
            return Cancelled("the call was cancelled; its transaction was rolled back")
        if self.remaining() <= 0:
            return DeadlineExceeded(
                "the call's deadline passed before the database finished; "
                "its transaction was rolled back"
            )
        return None

    def check(self) -> None:
        error = self.ended()
        if error is not None:
            raise error

    def cancel(self) -> None:
        """Stop this call's database work: its caller cancelled or its deadline passed.

        gRPC calls this on the thread that serves every connection, which must not wait on the
        database, so a running statement is interrupted from a thread of its own.
        """
        self._cancelled = True
        with self._lock:
            if self._interrupt is not None:
                threading.Thread(target=self._run_interrupt, daemon=True).start()

    def _run_interrupt(self) -> None:
        # Under the lock, so the connection cannot go back to the pool, and on to another call,
        # while it is being interrupted.
        with self._lock:
            if self._interrupt is None:
                return
            try:
                self._interrupt()
            except Exception as error:
                # The transaction still ends at its deadline; only promptness is lost.
                log.warning("could not interrupt a cancelled call's statement: %s", error)

    def interrupt_with(self, interrupt: Callable[[], None] | None) -> None:
        """From now on ``cancel()`` runs ``interrupt`` to stop the statement in progress (None:
        nothing to interrupt)."""
        with self._lock:
            self._interrupt = interrupt


_current_call: ContextVar[CallBounds | None] = ContextVar("registry_call_bounds", default=None)


def time_left() -> float | None:
    """Seconds left of the current call's deadline; None outside a bounded call."""
    bounds = _current_call.get()
    return None if bounds is None else max(bounds.remaining(), 0.0)


@contextmanager
def call_bounds(seconds: float) -> Iterator[CallBounds]:
    """Bound the transactions begun in this context to ``seconds`` from now; ``cancel()`` on
    the bounds rolls them back early."""
    bounds = CallBounds(seconds)
    token = _current_call.set(bounds)
    try:
        yield bounds
    finally:
        _current_call.reset(token)


@contextmanager
def holding(lock: WriterLock | None, timeout: float) -> Iterator[None]:
    """Hold ``lock`` (when there is one), waiting no longer than ``timeout`` seconds or what is
    left of the current call's deadline, whichever ends first. Bounded, so that while the
    database stays locked the queued writers fail instead of waiting in turn."""
    if lock is None:
        yield
        return
    bounds = _current_call.get()
    remaining = None if bounds is None else max(bounds.remaining(), 0)
    if not lock.acquire(timeout=timeout if remaining is None else min(timeout, remaining)):
        if remaining is not None and remaining <= timeout:
            raise DeadlineExceeded("the call's deadline passed while it queued for the database")
        raise Unavailable(f"the database is busy: no turn to write within {timeout:g} seconds")
    try:
        yield
    finally:
        lock.release()


@contextmanager
def bounded_transaction(connection: Connection) -> Iterator[None]:
    """A transaction on ``connection`` that ends, rolled back, when the current call's deadline
    passes or its caller cancels: never committed for a caller that is gone.

    PostgreSQL bounds each statement with statement_timeout and is sent a cancel request when
    the caller goes away; SQLite bounds lock waits with busy_timeout and interrupts statements
    from its progress handler.
    """
    with _bounded(
        connection.connection.dbapi_connection,
        connection.info.get(_BUSY_TIMEOUT_MS),
        begin=connection.begin,
    ):
        yield


@contextmanager
def bounded_statement(connection: DriverConnection) -> Iterator[int | None]:
    """For a read that is one statement (``DriverStatement.rows_alone``), bounded as
    ``bounded_transaction`` bounds its work but in no transaction of ours: a statement alone
    reads one snapshot, and BEGIN and COMMIT would be two more statements (on SQLite each lets
    go of the GIL, on PostgreSQL each is a round trip). Gives the milliseconds the statement may
    take on PostgreSQL (None outside a call and on SQLite), which ``rows_alone`` sets with the
    statement."""
    with _bounded(connection.dbapi_connection, connection.info.get(_BUSY_TIMEOUT_MS), begin=None):
        yield _statement_budget_ms(connection.dialect.name == "postgresql")
    _proved_alive(connection)


def _statement_budget_ms(postgresql: bool) -> int | None:
    """The milliseconds a statement alone may take on PostgreSQL, which sends them with it;
    None outside a call, and on SQLite, whose bounds are set on the connection (``_bounded``)."""
    bounds = _current_call.get()
    return None if bounds is None or not postgresql else _budget_ms(bounds)


def _proved_alive(connection: DriverConnection) -> None:
    """After a statement ran on ``connection``: as sure a sign of a live PostgreSQL connection
    as a commit (see ``_ping_when_idle``)."""
    if connection.dialect.name == "postgresql":
        connection.info[_ALIVE_AT] = time.monotonic()


class LoneReads:
    """Connections for reads that are one statement on their own (``DriverStatement.rows_alone``),
    kept outside SQLAlchemy's pool.

    Checking a connection out of the pool and wrapping it in a ``Connection`` was the largest
    part of a SQLite point read in the store (113 000 of 368 000 instructions, callgrind): a queue
    and its condition variable, the pool's bookkeeping and events, a rollback on return. A
    statement alone needs none of that: it opens no transaction, so there is nothing to reset,
    and it runs as driver SQL. Here taking a connection and giving it back are a list's pop and
    append, each atomic under the GIL.

    Connections are opened through the pool, so that its connect events configure them, and taken
    from it; as many are kept as the pool keeps (docs/deploy.md sizes PostgreSQL's
    max_connections for both). A PostgreSQL connection idle for longer than ``PING_AFTER_IDLE_S``
    is pinged before use, as the pool's are; one lost to the database drops every idle one.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # As many are kept as the pool keeps; more, opened under a burst, are closed when done.
        self._keep = engine.pool.size()  # type: ignore[attr-defined]
        self._idle: list[tuple[PoolProxiedConnection, DriverConnection]] = []
        self._postgresql = engine.dialect.name == "postgresql"
        event.listen(engine, "engine_disposed", self._close_idle)

    def usable(self) -> bool:
        """Whether reads may bypass SQLAlchemy: not while anything listens for its cursor events
        (tracing instrumentation, the plan checks), which need a ``Connection`` to report on."""
        events = self._engine.dispatch
        return not (events.before_cursor_execute or events.after_cursor_execute)

    @contextmanager
    def bounded(self) -> Iterator[tuple[DriverConnection, int | None]]:
        """A connection for one statement, bounded to the current call as ``bounded_statement``
        bounds one, and the milliseconds the statement may take on PostgreSQL."""
        pooled, connection = self._take()
        # ``bounded_statement``'s work, without its layer of generator on every point read.
        try:
            with _bounded(
                connection.dbapi_connection, connection.info.get(_BUSY_TIMEOUT_MS), begin=None
            ):
                yield connection, _statement_budget_ms(self._postgresql)
        except BaseException as error:
            # Whatever failed may have left the connection in a state no other read should find.
            pooled.close()
            if self._lost(error, connection):
                # The database went away: the idle connections went with it.
                self._close_idle()
            raise
        _proved_alive(connection)
        if len(self._idle) < self._keep:
            self._idle.append((pooled, connection))
        else:
            pooled.close()

    def _take(self) -> tuple[PoolProxiedConnection, DriverConnection]:
        while self._idle:
            pooled, connection = self._idle.pop()
            if self._alive(connection):
                return pooled, connection
            pooled.close()
        pooled = self._engine.raw_connection()
        # Detached, it keeps a copy of its pool entry's info: the statements prepared on it.
        pooled.detach()
        pooled.info[_ALIVE_AT] = time.monotonic()
        return pooled, DriverConnection(pooled.dbapi_connection, self._engine.dialect, pooled.info)

    def _alive(self, connection: DriverConnection) -> bool:
        """Whether an idle connection still answers: one that did within the last
        ``PING_AFTER_IDLE_S`` is taken to, as in the pool (``_ping_when_idle``)."""
        if not self._postgresql:
            return True
        if time.monotonic() - connection.info[_ALIVE_AT] < PING_AFTER_IDLE_S:
            return True
        try:
            self._engine.dialect.do_ping(connection.dbapi_connection)
        except self._engine.dialect.loaded_dbapi.Error:
            return False
        return True

    def _lost(self, error: BaseException, connection: DriverConnection) -> bool:
        """Whether ``error`` says the connection to the database was lost."""
        driver_error = error.orig if isinstance(error, DBAPIError) else None
        return isinstance(
            driver_error, self._engine.dialect.loaded_dbapi.Error
        ) and self._engine.dialect.is_disconnect(driver_error, connection.dbapi_connection, None)

    def _close_idle(self, _engine: Engine | None = None) -> None:
        while self._idle:
            self._idle.pop()[0].close()


@contextmanager
def _bounded(
    raw: Any,
    busy_timeout_ms: int | None,
    *,
    begin: Callable[[], ContextManager[Any]] | None,
) -> Iterator[None]:
    """Bound the work on the DBAPI connection ``raw`` (SQLite's when ``busy_timeout_ms`` is
    given, its engine's busy_timeout) to the current call; ``begin``: in a transaction it
    opens, else statements alone."""
    # One flat context manager rather than one per bound: it runs around every statement and
    # transaction, and each nested layer was a measurable part of a point read.
    bounds = _current_call.get()
    if bounds is None:
        with begin() if begin is not None else nullcontext():
            yield
        return
    bounds.check()
    try:
        if busy_timeout_ms is not None:
            # SQLite stops a statement from its progress handler, and no cancel() is needed.
            restore_busy_timeout = _bound_sqlite(raw, bounds, busy_timeout_ms)
        else:
            bounds.interrupt_with(partial(raw.cancel_safe, timeout=POSTGRES_CONNECT_TIMEOUT_S))
        try:
            # On PostgreSQL, begun with the statement_timeout (_begin_with_statement_timeout).
            with begin() if begin is not None else nullcontext():
                yield
                # The work is done but not committed: a caller that has gone gets a rollback.
                bounds.check()
        finally:
            if busy_timeout_ms is not None:
                _unbound_sqlite(raw, restore_busy_timeout)
            else:
                bounds.interrupt_with(None)
    except DBAPIError as error:
        # An interrupted statement, a statement_timeout or a lock wait cut short all surface as
        # database errors; what they mean is that the call ended.
        ended = bounds.ended()
        if ended is not None:
            raise ended from error
        raise


def _budget_ms(bounds: CallBounds) -> int:
    """The milliseconds left to the call, at least 1 (0 means no limit to the databases)."""
    return max(math.ceil(bounds.remaining() * 1000), 1)


def _bound_sqlite(raw: Any, bounds: CallBounds, busy_timeout_ms: int) -> int | None:
    """Bound the SQLite connection's work to the call: its statements stop once ``bounds`` are
    over, and lock waits end by the deadline. The busy_timeout to put back afterwards, None
    when it was left as it was."""
    # Only a deadline nearer than the connection's own busy_timeout needs a lower one for this
    # transaction. Most calls' deadlines are further away, and each PRAGMA is a statement that
    # lets go of the GIL, which under load means waiting for it back behind other threads.
    budget_ms = _budget_ms(bounds)
    lowered = budget_ms < busy_timeout_ms
    if lowered:
        raw.execute(f"PRAGMA busy_timeout={budget_ms}")
    raw.set_progress_handler(bounds.over, SQLITE_PROGRESS_STEPS)
    return busy_timeout_ms if lowered else None


def _unbound_sqlite(raw: Any, busy_timeout_ms: int | None) -> None:
    """Undo ``_bound_sqlite``: no progress handler, and ``busy_timeout_ms`` back if it gave one."""
    raw.set_progress_handler(None, 0)
    if busy_timeout_ms is not None:
        raw.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
