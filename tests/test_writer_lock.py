"""Writers of several processes on one SQLite file take turns on the writer lock file: none is
starved or lost, and a process that dies holding the lock does not keep it."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from registry_service.client import RegistryClient
from registry_service.errors import Unavailable
from registry_service.store.engine import make_engine
from registry_service.store.registry_store import RegistryStore
from registry_service.store.writer_lock import SUFFIX, database_file

from .processes import PATIENCE_S, serving
from .test_store_concurrency import create_versions_together, version_numbers

CLIENTS, PER_CLIENT = 16, 10


def test_two_servers_writing_one_file_acknowledge_every_version_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    # Generous, so that a writer that is passed over again and again shows as UNAVAILABLE
    # only if it waits for half a minute.
    flags = ("--port", "0", "--database-url", url, "--database-timeout", str(PATIENCE_S))
    with serving(*flags) as first, serving(*flags) as second:
        addresses = [first.address, second.address]
        clients = [
            RegistryClient(addresses[index % 2], timeout=2 * PATIENCE_S) for index in range(CLIENTS)
        ]
        clients[0].create_registered_model("m")

        returned = create_versions_together(clients, PER_CLIENT)
        for served in (first, second):
            served.wait_for_log(
                lambda _, s=served: (
                    len(s.access_logs("CreateModelVersion")) == CLIENTS // 2 * PER_CLIENT
                )
            )
        codes = [
            line["code"]
            for served in (first, second)
            for line in served.access_logs("CreateModelVersion")
        ]

    expected = list(range(1, CLIENTS * PER_CLIENT + 1))
    assert returned == expected
    # Every attempt, retries included, answered OK: none waited out its timeout.
    assert codes == ["OK"] * CLIENTS * PER_CLIENT
    engine = make_engine(url)
    try:
        assert version_numbers(RegistryStore(engine), "m") == expected
    finally:
        engine.dispose()


# Holds a write transaction (and so the writer lock) until killed.
_HOLD_A_WRITE = """
import sys, time
from registry_service.store.engine import make_engine
from registry_service.store.registry_store import RegistryStore
with RegistryStore(make_engine(sys.argv[1])).writing():
    print("writing", flush=True)
    time.sleep(3600)
"""


def test_a_writer_killed_holding_the_lock_does_not_block_the_writers_after_it(
    sqlite_template: Path, tmp_path: Path
) -> None:
    path = tmp_path / "registry.db"
    path.write_bytes(sqlite_template.read_bytes())
    url = f"sqlite:///{path}"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_A_WRITE, url], stdout=subprocess.PIPE, text=True
    )
    engine = make_engine(url, timeout=0.2)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "writing\n"
        store = RegistryStore(engine, timeout=0.2)
        with pytest.raises(Unavailable):
            store.create_registered_model("while-held")

        holder.send_signal(signal.SIGKILL)
        assert holder.wait(timeout=PATIENCE_S) == -signal.SIGKILL

        store = RegistryStore(engine, timeout=PATIENCE_S)
        store.create_registered_model("after")
        assert [m.name for m in store.search_registered_models().items] == ["after"]
    finally:
        holder.kill()
        holder.wait()
        engine.dispose()


def test_writes_go_on_where_the_lock_file_cannot_be_opened(
    sqlite_template: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "registry.db"
    path.write_bytes(sqlite_template.read_bytes())
    # Root may write anywhere; a directory in the lock file's place cannot be opened by anyone.
    (tmp_path / f"registry.db{SUFFIX}").mkdir()
    engine = make_engine(f"sqlite:///{path}")
    try:
        with caplog.at_level(logging.WARNING):
            store = RegistryStore(engine)
        store.create_registered_model("m")
        assert store.get_registered_model("m").name == "m"
    finally:
        engine.dispose()
    assert "no writer lock file" in caplog.text


def test_the_lock_file_lies_beside_the_database(sqlite_template: Path, tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    path.write_bytes(sqlite_template.read_bytes())
    engine = make_engine(f"sqlite:///{path}")
    try:
        RegistryStore(engine).create_registered_model("m")
    finally:
        engine.dispose()
    assert (tmp_path / f"registry.db{SUFFIX}").is_file()


@pytest.mark.parametrize(
    ("url", "file"),
    [
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("sqlite:///file:shared?mode=memory&cache=shared&uri=true", None),
        ("sqlite:///registry.db", "registry.db"),
        ("sqlite:////var/lib/registry/r.db", "/var/lib/registry/r.db"),
        (
            "sqlite:///file:/var/lib/registry/my%20r.db?mode=rw&uri=true",
            "/var/lib/registry/my r.db",
        ),
    ],
)
def test_the_lock_file_is_named_after_the_database_file_and_in_memory_needs_none(
    url: str, file: str | None
) -> None:
    assert database_file(make_url(url)) == file
