"""Hot reads run as the driver's own SQL on the DBAPI cursor.

A point read's indexed lookup takes the database a few microseconds; SQLAlchemy's per-execution
work around it (parameter processing, execution context, result metadata, Row objects) took
several times that, and was the largest single cost of GetModelVersion on SQLite. A
``DriverStatement`` is a Core statement compiled once per dialect to the driver's SQL text; each
run is one ``cursor.execute`` returning plain tuples. Only statements whose columns need no
SQLAlchemy type processing (integers, text, NULL) belong here, and inserts must bind every column
without a server default: SQLAlchemy's Python-side column defaults are not applied (the
registry's tables declare none).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BindParameter, Executable, bindparam
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError


class DriverStatement:
    """``statement`` compiled to driver SQL once per dialect, run with named parameters."""

    def __init__(self, statement: Executable) -> None:
        self._statement = statement
        self._compiled: dict[str, _Compiled] = {}
        # This statement's name where it is prepared on a PostgreSQL connection.
        self._name = f"registry_{next(_NUMBERS)}"

    def rows(self, connection: Connection, parameters: Mapping[str, Any]) -> Sequence[Any]:
        """The result rows as tuples, in the transaction open on ``connection``."""
        compiled = self._compiled_for(connection.dialect)
        return run(connection, compiled.sql, compiled.arguments(parameters))

    def rows_alone(
        self, connection: DriverConnection, parameters: Mapping[str, Any], timeout_ms: int | None
    ) -> Sequence[Any]:
        """The result rows of this statement run on its own, in no transaction of the caller's,
        bounded to ``timeout_ms`` (None: unbounded).

        On PostgreSQL that is one simple query, ``SET LOCAL plan_cache_mode = …; SET LOCAL
        statement_timeout = …; EXECUTE <this statement>(<values>)``: all run in that query's
        implicit transaction, so the settings hold for the statement and end with it. The
        statement is PREPAREd on each connection the first time it runs there and planned once,
        generically (see ``_GENERIC_PLAN``); a simple query has no parameters, so the values are
        bound as literals, quoted by psycopg's client-side binding. One round trip where BEGIN
        with the SET, the statement and COMMIT took three. SQLite needs no timeout statement (its
        bounds are set on the connection): the statement alone, as ``rows``.
        """
        return self._alone(connection, parameters, timeout_ms, "")[1]

    def rows_alone_after(
        self,
        connection: DriverConnection,
        parameters: Mapping[str, Any],
        timeout_ms: int | None,
        before: str,
    ) -> tuple[Sequence[Any], Sequence[Any]]:
        """The rows of the query ``before`` (driver SQL without parameters), then this
        statement's, as ``rows_alone`` runs it: on PostgreSQL in the same round trip, ``before``
        just ahead of the statement, each with a snapshot of its own (store/read_cache.py reads
        its change token so)."""
        return self._alone(connection, parameters, timeout_ms, before)

    def _alone(
        self,
        connection: DriverConnection,
        parameters: Mapping[str, Any],
        timeout_ms: int | None,
        before: str,
    ) -> tuple[Sequence[Any], Sequence[Any]]:
        compiled = self._compiled_for(connection.dialect)
        arguments = compiled.arguments(parameters)
        if compiled.prepared is None:
            ahead = (
                _run_on(connection.dbapi_connection, connection.dialect, None, before, {})
                if before
                else ()
            )
            return ahead, _run_on(
                connection.dbapi_connection,
                connection.dialect,
                connection.listened,
                compiled.sql,
                arguments,
            )
        from psycopg import ClientCursor
        from psycopg.errors import InvalidSqlStatementName

        text, order = compiled.prepared
        values = [arguments[name] for name in order]
        settings = [_GENERIC_PLAN]
        if timeout_ms is not None:
            settings.append(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
        placeholders = ", ".join(["%s"] * len(values))
        statements = [*settings, before] if before else settings
        execute = "; ".join([*statements, f"EXECUTE {self._name}({placeholders})"])
        prepared: set[str] = connection.info.setdefault(_PREPARED, set())
        # One cursor per connection for these reads: making and closing one per read was a
        # quarter of psycopg's part of it (122k → 90k instructions).
        cursor = connection.info.get(_CURSOR)
        if cursor is None:
            cursor = connection.info[_CURSOR] = ClientCursor(connection.dbapi_connection)
        # Reported to SQLAlchemy's listeners as the statement it runs, with its parameters.
        with _driver_errors(
            connection.dialect,
            connection.listened,
            cursor,
            compiled.sql,
            arguments,
            many=False,
            close=False,
        ):
            for attempt in (1, 2):
                if self._name not in prepared:
                    cursor.execute(f"PREPARE {self._name} AS {text}")
                    prepared.add(self._name)
                try:
                    cursor.execute(execute, values)
                except InvalidSqlStatementName:
                    # Deallocated behind our back (DISCARD ALL): prepared again, once.
                    prepared.discard(self._name)
                    if attempt == 2:
                        raise
                    continue
                for _setting in settings:
                    cursor.nextset()
                first: Sequence[Any] = ()
                if before:
                    first = cursor.fetchall()
                    cursor.nextset()
                rows: Sequence[Any] = cursor.fetchall()
                return first, rows
        raise AssertionError("unreachable")  # pragma: no cover

    def run_many(self, connection: Connection, parameter_sets: Sequence[Mapping[str, Any]]) -> None:
        """The statement once per parameter set, in one driver ``executemany`` (which psycopg
        pipelines): for writes of many rows, such as an import's events."""
        compiled = self._compiled_for(connection.dialect)
        run(connection, compiled.sql, [compiled.arguments(p) for p in parameter_sets], many=True)

    def _compiled_for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = self._compile(dialect)
        return compiled

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self._statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        if compiled.post_compile_params:
            # An expanding IN is rendered per call; its text cannot be compiled ahead.
            raise ValueError("a DriverStatement cannot hold an expanding parameter")
        return _Compiled(
            compiled.string,
            tuple(compiled.positiontup) if compiled.positional else None,
            # Values the statement binds itself (literal() and the like).
            {name: value for name, value in compiled.params.items() if value is not None},
            _prepared_form(compiled.string) if dialect.name == "postgresql" else None,
        )


@dataclass(frozen=True)
class DriverConnection:
    """A DBAPI connection with what running driver SQL on it needs beside it."""

    dbapi_connection: Any
    dialect: Dialect
    # Kept as long as the DBAPI connection: which statements are prepared on it (PostgreSQL).
    info: dict[str, Any]
    # The SQLAlchemy Connection around it, which cursor event listeners are handed; None for a
    # connection outside SQLAlchemy (``engine.LoneReads``), used only while nothing listens.
    listened: Connection | None = None

    @classmethod
    def around(cls, connection: Connection) -> DriverConnection:
        return cls(
            connection.connection.dbapi_connection, connection.dialect, connection.info, connection
        )


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # The parameters' order for a positional paramstyle (SQLite's "?"); None for named ones.
    order: tuple[str, ...] | None
    literals: dict[str, Any]
    # PostgreSQL: the text to PREPARE ($1, $2, … for the named parameters) and the parameters'
    # names in that order.
    prepared: tuple[str, tuple[str, ...]] | None = field(default=None)

    def arguments(self, parameters: Mapping[str, Any]) -> Any:
        """``parameters`` and the literals, as the driver's paramstyle takes them."""
        values = {**self.literals, **parameters} if self.literals else parameters
        return values if self.order is None else tuple(values[name] for name in self.order)


# Numbers the statements' prepared names, unique in the process.
_NUMBERS = itertools.count(1)
# Key, in a pooled connection's info, of the names of the statements prepared on it.
_PREPARED = "registry_prepared_statements"
# Key, in a connection's info, of the cursor its statements alone run on (PostgreSQL).
_CURSOR = "registry_statement_cursor"
_NAMED_PARAMETER = re.compile(r"%\((\w+)\)s")
# A prepared statement is planned once, for any values: PostgreSQL otherwise plans each
# execution anew for as long as its generic plan is estimated dearer than the plans for the
# values given, which for the latest-versions statement (a stage compared with a parameter, where
# a given stage has statistics) is always: 0.2-0.3 ms of planning on every GetLatestVersions.
# These are point lookups on unique or leading index columns, whose plan the values do not change.
_GENERIC_PLAN = "SET LOCAL plan_cache_mode = force_generic_plan"


def _prepared_form(sql: str) -> tuple[str, tuple[str, ...]]:
    """``sql`` in psycopg's named paramstyle as PREPARE takes it: each distinct parameter a
    ``$n``, and the parameters' names in that order."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match[1] not in order:
            order.append(match[1])
        return f"${order.index(match[1]) + 1}"

    return _NAMED_PARAMETER.sub(number, sql).replace("%%", "%"), tuple(order)


def run(
    connection: Connection, sql: str, arguments: Any = (), *, many: bool = False
) -> Sequence[Any]:
    """Driver SQL on ``connection``'s DBAPI connection: the rows, as tuples. ``many``: run it
    once per set of ``arguments`` (no rows)."""
    return _run_on(
        connection.connection.dbapi_connection,
        connection.dialect,
        connection,
        sql,
        arguments,
        many=many,
    )


def _run_on(
    dbapi_connection: Any,
    dialect: Dialect,
    listened: Connection | None,
    sql: str,
    arguments: Any,
    *,
    many: bool = False,
) -> Sequence[Any]:
    """``run`` on ``dbapi_connection``; ``listened``: the ``Connection`` around it, reported
    to SQLAlchemy's cursor event listeners (None: there is none, and nothing listens)."""
    cursor = dbapi_connection.cursor()
    with _driver_errors(dialect, listened, cursor, sql, arguments, many=many):
        if many:
            cursor.executemany(sql, arguments)
        else:
            cursor.execute(sql, arguments)
        return cursor.fetchall() if not many and cursor.description else ()


@contextmanager
def _driver_errors(
    dialect: Dialect,
    listened: Connection | None,
    cursor: Any,
    sql: str,
    arguments: Any,
    *,
    many: bool,
    close: bool = True,
) -> Iterator[None]:
    """Around the driver's execution of ``sql``: SQLAlchemy's cursor events fired on
    ``listened`` (when there is one), driver errors wrapped as SQLAlchemy wraps them, ``cursor``
    closed (unless ``close`` is false: it is kept for the next statement)."""
    # Listeners of SQLAlchemy's cursor events (tracing instrumentation, the plan checks) see
    # driver SQL as they see every other statement.
    events = None if listened is None else listened.engine.dispatch
    try:
        if events is not None and events.before_cursor_execute:
            events.before_cursor_execute(listened, cursor, sql, arguments, None, many)
        yield
        if events is not None and events.after_cursor_execute:
            events.after_cursor_execute(listened, cursor, sql, arguments, None, many)
    except dialect.loaded_dbapi.Error as error:
        # Wrapped as SQLAlchemy wraps it, so that the store's handling of database errors
        # (unavailable, interrupted at the deadline, lost connection) applies unchanged.
        raise DBAPIError.instance(
            sql, arguments, error, dialect.loaded_dbapi.Error, dialect=dialect
        ) from error
    finally:
        if close:
            cursor.close()


def value_parameters(columns: Iterable[str]) -> dict[str, BindParameter[Any]]:
    """Parameters for the values of ``columns`` in an INSERT or UPDATE (SQLAlchemy reserves the
    columns' own names for the parameters it makes itself)."""
    return {column: bindparam(f"new_{column}") for column in columns}


def bound_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` by the names ``value_parameters`` binds them to."""
    return {f"new_{column}": value for column, value in values.items()}
