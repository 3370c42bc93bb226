"""RegistryStore invariants under concurrent writers: threads sharing one store, and separate
processes (spawned, never forked) each with its own engine on the same database."""

from __future__ import annotations

import multiprocessing
import threading
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from registry_service.client import RegistryClient
from registry_service.domain import Stage
from registry_service.errors import AlreadyExists
from registry_service.store.engine import make_engine
from registry_service.store.registry_store import RegistryStore

T = TypeVar("T")

BARRIER_TIMEOUT_S = 60


def run_together(count: int, work: Callable[[int], T]) -> list[T]:
    """Run ``work(0..count-1)`` on ``count`` threads released at the same moment; re-raises the
    first error."""
    barrier = threading.Barrier(count, timeout=BARRIER_TIMEOUT_S)

    def start(index: int) -> T:
        barrier.wait()
        return work(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(start, index) for index in range(count)]
        return [future.result() for future in futures]


def create_versions_together(clients: Sequence[RegistryClient], per_client: int) -> list[int]:
    """Every client creates ``per_client`` versions of model "m", all clients at once; the
    version numbers they were answered, sorted. The clients are closed after."""

    def create(index: int) -> list[int]:
        return [
            clients[index].create_model_version("m", f"s3://b/{index}/{i}").version
            for i in range(per_client)
        ]

    try:
        return sorted(n for numbers in run_together(len(clients), create) for n in numbers)
    finally:
        for client in clients:
            client.close()


def version_numbers(store: RegistryStore, name: str) -> list[int]:
    page = store.search_model_versions(f"name = '{name}'", page_size=1000)
    assert page.next_page_token == ""
    return sorted(v.version for v in page.items)


def test_threads_creating_versions_of_one_model_get_every_number_once(
    store: RegistryStore,
) -> None:
    threads, per_thread = 8, 50
    store.create_registered_model("m")

    def create(index: int) -> list[int]:
        return [
            store.create_model_version("m", f"s3://b/{index}/{i}").version
            for i in range(per_thread)
        ]

    returned = [number for numbers in run_together(threads, create) for number in numbers]

    expected = list(range(1, threads * per_thread + 1))
    assert sorted(returned) == expected
    assert version_numbers(store, "m") == expected
    assert store.create_model_version("m", "s3://b/next").version == threads * per_thread + 1


def _create_versions_in_own_process(
    database_url: str, name: str, count: int, barrier: Any, results: Any
) -> None:
    """Runs in a spawned process: its own engine and store, then ``count`` versions."""
    engine = make_engine(database_url)
    try:
        store = RegistryStore(engine)
        barrier.wait(BARRIER_TIMEOUT_S)
        numbers = [store.create_model_version(name, f"s3://b/{i}").version for i in range(count)]
        results.put(("ok", numbers))
    except BaseException:
        results.put(("error", traceback.format_exc()))
    finally:
        engine.dispose()


def test_processes_creating_versions_of_one_model_get_every_number_once(
    store: RegistryStore, database_url: str
) -> None:
    processes, per_process = 3, 40
    store.create_registered_model("m")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    workers = [
        context.Process(
            target=_create_versions_in_own_process,
            args=(database_url, "m", per_process, barrier, results),
        )
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    try:
        outcomes = [results.get(timeout=120) for _ in workers]
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()

    errors = [detail for status, detail in outcomes if status != "ok"]
    assert errors == []
    assert [worker.exitcode for worker in workers] == [0] * processes
    returned = sorted(number for _, numbers in outcomes for number in numbers)
    expected = list(range(1, processes * per_process + 1))
    assert returned == expected
    assert version_numbers(store, "m") == expected


def test_concurrent_archiving_transitions_leave_exactly_one_production_version(
    store: RegistryStore,
) -> None:
    threads = 16
    store.create_registered_model("m")
    for i in range(threads):
        store.create_model_version("m", f"s3://b/{i}")

    def promote(index: int) -> Stage:
        version = store.transition_model_version_stage(
            "m", index + 1, "Production", archive_existing_versions=True
        )
        return version.current_stage

    assert run_together(threads, promote) == [Stage.PRODUCTION] * threads

    stages = [v.current_stage for v in store.search_model_versions("name = 'm'").items]
    assert sorted(stages) == sorted([Stage.PRODUCTION] + [Stage.ARCHIVED] * (threads - 1))
    assert len(store.get_latest_versions("m", ["Production"])) == 1


def test_concurrent_setting_of_one_alias_points_it_at_exactly_one_version(
    store: RegistryStore,
) -> None:
    threads = 16
    store.create_registered_model("m")
    for i in range(threads):
        store.create_model_version("m", f"s3://b/{i}")

    run_together(threads, lambda index: store.set_registered_model_alias("m", "champ", index + 1))

    target = store.get_model_version_by_alias("m", "champ").version
    assert 1 <= target <= threads
    assert store.get_registered_model("m").aliases == {"champ": target}
    holders = [v.version for v in store.search_model_versions("name = 'm'").items if v.aliases]
    assert holders == [target]


def test_concurrent_creation_of_one_model_name_succeeds_exactly_once(
    store: RegistryStore,
) -> None:
    threads = 8

    def create(index: int) -> str:
        try:
            store.create_registered_model("same", description=str(index))
        except AlreadyExists as error:
            assert error.field == "name"
            return "exists"
        return "created"

    outcomes = run_together(threads, create)

    assert sorted(outcomes) == ["created"] + ["exists"] * (threads - 1)
    [model] = store.search_registered_models().items
    assert model.name == "same"
    assert model.description == str(outcomes.index("created"))
