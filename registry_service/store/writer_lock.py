"""SQLite's single writer, queued for across every process that serves the same database file.

SQLite lets one transaction write at a time. A writer that finds the database locked sleeps in
SQLite's busy handler (1, 2, 5, 10 … up to 100 ms between tries), while a writer of the process
that just committed takes the lock again at once: with several worker processes on one file,
one process's writers can wait for seconds while the other's come and go. So writers take turns
on a lock of their own before BEGIN IMMEDIATE: first a thread lock, so that a process has one
writer at a time in the queue, then an operating-system lock on a file beside the database
(``<database>-writer.lock``), which the kernel releases when a process dies, even by SIGKILL.

The file holds two one-byte locks. A process takes the *turn* (byte 1) to write. It waits for
the turn while holding the *gate* (byte 0), which it takes first and lets go once it has the
turn: a process whose writer just finished must pass the gate too, so while another process
waits, the turn alternates between them instead of going back to whoever let go of it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
import weakref
from urllib.parse import unquote, urlsplit

from sqlalchemy.engine import URL

log = logging.getLogger(__name__)

# Byte offsets of the two locks in the lock file (see the module's docstring).
_GATE = 0
_TURN = 1
# Seconds between tries for a lock another process holds. Under load every turn passes from one
# process to the other, each after a wait of about one write transaction (a few ms), so the
# pause after which a freed lock is seen is paid on nearly every write: it starts short and stays
# well below a transaction, and growing spares the CPU on a longer wait.
_FIRST_PAUSE_S = 0.00005
_LONGEST_PAUSE_S = 0.0005
# What the lock file's name adds to the database's.
SUFFIX = "-writer.lock"


class WriterLock:
    """One writer at a time: among this process's threads, and with a lock file, among every
    process that serves the file. ``acquire`` and ``release`` as on ``threading.Lock``."""

    def __init__(self, lock_file: int | None = None) -> None:
        self._threads = threading.Lock()
        self._file = lock_file
        if lock_file is not None:
            weakref.finalize(self, os.close, lock_file)

    def acquire(self, timeout: float) -> bool:
        """Whether this thread now holds the lock; waits at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        if not self._threads.acquire(timeout=max(timeout, 0)):
            return False
        if self._file is None:
            return True
        try:
            if _take(self._file, _GATE, deadline):
                try:
                    if _take(self._file, _TURN, deadline):
                        return True
                finally:
                    fcntl.lockf(self._file, fcntl.LOCK_UN, 1, _GATE)
        except BaseException:
            self._threads.release()
            raise
        self._threads.release()
        return False

    def release(self) -> None:
        if self._file is not None:
            fcntl.lockf(self._file, fcntl.LOCK_UN, 1, _TURN)
        self._threads.release()


def _take(lock_file: int, offset: int, deadline: float) -> bool:
    """Lock the byte at ``offset``, trying until ``deadline``: lockf cannot wait with a timeout."""
    pause = _FIRST_PAUSE_S
    while True:
        try:
            fcntl.lockf(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
            return True
        except (BlockingIOError, PermissionError):
            # Held by another process (EAGAIN on Linux, EACCES on some other systems).
            pass
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(pause, left))
        pause = min(pause * 2, _LONGEST_PAUSE_S)


# One lock per database file per process. Record locks belong to the process, not to a file
# descriptor: two descriptors of one process would not exclude each other, and closing either
# would drop the locks taken through the other. Weak, so that the file closes with its last store.
_locks: weakref.WeakValueDictionary[str, WriterLock] = weakref.WeakValueDictionary()
_locks_lock = threading.Lock()


def writer_lock(url: URL) -> WriterLock:
    """The writer lock for the SQLite database at ``url``, shared by this process's stores.

    An in-memory database is this process's alone and needs no lock file. Where the lock file
    cannot be opened or locked (a read-only directory, a file system without locks) writers
    still queue within the process, and across processes on SQLite's busy handler, as before.
    """
    database = database_file(url)
    if database is None:
        return WriterLock()
    path = os.path.realpath(database) + SUFFIX
    with _locks_lock:
        lock = _locks.get(path)
        if lock is None:
            lock = WriterLock(_open(path))
            _locks[path] = lock
        return lock


def database_file(url: URL) -> str | None:
    """The path of the file the SQLite ``url`` names; None for an in-memory database."""
    database = url.database or ""
    if url.query.get("uri") in ("true", "1"):
        # sqlite3 takes the name as a URI (file:path); SQLAlchemy keeps its parameters apart.
        if url.query.get("mode") == "memory":
            return None
        database = unquote(urlsplit(database).path)
    return None if database in ("", ":memory:") else database


def _open(path: str) -> int | None:
    try:
        lock_file = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as error:
        log.warning(
            "no writer lock file %s (%s): writers of other processes on this database "
            "wait on SQLite's busy handler",
            path,
            error,
        )
        return None
    try:
        # Locks are taken and dropped without error here too, or not relied on at all.
        fcntl.lockf(lock_file, fcntl.LOCK_SH | fcntl.LOCK_NB, 1, _GATE)
        fcntl.lockf(lock_file, fcntl.LOCK_UN, 1, _GATE)
    except (BlockingIOError, PermissionError):
        # Another process is waiting at the gate: locks work.
        pass
    except OSError as error:
        os.close(lock_file)
        log.warning(
            "cannot lock %s (%s): writers of other processes on this database "
            "wait on SQLite's busy handler",
            path,
            error,
        )
        return None
    return lock_file
