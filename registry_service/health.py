"""grpc.health.v1 statuses that follow the database: probed, not assumed.

The overall status ("") and the registry service's own are SERVING while the database answers
and NOT_SERVING while it does not, from the first probe on; shutdown turns them NOT_SERVING for
good, before the server stops taking calls.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from grpc_health.v1 import health_pb2
from sqlalchemy.engine import Engine

from registry_service.store.engine import first_line, ping

log = logging.getLogger(__name__)

# A database that takes longer than this to answer `SELECT 1` is not serving.
PROBE_TIMEOUT_S = 5.0


class HealthStatuses(Protocol):
    """What the probe sets: a grpc.health.v1 servicer, or its asyncio one seen from a thread
    (``aio_server.LoopHealth``)."""

    def set(self, service: str, status: Any) -> None: ...

    def enter_graceful_shutdown(self) -> None: ...


class DatabaseHealth:
    """Sets ``services`` in ``servicer`` from a probe of ``engine`` every ``interval`` seconds."""

    def __init__(
        self,
        servicer: HealthStatuses,
        engine: Engine,
        services: tuple[str, ...],
        interval: float,
    ) -> None:
        self._servicer = servicer
        self._engine = engine
        self._services = services
        self._interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-probe", daemon=True)
        self._serving: bool | None = None

    def start(self) -> None:
        """Probe once, so the first answer is already a checked one, then keep probing."""
        self._probe()
        self._thread.start()

    def shutdown(self) -> None:
        """NOT_SERVING from now on, whatever the database does."""
        self._servicer.enter_graceful_shutdown()
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            self._probe()

    def _probe(self) -> None:
        try:
            ping(self._engine, PROBE_TIMEOUT_S)
        except Exception as error:
            self._set(serving=False, reason=first_line(error))
        else:
            self._set(serving=True, reason="the database answers")

    def _set(self, *, serving: bool, reason: str) -> None:
        # Only changes are set: every set() is a message to every open Watch stream.
        if serving == self._serving:
            return
        self._serving = serving
        if serving:
            status = health_pb2.HealthCheckResponse.SERVING
            log.info("health SERVING: %s", reason)
        else:
            status = health_pb2.HealthCheckResponse.NOT_SERVING
            log.warning("health NOT_SERVING, the database is unreachable: %s", reason)
        for service in self._services:
            self._servicer.set(service, status)
