"""Point reads answered from memory while the database has not changed since they were read.

A serving fleet asks the same few questions over and over (which version is ``champion`` of
model X, what is in Production), and nothing changes between most of them. So the results of the
point reads (a version, a version by alias, the latest versions, a model) are kept in memory,
each under the *change token* the database had when it was read, and served again as long as the
database still has that token. The token is:

- on SQLite, the WAL index header, read from the "-shm" file in shared memory: every commit
  of every connection of every process changes it before the commit returns
  (``_wal_index_header``); where there is none, ``PRAGMA data_version`` on a connection of the
  cache's own that never writes, which changes whenever any other connection commits, this
  process's own and every other process's;
- on PostgreSQL, the outbox's ``event_counter.last_sequence``: every change to models, versions,
  tags and aliases records its events, and so moves the counter, in its own transaction (see
  outbox), and a replica's commit is there for every other replica's next read of it.

Exact, not eventual: every read observes the token *after* it began, so a read that starts after
a write was acknowledged sees that write's token, which no entry read before the write carries.
An entry is stored under a token observed *before* its rows were read, so its rows are at least
as new as the token says. A read whose token matches an entry's therefore returns what a read of
the database would have (or something newer, from a write concurrent with it). Etags and the one
Production version come from the very rows the database returned; a rename, a delete, an alias
move or an archiving transition changes the token, and everything read before it is dropped.

On PostgreSQL observing the token is a round trip, and one per read would cost about what the
point read does. So concurrent reads share them (``SharedObservations``): a read waits for the
next observation that *begins* after it did, and one observation answers every read that
arrived while the previous one ran. Under load that is one statement for many reads; alone, one
read makes one. A read of a key with nothing in memory does not wait for one: it reads the
token just ahead of its rows, in the same round trip (``read_rows``).

``peek`` answers from memory alone, with no statement, lock or wait, or not at all: on SQLite
with the WAL index header as the token (a read of shared memory), on PostgreSQL with a token the
caller observed (``observe_token``) after its read began. The asyncio server answers with it on
its event loop, where its reads share observations of PostgreSQL's token as the threads' do
(aio_calls), and sends every call it cannot answer to a thread.

Only the callers whose access needs no per-model decision (admins, and everyone on a server
without authentication) are served from here; every other caller's read goes to the database,
where its permission is decided on the row it reads (see model_access).
"""

from __future__ import annotations

import mmap
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import event, literal, select
from sqlalchemy.engine import Engine

from registry_service.errors import DeadlineExceeded
from registry_service.store.driver_sql import DriverStatement
from registry_service.store.engine import is_sqlite, time_left
from registry_service.store.tables import event_counter

T = TypeVar("T")

# Results kept per process at most; when full, the cache starts again empty (a fleet's hot set is
# far smaller: a model's aliases and latest versions, for some thousands of models).
MAX_ENTRIES = 20_000

# A token for ``peek`` that matches whatever the entries were read under: it tells whether memory
# holds anything for a key at all (before a token is observed for it), and never answers a read.
ANY_TOKEN: Hashable = ("any token",)

# PostgreSQL's change token, the outbox's counter (its one row's key is 1).
_COUNTER_SQL = f"SELECT {event_counter.c.last_sequence.name} FROM {event_counter.name} WHERE id = 1"
# A statement that reads nothing, for a token observed on its own.
_NOTHING = DriverStatement(select(literal(1)).where(literal(False)))


class SharedObservations:
    """The value of ``observe()`` as of a moment after the call to ``now()``, with one
    ``observe()`` running at a time and its result shared by every caller that waited for it."""

    def __init__(self, observe: Callable[[], int]) -> None:
        self._observe = observe
        self._changed = threading.Condition(threading.Lock())
        # How many observations have begun; which one ``_value`` is the result of.
        self._begun = 0
        self._done = 0
        self._value = 0
        self._running = False

    def now(self) -> int:
        with self._changed:
            # The first observation to begin from here on sees every commit made before now.
            wanted = self._begun + 1
            while self._done < wanted:
                if not self._running:
                    self._running = True
                    self._begun += 1
                    number = self._begun
                    break
                if not self._changed.wait(time_left()):
                    raise DeadlineExceeded("the call's deadline passed while it read the database")
            else:
                return self._value
        value = None
        try:
            value = self._observe()
            return value
        finally:
            with self._changed:
                self._running = False
                if value is not None:
                    self._value, self._done = value, number
                # On failure the waiters try again, one of them observing.
                self._changed.notify_all()


class ReadCache:
    """Results of point reads, valid while the database's change token stays what it was when
    they were read (see the module's docstring)."""

    def __init__(
        self,
        engine: Engine,
        read_alone_after: Callable[
            [DriverStatement, Mapping[str, object], str], tuple[Sequence[Any], Sequence[Any]]
        ],
    ) -> None:
        self._read_alone_after = read_alone_after
        # PostgreSQL's token is a query, sent with the rows of a read not in memory.
        self._token_query = ""
        self._max_entries = MAX_ENTRIES
        self._lock = threading.Lock()
        # The token the entries were read under, and the entries: replaced together, as one.
        self._generation: tuple[Hashable, dict[Hashable, Any]] = (None, {})
        self._now: Callable[[], Hashable]
        # The change token when it is a read of memory; None when it is not (see ``peek``).
        self._token_in_memory: Callable[[], Hashable | None] = _unknown
        if is_sqlite(engine):
            self.enabled = engine.url.database not in (None, "", ":memory:")
            if self.enabled:
                self._now, self._token_in_memory = _sqlite_token(engine)
            else:
                self._now = _never
        else:
            self.enabled = True

            self._token_query = _COUNTER_SQL

            self._now = SharedObservations(self.observe_token).now

    def read(self, key: Hashable, load: Callable[[], T | None]) -> T | None:
        """What ``load`` returns (None: nothing to keep), from memory when the database has not
        changed since it last returned it for ``key``."""
        if not self.enabled:
            return load()
        token = self._now()
        held, entries = self._generation
        if held == token:
            value: T | None = entries.get(key)
            if value is not None:
                return value
        value = load()
        if value is not None:
            self._keep(token, key, value)
        return value

    @property
    def token_is_a_query(self) -> bool:
        """Whether the change token is read by a statement (PostgreSQL): ``peek`` then needs
        one observed by ``observe_token``."""
        return bool(self._token_query)

    def observe_token(self) -> int:
        """PostgreSQL's change token as of now: one round trip, on its own (reads share them
        through ``SharedObservations``, and on the asyncio server's loop likewise)."""
        return int(self._read_alone_after(_NOTHING, {}, _COUNTER_SQL)[0][0][0])

    def peek(self, key: Hashable, token: Hashable | None = None) -> Any | None:
        """What ``read`` would return for ``key`` from memory, found without waiting for
        anything (no statement, lock or system call); None when that cannot be told so, or when
        it would have to read the database. ``token``: where the token is a query, one
        ``observe_token`` returned after the read began (without it, None); ``ANY_TOKEN``:
        what memory holds for ``key`` whatever its token, to tell whether observing one is
        worth it."""
        held, entries = self._generation
        if token is ANY_TOKEN:
            return entries.get(key)
        if not self._token_query:
            token = self._token_in_memory()
        if token is None or held != token:
            return None
        return entries.get(key)

    def read_rows(
        self,
        key: Hashable,
        statement: DriverStatement,
        parameters: Mapping[str, object],
        decode: Callable[[Sequence[Any]], T | None],
    ) -> T | None:
        """``read`` of ``decode(rows of statement)``. Where the token is a query (PostgreSQL), a
        key with nothing in memory skips observing it on its own: the token is read with the
        rows, just ahead of them in the same round trip, so a read that misses costs what it
        did without the cache."""
        if self._token_query and key not in self._generation[1]:
            (token_row,), rows = self._read_alone_after(statement, parameters, self._token_query)
            value = decode(rows)
            if value is not None:
                self._keep(int(token_row[0]), key, value)
            return value
        return self.read(key, lambda: decode(self._read_alone_after(statement, parameters, "")[1]))

    def _keep(self, token: Hashable, key: Hashable, value: Any) -> None:
        with self._lock:
            held, entries = self._generation
            # A token other than the entries' is newer (or, rarely, a read that observed an older
            # one stored last): either way the entries start again, which costs misses only.
            if held != token or len(entries) >= self._max_entries:
                entries = {}
            entries[key] = value
            self._generation = (token, entries)


def _never() -> int:
    return 0


def _unknown() -> None:
    return None


def _sqlite_token(
    engine: Engine,
) -> tuple[Callable[[], Hashable], Callable[[], Hashable | None]]:
    """SQLite's change token: the WAL index header (``_wal_index_header``), or where there is
    no WAL index to read, ``PRAGMA data_version`` (``_sqlite_data_version``); and the same token
    when it can be read from memory alone, else None (``ReadCache.peek``)."""
    data_version = SharedObservations(_sqlite_data_version(engine)).now
    chosen: list[Callable[[], Hashable]] = []
    in_memory: list[Callable[[], Hashable | None]] = []
    choosing = threading.Lock()

    def now() -> Hashable:
        if chosen:
            return chosen[0]()
        # The first observation opens the data_version connection, which then keeps the WAL
        # index where it is.
        token = data_version()
        with choosing:
            if not chosen:
                header = _wal_index_header(engine)
                if header is None:
                    chosen.append(data_version)
                else:

                    def observe() -> Hashable:
                        token = header()
                        return data_version() if token is None else token

                    chosen.append(observe)
                    in_memory.append(header)
        return token

    def now_in_memory() -> Hashable | None:
        return in_memory[0]() if in_memory else None

    return now, now_in_memory


# The WAL index header (https://sqlite.org/walformat.html#the_wal_index_header): two copies of
# 48 bytes at the start of the "-shm" file. A commit writes the second copy, then the first.
_HEADER_BYTES = 48


def _wal_index_header(engine: Engine) -> Callable[[], Hashable | None] | None:
    """The WAL index header of the engine's database, read from the "-shm" file mapped into
    memory: a read of memory, with no statement, lock or system call. A commit changes it (its
    change counter, last frame and salts) before the commit returns, and it changes with nothing
    else SQLite does not count as a write either (a checkpoint, a recovery): so it is a change
    token for every connection of every process. None where the database has no such file
    (not in WAL mode, a URI filename): the caller uses ``PRAGMA data_version`` instead.

    The file stays where it is while the data_version connection is open: SQLite removes or
    truncates it only when closing the last connection to the database, and a connection in WAL
    mode holds its shared lock on the database as long as it is open. When the two copies differ
    a commit is writing them: the header is no token then, and the function returns None."""
    path = engine.url.database
    if not path or engine.url.query.get("uri") or path.startswith("file:"):
        return None
    try:
        with open(f"{path}-shm", "rb") as file:
            index = mmap.mmap(file.fileno(), 2 * _HEADER_BYTES, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None

    def observe() -> Hashable | None:
        first = index[:_HEADER_BYTES]
        if first == index[_HEADER_BYTES : 2 * _HEADER_BYTES]:
            return first
        return None

    return observe


def _sqlite_data_version(engine: Engine) -> Callable[[], int]:
    """``PRAGMA data_version`` on a connection of its own, which never writes: so every commit,
    by this process or another, changes it. Opened through the engine (its configuration, its
    file) on first use, then kept out of the pool, and closed with the engine. Calls are one at a
    time (``SharedObservations``)."""
    opened: list[Any] = []

    def close(_engine: Engine) -> None:
        while opened:
            opened.pop().close()

    event.listen(engine, "engine_disposed", close)

    def observe() -> int:
        if not opened:
            pooled = engine.raw_connection()
            pooled.detach()
            opened.append(pooled)
        return int(opened[0].dbapi_connection.execute("PRAGMA data_version").fetchone()[0])

    return observe
