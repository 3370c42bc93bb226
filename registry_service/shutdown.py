"""Requests to shut down: SIGTERM, SIGINT, or ``request()`` from any thread.

A Python signal handler runs only when the main thread executes bytecode, and the kernel may
deliver the signal to any of gRPC's threads instead, leaving a main thread that sleeps in a
lock wait asleep for good. So the signals' wakeup fd, which the C-level handler writes whatever
thread it runs on, is what the main thread waits on.
"""

from __future__ import annotations

import logging
import os
import select
import signal
from types import FrameType

log = logging.getLogger(__name__)

_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# What ``request()`` writes: no signal has number 0.
_REQUESTED = 0


class ShutdownRequests:
    """Install in the main thread; then ``wait()`` returns on the first request."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        signal.set_wakeup_fd(self._write)
        for signum in _SIGNALS:
            signal.signal(signum, _ignore)

    def fileno(self) -> int:
        """Readable once shutdown was requested (for ``select`` and ``connection.wait``)."""
        return self._read

    def request(self) -> None:
        os.write(self._write, bytes([_REQUESTED]))

    def wait(self) -> None:
        select.select([self._read], [], [])
        (signum,) = os.read(self._read, 1)
        if signum == _REQUESTED:
            log.info("shutdown requested")
        else:
            log.info("received %s", signal.Signals(signum).name)


def _ignore(_signum: int, _frame: FrameType | None) -> None:
    """The Python-level handler: replaces the default (exit, KeyboardInterrupt); ``wait``
    does the work."""
