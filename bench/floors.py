"""`make bench-floors`: how fast the least database work can go on this machine, against the echo.

    python -m bench.floors                      # what `make bench-floors` runs
    python -m bench.floors --rounds 1 --seconds 1

The echo of bench/echo.py, the ceiling `make bench` divides by, is served as `make bench` serves it
(same --threads and --workers), then again with each floor of bench/floor_work.py: one bare
``SELECT 1`` round trip to PostgreSQL per call, the registry's own GetModelVersion statement as the
registry sends it (on a registry seeded as `make bench` seeds it) and the version's row alone by
its primary key on the same path, one committed single-row INSERT on PostgreSQL, one committed
single-row INSERT on SQLite under the registry's writer lock. The load is `make bench`'s (client
processes, one even-spread connection per client). The kinds are measured in turn, --rounds times,
so that the machine's slow and fast spells fall on every kind; the table gives each kind's median
calls/s, its median ratio to the echo of the same round, p50 and p99, and the CPU of the server and
of PostgreSQL's processes. No registry call can beat the floor of its kind: each floor says what
the issue's targets leave for the registry's own work.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy

from bench.api import DATA, DEFAULT_POSTGRES_URL, MLFLOW_BEST, READ_RATIO_TARGET
from bench.api_scenarios import ceiling
from bench.floor_work import KINDS, TABLE
from bench.load import Workers, summarize
from bench.processes import ServerProcess, start_server
from bench.seed import Shape, seed_postgres

POSTGRES_FLOORS_URL = DEFAULT_POSTGRES_URL.rsplit("/", 1)[0] + "/registry_bench_floors"
_POINT_READS = f"PostgreSQL point reads ≥ {READ_RATIO_TARGET:.0%} of the echo"
# What each floor bounds: the target that no registry call of that kind can meet when
# the floor itself does not.
BOUNDS = {
    "postgres-read": _POINT_READS,
    "postgres-point-read": _POINT_READS,
    "postgres-row-read": _POINT_READS,
    "postgres-write": (
        f"PostgreSQL creates ≥ {10 * MLFLOW_BEST['CreateModelVersion']:.0f}/s, "
        f"transitions ≥ {10 * MLFLOW_BEST['TransitionModelVersionStage']:.0f}/s"
    ),
    "sqlite-write": (
        f"SQLite creates ≥ {10 * MLFLOW_BEST['CreateModelVersion']:.0f}/s, "
        f"transitions ≥ {10 * MLFLOW_BEST['TransitionModelVersionStage']:.0f}/s"
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floors", description=__doc__)
    parser.add_argument("--postgres-url", default=POSTGRES_FLOORS_URL)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per cell")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--models", type=int, default=1_000, help="the point reads' registry, as `make bench`'s"
    )
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=16, help="server threads per worker")
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument("--out", type=Path, default=DATA / "floors.json")
    args = parser.parse_args(argv)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    urls = {
        "none": "",
        "postgres-read": args.postgres_url,
        "postgres-point-read": args.postgres_url,
        "postgres-row-read": args.postgres_url,
        "postgres-write": args.postgres_url,
        "sqlite-write": _fresh_sqlite(args.out.parent / "bench-floors.db"),
    }
    _fresh_postgres(args.postgres_url, Shape(args.models, args.versions))
    rows: list[dict[str, Any]] = []
    for round_number in range(1, args.rounds + 1):
        for kind in KINDS:
            server = start_server(
                [
                    *(sys.executable, "-m", "bench.echo", "--floor", kind),
                    *("--database-url", urls[kind]),
                    *("--threads", str(args.threads), "--workers", str(args.workers)),
                ],
                args.out.parent / f"floor-{kind}.log",
            )
            try:
                row = _measure(server, args)
            finally:
                server.stop()
            row.update(kind=kind, round=round_number)
            rows.append(row)
            print(_line(row), flush=True)
    report = {
        "command": " ".join(["python -m bench.floors", *(argv or sys.argv[1:])]),
        "server": {"threads": args.threads, "workers": args.workers},
        "clients": args.clients,
        "client_processes": args.client_processes,
        "seconds_per_cell": args.seconds,
        "rounds": rows,
        "medians": medians(rows),
    }
    args.out.write_text(json.dumps(report, indent=2))
    print()
    print(table(report))
    print(f"\nresults: {args.out}")
    return 0


def _fresh_sqlite(path: Path) -> str:
    """An empty WAL-mode SQLite file with the floors' table at ``path``: its URL."""
    for stale in path.parent.glob(path.name + "*"):
        stale.unlink()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)")
    connection.commit()
    connection.close()
    return f"sqlite:///{path}"


def _fresh_postgres(url: str, shape: Shape) -> None:
    """The scratch database ``url``, dropped and created again: a registry seeded with ``shape``
    for the point reads, and the write floor's table."""
    seed_postgres(url, shape)
    engine = sqlalchemy.create_engine(
        sqlalchemy.make_url(url).set(drivername="postgresql+psycopg"),
        isolation_level="AUTOCOMMIT",
    )
    with engine.connect() as connection:
        connection.exec_driver_sql(
            f"CREATE TABLE {TABLE} (id BIGSERIAL PRIMARY KEY, payload BYTEA NOT NULL)"
        )
    engine.dispose()


def _measure(server: ServerProcess, args: argparse.Namespace) -> dict[str, Any]:
    workers = Workers(min(args.client_processes, args.clients), server.target, ceiling)
    try:
        run = workers.run(
            0,
            args.clients,
            args.seconds,
            10**9,
            probe=server.cpu_seconds,
            connections=server.connections_per_worker,
            database_probe=postgres_cpu_seconds,
        )
    finally:
        workers.close()
    row = summarize(run.outcomes)
    del row["by_label"]
    window = row["window_s"]
    row.update(
        server_cpu_percent=(run.server_cpu_seconds or 0.0) / window * 100,
        database_cpu_percent=(run.database_cpu_seconds or 0.0) / window * 100,
        connections_per_worker=run.connections_per_worker,
    )
    return row


def postgres_cpu_seconds() -> float:
    """User and system CPU seconds of this machine's PostgreSQL processes so far."""
    total = 0.0
    for process in psutil.process_iter(["name", "cpu_times"]):
        times = process.info["cpu_times"]
        if process.info["name"] in ("postgres", "postmaster") and times is not None:
            total += times.user + times.system
    return total


def medians(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per kind, the median over the rounds of each figure, and of its ratio to the echo of the
    same round."""
    echo = {row["round"]: row["calls_per_s"] for row in rows if row["kind"] == "none"}
    result = {}
    for kind in KINDS:
        ours = [row for row in rows if row["kind"] == kind]
        if not ours:
            continue

        def median(figure: Callable[[dict[str, Any]], float], ours: list[Any] = ours) -> float:
            return statistics.median(figure(row) for row in ours)

        result[kind] = {
            "calls_per_s": median(lambda row: row["calls_per_s"]),
            "echo_ratio": median(lambda row: row["calls_per_s"] / echo[row["round"]]),
            "p50_ms": median(lambda row: row["p50_ms"]),
            "p99_ms": median(lambda row: row["p99_ms"]),
            "errors": sum(sum(row["errors"].values()) for row in ours),
            "server_cpu_percent": median(lambda row: row["server_cpu_percent"]),
            "database_cpu_percent": median(lambda row: row["database_cpu_percent"]),
        }
    return result


def _line(row: dict[str, Any]) -> str:
    return (
        f"round {row['round']} {row['kind']:<15} {row['calls_per_s']:8.0f}/s  "
        f"p50 {row['p50_ms']:6.2f} ms  p99 {row['p99_ms']:7.2f} ms  "
        f"errors {sum(row['errors'].values())}  server CPU {row['server_cpu_percent']:.0f} %  "
        f"PostgreSQL CPU {row['database_cpu_percent']:.0f} %"
    )


def table(report: dict[str, Any]) -> str:
    lines = [
        "| floor | calls/s | of echo | p50 ms | p99 ms | errors | server CPU | PostgreSQL CPU "
        "| bounds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for kind, figures in report["medians"].items():
        lines.append(
            f"| {'echo (none)' if kind == 'none' else kind} | {figures['calls_per_s']:.0f} | "
            f"{figures['echo_ratio']:.0%} | {figures['p50_ms']:.2f} | {figures['p99_ms']:.2f} | "
            f"{figures['errors']} | {figures['server_cpu_percent']:.0f} % | "
            f"{figures['database_cpu_percent']:.0f} % | {BOUNDS.get(kind, '')} |"
        )
    lines.append("")
    lines.append(
        f"medians of {max(row['round'] for row in report['rounds'])} round(s); "
        f"{report['clients']} clients in {report['client_processes']} processes; server: "
        f"{report['server']['workers']} worker(s) x {report['server']['threads']} threads; "
        f"{report['seconds_per_cell']:g} s per cell; CPU 100 % = one core"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
