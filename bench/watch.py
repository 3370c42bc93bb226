"""`make bench-watch`: WatchEvents at fleet scale against a real server (issue 27, item 1).

    python -m bench.watch                          # what `make bench-watch` runs
    python -m bench.watch --streams 1000 --postgres-url postgresql://...

On a fresh database (SQLite in bench/.data, or --postgres-url, a scratch database dropped and
created), one `registry-service serve` process, and:

1. --streams WatchEvents streams, opened by --processes subscriber processes, each multiplexing
   its share over --channels grpc.aio channels (one connection each); the server's resident
   memory is read before and once every stream has received its first message: the difference
   over the streams is the memory per stream;
2. --events writes (alias moves), one every --pause seconds, while --readers threads of another
   process read GetModelVersionByAlias as fast as they can: every event must reach every stream
   exactly once; its latency is from the write's start (its commit comes later) to each
   stream's receipt; the reads and the writes per second are reported beside `make bench`'s;
3. then writes as fast as one client can for --burst seconds, still fanned out to every stream:
   the write rate with the fleet subscribed, and whether every stream still got every event.

The targets (issue 27) are reported, not asserted. The JSON (--out) holds every number.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shlex
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import grpc
from modelregistry.v1 import events_pb2, registry_service_pb2_grpc
from modelregistry.v1 import registry_service_pb2 as pb
from sqlalchemy.engine import make_url

from bench.api import DATA
from bench.cache import fresh_database
from bench.processes import ServerProcess, start_server
from registry_service.client import RegistryClient

MODEL = "fleet"
# Issue 27's targets.
STREAMS_TARGET = 5000
LATENCY_P99_TARGET_S = 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.watch", description=__doc__)
    parser.add_argument("--postgres-url", default="", help="measure on PostgreSQL instead")
    parser.add_argument("--server-args", default="", help="more `serve` options, one string")
    parser.add_argument("--streams", type=int, default=STREAMS_TARGET)
    parser.add_argument("--processes", type=int, default=2, help="subscriber processes")
    parser.add_argument("--channels", type=int, default=8, help="connections per process")
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--pause", type=float, default=0.25)
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--burst", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=DATA / "watch.json")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    url = fresh_database(args.postgres_url, args.out.parent)
    server = start_server(
        [
            *(sys.executable, "-m", "registry_service", "serve", "--database-url", url),
            *("--port", "0", "--http-port", "-1", "--no-webhooks"),
            # Each stream's first heartbeat tells the bench it is served.
            *("--event-heartbeat-interval", "2", *shlex.split(args.server_args)),
        ],
        args.out.parent / "registry-watch.log",
    )
    try:
        report = measure(server, args)
    finally:
        server.stop()
    report["backend"] = make_url(url).get_backend_name()
    report["server_args"] = args.server_args
    report["load_average"] = os.getloadavg()
    args.out.write_text(json.dumps(report, indent=2))
    print(table(report))
    print(f"\nresults: {args.out}")
    return 0


def measure(server: ServerProcess, args: argparse.Namespace) -> dict[str, Any]:
    with RegistryClient(server.target) as client:
        client.create_registered_model(MODEL)
        for number in (1, 2):
            client.create_model_version(MODEL, f"s3://models/{MODEL}/{number}")
        client.set_registered_model_alias(MODEL, "champion", 2)
        # This bench is the only writer, and each of its writes is one event: it counts them.
        sequence = start_after = 4
        [rss_before] = server.rss_mib()
        context = multiprocessing.get_context("spawn")
        results: Any = context.Queue()
        ready: Any = context.Queue()
        shares = [args.streams // args.processes] * args.processes
        shares[0] += args.streams - sum(shares)
        subscribers = [
            context.Process(
                target=subscribe,
                args=(server.target, share, args.channels, start_after, ready, results),
            )
            for share in shares
        ]
        for process in subscribers:
            process.start()
        opened = time.monotonic()
        for _ in subscribers:
            ready.get(timeout=600)
        open_s = time.monotonic() - opened
        time.sleep(1)
        [rss_after] = server.rss_mib()
        written: dict[int, float] = {}
        reads = Reads(server.target, args.readers)
        reads.start()
        paced_started = time.monotonic()
        for index in range(args.events):
            started = time.time()
            client.set_registered_model_alias(MODEL, "champion", 1 + index % 2)
            sequence += 1
            written[sequence] = started
            time.sleep(args.pause)
        paced_s = time.monotonic() - paced_started
        read_rate = reads.stop()
        burst_started = time.monotonic()
        burst_writes = 0
        while time.monotonic() - burst_started < args.burst:
            started = time.time()
            client.set_registered_model_alias(
                MODEL, "champion", 1 + (args.events + burst_writes) % 2
            )
            sequence += 1
            written[sequence] = started
            burst_writes += 1
        burst_s = time.monotonic() - burst_started
        paced = set(sorted(written)[: args.events])
        client.set_registered_model_alias(MODEL, "stop", 1)
        stop_sequence = sequence + 1
        received = [results.get(timeout=600) for _ in subscribers]
        for process in subscribers:
            process.join(60)
    latencies: list[float] = []
    burst_latencies: list[float] = []
    complete = True
    reopened = sum(r[2] for r in received)
    for share, (counts, times, _) in zip(shares, received, strict=True):
        for sequence, started in written.items():
            if counts.get(sequence, 0) != share:
                complete = False
            into = latencies if sequence in paced else burst_latencies
            into.extend(t - started for t in times.get(sequence, []))
        complete = complete and counts.get(stop_sequence, 0) == share
    return {
        "streams": args.streams,
        "subscriber_processes": args.processes,
        "channels_per_process": args.channels,
        "seconds_to_open_all": round(open_s, 2),
        "streams_reopened": reopened,
        "server_rss_mib_before": rss_before,
        "server_rss_mib_with_streams": rss_after,
        "server_kib_per_stream": round((rss_after - rss_before) * 1024 / args.streams, 1),
        "events_paced": args.events,
        "every_event_to_every_stream_once": complete,
        "paced_latency_s": _distribution(latencies),
        "reads_per_s_meanwhile": round(read_rate, 1),
        "writes_per_s_paced": round(args.events / paced_s, 1),
        "burst_writes_per_s": round(burst_writes / burst_s, 1),
        "burst_latency_s": _distribution(burst_latencies),
    }


def _distribution(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "p50": round(statistics.median(ordered), 4),
        "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 4),
        "max": round(ordered[-1], 4),
    }


class Reads:
    """Point reads from --readers threads of this process, as fast as they go."""

    def __init__(self, target: str, threads: int) -> None:
        self._target = target
        self._stop = threading.Event()
        self._counts = [0] * threads
        self._threads = [threading.Thread(target=self._read, args=(i,)) for i in range(threads)]
        self._started = 0.0

    def start(self) -> None:
        self._started = time.monotonic()
        for thread in self._threads:
            thread.start()

    def stop(self) -> float:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        return sum(self._counts) / (time.monotonic() - self._started)

    def _read(self, slot: int) -> None:
        with grpc.insecure_channel(self._target, options=[("bench.reader", slot)]) as channel:
            stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
            request = pb.GetModelVersionByAliasRequest(name=MODEL, alias="champion")
            while not self._stop.is_set():
                stub.GetModelVersionByAlias(request, timeout=30)
                self._counts[slot] += 1


def subscribe(
    target: str, streams: int, channels: int, start_after: int, ready: Any, results: Any
) -> None:
    """One subscriber process: ``streams`` streams over ``channels`` connections, each reading
    until the "stop" alias event; puts (receipts per sequence, receipt times per sequence)."""
    results.put(asyncio.run(_subscribe(target, streams, channels, start_after, ready)))


async def _subscribe(
    target: str, streams: int, channels: int, start_after: int, ready: Any
) -> tuple[dict[int, int], dict[int, list[float]], int]:
    opened = [
        grpc.aio.insecure_channel(target, options=[("bench.channel", index)])
        for index in range(channels)
    ]
    stubs = [registry_service_pb2_grpc.ModelRegistryServiceStub(c) for c in opened]
    counts: dict[int, int] = {}
    times: dict[int, list[float]] = {}
    first = asyncio.Event()
    waiting = [streams]
    reopened = [0]

    async def watch(index: int) -> None:
        # As RegistryClient.watch does: a stream that breaks is opened again after the last
        # sequence received (a burst of thousands of opens gets some refused).
        position = start_after
        started = False
        while True:
            call = stubs[index % channels].WatchEvents(
                events_pb2.WatchEventsRequest(start_after=position)
            )
            try:
                async for response in call:
                    if not started:
                        started = True
                        waiting[0] -= 1
                        if not waiting[0]:
                            first.set()
                    position = max(position, response.high_water_sequence)
                    if response.HasField("event"):
                        event = response.event
                        counts[event.sequence] = counts.get(event.sequence, 0) + 1
                        times.setdefault(event.sequence, []).append(time.time())
                        if "alias" in event.after and event.after["alias"] == "stop":
                            call.cancel()
                            return
            except grpc.aio.AioRpcError:
                reopened[0] += 1
                await asyncio.sleep(0.5)

    tasks = [asyncio.create_task(watch(index)) for index in range(streams)]
    await first.wait()
    ready.put(True)
    await asyncio.gather(*tasks)
    for channel in opened:
        await channel.close()
    return counts, times, reopened[0]


def table(report: dict[str, Any]) -> str:
    paced = report["paced_latency_s"]
    burst = report["burst_latency_s"]
    rows = [
        ("backend", report["backend"], ""),
        ("concurrent streams, one server process", report["streams"], f">= {STREAMS_TARGET}"),
        ("every event to every stream, once", report["every_event_to_every_stream_once"], "yes"),
        (
            "commit to stream p50 / p99 (s)",
            f"{paced['p50']} / {paced['p99']}",
            f"p99 <= {LATENCY_P99_TARGET_S}",
        ),
        ("server memory per stream (KiB)", report["server_kib_per_stream"], "reported"),
        (
            "server RSS before / with streams (MiB)",
            f"{report['server_rss_mib_before']} / {report['server_rss_mib_with_streams']}",
            "",
        ),
        ("seconds to open every stream", report["seconds_to_open_all"], ""),
        ("streams refused at opening, reopened", report["streams_reopened"], ""),
        ("point reads/s meanwhile", report["reads_per_s_meanwhile"], "reported"),
        ("writes/s, paced", report["writes_per_s_paced"], ""),
        ("writes/s, as fast as one client goes", report["burst_writes_per_s"], "reported"),
        ("burst commit to stream p50 / p99 (s)", f"{burst.get('p50')} / {burst.get('p99')}", ""),
        ("load average (1, 5, 15 min)", " ".join(f"{x:.2f}" for x in report["load_average"]), ""),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"{'measure':<{width}}  {'value':>22}  target", "-" * (width + 34)]
    lines += [f"{name:<{width}}  {value!s:>22}  {target}" for name, value, target in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
