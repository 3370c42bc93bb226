"""WatchEvents: each stream reads the outbox at its own pace, so several server processes on one
database all see every event, and a slow watcher holds no lock and delays no writer.

A stream replays the events after its ``start_after``, then polls: soon after activity, backing
off to the poll interval while idle, with a heartbeat (no event, the high-water sequence) every
heartbeat interval. ``close()`` ends every stream within one poll, so that a server shutting down
is not kept waiting for its whole grace by streams that never end on their own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence

from registry_service.domain import Event, EventType
from registry_service.errors import ResourceExhausted
from registry_service.store.registry_store import RegistryStore

# Events read per database round trip.
BATCH = 500
# The first wait after activity, in seconds; it doubles up to the poll interval.
FIRST_WAIT = 0.05


class EventFeed:
    """The change feed of one server process."""

    def __init__(
        self,
        store: RegistryStore,
        poll_interval: float,
        heartbeat_interval: float,
        max_streams: int,
    ) -> None:
        self._store = store
        self._poll_interval = poll_interval
        self._heartbeat_interval = heartbeat_interval
        self._closed = threading.Event()
        # A stream holds a server thread for as long as it lives, and a stuck consumer may keep
        # it for ever: capping the streams keeps threads free for every other call.
        self._max_streams = max_streams
        self._slots = threading.BoundedSemaphore(max_streams)

    def close(self) -> None:
        self._closed.set()

    def watch(
        self,
        start_after: int,
        model_names: Sequence[str],
        event_types: Sequence[EventType],
        active: Callable[[], bool],
    ) -> Iterator[tuple[Event | None, int]]:
        """Yield (event, its sequence) for each event after ``start_after``, and (None, the
        sequence read up to) as a heartbeat, until ``active()`` turns false or the feed closes.
        The second value is always a safe place to resume after. ResourceExhausted when the
        process already serves its most streams."""
        if not self._slots.acquire(blocking=False):
            raise ResourceExhausted(
                f"this server already serves {self._max_streams} WatchEvents streams "
                "(--max-watch-streams, at most --threads - 1); retry later or on another replica"
            )
        try:
            yield from self._tail(start_after, model_names, event_types, active)
        finally:
            self._slots.release()

    def _tail(
        self,
        start_after: int,
        model_names: Sequence[str],
        event_types: Sequence[EventType],
        active: Callable[[], bool],
    ) -> Iterator[tuple[Event | None, int]]:
        after = start_after
        wait = FIRST_WAIT
        last_sent = time.monotonic()
        while active() and not self._closed.is_set():
            found, after = self._store.read_events(after, model_names, event_types, BATCH)
            for event in found:
                yield event, event.sequence
            if found:
                wait = FIRST_WAIT
                last_sent = time.monotonic()
                continue
            if time.monotonic() - last_sent >= self._heartbeat_interval:
                yield None, after
                last_sent = time.monotonic()
            self._closed.wait(wait)
            wait = min(wait * 2, self._poll_interval)
