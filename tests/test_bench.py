"""`make bench`'s harness runs end to end in a tiny configuration (timings are never asserted):
the echo ceiling and every scenario on SQLite are measured, without errors, into the JSON."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bench import api
from bench.api_scenarios import api_scenarios
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
    expected = [("echo", "echo (ceiling)")] + [
        ("sqlite", case.name) for case in api_scenarios(Shape(200, 5000))
    ]
    assert list(rows) == expected
    for row in rows.values():
        assert row["calls"] > 0
        assert row["errors"] == {}
    assert len(report["memory_mib"]["sqlite"]) == 1
    assert "| sqlite | TransitionModelVersionStage | 1 |" in capsys.readouterr().out


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
