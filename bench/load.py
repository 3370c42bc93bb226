"""Client processes that call a running server and time each call.

Each worker process runs the jobs it is sent on a grpc.aio event loop: for a job it opens one
channel per client it plays (``streams``), and each client sends the scenario's requests back to
back, one at a time, until a deadline (or a call budget), recording the latency of every call.
Several clients per process keep 64 clients from needing 64 processes; several processes keep
the client side from being the bottleneck. Responses are not parsed: only the status counts.
Workers are started once and reused for every scenario. Each client has a connection of its own;
before a window the clients can be made to reconnect until their connections are spread evenly
over the server's workers (``Workers.run``'s ``connections``).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import queue
import random
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.queues import Queue
from typing import Any

import grpc

from bench.scenarios import Scenario
from registry_service.contract import SERVICE_NAME as REGISTRY_SERVICE

# Calls each client makes before the measured window, to open connections and warm caches.
WARMUP_CALLS = 20

# Makes the scenarios in each worker process; picklable (a module-level function or a partial
# of one), since workers are spawned.
Catalog = Callable[[], list[Scenario]]


@dataclass(frozen=True)
class Job:
    scenario: int
    worker: int
    # Clients this process plays, each on its own channel.
    streams: int
    seconds: float
    # Per client.
    max_calls: int


@dataclass(frozen=True)
class Reconnect:
    """Sent instead of ``Go`` when the job's connections are spread unevenly over the server's
    workers: each client closes its channel, opens a new one and warms it up again."""


@dataclass(frozen=True)
class Go:
    """Sent once every worker of a job has warmed up: the measured window, in time.time()."""

    start: float
    deadline: float


@dataclass(frozen=True)
class Outcome:
    latencies: list[float]
    # Errors by status code name; a benchmark run with errors is not a valid measurement.
    errors: dict[str, int]
    first: float
    last: float
    # (label, latency) of each call, for scenarios that classify their requests.
    labelled: list[tuple[str, float]]
    # CPU seconds this client process used in the measured window.
    cpu_seconds: float = 0.0


# Each client's channel gets a connection of its own. Channels with the same target and options
# otherwise share one (gRPC's global subchannel pool): 16 clients in 4 processes were 4
# connections, which SO_REUSEPORT spread over two workers as 3 and 1 (or 4 and 0) more often
# than as 2 and 2.
_OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


def _serialize(request: Any) -> bytes:
    return request if isinstance(request, bytes) else request.SerializeToString()


def _caller(channel: grpc.aio.Channel, method: str) -> Callable[..., Any]:
    """Calls ``method`` on ``channel``; with no method, the registry's method that takes the
    request's type (for a scenario that mixes calls)."""
    if method.startswith("/"):
        return channel.unary_unary(method, request_serializer=_serialize)
    callables: dict[str, Any] = {}

    def call(request: Any, **options: Any) -> Any:
        name = method or type(request).__name__.removesuffix("Request")
        if name not in callables:
            callables[name] = channel.unary_unary(
                f"/{REGISTRY_SERVICE}/{name}", request_serializer=_serialize
            )
        return callables[name](request, **options)

    return call


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _worker(target: str, catalog: Catalog, jobs: Queue[Any], results: Queue[Any]) -> None:
    cases = catalog()
    while True:
        job: Job | None = jobs.get()
        if job is None:
            return
        results.put(asyncio.run(_job(target, cases[job.scenario], job, jobs, results)))


async def _job(
    target: str, scenario: Scenario, job: Job, jobs: Queue[Any], results: Queue[Any]
) -> Outcome:
    rngs = [random.Random(f"{job.scenario}/{job.worker}/{stream}") for stream in range(job.streams)]

    async def warm(call: Any, rng: random.Random) -> None:
        for _ in range(WARMUP_CALLS):
            # What fails here fails in the window too, and is counted there.
            with contextlib.suppress(grpc.aio.AioRpcError):
                await call(scenario.request(rng), timeout=60)

    while True:
        channels = [
            grpc.aio.insecure_channel(target, options=_OWN_CONNECTION) for _ in range(job.streams)
        ]
        calls = [_caller(channel, scenario.method) for channel in channels]
        await asyncio.gather(*(warm(call, rng) for call, rng in zip(calls, rngs, strict=True)))
        results.put("ready")
        # Nothing else runs on the loop while it waits for the signal to go.
        go: Go | Reconnect = jobs.get()
        if isinstance(go, Go):
            break
        for channel in channels:
            await channel.close()
    await asyncio.sleep(max(0.0, go.start - time.time()))
    latencies: list[float] = []
    labelled: list[tuple[str, float]] = []
    errors: dict[str, int] = {}

    async def client(call: Any, rng: random.Random) -> None:
        for _ in range(job.max_calls):
            request = scenario.request(rng)
            began = time.perf_counter()
            try:
                await call(request, timeout=60)
            except grpc.aio.AioRpcError as error:
                errors[error.code().name] = errors.get(error.code().name, 0) + 1
            else:
                latency = time.perf_counter() - began
                latencies.append(latency)
                if scenario.classify is not None:
                    labelled.append((scenario.classify(request), latency))
            if time.time() >= go.deadline:
                return

    first, cpu = time.time(), _cpu()
    await asyncio.gather(*(client(call, rng) for call, rng in zip(calls, rngs, strict=True)))
    outcome = Outcome(latencies, errors, first, time.time(), labelled, _cpu() - cpu)
    for channel in channels:
        await channel.close()
    return outcome


@dataclass(frozen=True)
class Run:
    outcomes: list[Outcome]
    # What ``probe`` (cumulative CPU seconds of the server) grew by during the window.
    server_cpu_seconds: float | None
    # Client connections on each server worker in the window (when the run balanced them), and
    # how many times the clients reconnected to get there.
    connections_per_worker: list[int] | None = None
    reconnects: int = 0
    # What ``database_probe`` (cumulative CPU seconds of the database's processes) grew by.
    database_cpu_seconds: float | None = None


class Workers:
    """``count`` client processes calling ``target``."""

    def __init__(self, count: int, target: str, catalog: Catalog) -> None:
        context = multiprocessing.get_context("spawn")
        self.results: Queue[Any] = context.Queue()
        self.queues: list[Queue[Any]] = [context.Queue() for _ in range(count)]
        self.processes = [
            context.Process(target=_worker, args=(target, catalog, jobs, self.results), daemon=True)
            for jobs in self.queues
        ]
        for process in self.processes:
            process.start()

    def run(
        self,
        scenario: int,
        clients: int,
        seconds: float,
        max_calls: int,
        probe: Callable[[], float] | None = None,
        connections: Callable[[], list[int]] | None = None,
        database_probe: Callable[[], float] | None = None,
    ) -> Run:
        """``clients`` concurrent clients, spread evenly over the processes. ``connections``:
        the client connections on each of the server's workers; given, the clients reconnect
        until those are spread evenly (see ``balanced``). ``probe`` and ``database_probe``:
        cumulative CPU seconds of the server and of the database, read around the window."""
        used = min(clients, len(self.queues))
        for worker in range(used):
            streams = clients // used + (worker < clients % used)
            self.queues[worker].put(Job(scenario, worker, streams, seconds, max_calls))
        reconnects = 0
        spread = None
        while True:
            for _ in range(used):
                assert self._result() == "ready"
            if connections is None:
                break
            spread = _settled(connections, clients)
            if balanced(spread) or reconnects == MAX_RECONNECTS:
                break
            reconnects += 1
            for worker in range(used):
                self.queues[worker].put(Reconnect())
        start = time.time() + 0.2
        for worker in range(used):
            self.queues[worker].put(Go(start, start + seconds))
        time.sleep(max(0.0, start - time.time()))
        before = probe() if probe else None
        database_before = database_probe() if database_probe else None
        outcomes = [self._result() for _ in range(used)]
        cpu = probe() - before if probe and before is not None else None
        database_cpu = (
            database_probe() - database_before
            if database_probe and database_before is not None
            else None
        )
        return Run(outcomes, cpu, spread, reconnects, database_cpu)

    def _result(self) -> Any:
        """The next result of any worker; fails at once when a worker died."""
        while True:
            try:
                return self.results.get(timeout=1)
            except queue.Empty:
                dead = [p.exitcode for p in self.processes if not p.is_alive()]
                if dead:
                    raise SystemExit(f"a client process exited with {dead[0]}") from None

    def close(self) -> None:
        for jobs in self.queues:
            jobs.put(None)
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()


# Each client's channel is one connection, and SO_REUSEPORT hands each new connection to a worker
# by a hash of its addresses: 16 connections over 2 workers come out 11 and 5 or worse about one
# time in five, and the worker with 11 runs out of CPU while the other idles. That swung one
# scenario's calls/s by a quarter from one cell to the next (2 206/s at 11 and 5, 2 708/s at 7
# and 9), the echo's as much, so the clients reconnect until the spread is even, as it is with
# many clients.
MAX_RECONNECTS = 50


def balanced(connections: list[int]) -> bool:
    """Whether client connections are spread evenly enough over the workers: the busiest has
    at most max(1, total / 8) more than the idlest (16 clients: 9 and 7; 64: 36 and 28)."""
    return max(connections) - min(connections) <= max(1, sum(connections) // 8)


def _settled(connections: Callable[[], list[int]], clients: int) -> list[int]:
    """``connections()`` once every client's connection shows (and closed ones are gone)."""
    deadline = time.monotonic() + 2
    while True:
        spread = connections()
        if sum(spread) == clients or time.monotonic() > deadline:
            return spread
        time.sleep(0.02)


def summarize(outcomes: list[Outcome]) -> dict[str, Any]:
    latencies = sorted(latency for outcome in outcomes for latency in outcome.latencies)
    errors: dict[str, int] = {}
    for outcome in outcomes:
        for code, count in outcome.errors.items():
            errors[code] = errors.get(code, 0) + count
    window = max(o.last for o in outcomes) - min(o.first for o in outcomes)
    by_label: dict[str, list[float]] = {}
    for outcome in outcomes:
        for label, latency in outcome.labelled:
            by_label.setdefault(label, []).append(latency)
    labels = {
        label: {
            "calls": len(values),
            "p50_ms": _percentile(sorted(values), 50) * 1000,
            "p99_ms": _percentile(sorted(values), 99) * 1000,
        }
        for label, values in sorted(by_label.items())
    }
    client_cpu = sum(outcome.cpu_seconds for outcome in outcomes)
    return {
        "by_label": labels,
        "window_s": window,
        "client_cpu_percent": client_cpu / window * 100 if window > 0 else float("nan"),
        "calls": len(latencies),
        "errors": errors,
        "p50_ms": _percentile(latencies, 50) * 1000,
        "p99_ms": _percentile(latencies, 99) * 1000,
        "mean_ms": sum(latencies) / len(latencies) * 1000 if latencies else float("nan"),
        "calls_per_s": len(latencies) / window if window > 0 else float("nan"),
    }


def _percentile(ordered: list[float], percent: float) -> float:
    if not ordered:
        return float("nan")
    # Nearest rank: the smallest latency that at least ``percent`` % of calls did not exceed.
    rank = max(1, -(-len(ordered) * percent // 100))
    return ordered[int(rank) - 1]
