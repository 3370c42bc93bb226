"""Point reads served from the store's read cache (store/read_cache.py) are never stale: a write
committed before a read began, through this store, another store or another process on the same
database, is what that read returns, with its etag; callers whose access is decided per model are
still refused what they may not read."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from modelregistry.v1 import registry_service_pb2 as pb

from registry_service.domain import Stage
from registry_service.errors import NotFound
from registry_service.identity import calling_as
from registry_service.servicer import RegistryService
from registry_service.store.engine import make_engine
from registry_service.store.read_cache import SharedObservations
from registry_service.store.registry_store import RegistryStore

from .test_store_concurrency import run_together


@pytest.fixture
def other(database_url: str, store: RegistryStore) -> Iterator[RegistryStore]:
    """A second store on the same database, with engine and read cache of its own (another
    replica, as far as the first can tell)."""
    engine = make_engine(database_url)
    yield RegistryStore(engine)
    engine.dispose()


def _registered(store: RegistryStore, versions: int = 2) -> None:
    store.create_registered_model("m")
    for number in range(versions):
        store.create_model_version("m", f"s3://b/{number}")
    store.set_registered_model_alias("m", "champion", 1)
    store.transition_model_version_stage("m", 1, Stage.PRODUCTION.value)


def _read_everything(store: RegistryStore) -> tuple[object, ...]:
    """Every cached read of model "m", twice (the second from memory where it can be)."""
    for _ in range(2):
        seen = (
            store.get_registered_model("m"),
            store.get_model_version("m", 1),
            store.get_model_version_by_alias("m", "champion"),
            store.get_latest_versions("m", [Stage.PRODUCTION.value]),
            store.get_latest_versions("m"),
        )
    return seen


def test_a_write_through_another_store_is_what_the_next_read_returns(
    store: RegistryStore, other: RegistryStore
) -> None:
    _registered(store)
    _read_everything(store)
    updated = other.update_model_version("m", 1, "described elsewhere")
    other.set_registered_model_alias("m", "champion", 2)
    promoted = other.transition_model_version_stage(
        "m", 2, Stage.PRODUCTION.value, archive_existing_versions=True
    )
    model = other.update_registered_model("m", "model described elsewhere")

    assert store.get_registered_model("m").description == "model described elsewhere"
    assert store.get_registered_model("m").etag == model.etag
    version = store.get_model_version("m", 1)
    assert version.description == updated.description
    assert version.current_stage == Stage.ARCHIVED
    assert store.get_model_version("m", 2).etag == promoted.etag
    assert store.get_model_version_by_alias("m", "champion").version == 2
    production = store.get_latest_versions("m", [Stage.PRODUCTION.value])
    assert [(v.version, v.etag) for v in production] == [(2, promoted.etag)]
    assert {v.current_stage for v in store.get_latest_versions("m")} == {
        Stage.ARCHIVED,
        Stage.PRODUCTION,
    }


def test_a_write_by_another_process_is_what_the_next_read_returns(
    database_url: str, store: RegistryStore
) -> None:
    _registered(store)
    _read_everything(store)
    script = (
        "import sys\n"
        "from registry_service.store.engine import make_engine\n"
        "from registry_service.store.registry_store import RegistryStore\n"
        "store = RegistryStore(make_engine(sys.argv[1]))\n"
        "store.set_registered_model_alias('m', 'champion', 2)\n"
        "v = store.transition_model_version_stage('m', 2, 'Production',"
        " archive_existing_versions=True)\n"
        "print(v.etag)\n"
    )
    written = subprocess.run(
        [sys.executable, "-c", script, database_url],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    etag = written.stdout.strip()

    assert store.get_model_version_by_alias("m", "champion").version == 2
    assert store.get_model_version("m", 2).etag == etag
    assert store.get_model_version("m", 1).current_stage == Stage.ARCHIVED
    assert [v.version for v in store.get_latest_versions("m", ["Production"])] == [2]


def test_renamed_deleted_and_moved_are_never_served_from_before(store: RegistryStore) -> None:
    _registered(store, versions=3)
    _read_everything(store)

    store.transition_model_version_stage(
        "m", 2, Stage.PRODUCTION.value, archive_existing_versions=True
    )
    assert [v.version for v in store.get_latest_versions("m", ["Production"])] == [2]
    assert store.get_model_version("m", 1).current_stage == Stage.ARCHIVED

    store.set_registered_model_alias("m", "champion", 3)
    assert store.get_model_version_by_alias("m", "champion").version == 3
    store.delete_registered_model_alias("m", "champion")
    with pytest.raises(NotFound):
        store.get_model_version_by_alias("m", "champion")

    store.delete_model_version("m", 3)
    with pytest.raises(NotFound):
        store.get_model_version("m", 3)

    store.rename_registered_model("m", "renamed")
    with pytest.raises(NotFound):
        store.get_registered_model("m")
    with pytest.raises(NotFound):
        store.get_model_version("m", 1)
    with pytest.raises(NotFound):
        store.get_latest_versions("m")
    assert store.get_model_version("renamed", 1).name == "renamed"

    # A new model under the old name is the new one, not the renamed one.
    store.create_registered_model("m", description="the second m")
    assert store.get_registered_model("m").description == "the second m"
    with pytest.raises(NotFound):
        store.get_model_version("m", 1)

    store.delete_registered_model("renamed")
    with pytest.raises(NotFound):
        store.get_registered_model("renamed")
    with pytest.raises(NotFound):
        store.get_model_version("renamed", 2)


def test_callers_decided_per_model_are_refused_what_an_admin_read_before_them(
    store: RegistryStore,
) -> None:
    _registered(store)
    _read_everything(store)
    with calling_as("mallory", admin=False):
        with pytest.raises(NotFound):
            store.get_model_version("m", 1)
        with pytest.raises(NotFound):
            store.get_model_version_by_alias("m", "champion")
        with pytest.raises(NotFound):
            store.get_latest_versions("m")
        with pytest.raises(NotFound):
            store.get_registered_model("m")


@pytest.mark.parametrize("readers_store", ["same", "other"])
def test_concurrent_readers_never_see_what_an_acknowledged_write_replaced(
    store: RegistryStore, other: RegistryStore, readers_store: str
) -> None:
    """A writer moves ``champion`` and Production (archiving the rest) up one version at a
    time; readers, all the while, must never see anything older than the last write that was
    acknowledged before their read began, and must see the acknowledged etags."""
    moves = 12
    _registered(store, versions=moves + 1)
    readers = store if readers_store == "same" else other
    acknowledged = [1]
    etags: dict[int, str] = {}
    done = threading.Event()
    stale: list[str] = []

    def write() -> None:
        try:
            for number in range(2, moves + 2):
                store.set_registered_model_alias("m", "champion", number)
                version = store.transition_model_version_stage(
                    "m", number, Stage.PRODUCTION.value, archive_existing_versions=True
                )
                etags[number] = version.etag
                acknowledged.append(number)
                time.sleep(0.01)
        finally:
            done.set()

    def read(_index: int) -> int:
        reads = 0
        while not done.is_set():
            floor = acknowledged[-1]
            latest = readers.get_model_version("m", floor)
            # Still ``floor`` when read after ``latest``: nothing changed that version between.
            champion = readers.get_model_version_by_alias("m", "champion").version
            production = readers.get_latest_versions("m", [Stage.PRODUCTION.value])
            if champion < floor:
                stale.append(f"champion {champion} after {floor} was acknowledged")
            if len(production) != 1 or production[0].version < floor:
                stale.append(f"Production {[v.version for v in production]} after {floor}")
            if floor in etags and latest.etag != etags[floor] and champion == floor:
                stale.append(f"version {floor} etag {latest.etag} after {etags[floor]}")
            if latest.current_stage not in (Stage.PRODUCTION, Stage.ARCHIVED) and floor > 1:
                stale.append(f"version {floor} in {latest.current_stage} after its promotion")
            reads += 1
        return reads

    writer = threading.Thread(target=write)
    writer.start()
    try:
        counts = run_together(6, read)
    finally:
        writer.join()
    assert stale == []
    assert sum(counts) > moves
    assert readers.get_model_version_by_alias("m", "champion").version == moves + 1


def test_a_read_waits_for_an_observation_that_began_after_it_did() -> None:
    """The change token read by another caller's observation already under way when a read
    began may predate a write acknowledged just before that read: the read gets a new one."""
    database = {"token": 1}
    observing = threading.Event()
    release = threading.Event()

    def observe() -> int:
        token = database["token"]
        observing.set()
        release.wait(10)
        return token

    observations = SharedObservations(observe)
    seen: dict[str, int] = {}
    early = threading.Thread(target=lambda: seen.update(early=observations.now()))
    early.start()
    assert observing.wait(10)
    database["token"] = 2  # a write commits and is acknowledged
    late = threading.Thread(target=lambda: seen.update(late=observations.now()))
    late.start()
    time.sleep(0.05)
    release.set()
    early.join(10)
    late.join(10)
    assert seen == {"early": 1, "late": 2}


def test_responses_made_once_are_made_anew_after_a_change(
    store: RegistryStore, other: RegistryStore
) -> None:
    """The servicer keeps the response it made for a record the cache handed out; a record read
    after a change is another one, and so is its response."""
    _registered(store)
    service = RegistryService(store)
    get = pb.GetModelVersionRequest(name="m", version=1)
    by_alias = pb.GetModelVersionByAliasRequest(name="m", alias="champion")
    latest = pb.GetLatestVersionsRequest(name="m", stages=["Production"])
    model = pb.GetRegisteredModelRequest(name="m")
    for _ in range(2):
        assert service.GetModelVersion(get).model_version.description == ""
        assert service.GetModelVersionByAlias(by_alias).model_version.version == 1
        assert [v.version for v in service.GetLatestVersions(latest).model_versions] == [1]
        assert service.GetRegisteredModel(model).registered_model.description == ""
    changed = other.update_model_version("m", 1, "changed")
    other.set_registered_model_alias("m", "champion", 2)
    other.transition_model_version_stage(
        "m", 2, Stage.PRODUCTION.value, archive_existing_versions=True
    )
    other.update_registered_model("m", "changed too")

    version = service.GetModelVersion(get).model_version
    assert (version.description, version.current_stage) == ("changed", "Archived")
    assert version.etag != changed.etag  # archived since
    assert service.GetModelVersionByAlias(by_alias).model_version.version == 2
    assert [v.version for v in service.GetLatestVersions(latest).model_versions] == [2]
    assert service.GetRegisteredModel(model).registered_model.description == "changed too"
