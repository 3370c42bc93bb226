"""The asyncio gRPC server of one process, run on an event loop in a thread of its own.

WatchEvents streams wait on the loop and hold no thread, so one process serves thousands; unary
calls run in a pool of --threads threads as before (``aio_calls``). Callers outside the loop
(start-up, health, shutdown) reach the server through ``ServerLoop``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import grpc
from grpc import aio
from grpc_health.v1 import health

T = TypeVar("T")


class ServerLoop:
    """An event loop running in a daemon thread until ``close()``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="grpc-loop", daemon=True)
        self._thread.start()

    def submit(self, work: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(work, self.loop)

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the loop and wait for its result."""
        return self.submit(work).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class StoppedServer:
    """What stopping the server gives: ``wait()`` returns once every call has ended."""

    def __init__(self, stopping: Future[None]) -> None:
        self._stopping = stopping

    def wait(self, timeout: float | None = None) -> bool:
        self._stopping.result(timeout)
        return True


class AioServer:
    """A started-or-not ``grpc.aio.Server`` driven from other threads, with the sync server's
    ``add_*_port``, ``start`` and ``stop(grace).wait()``."""

    def __init__(self, server: aio.Server, loop: ServerLoop) -> None:
        self.server = server
        self._loop = loop
        self._stopped: StoppedServer | None = None

    def add_insecure_port(self, address: str) -> int:
        return self.server.add_insecure_port(address)

    def add_secure_port(self, address: str, credentials: grpc.ServerCredentials) -> int:
        return self.server.add_secure_port(address, credentials)

    def start(self) -> None:
        self._loop.run(self.server.start())

    def stop(self, grace: float | None) -> StoppedServer:
        """Stop taking calls; those in flight get ``grace`` seconds. Calling it again waits for
        the same stop."""
        if self._stopped is None:
            self._stopped = StoppedServer(self._loop.submit(self._stop(grace)))
        return self._stopped

    async def _stop(self, grace: float | None) -> None:
        await self.server.stop(grace)


class LoopHealth:
    """The asyncio health servicer, set from threads (the database probe, shutdown)."""

    def __init__(self, servicer: health.aio.HealthServicer, loop: ServerLoop) -> None:
        self._servicer = servicer
        self._loop = loop

    def set(self, service: str, status: Any) -> None:
        self._loop.run(self._servicer.set(service, status))

    def enter_graceful_shutdown(self) -> None:
        self._loop.run(self._servicer.enter_graceful_shutdown())
