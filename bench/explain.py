"""The query plans behind each benchmark scenario, as the store really issues them.

Runs one request of every scenario through the store (no server) while recording each SQL
statement it executes, then asks the database for the plan of each: EXPLAIN QUERY PLAN on SQLite,
EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from bench.scenarios import Scenario
from registry_service.store.registry_store import RegistryStore


@contextmanager
def recording(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def call(store: RegistryStore, scenario: Scenario, request: Any) -> None:
    if scenario.method == "SearchModelVersions":
        store.search_model_versions(request.filter, list(request.order_by), request.page_size)
    elif scenario.method == "SearchRegisteredModels":
        store.search_registered_models(request.filter, list(request.order_by), request.page_size)
    else:
        store.get_latest_versions(request.name, list(request.stages))


def plans(store: RegistryStore, scenarios: list[Scenario]) -> str:
    engine = store.engine
    sqlite = engine.dialect.name == "sqlite"
    out: list[str] = []
    for scenario in scenarios:
        request = scenario.request(random.Random(1))
        with recording(engine) as statements:
            call(store, scenario, request)
        out.append(f"## {scenario.name}: {scenario.describes}")
        out.append(f"request: {str(request).strip() or '(empty)'}")
        for number, (statement, parameters) in enumerate(statements, start=1):
            out.append(f"-- statement {number}")
            out.append(" ".join(statement.split()))
            prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "
            with engine.connect() as connection:
                rows = connection.exec_driver_sql(prefix + statement, parameters).all()
            if sqlite:
                out.extend(f"   {row[3]}" for row in rows)
            else:
                out.extend(f"   {row[0]}" for row in rows)
        out.append("")
    return "\n".join(out)
