"""`make bench-soak`: does the server's memory stay flat under a long read/write mix?

    python -m bench.soak                      # 5 minutes on SQLite, 16 clients
    python -m bench.soak --backend postgres --minutes 2

Seeds the registry of `make bench` afresh, serves it as `make bench` does (--threads,
--workers), and runs bench/api_scenarios.py's read/write mix for --minutes, sampling the RSS of
each server worker every --sample-seconds. Prints the samples and, per worker, the slope of a
least-squares line through them (MiB per minute) over the whole soak and over its second half,
after caches and pools have filled; writes bench/.data/soak.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from functools import partial
from typing import Any

from bench.api import DATA, DEFAULT_POSTGRES_URL, seeded, serve_registry
from bench.api_scenarios import soak_mix
from bench.load import Workers, summarize
from bench.seed import Shape


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--models", type=int, default=1_000)
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--sample-seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--threads", type=int, default=16, help="server threads per worker")
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    args = parser.parse_args(argv)

    shape = Shape(args.models, args.versions)
    DATA.mkdir(exist_ok=True)
    url, _ = seeded(args.backend, args.postgres_url, shape)
    server = serve_registry(url, args.threads, args.workers)
    catalog = partial(soak_mix, shape)
    workers = Workers(min(args.client_processes, args.clients), server.target, catalog)
    samples: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        while time.monotonic() - started < args.minutes * 60:
            run = workers.run(0, args.clients, args.sample_seconds, 10**9)
            row = summarize(run.outcomes)
            sample = {
                "minute": round((time.monotonic() - started) / 60, 2),
                "calls_per_s": round(row["calls_per_s"]),
                "p99_ms": round(row["p99_ms"], 2),
                "errors": row["errors"],
                "rss_mib": server.rss_mib(),
            }
            samples.append(sample)
            print(
                f"{sample['minute']:5.2f} min  {sample['calls_per_s']:5d}/s  "
                f"p99 {sample['p99_ms']:6.2f} ms  errors {sum(row['errors'].values())}  "
                f"RSS {sample['rss_mib']} MiB",
                flush=True,
            )
    finally:
        workers.close()
        server.stop()
    report = {
        "command": " ".join(["python -m bench.soak", *(argv or sys.argv[1:])]),
        "backend": args.backend,
        "clients": args.clients,
        "server": {"threads": args.threads, "workers": args.workers},
        "load_average_1m": os.getloadavg()[0],
        "samples": samples,
        "slopes_mib_per_min": _slopes(samples),
    }
    out = DATA / "soak.json"
    out.write_text(json.dumps(report, indent=2))
    for worker, (whole, second_half) in enumerate(report["slopes_mib_per_min"]):
        first, last = samples[0]["rss_mib"][worker], samples[-1]["rss_mib"][worker]
        print(
            f"worker {worker}: RSS {first} -> {last} MiB; slope {whole:+.2f} MiB/min overall, "
            f"{second_half:+.2f} MiB/min over the second half"
        )
    print(f"results: {out}")
    return 0


def _slopes(samples: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """Per worker: the least-squares slope of RSS over time, whole soak and second half."""
    workers = min(len(sample["rss_mib"]) for sample in samples)
    half = samples[len(samples) // 2 :]
    return [
        (
            _slope([(s["minute"], s["rss_mib"][worker]) for s in samples]),
            _slope([(s["minute"], s["rss_mib"][worker]) for s in half]),
        )
        for worker in range(workers)
    ]


def _slope(points: list[tuple[float, float]]) -> float:
    if len(points) < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0


if __name__ == "__main__":
    sys.exit(main())
