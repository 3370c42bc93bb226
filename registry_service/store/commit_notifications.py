"""PostgreSQL's word that events committed, from any replica: LISTEN on the channel every write
NOTIFYs (see ``outbox.flush``), on one connection of its own, outside the pool.

PostgreSQL delivers a notification at its transaction's commit, so a listener hears each commit
once it is readable. What is lost while the connection is down is not replayed: ``on_commit`` is
called on every (re)connection too, and the feed's polling remains the fallback throughout.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import URL

from registry_service.store.outbox import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

# Seconds between looks at whether the listener should stop, and between reconnection attempts.
CHECK_S = 0.5
RECONNECT_S = 2.0


class CommitNotifications:
    """Calls ``on_commit`` (quick, non-blocking) whenever a write to the database at ``url``
    commits events, until ``stop()``."""

    def __init__(self, url: URL, on_commit: Callable[[], None]) -> None:
        # psycopg takes libpq's URL, without SQLAlchemy's driver suffix.
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._on_commit = on_commit
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="commit-notifications", daemon=True)
        # Set once LISTEN holds: from then on, every commit is heard.
        self.listening = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._listen()
            except psycopg.Error as error:
                self.listening.clear()
                log.warning("LISTEN %s failed, polling meanwhile: %s", NOTIFY_CHANNEL, error)
                self._stopping.wait(RECONNECT_S)

    def _listen(self) -> None:
        with psycopg.connect(self._conninfo, autocommit=True) as connection:
            connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
            self.listening.set()
            # Whatever committed while nobody listened is read now.
            self._on_commit()
            while not self._stopping.is_set():
                # Several notifications that arrived together wake the feed once.
                if any(True for _ in connection.notifies(timeout=CHECK_S)):
                    self._on_commit()
