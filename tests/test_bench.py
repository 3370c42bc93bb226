"""`make bench`'s harness runs end to end in a tiny configuration (timings are never asserted):
the echo ceiling and every scenario on SQLite are measured, without errors, into the JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import api
from bench.api_scenarios import api_scenarios
from bench.seed import Shape


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
