"""Keyset paging while other threads write: a reader that pages through a search while versions
(or models) are created and deleted sees every row that existed throughout exactly once, and no
row twice. With OFFSET paging a delete shifts later rows back (one is skipped) and a create
shifts them forward (one is repeated); page tokens that carry the last sort key do neither.

Writers only create and delete: a row whose sort key itself changes (a stage transition moves
last_updated_timestamp) may legitimately be met again or not at all, as in any keyset scheme.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

import pytest

from registry_service.store.registry_store import RegistryStore

MODELS = ["a", "b", "c"]
VERSIONS_PER_MODEL = 24
PAGE_SIZE = 5
# Writes that must happen between two pages the reader fetches.
WRITES_PER_PAGE = 2


class Writes:
    """Counts writes so the reader can wait for some between pages: interleaving guaranteed,
    with no sleeps."""

    def __init__(self) -> None:
        self.count = 0
        self.condition = threading.Condition()
        self.stop = threading.Event()
        self.errors: list[BaseException] = []

    def done_one(self) -> None:
        with self.condition:
            self.count += 1
            self.condition.notify_all()

    def wait_for(self, count: int) -> None:
        with self.condition:
            assert self.condition.wait_for(lambda: self.count >= count or bool(self.errors), 60)
        if self.errors:
            raise self.errors[0]


def run_writers(writes: Writes, writers: list[Callable[[random.Random], None]]) -> list[Any]:
    def loop(index: int, write: Callable[[random.Random], None]) -> None:
        rng = random.Random(index)
        try:
            # Bounded even if the reader never stops them.
            for _ in range(5000):
                if writes.stop.is_set():
                    return
                write(rng)
                writes.done_one()
        except BaseException as error:
            writes.errors.append(error)
            writes.done_one()

    threads = [
        threading.Thread(target=loop, args=(index, write)) for index, write in enumerate(writers)
    ]
    for thread in threads:
        thread.start()
    return threads


def page_through(
    writes: Writes, fetch: Callable[[str], tuple[list[Any], str]]
) -> tuple[list[Any], int]:
    seen: list[Any] = []
    token = ""
    pages = 0
    while True:
        items, token = fetch(token)
        seen.extend(items)
        pages += 1
        if not token:
            return seen, pages
        writes.wait_for(writes.count + WRITES_PER_PAGE)
        assert pages < 1000


@pytest.mark.parametrize(
    "order_by",
    [[], ["name", "version_number"], ["version_number DESC"], ["creation_timestamp", "name DESC"]],
)
@pytest.mark.parametrize(
    "filter",
    ["", "name IN ('a', 'c')", "tag.kind = 'x'", "name = 'a' OR tag.kind = 'x'"],
)
def test_version_paging_under_creates_and_deletes(
    store: RegistryStore, filter: str, order_by: list[str]
) -> None:
    initial: set[tuple[str, int]] = set()
    for name in MODELS:
        store.create_registered_model(name)
        for number in range(1, VERSIONS_PER_MODEL + 1):
            kind = "x" if number % 2 else "y"
            store.create_model_version(name, f"s3://b/{name}/{number}", tags={"kind": kind})
            initial.add((name, number))
    # A quarter of the initial versions are deleted while the reader pages.
    doomed = sorted(key for key in initial if key[1] % 4 == 0)
    stable = initial - set(doomed)
    doomed_left = list(doomed)
    created: list[tuple[str, int]] = []
    ever_created: set[tuple[str, int]] = set()
    lock = threading.Lock()

    def create(rng: random.Random) -> None:
        name = rng.choice(MODELS)
        version = store.create_model_version(name, "s3://b/new", tags={"kind": rng.choice("xy")})
        with lock:
            created.append((name, version.version))
            ever_created.add((name, version.version))

    def delete(rng: random.Random) -> None:
        with lock:
            pool = doomed_left if doomed_left and rng.random() < 0.5 else created
            if not pool:
                return
            name, number = pool.pop(rng.randrange(len(pool)))
        store.delete_model_version(name, number)

    writes = Writes()
    threads = run_writers(writes, [create, delete])
    try:

        def fetch(token: str) -> tuple[list[Any], str]:
            page = store.search_model_versions(filter, order_by, PAGE_SIZE, token)
            return [(v.name, v.version) for v in page.items], page.next_page_token

        seen, pages = page_through(writes, fetch)
    finally:
        writes.stop.set()
        for thread in threads:
            thread.join(60)
    assert not writes.errors
    expected_stable = {key for key in stable if _matches(filter, key)}
    assert pages > 5
    assert len(seen) == len(set(seen)), "a row was returned twice"
    assert expected_stable <= set(seen), f"skipped: {sorted(expected_stable - set(seen))}"
    assert set(seen) <= initial | ever_created


def _matches(filter: str, key: tuple[str, int]) -> bool:
    name, number = key
    kind_x = number % 2 == 1
    return {
        "": True,
        "name IN ('a', 'c')": name in ("a", "c"),
        "tag.kind = 'x'": kind_x,
        "name = 'a' OR tag.kind = 'x'": name == "a" or kind_x,
    }[filter]


@pytest.mark.parametrize("order_by", [[], ["name DESC"], ["creation_timestamp DESC"]])
def test_model_paging_under_creates_and_deletes(store: RegistryStore, order_by: list[str]) -> None:
    stable = {f"m{index:03d}" for index in range(0, 60, 2)}
    doomed = [f"m{index:03d}" for index in range(1, 60, 2)]
    for name in sorted(stable | set(doomed)):
        store.create_registered_model(name)
    created: list[str] = []
    lock = threading.Lock()

    def create(rng: random.Random) -> None:
        name = f"m{rng.randrange(60):03d}-{rng.randrange(10**9)}"
        store.create_registered_model(name)
        with lock:
            created.append(name)

    def delete(rng: random.Random) -> None:
        with lock:
            pool = doomed if doomed and rng.random() < 0.5 else created
            if not pool:
                return
            name = pool.pop(rng.randrange(len(pool)))
        store.delete_registered_model(name)

    writes = Writes()
    threads = run_writers(writes, [create, delete])
    try:

        def fetch(token: str) -> tuple[list[Any], str]:
            page = store.search_registered_models("", order_by, PAGE_SIZE, token)
            return [m.name for m in page.items], page.next_page_token

        seen, _pages = page_through(writes, fetch)
    finally:
        writes.stop.set()
        for thread in threads:
            thread.join(60)
    assert not writes.errors
    assert len(seen) == len(set(seen)), "a model was returned twice"
    assert stable <= set(seen), f"skipped: {sorted(stable - set(seen))}"
