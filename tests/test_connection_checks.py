"""PostgreSQL connections are pinged before use only when they have not proved alive (a commit,
or a point read that ran) in the last PING_AFTER_IDLE_S seconds (store/engine.py): a connection
the database dropped while it sat idle is replaced without failing a call, and the round trip is
saved on busy ones. That holds for the pool's connections, which transactions use, and for the
ones point reads keep outside it (``LoneReads``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy

from registry_service.errors import Unavailable
from registry_service.store import engine as engines
from registry_service.store.registry_store import RegistryStore


def _source_by_point_read(store: RegistryStore) -> str:
    return store.get_model_version("m", 1).source


def _name_by_transaction(store: RegistryStore) -> str:
    # A search, not a get: a get may be answered from the read cache, which checks its change
    # token on a lone connection first, so it would exercise both kinds of connection at once.
    return store.search_registered_models().items[0].name


# A point read runs on a connection kept outside the pool; a read in a transaction on a pooled one.
READS: dict[str, tuple[Callable[[RegistryStore], str], str]] = {
    "point read": (_source_by_point_read, "s3://bucket/1"),
    "transaction": (_name_by_transaction, "m"),
}


def _end_every_session(store: RegistryStore) -> None:
    """What a database restart does to the store's connections: every server-side session of
    its database ends (each test has the session's database to itself)."""
    admin = sqlalchemy.create_engine(store.engine.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        ended = connection.exec_driver_sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        ).scalar_one()
    admin.dispose()
    assert ended


@pytest.fixture(params=list(READS))
def read(request: pytest.FixtureRequest, postgres_store: RegistryStore) -> Callable[[], str]:
    """One kind of read, done once already so that its connection is open and idle."""
    run, expected = READS[request.param]
    assert run(postgres_store) == expected
    return lambda: run(postgres_store)


def test_a_connection_dropped_while_idle_is_replaced_without_a_failed_call(
    postgres_store: RegistryStore, read: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = read()
    _end_every_session(postgres_store)
    # The connection's last sign of life is now "long ago".
    monkeypatch.setattr(engines, "PING_AFTER_IDLE_S", 0.0)
    assert read() == expected


def test_a_connection_that_just_proved_alive_is_used_without_a_ping(
    postgres_store: RegistryStore, read: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # However slow this machine is between the two calls.
    monkeypatch.setattr(engines, "PING_AFTER_IDLE_S", 3600.0)
    raw_pings: list[Any] = []
    original = postgres_store.engine.dialect.do_ping

    def counting_ping(dbapi_connection: Any) -> bool:
        raw_pings.append(dbapi_connection)
        return original(dbapi_connection)

    monkeypatch.setattr(postgres_store.engine.dialect, "do_ping", counting_ping)
    read()
    read()
    assert raw_pings == []


def test_a_connection_dropped_right_after_use_fails_one_call_then_reads_recover(
    postgres_store: RegistryStore, read: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trade-off, shown: no ping within the second after a sign of life, so that one call
    fails, retryable; its disconnect has the connection replaced for the next."""
    expected = read()
    monkeypatch.setattr(engines, "PING_AFTER_IDLE_S", 3600.0)
    _end_every_session(postgres_store)
    with pytest.raises(Unavailable):
        read()
    assert read() == expected


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
