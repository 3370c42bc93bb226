"""A server process killed with SIGKILL in the middle of a write load, then restarted on the same
database, on both backends: every write it acknowledged is there, no write is half there, a retry
of every write with its request_id applies it exactly once, and the database is consistent."""

from __future__ import annotations

import itertools
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from registry_service.client import RegistryClient
from registry_service.errors import RegistryError
from registry_service.store.engine import make_engine

from .processes import serving

WRITERS = 4
# Acknowledged writes before the kill: the load is in full swing by then.
KILL_AFTER = 120
WAIT_S = 120.0
SHARED = "shared"

# Each query counts rows that break an invariant; all must be zero.
INCONSISTENCIES = {
    "versions without their model": """
        SELECT count(*) FROM model_versions v
        WHERE NOT EXISTS (SELECT 1 FROM registered_models m WHERE m.id = v.model_id)""",
    "models whose counter is below one of their version numbers": """
        SELECT count(*) FROM registered_models m
        WHERE m.last_version < (
            SELECT coalesce(max(v.version), 0) FROM model_versions v WHERE v.model_id = m.id)""",
    "version tags without their version": """
        SELECT count(*) FROM model_version_tags t
        WHERE NOT EXISTS (SELECT 1 FROM model_versions v WHERE v.id = t.version_id)""",
    "model tags without their model": """
        SELECT count(*) FROM registered_model_tags t
        WHERE NOT EXISTS (SELECT 1 FROM registered_models m WHERE m.id = t.model_id)""",
    "remembered request ids without their response": """
        SELECT count(*) FROM idempotent_requests WHERE response IS NULL""",
}


@dataclass
class Write:
    """One write a load thread sent, and the server's answer (None when none came)."""

    name: str
    source: str | None = None  # None: create the model; otherwise a version from this source
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    answer: Any = None

    def send(self, client: RegistryClient) -> Any:
        if self.source is None:
            return client.create_registered_model(self.name, request_id=self.request_id)
        return client.create_model_version(
            self.name, self.source, tags={"source": self.source}, request_id=self.request_id
        )


@dataclass
class Journal:
    """Every write sent, in order, shared by the load threads."""

    writes: list[Write] = field(default_factory=list)
    acknowledged: int = 0
    changed: threading.Condition = field(default_factory=threading.Condition)

    def send(self, client: RegistryClient, write: Write) -> bool:
        with self.changed:
            self.writes.append(write)
        try:
            answer = write.send(client)
        except RegistryError:
            return False
        with self.changed:
            write.answer = answer
            self.acknowledged += 1
            self.changed.notify_all()
        return True


def load(port: int, writer: int, journal: Journal) -> None:
    """Create a model, then versions of it and of the shared model, until the server is gone."""
    own = f"writer-{writer}"
    with RegistryClient(f"127.0.0.1:{port}") as client:
        if not journal.send(client, Write(own)):
            return
        for step in itertools.count():
            name = SHARED if step % 2 else own
            if not journal.send(client, Write(name, f"s3://bucket/{writer}/{step}")):
                return


def inconsistencies(database_url: str) -> dict[str, int]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            found = {
                problem: connection.execute(text(query)).scalar_one()
                for problem, query in INCONSISTENCIES.items()
            }
            if engine.dialect.name == "sqlite":
                found["sqlite integrity_check failures"] = sum(
                    row[0] != "ok"
                    for row in connection.exec_driver_sql("PRAGMA integrity_check").all()
                )
                found["sqlite foreign_key_check failures"] = len(
                    connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                )
    finally:
        engine.dispose()
    return {problem: count for problem, count in found.items() if count}


def test_acknowledged_writes_survive_sigkill_and_retries_apply_once(database_url: str) -> None:
    journal = Journal()
    with serving("--port", "0", "--database-url", database_url) as served:
        port, process = served.port, served.process
        with RegistryClient(f"127.0.0.1:{port}") as client:
            client.create_registered_model(SHARED)
        writers = [
            threading.Thread(target=load, args=(port, writer, journal)) for writer in range(WRITERS)
        ]
        for thread in writers:
            thread.start()
        with journal.changed:
            assert journal.changed.wait_for(
                lambda: journal.acknowledged >= KILL_AFTER, timeout=WAIT_S
            )
        process.kill()
        process.wait()
        for thread in writers:
            thread.join(timeout=WAIT_S)
            assert not thread.is_alive()
    # Each writer stopped at a write the dead server never answered.
    unanswered = [write for write in journal.writes if write.answer is None]
    assert len(unanswered) == WRITERS

    with (
        serving("--port", "0", "--database-url", database_url) as served,
        RegistryClient(served.address) as client,
    ):
        for write in journal.writes:
            if write.answer is None:
                continue
            if write.source is None:
                assert client.get_registered_model(write.name).name == write.name
            else:
                stored = client.get_model_version(write.name, write.answer.version)
                assert stored.source == write.source

        # Acknowledged writes replay their answer; the unanswered ones are applied now, or
        # replayed if they had committed before the kill. Either way, once.
        for write in journal.writes:
            answer = write.send(client)
            assert write.answer is None or answer == write.answer

        versions = client.search_model_versions()
        models = client.search_registered_models()

    expected_sources = [write.source for write in journal.writes if write.source is not None]
    assert sorted(v.source for v in versions) == sorted(expected_sources)
    assert all(dict(v.tags) == {"source": v.source} for v in versions)
    assert sorted(m.name for m in models) == sorted(
        [SHARED] + [write.name for write in journal.writes if write.source is None]
    )
    for model in models:
        numbers = sorted(v.version for v in versions if v.name == model.name)
        assert numbers == list(range(1, len(numbers) + 1))
    assert inconsistencies(database_url) == {}
