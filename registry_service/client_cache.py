"""ModelCache: a few registered models held in memory, built from a snapshot and kept current by
the change feed, so a serving process resolves ``champion`` without a call per request.

    with client.cache(names=["fraud"]) as cache:
        cache.on_change(lambda change: reload_if_champion_moved(change))
        version = cache.get_model_version_by_alias("fraud", "champion")

How it stays correct:

- **Snapshot, then the feed.** It first finds a sequence S the feed has reached, then reads each
  model and its versions, then watches from S. Every event after S is applied again even if the
  snapshot already shows it, which is harmless: applying an event means reading the entities it
  touched again, so the cache holds exactly what the RPCs answer, etags included.
- **An unfiltered watch.** A rename is announced under the new name, so a watch filtered by the
  cached names would never hear that one of them was renamed away. The cache reads every event
  and ignores those that concern none of its names.
- **Freshness is proved, never assumed.** An event says nothing about what comes after it. The
  cache counts itself current as of an instant only when something showed it that nothing later
  had committed then: the snapshot (as of its start), a heartbeat on the stream (sent every
  ``--event-heartbeat-interval`` while idle, right after the server read the feed; counted as of
  its arrival, its transit time not subtracted) or a probe: a ListEvents after the last applied
  sequence, whose events it applies, proves the cache as of the probe's sending when one page
  held them all. It probes whenever its last proof is older than a quarter of
  ``max_staleness``, so it keeps up, by polling, even while the stream is refused. A caller who
  is no admin may be hidden events (those of a model whose grant went with its deletion), so
  its probes also compare the models' etags with one search, and only they prove it current.
- **Never silently stale.** A read is answered from memory only while the last proof is at most
  ``max_staleness`` old; otherwise it is sent to the server (or, with ``strict``, raises
  StaleCache saying why: the stream's last error, a failed probe).

Reads of names the cache does not hold, and reads it has no answer for (an alias or version it
does not know, stages that are not valid), are sent to the server, so every answer and error is
the server's own.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import grpc
from modelregistry.v1 import events_pb2, registry_service_pb2_grpc
from modelregistry.v1.events_pb2 import Event
from modelregistry.v1.model_version_pb2 import ModelVersion
from modelregistry.v1.registered_model_pb2 import RegisteredModel

from registry_service import validation
from registry_service.domain import Stage
from registry_service.errors import InvalidArgument, NotFound, RegistryError, Unavailable
from registry_service.grpc_errors import from_rpc_error

if TYPE_CHECKING:
    from registry_service.client import RegistryClient

log = logging.getLogger(__name__)
Message = TypeVar("Message", RegisteredModel, ModelVersion)

DEFAULT_MAX_STALENESS = 5.0
# Seconds between reconnections of a broken watch, doubling per failure up to the maximum.
RECONNECT_INITIAL = 0.1
RECONNECT_MAX = 5.0
# A probe is due when the last proof is older than this share of max_staleness: a few probes
# may fail or find the stream a little behind before the cache turns stale.
PROBE_FRACTION = 0.25
# Events one probe reads and applies; with more, the next probe reads on.
PROBE_PAGE = 100
# Event types after which the model's every version is read again: its name changed, or it
# appeared or went away.
_WHOLE_MODEL = frozenset(
    {
        events_pb2.EVENT_TYPE_REGISTERED_MODEL_CREATED,
        events_pb2.EVENT_TYPE_REGISTERED_MODEL_RENAMED,
        events_pb2.EVENT_TYPE_REGISTERED_MODEL_DELETED,
        events_pb2.EVENT_TYPE_REGISTERED_MODEL_RESTORED,
    }
)


class StaleCache(Unavailable):
    """A strict cache could not prove it was current within its ``max_staleness``; the message
    says why. Retry later, or read from the server."""

    reason = "CACHE_STALE"


@dataclass(frozen=True)
class Freshness:
    """How current a cache is. ``proved_age`` is the seconds since the cache last proved it
    held every committed change (None before any proof); ``heartbeat_age`` the seconds since the
    watch stream's last heartbeat (None before the first)."""

    sequence: int
    proved_age: float | None
    heartbeat_age: float | None
    fresh: bool
    # Why the cache is not fresh, or the last trouble it recovered from; "" when none.
    problem: str


@dataclass(frozen=True)
class ModelChange:
    """A cached model changed: ``before`` and ``after`` are the model as the cache held it (None
    when it did not exist), ``events`` the feed's events that concerned it and ``sequence`` the
    last of them. ``after`` is read after those events, so it may show later changes too."""

    name: str
    before: RegisteredModel | None
    after: RegisteredModel | None
    sequence: int
    events: tuple[Event, ...]

    def alias_moved(self, alias: str) -> bool:
        """Whether ``alias`` now names another version (or none, or now one)."""
        return _alias_of(self.before, alias) != _alias_of(self.after, alias)


@dataclass(frozen=True)
class _Model:
    """One cached name: the model and its versions, or the NotFound the server gave for it.
    Replaced whole, never changed, so that a reader sees one consistent state."""

    model: RegisteredModel | None
    versions: dict[int, ModelVersion] = field(default_factory=dict)
    missing: NotFound | None = None


# What the watching thread hands the applying one: a message of the stream (an event, or a
# heartbeat without one) with the time.monotonic() it arrived at, or why the stream ended.
_Item = tuple[events_pb2.WatchEventsResponse, float] | str


class ModelCache:
    """Models ``names`` held in memory; see the module's documentation. ``RegistryClient.cache``
    starts one (the snapshot, then the watch) and closes it after its ``with`` block."""

    def __init__(
        self,
        client: RegistryClient,
        names: Iterable[str],
        *,
        max_staleness: float = DEFAULT_MAX_STALENESS,
        strict: bool = False,
    ) -> None:
        if isinstance(names, str):
            # A lone name would otherwise be taken as a set of one-letter names.
            raise InvalidArgument(f"names must be a list of names, got {names!r}", field="names")
        if max_staleness <= 0:
            raise InvalidArgument(
                f"max_staleness must be positive, got {max_staleness}", field="max_staleness"
            )
        self._client = client
        self._stub = registry_service_pb2_grpc.ModelRegistryServiceStub(client.channel)
        self._names = frozenset(names)
        self._max_staleness = max_staleness
        self._strict = strict
        self._probe_every = max_staleness * PROBE_FRACTION
        # Written only by the applying thread; readers take whole values (one dict lookup, one
        # float), which needs no lock.
        self._models: dict[str, _Model] = {}
        self._sequence = 0
        self._proved_at = float("-inf")
        self._heartbeat_at: float | None = None
        self._problem = "not started"
        self._callbacks: list[Callable[[ModelChange], None]] = []
        self._items: queue.Queue[_Item | None] = queue.Queue()
        self._stopping = threading.Event()
        self._call_lock = threading.Lock()
        self._call: grpc.Call | None = None
        self._threads: list[threading.Thread] = []
        self._sees_every_event = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Take the snapshot (errors such as Unauthenticated propagate), then watch."""
        started = time.monotonic()
        # A caller who is no admin may read some models only by a grant; the events of a model
        # whose grant goes (revoked, or the model deleted) are hidden from it, so its probes
        # also compare the models' etags (see _probe).
        self._sees_every_event = self._client.get_current_identity().admin
        # Before the snapshot: every event up to it is then in the snapshot already.
        sequence = self._feed_position()
        for name in self._names:
            self._models[name] = self._read_model(name)
        self._sequence = sequence
        self._proved_at = started
        self._problem = ""
        for target, role in ((self._watch, "watch"), (self._apply, "apply")):
            thread = threading.Thread(target=target, name=f"model-cache-{role}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def close(self) -> None:
        self._stopping.set()
        with self._call_lock:
            if self._call is not None:
                self._call.cancel()
        self._items.put(None)
        for thread in self._threads:
            thread.join()

    def on_change(self, callback: Callable[[ModelChange], None]) -> None:
        """Call ``callback`` (on the cache's thread) after each change to a cached model is
        applied, e.g. to load the new version when ``change.alias_moved("champion")``."""
        self._callbacks.append(callback)

    def freshness(self) -> Freshness:
        now = time.monotonic()
        proved_at = self._proved_at
        heartbeat_at = self._heartbeat_at
        proved_age = None if proved_at == float("-inf") else now - proved_at
        fresh = proved_age is not None and proved_age <= self._max_staleness
        problem = self._problem
        if not fresh and not problem:
            problem = f"not proved current for {self._max_staleness:g} s"
        return Freshness(
            sequence=self._sequence,
            proved_age=proved_age,
            heartbeat_age=None if heartbeat_at is None else now - heartbeat_at,
            fresh=fresh,
            problem=problem,
        )

    # -- reads -------------------------------------------------------------------------------

    def get_registered_model(self, name: str) -> RegisteredModel:
        cached = self._current(name)
        if cached is None:
            return self._client.get_registered_model(name)
        return _copy(_present(cached))

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        cached = self._current(name)
        # Input the server would refuse is sent to it, for its own error.
        with contextlib.suppress(TypeError, ValueError, InvalidArgument):
            number = validation.check_version(int(version))
            if cached is not None:
                _present(cached)
                if number in cached.versions:
                    return _copy(cached.versions[number])
        return self._client.get_model_version(name, version)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        cached = self._current(name)
        with contextlib.suppress(InvalidArgument):
            validation.check_alias_to_resolve(alias)
            if cached is not None:
                number = _present(cached).aliases.get(alias)
                if alias.lower() == validation.LATEST_ALIAS and cached.versions:
                    number = max(cached.versions)
                if number in cached.versions:
                    return _copy(cached.versions[number])
        return self._client.get_model_version_by_alias(name, alias)

    def get_latest_versions(
        self, name: str, stages: Iterable[str] | None = None
    ) -> list[ModelVersion]:
        asked = list(stages or ())
        cached = self._current(name)
        with contextlib.suppress(InvalidArgument):
            wanted = validation.parse_stages(asked) or list(Stage)
            if cached is not None:
                _present(cached)
                highest: dict[str, ModelVersion] = {}
                for number in sorted(cached.versions):
                    highest[cached.versions[number].current_stage] = cached.versions[number]
                return [_copy(highest[stage]) for stage in wanted if stage in highest]
        return self._client.get_latest_versions(name, asked)

    def _current(self, name: str) -> _Model | None:
        """The cached state of ``name`` when it may be answered from memory; None when the call
        should go to the server. StaleCache when strict and not proved current."""
        cached = self._models.get(name)
        if cached is None:
            return None
        if time.monotonic() - self._proved_at <= self._max_staleness:
            return cached
        if self._strict:
            raise StaleCache(f"the cache of {name!r} is stale: {self.freshness().problem}")
        return None

    # -- the feed ----------------------------------------------------------------------------

    def _feed_position(self) -> int:
        """The sequence of the newest event ListEvents shows, by doubling then bisecting
        (the API has no call that names it): about 2·log2(sequence) short calls."""
        low = 0
        high: int | None = None
        step = 1
        while high is None:
            following = self._event_after(low + step - 1)
            if following is None:
                high = low + step - 1
            else:
                low = following
                step *= 2
        while low < high:
            middle = (low + high) // 2
            following = self._event_after(middle)
            if following is None:
                high = middle
            else:
                low = following
        return low

    def _event_after(self, sequence: int) -> int | None:
        request = events_pb2.ListEventsRequest(start_after=max(sequence, 0), page_size=1)
        events = self._list_events(request).events
        return events[0].sequence if events else None

    def _list_events(self, request: events_pb2.ListEventsRequest) -> events_pb2.ListEventsResponse:
        try:
            response: events_pb2.ListEventsResponse = self._stub.ListEvents(
                request, timeout=self._max_staleness
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        return response

    def _watch(self) -> None:
        """Read the unfiltered stream into the queue, reconnecting after the last sequence
        received, until closed."""
        position = self._sequence
        wait = RECONNECT_INITIAL
        while not self._stopping.is_set():
            request = events_pb2.WatchEventsRequest(start_after=position)
            with self._call_lock:
                if self._stopping.is_set():
                    return
                stream = self._stub.WatchEvents(request)
                self._call = stream
            try:
                for response in stream:
                    wait = RECONNECT_INITIAL
                    position = max(position, response.high_water_sequence)
                    self._items.put((response, time.monotonic()))
                trouble = "the watch stream ended (the server closed it)"
            except grpc.RpcError as error:
                trouble = f"the watch stream failed: {error.code().name}: {error.details()}"
            if self._stopping.is_set():
                return
            # Told at once, not only in turn: the applying thread may be waiting on a probe of
            # the same server, and a strict read meanwhile must still name the cause.
            self._problem = trouble
            self._items.put(trouble)
            self._stopping.wait(wait)
            wait = min(wait * 2, RECONNECT_MAX)

    def _apply(self) -> None:
        """Apply what the stream brings, in order; prove freshness by heartbeats and probes."""
        pending: list[Event] = []
        retry_wait = RECONNECT_INITIAL
        probed_at = float("-inf")
        while True:
            now = time.monotonic()
            if pending:
                timeout = retry_wait
            else:
                timeout = max(max(self._proved_at, probed_at) + self._probe_every - now, 0.0)
            batch = self._take(timeout)
            if batch is None:
                return
            pending = self._apply_batch(pending, batch)
            retry_wait = min(retry_wait * 2, RECONNECT_MAX) if pending else RECONNECT_INITIAL
            now = time.monotonic()
            due = now - max(self._proved_at, probed_at) >= self._probe_every
            if not pending and due:
                probed_at = now
                self._probe()

    def _take(self, timeout: float) -> list[_Item] | None:
        """What the stream queued: waits up to ``timeout`` for the first item, then takes every
        item already there, so that a burst (an archiving transition) is read back once. None
        once the cache closes."""
        taken: list[_Item | None] = []
        with contextlib.suppress(queue.Empty):
            taken.append(self._items.get(timeout=timeout))
            while True:
                taken.append(self._items.get_nowait())
        if any(item is None for item in taken):
            return None
        return [item for item in taken if item is not None]

    def _apply_batch(self, pending: list[Event], batch: Sequence[_Item]) -> list[Event]:
        """Apply ``pending`` and the batch's events; returns the events still to apply when the
        server could not be read."""
        heartbeats: list[tuple[int, float]] = []
        for entry in batch:
            if isinstance(entry, str):
                self._problem = entry
            elif entry[0].HasField("event"):
                pending.append(entry[0].event)
            else:
                heartbeats.append((entry[0].high_water_sequence, entry[1]))
        if pending:
            try:
                self._apply_events(pending)
            except RegistryError as error:
                self._problem = f"could not read the changed models: {_described(error)}"
                # Heartbeats after unapplied events prove nothing: they are dropped.
                return pending
            pending = []
        for high_water, arrived_at in heartbeats:
            self._sequence = max(self._sequence, high_water)
            self._heartbeat_at = arrived_at
            # A caller shown only some events learns nothing of the hidden ones from a
            # heartbeat: only its probes, which compare etags, prove it current.
            if self._sees_every_event:
                self._prove(arrived_at)
        return pending

    def _apply_events(self, events: Sequence[Event]) -> None:
        """Read again what ``events`` changed in the cached models, then tell the callbacks."""
        whole: set[str] = set()
        touched: dict[str, set[int]] = {}
        concerning: dict[str, list[Event]] = {}
        for event in events:
            for name in _names_of(event) & self._names:
                concerning.setdefault(name, []).append(event)
                if event.event_type in _WHOLE_MODEL:
                    whole.add(name)
                    continue
                numbers = touched.setdefault(name, set())
                # An alias move changes the aliases of the version it left, too.
                for values in (event.before, event.after):
                    if "version" in values.fields:
                        numbers.add(int(values.fields["version"].number_value))
                if event.version:
                    numbers.add(event.version)
        changes: list[ModelChange] = []
        for name in sorted(concerning):
            old = self._models[name]
            if name in whole or old.model is None:
                new = self._read_model(name)
            else:
                new = self._read_versions(name, old, touched.get(name, set()))
            changes += self._replace(name, new, tuple(concerning[name]))
        self._sequence = max(self._sequence, events[-1].sequence)
        self._notify(changes)

    def _replace(self, name: str, new: _Model, events: tuple[Event, ...]) -> list[ModelChange]:
        """Hold ``new`` for ``name``; the change it makes, if any."""
        old = self._models[name]
        self._models[name] = new
        if new == old:
            return []
        sequence = events[-1].sequence if events else self._sequence
        return [ModelChange(name, old.model, new.model, sequence, events)]

    def _notify(self, changes: list[ModelChange]) -> None:
        for change in changes:
            for callback in list(self._callbacks):
                try:
                    callback(change)
                except Exception:
                    log.exception("an on_change callback of the model cache failed")

    def _read_model(self, name: str) -> _Model:
        try:
            model = self._client.get_registered_model(name)
        except NotFound as missing:
            return _Model(None, missing=missing)
        versions = self._client.search_model_versions(f"name = {_quoted(name)}")
        return _Model(model, {version.version: version for version in versions})

    def _read_versions(self, name: str, old: _Model, numbers: set[int]) -> _Model:
        """The model and the versions ``numbers`` read again; the other versions kept."""
        try:
            model = self._client.get_registered_model(name)
        except NotFound as missing:
            return _Model(None, missing=missing)
        versions = dict(old.versions)
        for number in numbers:
            try:
                versions[number] = self._client.get_model_version(name, number)
            except NotFound:
                versions.pop(number, None)
        return _Model(model, versions)

    def _probe(self) -> None:
        """Read the feed after the last applied sequence and apply what it holds (the stream
        may be down, or refused by a server at its --max-watch-streams); when that was all of
        it, the cache is proved current as of the moment the probe was sent."""
        sent_at = time.monotonic()
        request = events_pb2.ListEventsRequest(start_after=self._sequence, page_size=PROBE_PAGE)
        try:
            if self._names and not self._sees_every_event:
                self._compare_etags()
            response = self._list_events(request)
            if response.events:
                # The stream may bring them again: reading a model twice is harmless.
                self._apply_events(response.events)
        except RegistryError as error:
            self._problem = f"could not probe the change feed: {_described(error)}"
            return
        if not response.next_page_token:
            self._prove(sent_at)

    def _compare_etags(self) -> None:
        """Read again each cached model whose etag (which changes with anything under the
        model) or existence differs from what one search answers now: a change whose event the
        caller was not shown (a deleted model takes its grants, and its events with them)."""
        listed = ", ".join(_quoted(name) for name in sorted(self._names))
        found = self._client.search_registered_models(f"name IN ({listed})")
        etags = {model.name: model.etag for model in found}
        changes: list[ModelChange] = []
        for name, cached in list(self._models.items()):
            if (cached.model.etag if cached.model else None) != etags.get(name):
                changes += self._replace(name, self._read_model(name), ())
        self._notify(changes)

    def _prove(self, at: float) -> None:
        if at > self._proved_at:
            self._proved_at = at
            self._problem = ""


def _present(cached: _Model) -> RegisteredModel:
    """The cached model, or the server's NotFound for it raised again."""
    if cached.model is None:
        assert cached.missing is not None
        missing = cached.missing
        raise type(missing)(
            missing.message, field=missing.field, code=missing.code, reason=missing.reason
        )
    return cached.model


def _copy(message: Message) -> Message:
    """A copy, as every RPC returns a new message: a caller changing it leaves the cache as is."""
    copied = type(message)()
    copied.CopyFrom(message)
    return copied


def _quoted(name: str) -> str:
    """``name`` as a string of the search filter grammar."""
    escaped = name.replace("\\", "\\\\").replace("'", "''")
    return f"'{escaped}'"


def _described(error: RegistryError) -> str:
    code = error.code.name if error.code is not None else error.reason
    return f"{code}: {error}"


def _names_of(event: Event) -> set[str]:
    """The names an event concerns: a rename's old name too."""
    names = {event.model_name}
    if event.event_type == events_pb2.EVENT_TYPE_REGISTERED_MODEL_RENAMED:
        names.add(event.before.fields["name"].string_value)
    return names


def _alias_of(model: RegisteredModel | None, alias: str) -> int | None:
    if model is None or alias not in model.aliases:
        return None
    return model.aliases[alias]
