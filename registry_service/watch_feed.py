"""WatchEvents for a fleet: one tail of the outbox per server process, fanned out to every stream.

The tail, one thread, reads each committed event once, with the grants of the watchers that do not
read every model, and hands every stream what its filters (models, event types) and its caller's
permissions admit. It reads when this process commits an event, when PostgreSQL NOTIFYs a commit
(of any replica), and otherwise polls: soon after activity, backing off to the poll interval while
idle. Polling alone stays correct: every replica's events reach the outbox, and the tail reads
"sequence > last read" up to a high-water mark below which nothing can still commit.

A stream first replays, with its own reads as its caller, the events after its ``start_after``
that the tail has passed, then joins the fan-out at the tail's position: no gap, no duplicate.
Each stream's buffer is bounded: a stream that falls ``capacity`` events behind leaves the fan-out
and ends with ResourceExhausted naming the buffer, so one slow reader costs the others nothing;
its client resumes after the last sequence it received. A stream waits for its events without a
thread: ``watch_async`` on an event loop, or ``watch`` for a thread that may block (the HTTP
gateway's). Idle streams beat every heartbeat interval with the sequence read up to; those on an
event loop are woken for it by the tail's sweep every half interval, rather than each arming a
timer for every wait.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence

from registry_service import identity
from registry_service.domain import Event, EventType
from registry_service.errors import ResourceExhausted
from registry_service.store.commit_notifications import CommitNotifications
from registry_service.store.history import FeedBatch
from registry_service.store.registry_store import RegistryStore

# Events read per database round trip, by the tail and by a stream's replay.
BATCH = 500
# The tail's first wait after activity, in seconds; it doubles up to the poll interval.
FIRST_WAIT = 0.05
# Streams handed a batch per hold of the feed's lock.
FAN_OUT_CHUNK = 100

log = logging.getLogger(__name__)

Item = tuple[Event | None, int]


class _ThreadSignal:
    """Wakes a stream served by a thread that blocks while it waits."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def arm(self) -> None:
        self._event.clear()

    def fire(self) -> None:
        self._event.set()

    def wait(self, timeout: float) -> None:
        self._event.wait(timeout)


class _LoopWakeups:
    """Resolves, on one event loop, the waits the tail's thread ends: one cross-thread call per
    batch rather than one per stream, and ``CHUNK`` streams at a time, so that the loop's other
    work (the unary calls' completions) is not queued behind the whole fan-out."""

    CHUNK = 50

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._lock = threading.Lock()
        self._pending: deque[asyncio.Future[None]] = deque()
        self._scheduled = False

    def add(self, waiter: asyncio.Future[None]) -> None:
        with self._lock:
            self._pending.append(waiter)
            if self._scheduled:
                return
            self._scheduled = True
        self.loop.call_soon_threadsafe(self._resolve_some)

    def _resolve_some(self) -> None:
        with self._lock:
            some = [self._pending.popleft() for _ in range(min(self.CHUNK, len(self._pending)))]
            self._scheduled = bool(self._pending)
        for waiter in some:
            if not waiter.done():
                waiter.set_result(None)
        if self._scheduled:
            # Behind whatever else became ready meanwhile.
            self.loop.call_soon(self._resolve_some)


class _LoopSignal:
    """Wakes a stream served on an event loop, from the tail's thread: a future per wait, and
    nothing scheduled on the loop for streams that are not waiting."""

    def __init__(self, wakeups: _LoopWakeups) -> None:
        self._wakeups = wakeups
        self._waiter: asyncio.Future[None] | None = None

    def arm(self) -> None:
        self._waiter = self._wakeups.loop.create_future()

    def fire(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            self._wakeups.add(waiter)

    async def wait(self) -> None:
        """Until the tail fires: with events, or at a heartbeat sweep (``EventFeed._sweep``).
        No timer per wait: with thousands of streams those were a fifth of the loop's time."""
        if self._waiter is not None:
            await self._waiter


class Subscription:
    """One stream's place in the fan-out. Its fields change under the feed's lock only."""

    def __init__(
        self,
        start_after: int,
        model_names: Sequence[str],
        event_types: Sequence[EventType],
        signal: _ThreadSignal | _LoopSignal,
    ) -> None:
        self.model_names = frozenset(model_names)
        self.event_types = frozenset(event_types)
        # Captured now: the stream's caller (the fan-out runs on the tail's thread).
        self.caller = identity.current_access()
        # The sequence the stream has been handed or read past: where it resumes.
        self.after = start_after
        self.buffer: deque[Event] = deque()
        self.overflowed = False
        self.signal = signal

    def admits(self, event: Event, model_id: int, grants: frozenset[tuple[int, str]]) -> bool:
        if self.model_names and event.model_name not in self.model_names:
            return False
        if self.event_types and event.event_type not in self.event_types:
            return False
        # What model_rows.readable_by_caller admits, for the same grants.
        return self.caller.reads_every_model or (model_id, self.caller.user_id) in grants


class EventFeed:
    """The change feed of one server process."""

    def __init__(
        self,
        store: RegistryStore,
        poll_interval: float,
        heartbeat_interval: float,
        max_streams: int,
        buffer_size: int,
    ) -> None:
        self._store = store
        self._poll_interval = poll_interval
        self._heartbeat_interval = heartbeat_interval
        self._max_streams = max_streams
        self._buffer_size = buffer_size
        self._lock = threading.Lock()
        # Held while the first stream starts the tail, so that only one does.
        self._starting = threading.Lock()
        # Every open stream, replaying or joined; the joined ones receive from the tail.
        self._streams: set[Subscription] = set()
        self._joined: set[Subscription] = set()
        # The sequence the tail has read up to; None until the first stream starts the tail: a
        # server nobody watches reads no events.
        self._position: int | None = None
        self._tail: threading.Thread | None = None
        # While the tail reads a batch: streams join once it has been read (``_read_tail``).
        self._reading = False
        self._wake = threading.Event()
        self._sweep_interval = heartbeat_interval / 2
        # Per event loop serving streams (the gRPC server's one, in practice).
        self._wakeups: dict[asyncio.AbstractEventLoop, _LoopWakeups] = {}
        self._closed = False
        store.on_events_committed(self.wake)
        # On PostgreSQL, commits of other processes and replicas wake the tail too.
        self._notifications = (
            CommitNotifications(store.engine.url, self.wake)
            if store.engine.dialect.name == "postgresql"
            else None
        )

    def wake(self) -> None:
        """Events committed: the tail reads now rather than at its next poll."""
        self._wake.set()

    def close(self) -> None:
        """End every stream (each with its last events and no error) and stop the tail."""
        with self._lock:
            self._closed = True
            for subscription in self._streams:
                subscription.signal.fire()
            tail = self._tail
        self._wake.set()
        if tail is not None:
            tail.join()
            if self._notifications is not None:
                self._notifications.stop()

    # -- streams ---------------------------------------------------------------------------

    def watch(
        self,
        start_after: int,
        model_names: Sequence[str],
        event_types: Sequence[EventType],
        active: Callable[[], bool],
    ) -> Iterator[Item]:
        """Yield (event, its sequence) for each event after ``start_after``, and (None, the
        sequence read up to) as a heartbeat, until ``active()`` turns false or the feed closes.
        The second value is always a safe place to resume after. Blocks its thread while it
        waits. ResourceExhausted when the process already serves its most streams, or when the
        stream falls a whole buffer behind."""
        self._start_tail()
        signal = _ThreadSignal()
        subscription = self._open(start_after, model_names, event_types, signal)
        try:
            while not self._join(subscription):
                yield from self._replayed(subscription)
            last_sent = time.monotonic()
            while active() and not self._closed:
                events, position = self._take(subscription)
                for event in events:
                    yield event, event.sequence
                idle = time.monotonic() - last_sent
                if events:
                    last_sent = time.monotonic()
                elif idle >= self._heartbeat_interval:
                    yield None, position
                    last_sent = time.monotonic()
                else:
                    # Bounded by the poll interval too: ``active()`` is only read between waits.
                    signal.wait(min(self._heartbeat_interval - idle, self._poll_interval))
        finally:
            self._leave(subscription)

    async def watch_async(
        self, start_after: int, model_names: Sequence[str], event_types: Sequence[EventType]
    ) -> AsyncGenerator[Item, None]:
        """``watch`` on the running event loop, holding no thread while it waits: it ends when
        the feed closes or its task is cancelled (the caller went away). The replay's reads run
        in the loop's default executor, as the caller."""
        await asyncio.to_thread(self._start_tail)
        signal = _LoopSignal(self._wakeups_of(asyncio.get_running_loop()))
        subscription = self._open(start_after, model_names, event_types, signal)
        try:
            while not self._join(subscription):
                for item in await asyncio.to_thread(self._replayed, subscription):
                    yield item
            last_sent = time.monotonic()
            while not self._closed:
                events, position = self._take(subscription)
                for event in events:
                    yield event, event.sequence
                idle = time.monotonic() - last_sent
                if events:
                    last_sent = time.monotonic()
                elif idle >= self._heartbeat_interval:
                    yield None, position
                    last_sent = time.monotonic()
                else:
                    await signal.wait()
        finally:
            self._leave(subscription)

    def _wakeups_of(self, loop: asyncio.AbstractEventLoop) -> _LoopWakeups:
        with self._lock:
            wakeups = self._wakeups.get(loop)
            if wakeups is None:
                wakeups = self._wakeups[loop] = _LoopWakeups(loop)
            return wakeups

    def _open(
        self,
        start_after: int,
        model_names: Sequence[str],
        event_types: Sequence[EventType],
        signal: _ThreadSignal | _LoopSignal,
    ) -> Subscription:
        subscription = Subscription(start_after, model_names, event_types, signal)
        with self._lock:
            if len(self._streams) >= self._max_streams:
                raise ResourceExhausted(
                    f"this server already serves {self._max_streams} WatchEvents streams "
                    "(--max-watch-streams); retry later or on another replica"
                )
            self._streams.add(subscription)
        return subscription

    def _join(self, subscription: Subscription) -> bool:
        """Join the fan-out once the stream has replayed up to the tail; False while it has
        events of its own to read first."""
        with self._lock:
            if self._closed:
                # Nothing to join: the stream ends at once, as every other did.
                return True
            position = self._position
            if position is None or self._reading or subscription.after < position:
                return False
            self._joined.add(subscription)
            return True

    def _replayed(self, subscription: Subscription) -> list[Item]:
        """One read of the events the tail has passed, as the stream's caller."""
        events, after = self._store.read_events(
            subscription.after,
            list(subscription.model_names),
            list(subscription.event_types),
            BATCH,
        )
        subscription.after = after
        return [(event, event.sequence) for event in events]

    def _take(self, subscription: Subscription) -> tuple[list[Event], int]:
        """The stream's buffered events and the sequence read up to; with none, the signal is
        armed under the lock, so that a batch fanned out after this wakes the wait that
        follows."""
        with self._lock:
            if subscription.overflowed:
                raise ResourceExhausted(
                    f"this WatchEvents stream fell {self._buffer_size} events behind the feed "
                    "and overflowed its buffer (--watch-buffer); resume after the last sequence "
                    "received"
                )
            events = list(subscription.buffer)
            subscription.buffer.clear()
            if not events:
                subscription.signal.arm()
            return events, subscription.after

    def _leave(self, subscription: Subscription) -> None:
        with self._lock:
            self._streams.discard(subscription)
            self._joined.discard(subscription)

    # -- the tail --------------------------------------------------------------------------

    def _start_tail(self) -> None:
        """Start the tail where the outbox is now (what came before, streams replay), unless it
        runs already. Run by the first stream, before it joins."""
        with self._starting:
            if self._tail is not None:
                return
            position = self._store.high_water_sequence()
            with self._lock:
                if self._closed:
                    return
                self._position = position
                self._tail = threading.Thread(target=self._run_tail, name="watch-tail", daemon=True)
                self._tail.start()
                if self._notifications is not None:
                    self._notifications.start()

    def _run_tail(self) -> None:
        wait = FIRST_WAIT
        swept = time.monotonic()
        while not self._closed:
            if time.monotonic() - swept >= self._sweep_interval:
                self._sweep()
                swept = time.monotonic()
            try:
                found = self._read_tail()
            except Exception:
                # The database may be away for a while; the streams beat on meanwhile.
                log.exception("the WatchEvents tail could not read the events")
                self._wake.wait(self._poll_interval)
                continue
            if found == BATCH:
                continue
            if found:
                wait = FIRST_WAIT
            if self._notifications is not None and self._notifications.listening.is_set():
                # Every replica's commits wake the tail: the poll is only a fallback.
                wait = self._poll_interval
            woken = self._wake.wait(min(wait, self._sweep_interval))
            self._wake.clear()
            wait = FIRST_WAIT if woken else min(wait * 2, self._poll_interval)

    def _sweep(self) -> None:
        """Wake every stream waiting on an event loop, so that the idle ones send their
        heartbeat: each does when its idle time has reached the heartbeat interval, so within
        1.5 intervals."""
        with self._lock:
            for subscription in self._joined:
                if isinstance(subscription.signal, _LoopSignal):
                    subscription.signal.fire()

    def _read_tail(self) -> int:
        """Read and fan out one batch; how many events it held.

        The feed's lock is held for one chunk of streams at a time, never for the whole fan-out:
        the streams on the event loop take it to read their buffers, and a loop blocked on it
        for a fan-out to thousands of streams stalled every call the loop serves. The streams
        that receive the batch are those joined while it was read (their callers' grants are
        read with it); one that tries to join meanwhile replays once more, and one that joins
        after it replays the batch from the outbox."""
        with self._lock:
            position = self._position
            receivers = list(self._joined)
            users = {s.caller.user_id for s in receivers if not s.caller.reads_every_model}
            self._reading = True
        assert position is not None, "the tail starts with a position"
        batch: FeedBatch | None = None
        try:
            batch = self._store.read_feed(position, BATCH, users)
        finally:
            # In one hold with the new position: a stream let join between the two would join
            # at the old position and miss the batch.
            with self._lock:
                self._reading = False
                if batch is not None:
                    self._position = batch.read_up_to
        if not batch.events and batch.read_up_to == position:
            # Nothing new: every joined stream is already past the position.
            return 0
        for start in range(0, len(receivers), FAN_OUT_CHUNK):
            with self._lock:
                for subscription in receivers[start : start + FAN_OUT_CHUNK]:
                    if subscription in self._joined:
                        self._hand(subscription, batch)
        return len(batch.events)

    def _hand(self, subscription: Subscription, batch: FeedBatch) -> None:
        """Buffer what ``subscription`` admits of ``batch``, or end it when its buffer would
        overflow. Under the feed's lock."""
        after = subscription.after
        admitted = [
            event
            for event, model_id in batch.events
            if event.sequence > after and subscription.admits(event, model_id, batch.grants)
        ]
        if len(subscription.buffer) + len(admitted) > self._buffer_size:
            # Too slow: it leaves, and its stream ends at its next read.
            subscription.overflowed = True
            subscription.buffer.clear()
            self._joined.discard(subscription)
            subscription.signal.fire()
            return
        subscription.buffer.extend(admitted)
        subscription.after = max(after, batch.read_up_to)
        if admitted:
            subscription.signal.fire()
