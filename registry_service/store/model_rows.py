"""Finding, locking and revising the rows of models and versions: the steps every operation under a
model shares.

Mutations of anything under a model first lock that model's row (``lock_model``); with one lock
order everywhere, concurrent writers queue instead of deadlocking, and multi-row invariants (one
Production version after an archiving transition) hold under concurrency on PostgreSQL as well as
on SQLite. Every row a write changes counts a new revision, its etag, checked under the lock
against the one the caller read, so that a write based on a stale read fails with Aborted.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    Table,
    bindparam,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.engine import Connection

from registry_service import identity, validation
from registry_service.domain import ModelVersion, RegisteredModel, Stage
from registry_service.errors import Aborted, NotFound, Resource, Subject
from registry_service.search import SearchQuery
from registry_service.store import model_access
from registry_service.store.driver_sql import DriverStatement, bound_values, value_parameters
from registry_service.store.loading import (
    REVISION_COLUMN,
    labelled_versions,
    models_from_rows,
    with_columns,
)
from registry_service.store.model_access import model_not_found
from registry_service.store.statements import (
    ALIASED_VERSION,
    LOCK_MODEL,
    MODEL_ID_BY_NAME,
    VERSION_BY_MODEL_ID,
    VERSION_TO_WRITE,
)
from registry_service.store.tables import (
    deleted_registered_models,
    events,
    model_versions,
    registered_model_permissions,
    registered_models,
)

# New rows start their revision at a random number below this, so that a model deleted and created
# again under the same name never repeats an etag its predecessor had.
_REVISION_START_BOUND = 2**62


def readable_by_caller(model_id: ColumnElement[int]) -> ColumnElement[bool]:
    """Rows of models the caller may read, for any query that lists what is under models.
    Filtered in the query, not after it, so that pages stay full and page tokens continue
    where the previous page ended."""
    caller = identity.current_access()
    if caller.reads_every_model:
        return true()
    return model_id.in_(
        select(registered_model_permissions.c.model_id).where(
            registered_model_permissions.c.user_id == caller.user_id
        )
    )


def page_rows(
    connection: Connection, statement: Select[Any], query: SearchQuery
) -> tuple[Sequence[Row[Any]], str]:
    """One page of ``statement`` under ``query``, and the token for the next ("" at the end).
    One row more than the page is read to learn whether another page exists."""
    rows = connection.execute(
        statement.add_columns(*query.sort_columns)
        .where(query.where)
        .order_by(*query.order_by)
        .limit(query.page_size + 1)
    ).all()
    page = rows[: query.page_size]
    token = query.next_page_token(page[-1]) if len(rows) > query.page_size else ""
    return page, token


def unused_model_id(connection: Connection) -> dict[str, int]:
    """The id for a new model, where the database would pick one already used. SQLite hands the id
    of a deleted model, when it was the highest, to the next one; the outbox keeps the ids of
    deleted models (history and who may read it follow them), so a new model's id lies past every
    id the outbox has seen. PostgreSQL's sequence never hands one out twice."""
    if connection.dialect.name != "sqlite":
        return {}
    highest = connection.execute(select(func.max(registered_models.c.id))).scalar() or 0
    announced = connection.execute(select(func.max(events.c.model_id))).scalar() or 0
    # A deleted model keeps its id for its restore, whatever the outbox still holds.
    trashed = connection.execute(select(func.max(deleted_registered_models.c.model_id))).scalar()
    return {"id": max(highest, announced, trashed or 0) + 1}


def check_version_key(name: str, version: int) -> None:
    validation.check_model_name(name)
    validation.check_version(version)


def version_not_found(name: str, version: int) -> NotFound:
    return NotFound(
        f"model version {version} of {name!r} does not exist",
        field="version",
        subject=Subject(Resource.MODEL_VERSION, name, version),
    )


def find_model_id(connection: Connection, name: str) -> int | None:
    rows = MODEL_ID_BY_NAME.rows(connection, {"name": name})
    return int(rows[0][0]) if rows else None


def model_id_by_name(connection: Connection, name: str) -> int:
    """The row id of the model ``name``, once the caller may make its call on that model (see
    model_access); NotFound, naming the model, when there is none."""
    model_id = find_model_id(connection, name)
    if model_id is None:
        raise model_not_found(name)
    model_access.authorize(connection, model_id, name)
    return model_id


def lock_model_row(connection: Connection, name: str) -> int:
    """The row id of the model ``name``, locked to the end of the transaction and checked as
    ``model_id_by_name`` checks it: for writes outside this module (grants) that must not
    interleave with the writes the grants decide."""
    return lock_model(connection, name, changes=False)


def load_model(connection: Connection, model_id: int) -> RegisteredModel:
    row = connection.execute(
        select(registered_models).where(registered_models.c.id == model_id)
    ).one()
    return models_from_rows(connection, [row])[0]


def load_version(connection: Connection, model_id: int, name: str, version: int) -> ModelVersion:
    rows = VERSION_BY_MODEL_ID.rows(connection, {"model_id": model_id, "version": version})
    if not rows:
        raise version_not_found(name, version)
    return labelled_versions(rows)[0]


def highest_version(connection: Connection, model_id: int, stage: Stage | None) -> int | None:
    statement = select(model_versions.c.version).where(model_versions.c.model_id == model_id)
    if stage is not None:
        statement = statement.where(model_versions.c.current_stage == stage.value)
    return connection.execute(
        statement.order_by(model_versions.c.version.desc()).limit(1)
    ).scalar_one_or_none()


def resolve_alias(connection: Connection, model_id: int, name: str, alias: str) -> int:
    if alias.lower() == validation.LATEST_ALIAS:
        version = highest_version(connection, model_id, None)
        if version is None:
            raise NotFound(
                f"registered model {name!r} has no versions",
                field="alias",
                subject=Subject(Resource.LATEST_VERSION, name),
            )
        return version
    version = connection.execute(
        ALIASED_VERSION, {"model_id": model_id, "alias": alias}
    ).scalar_one_or_none()
    if version is None:
        raise NotFound(
            f"registered model {name!r} has no alias {alias!r}",
            field="alias",
            subject=Subject(Resource.ALIAS, name, alias=alias),
        )
    return int(version)


def new_revision() -> int:
    return secrets.randbelow(_REVISION_START_BOUND) + 1


def check_etag(expected: int | None, revision: int, resource: str) -> None:
    """Raise Aborted when the caller sent an etag and the resource was at ``revision`` instead."""
    if expected is not None and expected != revision:
        raise Aborted(
            f"{resource} has changed since its etag was read; read it again and retry",
            field="etag",
        )


def lock_model(
    connection: Connection,
    name: str,
    touched_at: int | None = None,
    etag: int | None = None,
    *,
    changes: bool = True,
) -> int:
    """Lock the model's row for the rest of the transaction; every mutation under a model starts
    here. ``etag``: the revision the caller read, if it wants the write to depend on it. Unless
    the write may turn out to change nothing (``changes=False``; it calls ``count_revision``
    itself once it did change something), count a new revision of the model now, stamped
    ``touched_at`` when given."""
    locked = LOCK_MODEL.rows(connection, {"name": name})
    if not locked:
        raise model_not_found(name)
    model_id, revision = locked[0]
    model_access.authorize(connection, model_id, name)
    check_etag(etag, revision, f"registered model {name!r}")
    if changes:
        stamp = {} if touched_at is None else {"last_updated_timestamp": touched_at}
        count_revision(connection, registered_models, model_id, **stamp)
    return int(model_id)


def version_to_write(
    connection: Connection,
    model_id: int,
    name: str,
    version: int,
    etag: int | None = None,
    *,
    changes: bool = True,
    **values: Any,
) -> int:
    """The row id of a version of the locked model that is about to be written, with its etag
    checked; like ``lock_model``, counts a new revision (applying ``values``) unless
    ``changes=False``."""
    rows = VERSION_TO_WRITE.rows(connection, {"model_id": model_id, "version": version})
    if not rows:
        raise version_not_found(name, version)
    version_id, revision = rows[0]
    check_etag(etag, revision, f"model version {version} of {name!r}")
    if changes:
        count_revision(connection, model_versions, version_id, **values)
    return int(version_id)


def rewrite_version(
    connection: Connection,
    model_id: int,
    name: str,
    version: int,
    etag: int | None,
    touched_at: int,
    **values: Any,
) -> tuple[ModelVersion, ModelVersion, int]:
    """A version of the locked model before and after ``values`` are written to it, with its
    etag checked, and its row id. Only when ``values`` differ from what the version has is a
    new revision counted, stamped ``touched_at``: a write that changes nothing leaves the etag
    and last_updated_timestamp as they were, as it writes no event (see docs/events.md). Its
    row is read once, with its labels, and the version after is that row with the new values:
    a read before to check the etag and one after to return the result took three statements
    in the write's turn."""
    rows = VERSION_BY_MODEL_ID.rows(connection, {"model_id": model_id, "version": version})
    if not rows:
        raise version_not_found(name, version)
    row = rows[0]
    version_id, revision = row[0], row[REVISION_COLUMN]
    check_etag(etag, revision, f"model version {version} of {name!r}")
    if with_columns(row, **values) == tuple(row):
        [unchanged] = labelled_versions([row])
        return unchanged, unchanged, int(version_id)
    stamped = {**values, "last_updated_timestamp": touched_at}
    count_revision(connection, model_versions, version_id, **stamped)
    before, after = labelled_versions([row, with_columns(row, revision=revision + 1, **stamped)])
    return before, after, int(version_id)


def count_revision(connection: Connection, table: Table, row_id: int, **values: Any) -> None:
    """A new revision of a model or version row (so a new etag), applying ``values`` with it."""
    statement = _revision_statement(table, tuple(values))
    statement.rows(connection, {"row_id": row_id, **bound_values(values)})


@lru_cache(maxsize=64)
def _revision_statement(table: Table, columns: tuple[str, ...]) -> DriverStatement:
    """The update counting a revision of ``table``'s row ``:row_id`` and setting ``columns``
    (the few combinations the writes use, each compiled once)."""
    return DriverStatement(
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values(revision=table.c.revision + 1, **value_parameters(columns))
    )


def insert_tags(
    connection: Connection, table: Any, owner_column: str, owner_id: int, tags: dict[str, str]
) -> None:
    if tags:
        connection.execute(
            insert(table),
            [{owner_column: owner_id, "key": key, "value": value} for key, value in tags.items()],
        )
