"""Turning rows into domain records, a page at a time: a page of versions has its tags and its
models' aliases read with one query, a page of models its tags, aliases and latest versions with
one query each; never one per row.

The statements are built once and reused with bound parameters (the ids as an expanding IN):
constructing SQLAlchemy statements costs more Python time per call than the indexed queries
themselves take in the database.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CompoundSelect,
    FromClause,
    Integer,
    Row,
    Select,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    false,
    literal,
    null,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from registry_service.domain import ModelVersion, RegisteredModel, Stage, VersionStatus
from registry_service.store.driver_sql import DriverStatement
from registry_service.store.tables import (
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
)
from registry_service.validation import etag_of

_STAGE_ORDER = {stage: position for position, stage in enumerate(Stage)}


_VERSION_SELECT = select(model_versions, registered_models.c.name).select_from(
    model_versions.join(registered_models, model_versions.c.model_id == registered_models.c.id)
)


def version_select() -> Select[Any]:
    """Version rows with their model's name: the shape ``versions_from_rows`` reads."""
    return _VERSION_SELECT


# The columns of version rows, in the order ``version_select`` (and the latest-versions query)
# returns them; rows are unpacked by position, which costs far less than attribute access when a
# page holds hundreds of rows. Extra columns (the search's sort keys) may follow.
VERSION_COLUMNS = (*model_versions.c.keys(), "name")
assert VERSION_COLUMNS == (
    "id",
    "model_id",
    "version",
    "creation_timestamp",
    "last_updated_timestamp",
    "user_id",
    "current_stage",
    "description",
    "source",
    "run_id",
    "run_link",
    "experiment_id",
    "status",
    "status_message",
    "revision",
    "logged_model_id",
    "storage_location",
    "name",
), "versions_from_rows unpacks rows by position: update it with the columns"
_STAGES = {stage.value: stage for stage in Stage}
_STATUSES = {status.value: status for status in VersionStatus}


def versions_from_rows(connection: Connection, rows: Sequence[Row[Any]]) -> list[ModelVersion]:
    """Versions from rows of ``version_select``'s shape, their labels read with one statement
    for the whole page."""
    if not rows:
        return []
    # Rows as the plain tuples they are (typed Row[Any], mypy would take them for 1-tuples).
    tuples: Sequence[Any] = rows
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    aliases: dict[tuple[int, int], list[str]] = defaultdict(list)
    labels = _version_labels(
        connection, list({row[0] for row in tuples}), list({row[1] for row in tuples})
    )
    for is_alias, owner_id, label, value, version in labels:
        if is_alias:
            aliases[(owner_id, version)].append(label)
        else:
            tags[owner_id][label] = value
    return [
        _version(row, tags.get(row[0], {}), aliases.get((row[1], row[2]), [])) for row in tuples
    ]


def labelled_versions(rows: Sequence[Any]) -> list[ModelVersion]:
    """Versions from rows of a ``labelled`` statement: each row carries its own labels."""
    versions = []
    for row in rows:
        tags_json, aliases_json = row[_TAGS_COLUMN], row[_TAGS_COLUMN + 1]
        # Most versions have no alias: an empty array is not decoded (a quarter of the decoding
        # of GetLatestVersions' four versions).
        tags = dict(sorted(json.loads(tags_json))) if tags_json != _EMPTY else {}
        aliases = (
            sorted([alias for (alias,) in json.loads(aliases_json)])
            if aliases_json != _EMPTY
            else []
        )
        versions.append(_version(row, tags, aliases))
    return versions


def first_version(rows: Sequence[Any]) -> ModelVersion | None:
    """The version of the first row of a ``labelled`` statement; None when there is none."""
    return labelled_versions(rows[:1])[0] if rows else None


def with_columns(row: Sequence[Any], **values: Any) -> tuple[Any, ...]:
    """A labelled row with ``values`` in place of its columns of those names."""
    changed = list(row)
    for column, value in values.items():
        changed[VERSION_COLUMNS.index(column)] = value
    return tuple(changed)


def inserted_version(name: str, values: Mapping[str, Any], tags: dict[str, str]) -> ModelVersion:
    """The version of model ``name`` just inserted with ``values`` (every column of
    model_versions but id) and ``tags``, as a read of it would return it: tags in key order
    (Python's order of str is the databases' byte-wise one of UTF-8) and no aliases (an alias
    names an existing version, its row goes with the version's, and numbers are never reused)."""
    row = (None, *(values[column] for column in VERSION_COLUMNS[1:-1]), name)
    return _version(row, dict(sorted(tags.items())), [])


def _version(row: Any, tags: dict[str, str], aliases: list[str]) -> ModelVersion:
    (
        _version_id,
        _model_id,
        number,
        created,
        updated,
        user_id,
        stage,
        description,
        source,
        run_id,
        run_link,
        experiment_id,
        status,
        status_message,
        revision,
        logged_model_id,
        storage_location,
        name,
    ) = row[:_TAGS_COLUMN]
    return ModelVersion(
        name=name,
        version=number,
        creation_timestamp=created,
        last_updated_timestamp=updated,
        user_id=user_id,
        current_stage=_STAGES[stage],
        description=description,
        source=source,
        run_id=run_id,
        run_link=run_link,
        experiment_id=experiment_id,
        status=_STATUSES[status],
        status_message=status_message,
        etag=etag_of(revision),
        tags=tags,
        aliases=aliases,
        model_id=logged_model_id,
        storage_location=storage_location,
    )


# In a labelled row, the position of the tags' JSON; the aliases' follows it.
_TAGS_COLUMN = len(VERSION_COLUMNS)
# In a version row, the position of its revision (its etag's number).
REVISION_COLUMN = VERSION_COLUMNS.index("revision")
# What both databases' aggregates give for no labels.
_EMPTY = "[]"


def labelled(statement: Select[Any], versions: FromClause = model_versions) -> Select[Any]:
    """``statement`` (version rows, of ``version_select``'s shape, whose columns come from
    ``versions``) with each version's tags and aliases as two more columns, JSON arrays of
    [key, value] and [alias] in no particular order.

    A point read is then one statement where it was two, and one statement is a snapshot of its
    own, so it needs no BEGIN and COMMIT either (see ``DriverStatement.rows_alone``): each
    statement costs a round trip on PostgreSQL and a release of the GIL on SQLite, which under
    load means waiting to get it back.
    """
    # Aliased, so that they are never correlated with the same tables in ``statement``.
    tags = model_version_tags.alias("labelled_tags")
    aliases = registered_model_aliases.alias("labelled_aliases")
    return statement.add_columns(
        select(_JsonRows(tags.c.key, tags.c.value))
        .where(tags.c.version_id == versions.c.id)
        .scalar_subquery(),
        select(_JsonRows(aliases.c.alias))
        .where(aliases.c.model_id == versions.c.model_id)
        .where(aliases.c.version == versions.c.version)
        .scalar_subquery(),
    )


class _JsonRows(FunctionElement[str]):
    """The aggregate of the rows' values as JSON text: an array of one array per row, "[]" for
    no rows."""

    type = Text()
    name = "json_rows"
    inherit_cache = True


@compiles(_JsonRows, "sqlite")
def _json_rows_sqlite(element: _JsonRows, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_group_array(json_array({compiler.process(element.clauses, **kw)}))"


@compiles(_JsonRows, "postgresql")
def _json_rows_postgresql(element: _JsonRows, compiler: SQLCompiler, **kw: Any) -> str:
    values = compiler.process(element.clauses, **kw)
    return f"coalesce(json_agg(json_build_array({values}))::text, '[]')"


def latest_versions(
    connection: Connection, model_ids: Iterable[int], stages: Iterable[Stage]
) -> dict[int, list[ModelVersion]]:
    """The highest version per (model, stage), each found by one index probe on
    (model_id, current_stage, version): the cost does not grow with a model's version count."""
    ids = set(model_ids)
    wanted = list(dict.fromkeys(stages))
    if not ids or not wanted:
        return {}
    rows: Sequence[Any]
    versions: list[ModelVersion]
    if len(ids) == 1:
        one = _one_model_latest_statement(connection.dialect.name, tuple(wanted), "id")
        rows = one.rows(connection, {"id": next(iter(ids))})
        versions = labelled_versions(rows)
    else:
        many = _latest_statement(connection.dialect.name, tuple(wanted))
        rows = connection.execute(many, {"ids": list(ids)}).all()
        versions = versions_from_rows(connection, rows)
    by_model: dict[int, list[ModelVersion]] = defaultdict(list)
    for row, version in zip(rows, versions, strict=True):
        by_model[row[1]].append(version)
    for versions in by_model.values():
        versions.sort(key=lambda v: _STAGE_ORDER[v.current_stage])
    return by_model


def latest_by_name_statement(dialect: str, stages: Iterable[Stage]) -> DriverStatement:
    """The labelled rows of the highest version per stage of the model ``:name``; none when it
    has none in those stages or does not exist (one statement, where finding the model first
    took two)."""
    return _one_model_latest_statement(dialect, tuple(dict.fromkeys(stages)), "name")


@cache
def _one_model_latest_statement(
    dialect: str, wanted: tuple[Stage, ...], key: str
) -> DriverStatement:
    """The latest-versions query for the one model whose ``key`` column is ``:<key>``, each
    version with its labels."""
    return DriverStatement(
        _latest_select(
            dialect, wanted, registered_models.c[key] == bindparam(key), with_labels=True
        )
    )


@cache
def _latest_statement(dialect: str, wanted: tuple[Stage, ...]) -> Select[Any]:
    """The latest-versions query for models ``:ids`` and the stages ``wanted``."""
    return _latest_select(dialect, wanted, _among_ids(registered_models.c.id, dialect))


def _latest_select(
    dialect: str,
    wanted: tuple[Stage, ...],
    models: ColumnElement[bool],
    *,
    with_labels: bool = False,
) -> Select[Any]:
    """The latest versions in the stages ``wanted`` of the models ``models`` selects (and
    ``labelled``, ``with_labels``)."""
    stage_rows = union_all(*(select(literal(stage.value).label("stage")) for stage in wanted))
    stage_table = stage_rows.subquery("stages")
    if dialect == "postgresql":
        # LATERAL ... LIMIT 1 can only be run as one backward index probe per (model, stage);
        # the portable form below lets PostgreSQL's planner hash-join the whole table instead
        # when it misjudges how many probes a page of models needs.
        newest = (
            select(model_versions)
            .where(model_versions.c.model_id == registered_models.c.id)
            .where(model_versions.c.current_stage == stage_table.c.stage)
            .order_by(model_versions.c.version.desc())
            .limit(1)
            .lateral("newest")
        )
        statement = select(newest, registered_models.c.name).select_from(
            registered_models.join(stage_table, true()).join(newest, true())
        )
        versions: FromClause = newest
    else:
        probe = model_versions.alias("probe")
        highest_in_stage = (
            select(probe.c.version)
            .where(probe.c.model_id == registered_models.c.id)
            .where(probe.c.current_stage == stage_table.c.stage)
            .order_by(probe.c.version.desc())
            .limit(1)
            .scalar_subquery()
        )
        statement = select(model_versions, registered_models.c.name).select_from(
            registered_models.join(stage_table, true()).join(
                model_versions,
                and_(
                    model_versions.c.model_id == registered_models.c.id,
                    model_versions.c.version == highest_in_stage,
                ),
            )
        )
        versions = model_versions
    statement = statement.where(models)
    return labelled(statement, versions) if with_labels else statement


def models_from_rows(connection: Connection, rows: Sequence[Row[Any]]) -> list[RegisteredModel]:
    if not rows:
        return []
    ids = {row.id for row in rows}
    tags = _tags(connection, registered_model_tags, ids)
    aliases: dict[int, dict[str, int]] = defaultdict(dict)
    for model_id, alias, version in _aliases(connection, ids):
        aliases[model_id][alias] = version
    latest = latest_versions(connection, ids, Stage)
    return [
        RegisteredModel(
            name=row.name,
            creation_timestamp=row.creation_timestamp,
            last_updated_timestamp=row.last_updated_timestamp,
            user_id=row.user_id,
            description=row.description,
            etag=etag_of(row.revision),
            latest_versions=latest.get(row.id, []),
            tags=tags.get(row.id, {}),
            aliases=aliases.get(row.id, {}),
        )
        for row in rows
    ]


def _tags(connection: Connection, table: Table, owner_ids: set[int]) -> dict[int, dict[str, str]]:
    """Tags of many owners (models or versions) by owner id, keys in order."""
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    statement = _tags_statement(connection.dialect.name, table)
    for owner_id, key, value in connection.execute(statement, {"ids": list(owner_ids)}).all():
        tags[owner_id][key] = value
    return tags


def _aliases(connection: Connection, model_ids: set[int]) -> list[tuple[int, str, int]]:
    """(model_id, alias, version) of every alias of the given models, aliases in order."""
    statement = _aliases_statement(connection.dialect.name)
    return [
        (row.model_id, row.alias, row.version)
        for row in connection.execute(statement, {"ids": list(model_ids)}).all()
    ]


def _among_ids(
    column: ColumnElement[Any], dialect: str, parameter: str = "ids"
) -> ColumnElement[bool]:
    """``column`` is one of the ``:ids`` parameter (a list; or the one named ``parameter``).

    PostgreSQL gets one array parameter, ``= ANY(:ids)``: the SQL text is then the same for any
    number of ids, so the driver parses and prepares it once. Elsewhere the list expands to
    ``IN (?, ?, …)``.
    """
    if dialect == "postgresql":
        return column == any_(bindparam(parameter, type_=postgresql.ARRAY(Integer)))
    return column.in_(bindparam(parameter, expanding=True))


@cache
def _tags_statement(dialect: str, table: Table) -> Select[Any]:
    owner = table.c.model_id if "model_id" in table.c else table.c.version_id
    return (
        select(owner, table.c.key, table.c.value)
        .where(_among_ids(owner, dialect))
        .order_by(table.c.key)
    )


@cache
def _aliases_statement(dialect: str) -> Select[Any]:
    aliases = registered_model_aliases
    return (
        select(aliases.c.model_id, aliases.c.alias, aliases.c.version)
        .where(_among_ids(aliases.c.model_id, dialect))
        .order_by(aliases.c.alias)
    )


def _version_labels(
    connection: Connection, version_ids: list[int], model_ids: list[int]
) -> Sequence[Any]:
    """The tags of the versions ``version_ids`` and the aliases of the models ``model_ids``."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        # One array parameter each: one statement text for any number of ids.
        statement = _version_labels_statement(dialect, 0, 0)
        return statement.rows(connection, {"ids": version_ids, "model_ids": model_ids})
    statement = _version_labels_statement(dialect, len(version_ids), len(model_ids))
    return statement.rows(
        connection, {**_numbered("ids", version_ids), **_numbered("model_ids", model_ids)}
    )


# A page reads versions of a few distinct counts (1 for a point read, one per stage for the
# latest versions, the page size for searches): each count's statement is compiled once.
@lru_cache(maxsize=256)
def _version_labels_statement(dialect: str, versions: int, models: int) -> DriverStatement:
    if dialect == "postgresql":
        return DriverStatement(
            _labels(
                _among_ids(model_version_tags.c.version_id, dialect),
                _among_ids(registered_model_aliases.c.model_id, dialect, "model_ids"),
            )
        )
    return DriverStatement(
        _labels(
            model_version_tags.c.version_id.in_(_numbered_parameters("ids", versions)),
            registered_model_aliases.c.model_id.in_(_numbered_parameters("model_ids", models)),
        )
    )


def _numbered_parameters(name: str, count: int) -> list[BindParameter[Any]]:
    return [bindparam(f"{name}_{index}") for index in range(count)]


def _numbered(name: str, values: list[int]) -> dict[str, int]:
    """``values`` as the parameters ``_numbered_parameters(name, len(values))`` binds."""
    return {f"{name}_{index}": value for index, value in enumerate(values)}


def _labels(
    of_versions: ColumnElement[bool], of_models: ColumnElement[bool]
) -> CompoundSelect[Any]:
    """The tags of the versions ``of_versions`` selects and the aliases of the models
    ``of_models`` selects, in one statement (one statement fewer per version read, the largest
    part of whose cost is the per-statement work around it): rows (False, version_id, key,
    value, NULL), then (True, model_id, alias, NULL, version), each kind in label order."""
    tags, aliases = model_version_tags, registered_model_aliases
    labels = union_all(
        select(
            false().label("is_alias"),
            tags.c.version_id.label("owner_id"),
            tags.c.key.label("label"),
            tags.c.value.label("value"),
            null().label("version"),
        ).where(of_versions),
        select(true(), aliases.c.model_id, aliases.c.alias, null(), aliases.c.version).where(
            of_models
        ),
    )
    return labels.order_by(labels.selected_columns.is_alias, labels.selected_columns.label)
