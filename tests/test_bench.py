"""`make bench`'s harness runs end to end in a tiny configuration (timings are never asserted):
the three echo ceilings and every scenario on SQLite are measured, without errors, into the JSON."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy.engine import make_url

from bench import api, floors
from bench.api_scenarios import api_scenarios, ceiling
from bench.floor_work import KINDS, TABLE
from bench.load import Workers, balanced
from bench.processes import start_server
from bench.seed import Shape, seed_sqlite


def test_bench_runs_every_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    shape = ["--models", "200", "--versions", "5000"]
    api.main(
        [
            *("--backends", "sqlite", *shape, "--seconds", "0.3", "--clients", "1"),
            *("--client-processes", "1", "--workers", "1", "--threads", "4"),
            *("--out", str(out)),
        ]
    )
    report = json.loads(out.read_text())
    rows = {(row["backend"], row["scenario"]): row for row in report["results"]}
    expected = [
        ("sqlite", "echo (ceiling)"),
        ("sqlite", "bare echo (ceiling)"),
        ("sqlite", "bare aio echo (ceiling)"),
    ] + [("sqlite", case.name) for case in api_scenarios(Shape(200, 5000))]
    assert list(rows) == expected
    for row in rows.values():
        assert row["calls"] > 0
        assert row["errors"] == {}
    assert len(report["memory_mib"]["sqlite"]) == 1
    read = rows[("sqlite", "GetModelVersionByAlias")]
    for ceiling_name in api.CEILINGS:
        assert read[f"{ceiling_name}_ratio"] == read["calls_per_s"] / read[f"{ceiling_name}_per_s"]
    printed = capsys.readouterr().out
    assert "| sqlite | TransitionModelVersionStage | 1 |" in printed
    assert "| of bare aio echo |" in printed


def test_seeding_over_a_database_whose_log_was_left_behind_gives_the_new_database(
    tmp_path: Path,
) -> None:
    """A server that exits without closing every connection leaves its -wal file; SQLite would
    replay it onto whatever database file is next at that path."""
    path = tmp_path / "bench-api.db"
    left_behind = (
        "import os, sqlite3\n"
        f"db = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
        "db.execute('PRAGMA journal_mode=WAL')\n"
        "db.execute('PRAGMA wal_autocheckpoint=0')\n"
        "db.execute('CREATE TABLE stale (x)')\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", left_behind], check=True)
    assert Path(f"{path}-wal").stat().st_size > 0
    seed_sqlite(path, Shape(200, 5000))
    with sqlite3.connect(path) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
        models = db.execute("SELECT count(*) FROM registered_models").fetchone()[0]
    assert "stale" not in tables
    assert models == 200


def test_clients_reconnect_until_their_connections_are_spread_evenly_over_the_workers(
    tmp_path: Path,
) -> None:
    """Each client has a connection of its own (gRPC would share one between a process's
    channels), and a run starts only once SO_REUSEPORT has spread them evenly."""
    echo = start_server(
        [sys.executable, "-m", "bench.echo", "--threads", "4", "--workers", "2"],
        tmp_path / "echo.log",
    )
    workers = Workers(2, echo.target, ceiling)
    try:
        run = workers.run(0, 8, 0.2, 10**9, connections=echo.connections_per_worker)
    finally:
        workers.close()
        echo.stop()
    assert run.connections_per_worker == [4, 4]
    assert sum(len(outcome.latencies) for outcome in run.outcomes) > 0


@pytest.mark.parametrize(
    ("connections", "even"),
    [([8, 8], True), ([9, 7], True), ([10, 6], False), ([1, 0], True), ([36, 28], True)],
)
def test_an_even_spread_allows_one_eighth_of_the_clients_between_workers(
    connections: list[int], even: bool
) -> None:
    assert balanced(connections) is even


def test_the_floors_do_their_database_work_beside_the_echo(
    postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make bench-floors` in a tiny configuration: every floor answers, the point reads find
    their versions (each fails the call where it does not), and each write floor's rows are in its
    database (a floor that skipped its work would measure the echo)."""
    scratch = make_url(postgres_url)
    scratch = scratch.set(drivername="postgresql+psycopg", database=f"{scratch.database}_floors")
    out = tmp_path / "floors.json"
    try:
        floors.main(
            [
                *("--postgres-url", scratch.render_as_string(hide_password=False)),
                *("--rounds", "1", "--seconds", "0.3", "--clients", "2"),
                *("--models", "200", "--versions", "5000"),
                *("--client-processes", "1", "--workers", "1", "--threads", "4"),
                *("--out", str(out)),
            ]
        )
        engine = sqlalchemy.create_engine(scratch)
        with engine.connect() as connection:
            postgres_rows = connection.exec_driver_sql(f"SELECT count(*) FROM {TABLE}").scalar()
        engine.dispose()
    finally:
        admin = sqlalchemy.create_engine(
            scratch.set(database="postgres"), isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{scratch.database}" WITH (FORCE)')
        admin.dispose()
    report = json.loads(out.read_text())
    calls = {row["kind"]: row["calls"] for row in report["rounds"]}
    assert list(calls) == list(KINDS)
    assert all(count > 0 for count in calls.values())
    assert all(row["errors"] == {} for row in report["rounds"])
    assert report["medians"]["none"]["echo_ratio"] == 1.0
    assert "| postgres-read |" in capsys.readouterr().out
    with sqlite3.connect(tmp_path / "bench-floors.db") as db:
        sqlite_rows = db.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
    # Warm-up calls write rows too.
    assert sqlite_rows >= calls["sqlite-write"]
    assert postgres_rows >= calls["postgres-write"]
