"""Seeds a registry of N models and M versions with tags and aliases through bulk Core inserts.

Not through the RPCs: a million CreateModelVersion calls would take far longer than the searches
they are meant to measure. The data is deterministic (a fixed random seed), so every run of the
benchmark searches the same registry.

Shape (defaults: 100 000 models, 1 000 000 versions):

- ``model-000000`` has 100 000 versions, ``model-000001`` … ``model-000100`` 1 000 each, the next
  ones 10 each and the rest 8 each, so that versions add up to M.
- Each model's highest version is in None, the one below in Staging, the one below that in
  Production (aliased ``champion``), and every older one is Archived.
- Versions carry ``framework`` (6 values) and ``dataset`` (``ds-00000`` … ``ds-09999``, about 100
  versions each) tags, a unique 32-hex-digit run_id and a source under it; models carry ``team``
  (50 values), and one model in 100 is a prompt (``mlflow.prompt.is_prompt`` = ``true``).

The schema is migrated to 0001 first, the rows inserted, and then migrated to the newest
revision, so that the search indexes of later revisions are built in bulk (and the time that
migration takes on a registry this size is measured as a side effect).
"""

from __future__ import annotations

import random
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy
from alembic import command
from sqlalchemy import Engine, Table, insert, text
from sqlalchemy.engine import make_url

from registry_service.store import schema
from registry_service.store.engine import make_engine
from registry_service.store.tables import (
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
)

BATCH = 20_000
BASE_TIME = 1_700_000_000_000
FRAMEWORKS = ["sklearn", "pytorch", "tensorflow", "xgboost", "lightgbm", "onnx"]
DATASETS = 10_000
TEAMS = 50


@dataclass(frozen=True)
class Shape:
    models: int
    versions: int

    def counts(self) -> list[int]:
        """Versions of each model, in model order."""
        big = min(100_000, self.versions // 10)
        mid_models = min(100, self.models - 1)
        mid = min(1_000, self.versions // 1_000)
        rest_models = self.models - 1 - mid_models
        remaining = self.versions - big - mid_models * mid
        if rest_models <= 0 or remaining < rest_models:
            raise ValueError(f"cannot spread {self.versions} versions over {self.models} models")
        base, extra = divmod(remaining, rest_models)
        # ``extra`` models get one more; to make models with exactly 10 versions, give the extra
        # in blocks of (10 - base) where possible.
        counts = [big] + [mid] * mid_models + [base] * rest_models
        step = max(1, 10 - base)
        index = 1 + mid_models
        while extra > 0:
            add = min(step, extra)
            counts[index] += add
            extra -= add
            index += 1
        assert sum(counts) == self.versions
        return counts


def model_name(index: int) -> str:
    return f"model-{index:06d}"


def run_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def seed(
    engine: Engine, shape: Shape, log: Any = print, migrated: bool = False
) -> dict[str, float]:
    """Fill an empty database (``migrated``: already at the newest schema); returns seconds
    spent per phase."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    if not migrated:
        config = schema.alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")
    rng = random.Random(20261126)
    counts = shape.counts()
    with engine.begin() as connection:
        _insert(connection, registered_models, _models(counts), log)
        _insert(connection, registered_model_tags, _model_tags(len(counts)), log)
        _insert(connection, model_versions, _versions(counts, rng), log)
        _insert(connection, model_version_tags, _version_tags(counts, rng), log)
        _insert(connection, registered_model_aliases, _aliases(counts), log)
        if engine.dialect.name == "postgresql":
            # The ids above were given explicitly, so the sequences behind the id columns are
            # moved past them by hand, or the first model or version created would collide.
            for table in (registered_models, model_versions):
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"(SELECT max(id) FROM {table.name}))"
                    )
                )
    timings["insert"] = time.perf_counter() - started
    log(f"inserted rows in {timings['insert']:.1f}s; building the search indexes")
    started = time.perf_counter()
    schema.upgrade(engine)
    timings["migrate"] = time.perf_counter() - started
    log(f"migrated to {schema.head_revision()} in {timings['migrate']:.1f}s")
    started = time.perf_counter()
    if engine.dialect.name == "postgresql":
        # VACUUM too, so that the first searches do not pay for setting hint bits and the
        # visibility map (and autovacuum does not start doing it in the middle of a run).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM (ANALYZE)"))
    else:
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    timings["analyze"] = time.perf_counter() - started
    return timings


def _insert(connection: Any, table: Table, rows: Iterator[dict[str, Any]], log: Any) -> None:
    started = time.perf_counter()
    batch: list[dict[str, Any]] = []
    total = 0
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            connection.execute(insert(table), batch)
            total += len(batch)
            batch = []
    if batch:
        connection.execute(insert(table), batch)
        total += len(batch)
    log(f"  {table.name}: {total} rows in {time.perf_counter() - started:.1f}s")


def _models(counts: list[int]) -> Iterator[dict[str, Any]]:
    for index, count in enumerate(counts):
        created = BASE_TIME + index * 1000
        yield {
            "id": index + 1,
            "name": model_name(index),
            "creation_timestamp": created,
            "last_updated_timestamp": created + count,
            "user_id": f"user-{index % 200:03d}",
            "description": f"Model {index} of the benchmark registry",
            "last_version": count,
        }


def _model_tags(models: int) -> Iterator[dict[str, Any]]:
    for index in range(models):
        yield {"model_id": index + 1, "key": "team", "value": f"team-{index % TEAMS:02d}"}
        if index % 100 == 99:
            yield {"model_id": index + 1, "key": "mlflow.prompt.is_prompt", "value": "true"}


def _stage(version: int, count: int) -> str:
    below_top = count - version
    return {0: "None", 1: "Staging", 2: "Production"}.get(below_top, "Archived")


def _versions(counts: list[int], rng: random.Random) -> Iterator[dict[str, Any]]:
    version_id = 0
    for index, count in enumerate(counts):
        for version in range(1, count + 1):
            version_id += 1
            created = BASE_TIME + version_id * 10
            run = run_id(rng)
            yield {
                "id": version_id,
                "model_id": index + 1,
                "version": version,
                "creation_timestamp": created,
                "last_updated_timestamp": created + rng.randrange(1_000_000),
                "user_id": f"user-{version_id % 200:03d}",
                "current_stage": _stage(version, count),
                "description": "",
                "source": f"s3://bench-artifacts/{run}/artifacts/model",
                "run_id": run,
                "run_link": "",
                "experiment_id": str(index % 1000),
                "status": "READY",
                "status_message": "",
            }


def _version_tags(counts: list[int], rng: random.Random) -> Iterator[dict[str, Any]]:
    version_id = 0
    for count in counts:
        for _ in range(count):
            version_id += 1
            yield {
                "version_id": version_id,
                "key": "dataset",
                "value": f"ds-{rng.randrange(DATASETS):05d}",
            }
            yield {"version_id": version_id, "key": "framework", "value": rng.choice(FRAMEWORKS)}


def _aliases(counts: list[int]) -> Iterator[dict[str, Any]]:
    for index, count in enumerate(counts):
        if count >= 3:
            yield {"model_id": index + 1, "alias": "champion", "version": count - 2}


def seed_sqlite(path: Path, shape: Shape) -> None:
    """A new SQLite file at ``path`` holding ``shape``."""
    partial = path.with_suffix(".partial")
    # A database's -wal file goes with it: SQLite replays a log it finds beside a database
    # file, whichever database wrote it, so the last run's log (its server did not close every
    # connection) would be applied to the new file.
    for database in (partial, path):
        for leftover in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
            leftover.unlink(missing_ok=True)
    print(f"seeding {path} ({shape.models} models, {shape.versions} versions)", flush=True)
    engine = make_engine(f"sqlite:///{partial}")
    started = time.perf_counter()
    seed(engine, shape)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    # Renamed only when complete, so an interrupted seed is never mistaken for a finished one.
    shutil.move(partial, path)
    print(f"seeded in {time.perf_counter() - started:.0f}s", flush=True)


def seed_postgres(url: str, shape: Shape) -> None:
    """The database ``url`` names, dropped, created again and seeded with ``shape``."""
    recreate_postgres(url)
    engine = make_engine(url)
    started = time.perf_counter()
    seed(engine, shape)
    engine.dispose()
    print(f"seeded in {time.perf_counter() - started:.0f}s", flush=True)


def recreate_postgres(url: str) -> None:
    """The scratch database ``url`` names, dropped and created empty."""
    parsed = make_url(url)
    name = parsed.database
    if not name or not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise SystemExit(f"--postgres-url must name a scratch database, got {name!r}")
    admin = sqlalchemy.create_engine(
        parsed.set(drivername="postgresql+psycopg", database="postgres"),
        isolation_level="AUTOCOMMIT",
    )
    print(f"PostgreSQL database {name}: dropped and created", flush=True)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
