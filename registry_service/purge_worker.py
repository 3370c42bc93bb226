"""The background purge of deleted models and versions past --deleted-retention (store/trash.py):
a thread in each server process, like the webhook worker. Each batch is its own short transaction,
so replicas running it at once only share the work."""

from __future__ import annotations

import logging
import threading

from registry_service.store.registry_store import RegistryStore

log = logging.getLogger(__name__)

# Seconds between purges: the window is days, so a minute late is nothing.
PURGE_INTERVAL_S = 60.0


class PurgeWorker:
    def __init__(self, store: RegistryStore, interval: float = PURGE_INTERVAL_S) -> None:
        self._store = store
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="purge", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def _run(self) -> None:
        # The first purge an interval after start: a server that lives seconds (a test, a crash
        # loop) never purges, and one that lives on purges a minute late at worst.
        while not self._stopped.wait(self._interval):
            try:
                purged = self._store.purge_deleted()
                if purged:
                    log.info("purged %d deleted models and versions past the window", purged)
            except Exception:
                # The database may be down; the next turn tries again.
                log.exception("purge of deleted models failed")
