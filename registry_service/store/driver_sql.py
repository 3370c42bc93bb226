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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BindParameter, Executable, bindparam
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError


class DriverStatement:
    """``statement`` compiled to driver SQL once per dialect, run with named parameters."""

    def __init__(self, statement: Executable) -> None:
        self._statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def rows(self, connection: Connection, parameters: Mapping[str, Any]) -> Sequence[Any]:
        """The result rows as tuples, in the transaction open on ``connection``."""
        compiled = self._compiled_for(connection.dialect)
        return run(connection, compiled.sql, compiled.arguments(parameters))

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
        )


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # The parameters' order for a positional paramstyle (SQLite's "?"); None for named ones.
    order: tuple[str, ...] | None
    literals: dict[str, Any]

    def arguments(self, parameters: Mapping[str, Any]) -> Any:
        """``parameters`` and the literals, as the driver's paramstyle takes them."""
        values = {**self.literals, **parameters} if self.literals else parameters
        return values if self.order is None else tuple(values[name] for name in self.order)


def run(
    connection: Connection, sql: str, arguments: Any = (), *, many: bool = False
) -> Sequence[Any]:
    """Driver SQL on ``connection``'s DBAPI connection: the rows, as tuples. ``many``: run it
    once per set of ``arguments`` (no rows)."""
    dialect = connection.dialect
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    # Listeners of SQLAlchemy's cursor events (tracing instrumentation, the plan checks) see
    # driver SQL as they see every other statement.
    events = connection.engine.dispatch
    try:
        if events.before_cursor_execute:
            events.before_cursor_execute(connection, cursor, sql, arguments, None, many)
        if many:
            cursor.executemany(sql, arguments)
        else:
            cursor.execute(sql, arguments)
        if events.after_cursor_execute:
            events.after_cursor_execute(connection, cursor, sql, arguments, None, many)
        return cursor.fetchall() if not many and cursor.description else ()
    except dialect.loaded_dbapi.Error as error:
        # Wrapped as SQLAlchemy wraps it, so that the store's handling of database errors
        # (unavailable, interrupted at the deadline, lost connection) applies unchanged.
        raise DBAPIError.instance(
            sql, arguments, error, dialect.loaded_dbapi.Error, dialect=dialect
        ) from error
    finally:
        cursor.close()


def value_parameters(columns: Iterable[str]) -> dict[str, BindParameter[Any]]:
    """Parameters for the values of ``columns`` in an INSERT or UPDATE (SQLAlchemy reserves the
    columns' own names for the parameters it makes itself)."""
    return {column: bindparam(f"new_{column}") for column in columns}


def bound_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` by the names ``value_parameters`` binds them to."""
    return {f"new_{column}": value for column, value in values.items()}
