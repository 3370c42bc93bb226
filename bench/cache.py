"""`make bench-cache`: RegistryClient.cache measured against a real server (issue 27, item 2).

    python -m bench.cache                                     # what `make bench-cache` runs
    python -m bench.cache --server-args="--event-poll-interval 0.05"

On a fresh database (SQLite in bench/.data, or --postgres-url, a scratch database dropped and
created), `registry-service serve` with its default feed settings unless --server-args says
otherwise, and one model with --versions versions:

1. resolutions per second: get_model_version_by_alias("champion") answered by the cache, from 1
   and from --threads threads of this one process, for --seconds each; beside it the same call
   as an RPC from one thread;
2. commit to cache: --moves writes move champion, at random pauses up to --max-pause seconds;
   each is timed from the write's return (its commit is before) and from its start (its commit
   is after) to the cache's on_change callback showing the new version.

The targets (issue 27) are reported, not asserted. The JSON (--out) holds every number.
"""

from __future__ import annotations

import argparse
import json
import operator
import random
import shlex
import statistics
import sys
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy.engine import make_url

from bench.api import DATA
from bench.processes import ServerProcess, start_server
from registry_service.client import RegistryClient
from registry_service.client_cache import ModelCache, ModelChange
from registry_service.store import schema
from registry_service.store.engine import make_engine

MODEL = "fraud"
# Issue 27's targets.
RESOLUTIONS_TARGET = 100_000.0
LATENCY_P99_TARGET_S = 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cache", description=__doc__)
    parser.add_argument("--postgres-url", default="", help="measure on PostgreSQL instead")
    parser.add_argument("--server-args", default="", help="more `serve` options, one string")
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=3.0, help="per resolution rate")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--moves", type=int, default=80)
    # Pauses past 1.55 s let the server's watch back off to its 1 s poll, as between rare writes.
    parser.add_argument("--max-pause", type=float, default=2.5)
    parser.add_argument("--out", type=Path, default=DATA / "cache.json")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    url = fresh_database(args.postgres_url, args.out.parent)
    server = start_server(
        [
            *(sys.executable, "-m", "registry_service", "serve", "--database-url", url),
            *("--port", "0", "--http-port", "-1", *shlex.split(args.server_args)),
        ],
        args.out.parent / "registry-cache.log",
    )
    try:
        report = measure(server, args)
    finally:
        server.stop()
    report["backend"] = make_url(url).get_backend_name()
    report["server_args"] = args.server_args
    args.out.write_text(json.dumps(report, indent=2))
    print(table(report))
    print(f"\nresults: {args.out}")
    return 0


def fresh_database(postgres_url: str, directory: Path) -> str:
    if postgres_url:
        url = make_url(postgres_url)
        admin = sqlalchemy.create_engine(
            url.set(drivername="postgresql+psycopg", database="postgres"),
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
            connection.exec_driver_sql(f'CREATE DATABASE "{url.database}"')
        admin.dispose()
        fresh = postgres_url
    else:
        path = directory / "bench-cache.db"
        for stale in directory.glob("bench-cache.db*"):
            stale.unlink()
        fresh = f"sqlite:///{path}"
    engine = make_engine(fresh)
    schema.upgrade(engine)
    engine.dispose()
    return fresh


def measure(server: ServerProcess, args: argparse.Namespace) -> dict[str, Any]:
    with RegistryClient(server.target) as client:
        client.create_registered_model(MODEL)
        for number in range(1, args.versions + 1):
            client.create_model_version(MODEL, f"s3://models/{MODEL}/{number}")
        client.set_registered_model_alias(MODEL, "champion", 1)
        with client.cache(names=[MODEL]) as cache:
            rates = {
                "cache, 1 thread": resolutions(cache, 1, args.seconds),
                f"cache, {args.threads} threads": resolutions(cache, args.threads, args.seconds),
                "RPC, 1 thread": resolutions(client, 1, args.seconds),
            }
            latencies = commit_to_cache(client, cache, args)
            freshness = cache.freshness()
    return {
        "resolutions_per_s": rates,
        "commit_to_cache_s": latencies,
        "freshness_at_end": {
            "sequence": freshness.sequence,
            "proved_age_s": freshness.proved_age,
            "heartbeat_age_s": freshness.heartbeat_age,
        },
    }


def resolutions(reader: ModelCache | RegistryClient, threads: int, seconds: float) -> float:
    """Calls per second of get_model_version_by_alias from ``threads`` threads."""
    counts = [0] * threads
    stop = threading.Event()

    def resolve(slot: int) -> None:
        while not stop.is_set():
            for _ in range(100):
                reader.get_model_version_by_alias(MODEL, "champion")
            counts[slot] += 100

    workers = [threading.Thread(target=resolve, args=(slot,)) for slot in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    time.sleep(seconds)
    stop.set()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - started)


def commit_to_cache(
    client: RegistryClient, cache: ModelCache, args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    seen: dict[int, float] = {}
    changed = threading.Condition()

    def record(change: ModelChange) -> None:
        if change.after is not None and "champion" in change.after.aliases:
            with changed:
                seen.setdefault(change.after.aliases["champion"], time.monotonic())
                changed.notify_all()

    cache.on_change(record)
    rng = random.Random(27)
    from_return: list[float] = []
    from_start: list[float] = []
    current = 1
    for _ in range(args.moves):
        time.sleep(rng.uniform(0, args.max_pause))
        target = rng.choice([n for n in range(1, args.versions + 1) if n != current])
        with changed:
            seen.pop(target, None)
        started = time.monotonic()
        client.set_registered_model_alias(MODEL, "champion", target)
        returned = time.monotonic()
        with changed:
            changed.wait_for(partial(operator.contains, seen, target), timeout=30)
            reflected = seen[target]
        from_return.append(max(reflected - returned, 0.0))
        from_start.append(reflected - started)
        current = target
    return {"from write return": summary(from_return), "from write start": summary(from_start)}


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))],
        "max": ordered[-1],
    }


def table(report: dict[str, Any]) -> str:
    lines = [f"backend: {report['backend']}; server args: {report['server_args'] or '(none)'}"]
    lines.append(f"{'resolutions of champion':<32}{'per s':>12}")
    for name, rate in report["resolutions_per_s"].items():
        met = ""
        if name.startswith("cache"):
            met = "  met" if rate >= RESOLUTIONS_TARGET else "  MISSED"
            met += f" (target >= {RESOLUTIONS_TARGET:,.0f}/s)"
        lines.append(f"{name:<32}{rate:>12,.0f}{met}")
    lines.append("")
    lines.append(f"{'commit to cache (s)':<32}{'p50':>8}{'p99':>8}{'max':>8}")
    for name, row in report["commit_to_cache_s"].items():
        met = "  met" if row["p99"] <= LATENCY_P99_TARGET_S else "  MISSED"
        lines.append(
            f"{name:<32}{row['p50']:>8.3f}{row['p99']:>8.3f}{row['max']:>8.3f}"
            f"{met} (target p99 <= {LATENCY_P99_TARGET_S:g} s)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
