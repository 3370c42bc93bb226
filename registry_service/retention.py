"""The retention loop of one server process: prunes events older than --event-retention and
finished webhook deliveries older than --delivery-log-retention, a small batch per transaction.

Every replica runs it; their pruners queue on the horizon row (see store/retention.py), so
running several costs nothing but the odd empty turn.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from registry_service.config import Settings
from registry_service.store.retention import Retention

log = logging.getLogger(__name__)

# Rows per transaction: each batch holds the write lock for milliseconds, not seconds.
BATCH = 500
# Seconds between batches, so that writers queued behind one get in before the next.
PAUSE_S = 0.05
# Seconds between turns: retention is measured in days, so a minute late costs nothing.
INTERVAL_S = 60.0

# A pruning step: (older_than epoch ms, batch) -> rows pruned.
Prune = Callable[[int, int], int]


class RetentionWorker:
    def __init__(self, retention: Retention, settings: Settings) -> None:
        self._retention = retention
        self._event_retention_ms = round(settings.event_retention * 1000)
        self._delivery_retention_ms = round(settings.delivery_log_retention * 1000)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def run_once(self) -> tuple[int, int]:
        """One turn: prune until nothing is old enough; returns (events, deliveries) pruned."""
        now = round(time.time() * 1000)
        events = deliveries = 0
        if self._event_retention_ms:
            events = self._drain(self._retention.prune_events, now - self._event_retention_ms)
        if self._delivery_retention_ms:
            deliveries = self._drain(
                self._retention.prune_deliveries, now - self._delivery_retention_ms
            )
        if events or deliveries:
            log.info("pruned %d events and %d webhook deliveries", events, deliveries)
        return events, deliveries

    def _drain(self, prune: Prune, older_than: int) -> int:
        total = 0
        while not self._stopped.is_set():
            pruned = prune(older_than, BATCH)
            total += pruned
            if pruned < BATCH:
                break
            self._stopped.wait(PAUSE_S)
        return total

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self.run_once()
            except Exception:
                # The database may be down; the next turn tries again.
                log.exception("retention turn failed")
            self._stopped.wait(INTERVAL_S)
