"""Driver statements (registry_service/store/driver_sql.py), on both databases: what the hot
reads and the writes run instead of SQLAlchemy's execution, so they must bind, fail and show up
exactly as SQLAlchemy-executed statements do."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import bindparam, event, func, literal, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from registry_service.store.driver_sql import (
    DriverConnection,
    DriverStatement,
    bound_values,
    value_parameters,
)
from registry_service.store.registry_store import RegistryStore
from registry_service.store.tables import registered_models


def test_binds_named_parameters_and_the_statements_own_literals(store: RegistryStore) -> None:
    store.create_registered_model("fraud")
    statement = DriverStatement(
        select(registered_models.c.name, literal("constant").label("extra"))
        .where(registered_models.c.name == bindparam("name"))
        .where(registered_models.c.last_version == bindparam("versions"))
    )
    with store.reading() as connection:
        assert statement.rows(connection, {"name": "fraud", "versions": 0}) == [
            ("fraud", "constant")
        ]
        assert statement.rows(connection, {"name": "absent", "versions": 0}) == []


def test_insert_values_bound_by_their_own_names(store: RegistryStore) -> None:
    row = {
        "name": "direct",
        "creation_timestamp": 1,
        "last_updated_timestamp": 2,
        "user_id": "",
        "description": "",
        "last_version": 0,
    }
    statement = DriverStatement(
        registered_models.insert().values(value_parameters(row)).returning(registered_models.c.name)
    )
    with store.writing() as connection:
        assert statement.rows(connection, bound_values(row)) == [("direct",)]
    assert store.get_registered_model("direct").last_updated_timestamp == 2


def test_driver_errors_arrive_wrapped_as_sqlalchemy_wraps_them(store: RegistryStore) -> None:
    store.create_registered_model("fraud")
    statement = DriverStatement(
        registered_models.insert().values(
            value_parameters(["name", "creation_timestamp", "last_updated_timestamp"])
        )
    )
    duplicate = {"name": "fraud", "creation_timestamp": 1, "last_updated_timestamp": 1}
    with pytest.raises(IntegrityError) as raised, store.writing() as connection:
        statement.rows(connection, bound_values(duplicate))
    assert isinstance(raised.value, DBAPIError)
    assert raised.value.orig is not None


def test_an_expanding_parameter_is_refused(store: RegistryStore) -> None:
    statement = DriverStatement(
        select(registered_models.c.id).where(
            registered_models.c.id.in_(bindparam("ids", expanding=True))
        )
    )
    with pytest.raises(ValueError, match="expanding"), store.reading() as connection:
        statement.rows(connection, {"ids": [1]})


def test_cursor_event_listeners_see_driver_sql(store: RegistryStore) -> None:
    """Tracing instrumentation and the plan checks listen for SQLAlchemy's cursor events."""
    seen: list[tuple[str, str]] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(("before", statement))

    def after(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(("after", statement))

    engine = store.engine
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        store.create_registered_model("fraud")
        store.create_model_version("fraud", "s3://bucket/model")
        seen.clear()
        store.get_model_version("fraud", 1)
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    reads = [sql for when, sql in seen if when == "before" and "model_versions" in sql]
    assert reads, seen
    assert [sql for when, sql in seen if when == "after"] == [
        sql for when, sql in seen if when == "before"
    ]


def test_the_version_read_is_one_compiled_text_for_every_call(store: RegistryStore) -> None:
    """Compiled once: two reads of different versions send the same SQL text."""
    store.create_registered_model("fraud")
    for _ in range(2):
        store.create_model_version("fraud", "s3://bucket/model")
    texts: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        texts.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        store.get_model_version("fraud", 1)
        first = list(texts)
        texts.clear()
        store.get_model_version("fraud", 2)
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    assert texts == first


def test_run_many_writes_one_row_per_parameter_set(store: RegistryStore) -> None:
    rows = [
        {
            "name": name,
            "creation_timestamp": 1,
            "last_updated_timestamp": 1,
            "user_id": "",
            "description": "",
            "last_version": 0,
        }
        for name in ("first", "second", "third")
    ]
    statement = DriverStatement(registered_models.insert().values(value_parameters(rows[0])))
    with store.writing() as connection:
        statement.run_many(connection, [bound_values(row) for row in rows])
    names = [model.name for model in store.search_registered_models("", page_size=10).items]
    assert sorted(names) == ["first", "second", "third"]


# Names a caller may send that quoting must keep inert: rows_alone binds them as literals on
# PostgreSQL.
AWKWARD_NAMES = ["it's", "back\\slash", "x'); DROP TABLE registered_models; --", "100 %", "模型"]


def _name_statement() -> DriverStatement:
    return DriverStatement(
        select(registered_models.c.name, literal("constant").label("extra")).where(
            registered_models.c.name == bindparam("name")
        )
    )


@pytest.mark.parametrize("timeout_ms", [None, 5_000])
def test_a_statement_alone_returns_what_it_returns_in_a_transaction(
    store: RegistryStore, timeout_ms: int | None
) -> None:
    for name in AWKWARD_NAMES:
        store.create_registered_model(name)
    statement = _name_statement()
    for name in [*AWKWARD_NAMES, "absent"]:
        with store.reading() as connection:
            in_transaction = statement.rows(connection, {"name": name})
        with store.engine.connect() as connection:
            alone = statement.rows_alone(
                DriverConnection.around(connection), {"name": name}, timeout_ms
            )
        assert [tuple(row) for row in alone] == [tuple(row) for row in in_transaction]
        assert len(alone) == (name != "absent")
    assert store.get_registered_model(AWKWARD_NAMES[2]).name == AWKWARD_NAMES[2]


def _prepared_names(store: RegistryStore) -> list[str]:
    with store.engine.connect() as connection:
        return [
            row[0] for row in connection.exec_driver_sql("SELECT name FROM pg_prepared_statements")
        ]


def test_postgresql_prepares_a_statement_once_per_connection(postgres_store: RegistryStore) -> None:
    statement = _name_statement()
    for _ in range(3):
        with postgres_store.engine.connect() as connection:
            assert statement.rows_alone(
                DriverConnection.around(connection), {"name": "m"}, 5_000
            ) == [("m", "constant")]
    # pool_size=1: the one connection, and the statement prepared on it once.
    assert len([name for name in _prepared_names(postgres_store) if "registry_" in name]) == 1


def test_postgresql_prepares_again_what_was_deallocated(postgres_store: RegistryStore) -> None:
    statement = _name_statement()
    with postgres_store.engine.connect() as connection:
        statement.rows_alone(DriverConnection.around(connection), {"name": "m"}, None)
        connection.exec_driver_sql("DEALLOCATE ALL")
        connection.commit()
        assert statement.rows_alone(DriverConnection.around(connection), {"name": "m"}, None) == [
            ("m", "constant")
        ]


def test_postgresql_bounds_a_statement_alone_by_its_timeout_and_only_it(
    postgres_store: RegistryStore,
) -> None:
    slow = DriverStatement(select(func.pg_sleep(bindparam("seconds"))))
    with postgres_store.engine.connect() as connection:
        with pytest.raises(DBAPIError, match="statement timeout"):
            slow.rows_alone(DriverConnection.around(connection), {"seconds": 5}, 50)
        # The timeout was the statement's alone, and the connection is fit for the next one.
        assert slow.rows_alone(DriverConnection.around(connection), {"seconds": 0.2}, None) == [
            ("",)
        ]
        setting = connection.exec_driver_sql("SHOW statement_timeout").scalar_one()
    assert setting == "0"


def test_postgresql_plans_a_statement_alone_once_for_any_values(
    postgres_store: RegistryStore,
) -> None:
    # PostgreSQL plans the first five executions of a prepared statement for their values, and
    # goes on doing so whenever the generic plan looks dearer: the latest-versions read (a stage
    # compared with a parameter) paid a planning on every call that way.
    # While something listens for cursor events the reads run on the pool's one connection,
    # whose prepared statements this session can then see (the statement is the same).
    def listening(*_args: Any) -> None:
        pass

    event.listen(postgres_store.engine, "before_cursor_execute", listening)
    try:
        for number in range(8):
            # A change first, so that the read is not answered from memory (store/read_cache.py).
            postgres_store.set_registered_model_tag("m", "read", str(number))
            assert [v.version for v in postgres_store.get_latest_versions("m")] == [1]
    finally:
        event.remove(postgres_store.engine, "before_cursor_execute", listening)
    with postgres_store.engine.connect() as connection:
        plans = connection.exec_driver_sql(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE name LIKE 'registry%%' AND statement LIKE '%%newest%%'"
        ).all()
        # Only for the statement it runs with.
        setting = connection.exec_driver_sql("SHOW plan_cache_mode").scalar_one()
    assert [tuple(row) for row in plans] == [(8, 0)]
    assert setting == "auto"
