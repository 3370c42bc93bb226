"""A loop one server process runs in the background (webhook delivery, retention): a turn every
interval on a daemon thread, until stopped. A failed turn is logged and the next one tries again,
since the usual cause, the database being away, passes."""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)


class BackgroundLoop:
    """Subclasses define ``run_once``; ``stopped`` tells their turns to end early."""

    def __init__(self, name: str, interval: float) -> None:
        self._interval = interval
        self.stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def run_once(self) -> Any:
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self._thread.join()

    def _run(self) -> None:
        while not self.stopped.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("%s turn failed", self._thread.name)
            self.stopped.wait(self._interval)
