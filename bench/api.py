"""`make bench`: the registry's API throughput and latency against the gRPC ceiling.

    python -m bench.api                                  # what `make bench` runs
    python -m bench.api --backends sqlite --seconds 1    # a quick look

In one run, on one machine:

1. for SQLite, then PostgreSQL (--postgres-url, a scratch database dropped and created): a fresh
   registry seeded through bulk inserts (bench/seed.py; 1 000 models / 100 000 versions with
   tags and aliases, model-000000 with 10 000);
2. served side by side on it: the two ceilings, bench/echo.py's no-op method on the registry's
   own gRPC server construction (same --threads and --workers), once through the call pipeline
   (the interceptor) and once bare, without any interceptor; a third, the bare echo on the
   asyncio server the registry serves on (grpc.aio, answered on its loop); and the registry,
   served by `registry-service serve` with the same --threads and --workers;
3. the ceilings at every client count, then each scenario of bench/api_scenarios.py at every
   client count for --seconds after a warm-up, the reads (GetModelVersion, by alias,
   GetLatestVersions) each right after the ceilings again, so that a read and its ceilings
   share the machine's load of the moment.

Clients are grpc.aio loops in --client-processes spawned processes (several clients each), one
channel per client. The table gives calls/s, p50, p99, errors, the ratios to both ceilings at
the same client count (those measured right before it, for a read), server and client CPU
(100 % = one core), and the issue's targets at 16 clients; a second table puts each read beside
its three ceilings, p99 included. The JSON (--out) holds everything, with the memory of each
server worker at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from bench.api_scenarios import api_scenarios, bare_aio_ceiling, bare_ceiling, ceiling
from bench.load import Workers, balanced, summarize
from bench.machine import machine
from bench.processes import ServerProcess, start_server
from bench.scenarios import Scenario
from bench.seed import Shape, seed_postgres, seed_sqlite

DATA = Path(__file__).with_name(".data")
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/registry_bench_api"
# MLflow 3.17's best configuration measured on this project's machines (gunicorn workers,
# PostgreSQL), calls/s at 16 clients: the write targets are ten times these.
MLFLOW_BEST = {"CreateModelVersion": 290.0, "TransitionModelVersionStage": 240.0}
READ_RATIO_TARGET = 0.60
READ_P99_TARGET_MS = 15.0
TARGET_CLIENTS = 16
POINT_READS = {"GetModelVersion", "GetModelVersionByAlias"}
# The scenarios held to a share of the ceilings: each is measured right after them.
READS = POINT_READS | {"GetLatestVersions"}
# The ceilings' names in a row's fields (``<name>_per_s``, ``_p99_ms``, ``_ratio``).
CEILINGS = ("ceiling", "bare", "bare_aio")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--models", type=int, default=1_000)
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--clients", default="1,16,64", help="comma-separated client counts")
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per cell")
    parser.add_argument("--threads", type=int, default=16, help="server threads per worker")
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument("--scenarios", default="", help="comma-separated names; empty: all")
    parser.add_argument("--out", type=Path, default=DATA / "bench.json")
    args = parser.parse_args(argv)

    shape = Shape(args.models, args.versions)
    clients = [int(count) for count in args.clients.split(",")]
    processes = min(args.client_processes, max(clients))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    started = time.perf_counter()
    report: dict[str, Any] = {
        "command": " ".join(["python -m bench.api", *(argv or sys.argv[1:])]),
        "shape": {"models": shape.models, "versions": shape.versions},
        "seconds_per_cell": args.seconds,
        "server": {"threads": args.threads, "workers": args.workers},
        "client_processes": processes,
        "results": [],
        "memory_mib": {},
        "seed_seconds": {},
    }

    cases = api_scenarios(shape)
    chosen = [
        index
        for index, case in enumerate(cases)
        if not args.scenarios or case.name in args.scenarios.split(",")
    ]
    for backend in args.backends.split(","):
        url, seconds = seeded(backend, args.postgres_url, shape, args.out.parent)
        report["seed_seconds"][backend] = round(seconds, 1)
        described = machine(url)
        report.setdefault("machine", described)
        report.setdefault("databases", {})[backend] = described["database"]
        # Both ceilings and the registry serve side by side (idle but for the one measured), so
        # that the ceilings of each read are measured right before it, under the same load.
        echo = _Measured(backend, _echo(args, []), ceiling, processes, args)
        bare = _Measured(backend, _echo(args, ["--bare"]), bare_ceiling, processes, args)
        bare_aio = _Measured(
            backend, _echo(args, ["--bare", "--aio"]), bare_aio_ceiling, processes, args
        )
        registry = _Measured(
            backend,
            serve_registry(url, args.threads, args.workers, args.out.parent),
            partial(api_scenarios, shape),
            processes,
            args,
        )
        try:
            ceilings = (echo, bare, bare_aio)
            first = {count: [each.cell(0, count) for each in ceilings] for count in clients}
            for measured_first in first.values():
                report["results"] += measured_first
            for index in chosen:
                for count in clients:
                    beside = first[count]
                    if _method({"scenario": cases[index].name}) in READS:
                        beside = [each.cell(0, count) for each in ceilings]
                    row = registry.cell(index, count)
                    for name, measured in zip(CEILINGS, beside, strict=True):
                        row[f"{name}_per_s"] = measured["calls_per_s"]
                        row[f"{name}_p99_ms"] = measured["p99_ms"]
                        row[f"{name}_ratio"] = row["calls_per_s"] / measured["calls_per_s"]
                    row["target"] = _target(row)
                    report["results"].append(row)
            report["memory_mib"][backend] = registry.server.rss_mib()
        finally:
            for measured in (echo, bare, bare_aio, registry):
                measured.close()

    report["load_average_1m"] = {"before": load_before[0], "after": os.getloadavg()[0]}
    report["total_seconds"] = round(time.perf_counter() - started)
    args.out.write_text(json.dumps(report, indent=2))
    print()
    print(table(report))
    print(f"\nresults: {args.out}")
    return 0


def _echo(args: argparse.Namespace, options: list[str]) -> ServerProcess:
    """bench/echo.py with ``options``, served as the registry is."""
    return start_server(
        [
            *(sys.executable, "-m", "bench.echo"),
            *_server_options(args.threads, args.workers),
            *options,
        ],
        args.out.parent / f"echo{''.join(options)}.log",
    )


def _server_options(threads: int, workers: int) -> list[str]:
    """What the echo and the registry are both run with."""
    return ["--threads", str(threads), "--workers", str(workers)]


def serve_registry(url: str, threads: int, workers: int, logs: Path = DATA) -> ServerProcess:
    """`registry-service serve` on ``url``, gRPC only, on a free port, logging into ``logs``."""
    return start_server(
        [
            *(sys.executable, "-m", "registry_service", "serve", "--database-url", url),
            *("--port", "0", "--http-port", "-1", *_server_options(threads, workers)),
        ],
        logs / f"registry-{make_url(url).get_backend_name()}.log",
    )


def seeded(
    backend: str, postgres_url: str, shape: Shape, directory: Path = DATA
) -> tuple[str, float]:
    """A freshly seeded database for ``backend`` (SQLite's file in ``directory``): its URL and
    the seconds seeding took."""
    started = time.perf_counter()
    if backend == "sqlite":
        path = directory / "bench-api.db"
        seed_sqlite(path, shape)
        url = f"sqlite:///{path}"
    elif backend == "postgres":
        url = postgres_url
        seed_postgres(url, shape)
    else:
        raise SystemExit(f"unknown backend {backend!r}: sqlite or postgres")
    return url, time.perf_counter() - started


class _Measured:
    """A server, its scenarios (``catalog``) and the client processes that call it."""

    def __init__(
        self,
        backend: str,
        server: ServerProcess,
        catalog: Any,
        processes: int,
        args: argparse.Namespace,
    ) -> None:
        self.backend = backend
        self.server = server
        self._cases: list[Scenario] = catalog()
        self._args = args
        try:
            self._workers = Workers(processes, server.target, catalog)
        except BaseException:
            server.stop()
            raise

    def cell(self, index: int, count: int) -> dict[str, Any]:
        """Scenario ``index`` at ``count`` clients: its row, also printed."""
        run = self._workers.run(
            index,
            count,
            self._args.seconds,
            10**9,
            probe=self.server.cpu_seconds,
            connections=self.server.connections_per_worker,
        )
        row = summarize(run.outcomes)
        del row["by_label"]
        server_cpu = run.server_cpu_seconds or 0.0
        row.update(
            backend=self.backend,
            scenario=self._cases[index].name,
            describes=self._cases[index].describes,
            clients=count,
            server_cpu_percent=server_cpu / row["window_s"] * 100,
            connections_per_worker=run.connections_per_worker,
            reconnects=run.reconnects,
        )
        print(_line(row), flush=True)
        return row

    def close(self) -> None:
        try:
            self._workers.close()
        finally:
            self.server.stop()


def _method(row: dict[str, Any]) -> str:
    return str(row["scenario"]).split(" ")[0]


def _target(row: dict[str, Any]) -> str:
    """The issue's target for ``row`` and whether it was met ("" when none applies)."""
    if row["clients"] != TARGET_CLIENTS:
        return ""
    method = _method(row)
    checks: list[tuple[str, bool]] = []
    if method in READS:
        checks.append(
            (f"≥ {READ_RATIO_TARGET:.0%} of ceiling", row["ceiling_ratio"] >= READ_RATIO_TARGET)
        )
        checks.append(
            (f"≥ {READ_RATIO_TARGET:.0%} of bare echo", row["bare_ratio"] >= READ_RATIO_TARGET)
        )
        checks.append(
            (
                f"≥ {READ_RATIO_TARGET:.0%} of bare aio echo",
                row["bare_aio_ratio"] >= READ_RATIO_TARGET,
            )
        )
    if method in POINT_READS:
        checks.append((f"p99 ≤ {READ_P99_TARGET_MS:g} ms", row["p99_ms"] <= READ_P99_TARGET_MS))
    if method in MLFLOW_BEST:
        goal = 10 * MLFLOW_BEST[method]
        checks.append((f"≥ {goal:.0f}/s", row["calls_per_s"] >= goal))
        checks.append(("0 errors", not row["errors"]))
    return ", ".join(f"{label}: {'met' if ok else 'MISSED'}" for label, ok in checks)


def _line(row: dict[str, Any]) -> str:
    errors = sum(row["errors"].values())
    return (
        f"{row['backend']:<8} {row['scenario']:<28} {row['clients']:>2} clients: "
        f"{row['calls_per_s']:8.0f}/s  p50 {row['p50_ms']:6.2f} ms  p99 {row['p99_ms']:7.2f} ms"
        f"  errors {errors}  server CPU {row['server_cpu_percent']:.0f} %"
        f"  client CPU {row['client_cpu_percent']:.0f} %"
    )


def table(report: dict[str, Any]) -> str:
    lines = [
        "| backend | scenario | clients | calls/s | p50 ms | p99 ms | errors | of ceiling "
        "| of bare echo | server CPU | client CPU | target (16 clients) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in report["results"]:
        errors = ", ".join(f"{code} {count}" for code, count in sorted(row["errors"].items()))
        ratio = f"{row['ceiling_ratio']:.0%}" if "ceiling_ratio" in row else ""
        bare = f"{row['bare_ratio']:.0%}" if "bare_ratio" in row else ""
        lines.append(
            f"| {row['backend']} | {row['scenario']} | {row['clients']} | "
            f"{row['calls_per_s']:.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | "
            f"{errors or 0} | {ratio} | {bare} | {row['server_cpu_percent']:.0f} % | "
            f"{row['client_cpu_percent']:.0f} % | {row.get('target', '')} |"
        )
    reads = [row for row in report["results"] if "bare_per_s" in row and _method(row) in READS]
    if reads:
        lines += [
            "",
            "Reads against the ceilings, each measured right before the read (calls/s, p99 ms):",
            "",
            "| backend | scenario | clients | calls/s | p99 | echo | p99 | of echo "
            "| bare echo | p99 | of bare echo | bare aio echo | p99 | of bare aio echo |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {row['backend']} | {row['scenario']} | {row['clients']} | "
            f"{row['calls_per_s']:.0f} | {row['p99_ms']:.1f} | "
            + " | ".join(
                f"{row[f'{name}_per_s']:.0f} | {row[f'{name}_p99_ms']:.1f} | "
                f"{row[f'{name}_ratio']:.0%}"
                for name in CEILINGS
            )
            + " |"
            for row in reads
        ]
    lines.append("")
    lines.append(
        f"server: {report['server']['workers']} worker(s) x {report['server']['threads']} "
        f"threads; clients: {report['client_processes']} processes; "
        f"{report['seconds_per_cell']:g} s per cell; CPU 100 % = one core"
    )
    spreads = [row for row in report["results"] if row.get("connections_per_worker")]
    uneven = [row for row in spreads if not balanced(row["connections_per_worker"])]
    lines.append(
        f"client connections per server worker: even in {len(spreads) - len(uneven)} of "
        f"{len(spreads)} cells ({sum(row['reconnects'] for row in spreads)} reconnects)"
        + "".join(
            f"; uneven: {row['backend']} {row['scenario']} {row['clients']} "
            f"{row['connections_per_worker']}"
            for row in uneven
        )
    )
    for backend, rss in report["memory_mib"].items():
        lines.append(f"{backend}: RSS per server worker after the run: {rss} MiB")
    for backend, seconds in report["seed_seconds"].items():
        lines.append(f"{backend}: seeded in {seconds:g} s")
    load = report["load_average_1m"]
    lines.append(
        f"load average (1 min) before {load['before']:.2f}, after {load['after']:.2f}; "
        f"total {report['total_seconds']} s"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
