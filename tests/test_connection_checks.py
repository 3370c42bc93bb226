"""Pooled PostgreSQL connections are pinged at checkout only when they have not committed in the
last PING_AFTER_IDLE_S seconds (store/engine.py): a connection the database dropped while it sat
in the pool is replaced without failing a call, and the round trip is saved on busy ones."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy

from registry_service.errors import Unavailable
from registry_service.store import engine as engines
from registry_service.store.registry_store import RegistryStore


def _drop_pooled_connections(store: RegistryStore) -> None:
    """What a database restart does to the pool: every idle server-side session ends."""
    with store.engine.connect() as connection:
        mine = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    admin = sqlalchemy.create_engine(store.engine.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        ended = connection.exec_driver_sql(f"SELECT pg_terminate_backend({mine})").scalar_one()
    admin.dispose()
    assert ended


def test_a_connection_dropped_while_idle_is_replaced_without_a_failed_call(
    postgres_store: RegistryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _drop_pooled_connections(postgres_store)
    # The pooled connection's last commit is now "long ago".
    monkeypatch.setattr(engines, "PING_AFTER_IDLE_S", 0.0)
    assert postgres_store.get_model_version("m", 1).source == "s3://bucket/1"


def test_a_connection_that_just_committed_is_used_without_a_ping(
    postgres_store: RegistryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # However slow this machine is between the two calls.
    monkeypatch.setattr(engines, "PING_AFTER_IDLE_S", 3600.0)
    raw_pings: list[Any] = []
    original = postgres_store.engine.dialect.do_ping

    def counting_ping(dbapi_connection: Any) -> bool:
        raw_pings.append(dbapi_connection)
        return original(dbapi_connection)

    monkeypatch.setattr(postgres_store.engine.dialect, "do_ping", counting_ping)
    postgres_store.get_model_version("m", 1)
    postgres_store.get_model_version("m", 1)
    assert raw_pings == []


def test_a_connection_dropped_right_after_a_commit_fails_one_call_then_the_pool_recovers(
    postgres_store: RegistryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trade-off, shown: no ping within the second after a commit, so that one call fails,
    retryable; its disconnect makes the pool replace the connection for the next."""
    monkeypatch.setattr(engines, "PING_AFTER_IDLE_S", 3600.0)
    _drop_pooled_connections(postgres_store)
    with pytest.raises(Unavailable):
        postgres_store.get_model_version("m", 1)
    assert postgres_store.get_model_version("m", 1).source == "s3://bucket/1"


def _statement_timeout_ms(store: RegistryStore) -> int:
    with store.reading() as connection:
        return int(
            connection.exec_driver_sql(
                "SELECT setting FROM pg_settings WHERE name = 'statement_timeout'"
            ).scalar_one()
        )


def test_a_transaction_inside_a_call_is_begun_with_the_calls_time_left_as_statement_timeout(
    postgres_store: RegistryStore,
) -> None:
    # BEGIN and SET LOCAL statement_timeout go to PostgreSQL as one query (engine.py).
    with engines.call_bounds(30):
        within_call = _statement_timeout_ms(postgres_store)
    assert 29_000 <= within_call <= 30_000
    # Local to the transaction: the next one, outside any call, has the server's default.
    assert _statement_timeout_ms(postgres_store) == 0


def test_a_connection_lent_out_for_autocommit_work_then_runs_transactions_as_before(
    postgres_store: RegistryStore,
) -> None:
    with postgres_store.engine.connect().execution_options(
        isolation_level="AUTOCOMMIT"
    ) as connection:
        # Refused inside a transaction block: so none was begun.
        connection.exec_driver_sql("VACUUM registered_models")
    # The same pooled connection (pool_size=1): its transactions still commit and roll back.
    with engines.call_bounds(30):
        postgres_store.create_registered_model("after-vacuum")
        assert _statement_timeout_ms(postgres_store) > 0
    assert [m.name for m in postgres_store.search_registered_models().items] == [
        "after-vacuum",
        "m",
    ]
