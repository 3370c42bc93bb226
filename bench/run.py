"""`make bench-search`: seed (or reuse) a large registry, serve it, and time searches over gRPC.

    python -m bench.run                         # SQLite, 100 000 models / 1 000 000 versions
    python -m bench.run --backend postgres      # PostgreSQL at --postgres-url (a scratch database)
    python -m bench.run --seconds 2 --models 10000 --versions 100000   # a quick look

The seeded SQLite file is cached under bench/.data/ (the PostgreSQL database is kept between runs
too), so only the first run pays for seeding. The server is a real `registry-service serve`
process; clients are separate processes, one gRPC channel each, every call timed on the client.
Each scenario runs for --seconds (at most --max-calls calls per client) at each client count.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import func, select

from bench.explain import plans
from bench.load import Workers, summarize
from bench.machine import machine
from bench.processes import ServerProcess, start_server
from bench.scenarios import scenarios
from bench.seed import Shape, seed_postgres, seed_sqlite
from registry_service.store import schema
from registry_service.store.engine import make_engine
from registry_service.store.registry_store import RegistryStore
from registry_service.store.tables import model_versions, registered_models

DATA = Path(__file__).with_name(".data")
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/registry_bench"
# The targets.
P99_TARGET_MS = 20.0
LATEST_RATIO_TARGET = 1.3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--models", type=int, default=100_000)
    parser.add_argument("--versions", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per case")
    parser.add_argument("--max-calls", type=int, default=20_000, help="per client and case")
    parser.add_argument("--clients", default="1,16", help="comma-separated client counts")
    parser.add_argument("--threads", type=int, default=16, help="server threads")
    parser.add_argument("--reseed", action="store_true", help="seed again even if cached")
    args = parser.parse_args(argv)

    shape = Shape(args.models, args.versions)
    clients = [int(count) for count in args.clients.split(",")]
    DATA.mkdir(exist_ok=True)
    url = _database(args, shape)
    run_ids = _sample_run_ids(url, shape)
    cases = scenarios(shape, run_ids)

    engine = make_engine(url)
    plan_file = DATA / f"plans-{args.backend}.txt"
    plan_file.write_text(plans(RegistryStore(engine), cases))
    engine.dispose()
    print(f"query plans: {plan_file}", flush=True)

    load_before = os.getloadavg()
    server = _start_server(url, args.threads)
    # One process per client, as every scenario here is a single-client latency question first.
    workers = Workers(max(clients), server.target, partial(scenarios, shape, run_ids))
    results: list[dict[str, Any]] = []
    try:
        for index, case in enumerate(cases):
            for count in clients:
                outcome = summarize(
                    workers.run(index, count, args.seconds, args.max_calls).outcomes
                )
                outcome.update(scenario=case.name, clients=count, describes=case.describes)
                results.append(outcome)
                print(_line(outcome), flush=True)
                if outcome["errors"]:
                    print(f"  errors: {outcome['errors']}", flush=True)
    finally:
        workers.close()
        server.stop()

    report = {
        "backend": args.backend,
        "shape": {"models": shape.models, "versions": shape.versions},
        "seconds_per_case": args.seconds,
        "max_calls_per_client": args.max_calls,
        "server_threads": args.threads,
        "machine": machine(url),
        # Other work on the machine skews the figures; the 1-minute load average says how much.
        "load_average_1m": {"before": load_before[0], "after": os.getloadavg()[0]},
        "command": " ".join(["python -m bench.run", *(argv or sys.argv[1:])]),
        "results": results,
    }
    out = DATA / f"results-{args.backend}.json"
    out.write_text(json.dumps(report, indent=2))
    print()
    print(_table(report, cases))
    print(f"\nresults: {out}")
    return 0


# -- the database ----------------------------------------------------------------------------


def _database(args: argparse.Namespace, shape: Shape) -> str:
    if args.backend == "sqlite":
        path = DATA / f"registry-{shape.models}-{shape.versions}.db"
        if args.reseed or not _seeded(f"sqlite:///{path}", shape):
            seed_sqlite(path, shape)
        return f"sqlite:///{path}"
    url: str = args.postgres_url
    if args.reseed or not _seeded(url, shape):
        seed_postgres(url, shape)
    return url


def _seeded(url: str, shape: Shape) -> bool:
    """Whether ``url`` holds exactly the registry ``shape`` describes, at the newest schema."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return False
    engine = make_engine(url)
    try:
        if schema.current_revision(engine) != schema.head_revision():
            return False
        with engine.connect() as connection:
            models = connection.execute(select(func.count()).select_from(registered_models))
            versions = connection.execute(select(func.count()).select_from(model_versions))
            return (models.scalar_one(), versions.scalar_one()) == (shape.models, shape.versions)
    except sqlalchemy.exc.SQLAlchemyError:
        return False
    finally:
        engine.dispose()


def _sample_run_ids(url: str, shape: Shape) -> list[str]:
    ids = random.Random(7).sample(range(1, shape.versions + 1), min(1000, shape.versions))
    engine = make_engine(url)
    with engine.connect() as connection:
        found = connection.execute(
            select(model_versions.c.run_id).where(model_versions.c.id.in_(ids))
        ).scalars()
        run_ids = sorted(found)
    engine.dispose()
    return run_ids


# -- the server ------------------------------------------------------------------------------


def _start_server(url: str, threads: int) -> ServerProcess:
    server = start_server(
        [
            sys.executable,
            "-m",
            "registry_service",
            "serve",
            "--database-url",
            url,
            "--port",
            "0",
            "--threads",
            str(threads),
            "--log-level",
            "INFO",
        ],
        DATA / "server.log",
    )
    print(f"server pid {server.popen.pid} on {server.target}", flush=True)
    return server


# -- the report ------------------------------------------------------------------------------


def _size(label: str) -> int:
    """The version count in a label such as "100 000 versions"."""
    return int(label.split(" versions")[0].replace(" ", ""))


def _largest(labels: dict[str, dict[str, float]]) -> dict[str, float] | None:
    return labels[max(labels, key=_size)] if labels else None


def _line(row: dict[str, Any]) -> str:
    return (
        f"{row['scenario']:<26} {row['clients']:>2} clients: p50 {row['p50_ms']:7.2f} ms  "
        f"p99 {row['p99_ms']:7.2f} ms  {row['calls_per_s']:8.1f} calls/s  ({row['calls']} calls)"
    )


def _table(report: dict[str, Any], cases: list[Any]) -> str:
    indexed = {case.name for case in cases if case.indexed_search}
    lines = [
        "| scenario | clients | p50 ms | p99 ms | calls/s | target |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in report["results"]:
        target = ""
        if row["scenario"] in indexed and row["clients"] == 1:
            verdict = "met" if row["p99_ms"] <= P99_TARGET_MS else "MISSED"
            target = f"p99 ≤ {P99_TARGET_MS:g} ms: {verdict}"
        lines.append(
            f"| {row['scenario']} | {row['clients']} | {row['p50_ms']:.2f} | "
            f"{row['p99_ms']:.2f} | {row['calls_per_s']:.0f} | {target} |"
        )
    for row in report["results"]:
        labels = row.get("by_label") or {}
        if not labels:
            continue
        lines.append("")
        lines.append(
            f"{row['scenario']}, {row['clients']} client(s): "
            + ", ".join(
                f"{label} p50 {stats['p50_ms']:.2f} ms p99 {stats['p99_ms']:.2f} ms"
                for label, stats in sorted(labels.items(), key=lambda item: _size(item[0]))
            )
        )
        smallest, largest = labels.get("10 versions"), _largest(labels)
        if smallest and largest and largest is not smallest:
            ratio = largest["p50_ms"] / smallest["p50_ms"]
            verdict = "met" if ratio <= LATEST_RATIO_TARGET else "MISSED"
            lines.append(
                f"  p50 at the most versions / at 10 versions = {ratio:.2f} "
                f"(target ≤ {LATEST_RATIO_TARGET}: {verdict})"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
