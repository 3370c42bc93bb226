"""`serve --workers N`: N server processes taking calls on one port (SO_REUSEPORT), one store.

A Python process serves on about one core, so more cores need more processes. The workers are
fresh interpreters started by multiprocessing's spawn method, never forked: gRPC's threads do
not survive a fork. This process, the supervisor, checks the schema once, holds the port (so
that port 0 means one free port for all), starts the workers, serves the metrics they write
together, and on SIGTERM/SIGINT tells each to shut down gracefully. If a worker dies the
supervisor stops the others and exits 1, leaving restarts to the orchestrator.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import os
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

from registry_service import logs
from registry_service.addresses import format_address
from registry_service.config import Settings
from registry_service.metrics import MetricsEndpoint, multiprocess_registry
from registry_service.server import log_listening, open_store, serve
from registry_service.shutdown import ShutdownRequests
from registry_service.store import schema

log = logging.getLogger(__name__)

# Seconds a worker gets beyond the grace period to exit before it is killed.
EXIT_MARGIN_S = 5.0

# Where prometheus_client's multiprocess mode keeps each process's metric files.
PROMETHEUS_MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


class WorkerFailed(Exception):
    """A worker could not start serving."""


@dataclasses.dataclass
class _Worker:
    process: BaseProcess
    connection: Connection


def supervise(settings: Settings) -> int:
    """Run ``settings.workers`` workers until SIGTERM/SIGINT; 0 when all stopped cleanly."""
    # Migrated (SQLite) or checked (PostgreSQL) here, once, rather than by racing workers.
    open_store(settings).engine.dispose()
    shutdown = ShutdownRequests()
    with (
        reserved_port(settings.host, settings.port) as port,
        reserved_port(settings.host, settings.http_port) as http_port,
        tempfile.TemporaryDirectory(prefix="registry-metrics-") as metrics_dir,
    ):
        # Read by prometheus_client when the workers import it: they write their metrics there.
        os.environ[PROMETHEUS_MULTIPROC_DIR] = metrics_dir
        worker_settings = dataclasses.replace(
            settings, port=port, http_port=http_port, workers=1, metrics_port=None
        )
        context = multiprocessing.get_context("spawn")
        workers = [_start_worker(context, worker_settings, i) for i in range(settings.workers)]
        metrics = None
        try:
            for index, worker in enumerate(workers):
                _await_ready(index, worker)
            if settings.metrics_port is not None:
                metrics = MetricsEndpoint(
                    multiprocess_registry(metrics_dir), settings.host, settings.metrics_port
                )
            log.info("%d workers ready", len(workers))
            log_listening(settings.host, port)
            woken = wait([shutdown.fileno(), *(worker.process.sentinel for worker in workers)])
            stopped_by_signal = shutdown.fileno() in woken
            if stopped_by_signal:
                shutdown.wait()
            else:
                log.error("a worker exited unexpectedly; stopping the others")
        finally:
            _stop_all(workers, settings.grace)
            if metrics is not None:
                metrics.stop()
    clean = stopped_by_signal and all(worker.process.exitcode == 0 for worker in workers)
    log.info("stopped")
    return 0 if clean else 1


@contextmanager
def reserved_port(host: str, port: int) -> Iterator[int]:
    """Bind (but do not listen on) ``host:port`` with SO_REUSEPORT: the port is ours for the
    workers to join, and the kernel spreads connections over the workers alone, since only
    listening sockets take them. A negative port (HTTP off) stays as it is."""
    if port < 0:
        yield port
        return
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as reservation:
        reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            reservation.bind(address)
        except OSError as error:
            raise OSError(
                f"cannot listen on {format_address(host, port)}: {error.strerror}"
            ) from error
        yield reservation.getsockname()[1]


def _start_worker(
    context: multiprocessing.context.SpawnContext, settings: Settings, index: int
) -> _Worker:
    ours, theirs = context.Pipe()
    process = context.Process(
        target=run_worker, args=(settings, theirs), name=f"registry-worker-{index}"
    )
    process.start()
    theirs.close()
    return _Worker(process, ours)


def _await_ready(index: int, worker: _Worker) -> None:
    try:
        status, detail = worker.connection.recv()
    except EOFError:
        raise WorkerFailed(f"worker {index} exited before serving") from None
    if status != "ready":
        raise WorkerFailed(f"worker {index}: {detail}")


def _stop_all(workers: list[_Worker], grace: float) -> None:
    for worker in workers:
        with contextlib.suppress(OSError):  # already gone
            worker.connection.send("stop")
        worker.connection.close()
    for worker in workers:
        worker.process.join(grace + EXIT_MARGIN_S)
        if worker.process.is_alive():
            log.error("%s did not stop within the grace period; killing it", worker.process.name)
            worker.process.kill()
            worker.process.join()


def run_worker(settings: Settings, supervisor: Connection) -> None:
    """A worker's life: serve on the shared port until the supervisor (or a signal) says stop.

    A supervisor that vanishes closes the pipe, and the worker stops too rather than linger.
    """
    logs.configure(settings.log_level, settings.log_format)
    shutdown = ShutdownRequests()

    def await_stop() -> None:
        try:
            supervisor.recv()
        except EOFError:
            log.warning("the supervisor is gone")
        shutdown.request()

    def ready(port: int) -> None:
        supervisor.send(("ready", port))
        threading.Thread(target=await_stop, name="await-stop", daemon=True).start()
        log.info("worker serving on %s", format_address(settings.host, port))

    try:
        serve(settings, reuse_port=True, ready=ready, shutdown=shutdown)
    except (schema.SchemaOutdated, OSError, ValueError) as error:
        supervisor.send(("error", str(error)))
        sys.exit(2)
