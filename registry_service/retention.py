"""The retention loop of one server process: prunes events older than --event-retention and
finished webhook deliveries older than --delivery-log-retention, and purges deleted models and
versions past --deleted-retention (store/trash.py), a small batch per transaction.

Every replica runs it; their pruners queue on the horizon row (see store/retention.py), so
running several costs nothing but the odd empty turn.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from registry_service.background import BackgroundLoop
from registry_service.config import Settings
from registry_service.store.registry_store import RegistryStore

log = logging.getLogger(__name__)

# Rows per transaction: each batch holds the write lock for milliseconds, not seconds.
BATCH = 500
# Seconds between batches, so that writers queued behind one get in before the next.
PAUSE_S = 0.05
# Seconds between turns: retention is measured in days, so a minute late costs nothing.
INTERVAL_S = 60.0

# A pruning step: (older_than epoch ms, batch) -> rows pruned.
Prune = Callable[[int, int], int]


class RetentionWorker(BackgroundLoop):
    def __init__(
        self, store: RegistryStore, settings: Settings, interval: float = INTERVAL_S
    ) -> None:
        super().__init__("retention", interval)
        self._store = store
        self._retention = store.retention
        self._event_retention_ms = settings.event_retention * 1000
        self._delivery_retention_ms = settings.delivery_log_retention * 1000

    def run_once(self) -> tuple[int, int, int]:
        """One turn: prune until nothing is old enough; returns how many events, deliveries and
        deleted models and versions went."""
        now = round(time.time() * 1000)
        events = deliveries = 0
        if self._event_retention_ms:
            events = self._drain(self._retention.prune_events, now - self._event_retention_ms)
        if self._delivery_retention_ms:
            deliveries = self._drain(
                self._retention.prune_deliveries, now - self._delivery_retention_ms
            )
        deleted = self._store.purge_deleted()
        if events or deliveries or deleted:
            log.info(
                "pruned %d events and %d webhook deliveries; purged %d deleted models and versions",
                events,
                deliveries,
                deleted,
            )
        return events, deliveries, deleted

    def _drain(self, prune: Prune, older_than: int) -> int:
        total = 0
        while not self.stopped.is_set():
            pruned = prune(older_than, BATCH)
            total += pruned
            if pruned < BATCH:
                break
            self.stopped.wait(PAUSE_S)
        return total
