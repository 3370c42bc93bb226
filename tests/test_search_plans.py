"""Every documented filter and sort path is served by an index, on SQLite and PostgreSQL.

A registry of 2 000 models / 20 000 versions (the benchmark's shape, scaled down) is seeded and
analyzed; each search then runs through the store while its SQL is recorded, and the plan of
every statement is checked: no full scan of a registry table (SQLite: no "SCAN <table>";
PostgreSQL, with sequential scans and hash and merge joins disabled so that the planner shows
whether an index *can* serve the query: every scan of a table has an index condition).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from bench.explain import recording
from bench.seed import Shape, seed
from registry_service.store.engine import make_engine
from registry_service.store.registry_store import RegistryStore
from registry_service.store.tables import metadata, model_versions

from .conftest import BACKENDS, empty_postgres

TABLES = set(metadata.tables)


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RegistryStore]:
    """Seeded once per backend for the whole module: the tests only read."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("plans") / "registry.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_url")
        empty_postgres(url)
    engine = make_engine(url)
    seed(engine, Shape(2_000, 20_000), log=lambda *_: None, migrated=True)
    yield RegistryStore(engine)
    engine.dispose()
    if request.param == "postgres":
        empty_postgres(url)


def sample_run_id(store: RegistryStore) -> str:
    with store.engine.connect() as connection:
        return str(
            connection.execute(
                select(model_versions.c.run_id).where(model_versions.c.id == 12_345)
            ).scalar_one()
        )


def sample_source(store: RegistryStore) -> str:
    with store.engine.connect() as connection:
        return str(
            connection.execute(
                select(model_versions.c.source).where(model_versions.c.id == 54)
            ).scalar_one()
        )


def full_scans(store: RegistryStore, call: Callable[[], Any]) -> list[str]:
    """Plan lines of the statements ``call`` runs that read a whole registry table."""
    engine = store.engine
    with recording(engine) as statements:
        call()
    assert statements
    found: list[str] = []
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            for statement, parameters in statements:
                for row in connection.exec_driver_sql(
                    "EXPLAIN QUERY PLAN " + statement, parameters
                ):
                    words = row[3].split()
                    if words[0] == "SCAN" and words[1] in TABLES:
                        found.append(row[3])
        else:
            # At this size whole-table hash joins and scans are honestly cheaper; switched off,
            # the plan shows whether an index can serve each table access.
            for setting in ("enable_seqscan", "enable_hashjoin", "enable_mergejoin"):
                connection.exec_driver_sql(f"SET {setting} = off")
            for statement, parameters in statements:
                plan = connection.exec_driver_sql(
                    "EXPLAIN (FORMAT JSON) " + statement, parameters
                ).scalar_one()
                if isinstance(plan, str):
                    plan = json.loads(plan)
                found.extend(_unconditioned(plan[0]["Plan"]))
    return found


def _unconditioned(node: dict[str, Any]) -> list[str]:
    found = []
    if node.get("Relation Name") in TABLES and not ("Index Cond" in node or "Recheck Cond" in node):
        found.append(f"{node['Node Type']} on {node['Relation Name']}")
    for child in node.get("Plans", []):
        found.extend(_unconditioned(child))
    return found


VERSION_FILTERS = [
    "name = 'model-000500'",
    "run_id = '{run_id}'",
    "tag.dataset = 'ds-00042'",
    "tag.dataset IN ('ds-00042', 'ds-00043')",
    "source_path = '{source}'",
    "user_id = 'user-007'",
    "name = 'model-000500' OR run_id = '{run_id}'",
    "name = 'model-000500' OR tag.dataset = 'ds-00042'",
    "name LIKE 'model-0005%' OR run_id IN ('{run_id}')",
    "(name = 'model-000500' AND version_number > 2) OR run_id = '{run_id}'",
    "name = 'model-000500' AND tag.`mlflow.prompt.is_prompt` != 'true'",
]


@pytest.mark.parametrize("filter", VERSION_FILTERS)
def test_version_filters_use_indexes(seeded: RegistryStore, filter: str) -> None:
    text = filter.format(run_id=sample_run_id(seeded), source=sample_source(seeded))
    assert full_scans(seeded, lambda: seeded.search_model_versions(text)) == []


@pytest.mark.parametrize(
    "filter",
    [
        "name = 'model-000500'",
        "name LIKE 'model-0012%'",
        "name LIKE 'model-0012%' AND tag.`mlflow.prompt.is_prompt` != 'true'",
        "tag.team = 'team-07'",
        "user_id = 'user-007'",
        "name = 'model-000500' OR tag.team = 'team-07'",
    ],
)
def test_model_filters_use_indexes(seeded: RegistryStore, filter: str) -> None:
    assert full_scans(seeded, lambda: seeded.search_registered_models(filter)) == []


@pytest.mark.parametrize(
    "order_by",
    [
        [],
        ["version_number DESC"],
        ["creation_timestamp"],
        ["last_updated_timestamp ASC"],
    ],
)
def test_later_version_pages_start_at_the_token(seeded: RegistryStore, order_by: list[str]) -> None:
    """An unfiltered search in any documented order reads its first key's index from the
    previous page's end, so that page 1000 costs what page 1 does."""
    first = seeded.search_model_versions("", order_by, 50)
    plans = full_scans(
        seeded, lambda: seeded.search_model_versions("", order_by, 50, first.next_page_token)
    )
    assert plans == []


@pytest.mark.parametrize("order_by", [[], ["creation_timestamp DESC"], ["last_updated_timestamp"]])
def test_later_model_pages_start_at_the_token(seeded: RegistryStore, order_by: list[str]) -> None:
    first = seeded.search_registered_models("", order_by, 50)
    plans = full_scans(
        seeded, lambda: seeded.search_registered_models("", order_by, 50, first.next_page_token)
    )
    assert plans == []


def test_latest_versions_probe_the_index(seeded: RegistryStore) -> None:
    assert full_scans(seeded, lambda: seeded.get_latest_versions("model-000000")) == []
    assert full_scans(seeded, lambda: seeded.get_registered_model("model-000000")) == []
