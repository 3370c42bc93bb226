"""Client processes that call a running server and time each call.

Each worker process owns one gRPC channel and runs the jobs it is sent: until a deadline (or a
call budget) it sends the scenario's requests back to back, one at a time, and reports the
latency of every call. Workers are started once and reused for every scenario.
"""

from __future__ import annotations

import multiprocessing
import random
import time
from dataclasses import dataclass
from multiprocessing.queues import Queue
from typing import Any

import grpc
from modelregistry.v1 import registry_service_pb2_grpc

from bench.scenarios import scenarios
from bench.seed import Shape

# Calls each worker makes before the measured window, to open connections and warm caches.
WARMUP_CALLS = 20


@dataclass(frozen=True)
class Job:
    scenario: int
    worker: int
    seconds: float
    max_calls: int


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


def _worker(
    target: str, shape: Shape, run_ids: list[str], jobs: Queue[Any], results: Queue[Any]
) -> None:
    channel = grpc.insecure_channel(target)
    stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
    cases = scenarios(shape, run_ids)
    while True:
        job: Job | None = jobs.get()
        if job is None:
            channel.close()
            return
        scenario = cases[job.scenario]
        method = getattr(stub, scenario.method)
        rng = random.Random(f"{job.scenario}/{job.worker}")
        for _ in range(WARMUP_CALLS):
            method(scenario.request(rng), timeout=60)
        results.put("ready")
        go: Go = jobs.get()
        while time.time() < go.start:
            time.sleep(0.0005)
        latencies: list[float] = []
        labelled: list[tuple[str, float]] = []
        errors: dict[str, int] = {}
        first = time.time()
        while len(latencies) + sum(errors.values()) < job.max_calls:
            request = scenario.request(rng)
            began = time.perf_counter()
            try:
                method(request, timeout=60)
            except grpc.RpcError as error:
                errors[error.code().name] = errors.get(error.code().name, 0) + 1
            else:
                latency = time.perf_counter() - began
                latencies.append(latency)
                if scenario.classify is not None:
                    labelled.append((scenario.classify(request), latency))
            if time.time() >= go.deadline:
                break
        results.put(Outcome(latencies, errors, first, time.time(), labelled))


class Workers:
    """``count`` client processes calling ``target``."""

    def __init__(self, count: int, target: str, shape: Shape, run_ids: list[str]) -> None:
        context = multiprocessing.get_context("spawn")
        self.results: Queue[Any] = context.Queue()
        self.queues: list[Queue[Any]] = [context.Queue() for _ in range(count)]
        self.processes = [
            context.Process(
                target=_worker,
                args=(target, shape, run_ids, queue, self.results),
                daemon=True,
            )
            for queue in self.queues
        ]
        for process in self.processes:
            process.start()

    def run(self, scenario: int, clients: int, seconds: float, max_calls: int) -> list[Outcome]:
        for worker in range(clients):
            self.queues[worker].put(Job(scenario, worker, seconds, max_calls))
        for _ in range(clients):
            assert self.results.get(timeout=600) == "ready"
        start = time.time() + 0.2
        for worker in range(clients):
            self.queues[worker].put(Go(start, start + seconds))
        return [self.results.get(timeout=seconds + 600) for _ in range(clients)]

    def close(self) -> None:
        for queue in self.queues:
            queue.put(None)
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()


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
    return {
        "by_label": labels,
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
