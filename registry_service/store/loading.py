"""Turning rows into domain records, a page at a time: tags, aliases and latest versions are read
with one query each for the whole page, never one per row."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Row, Select, Table, and_, literal, select, true, union_all
from sqlalchemy.engine import Connection

from registry_service.domain import ModelVersion, RegisteredModel, Stage, VersionStatus
from registry_service.store.tables import (
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
)
from registry_service.validation import etag_of

_STAGE_ORDER = {stage: position for position, stage in enumerate(Stage)}


def version_select() -> Select[Any]:
    """Version rows with their model's name: the shape ``versions_from_rows`` reads."""
    return select(model_versions, registered_models.c.name).select_from(
        model_versions.join(registered_models, model_versions.c.model_id == registered_models.c.id)
    )


def versions_from_rows(connection: Connection, rows: Sequence[Row[Any]]) -> list[ModelVersion]:
    if not rows:
        return []
    tags = _tags(connection, model_version_tags, {row.id for row in rows})
    aliases: dict[tuple[int, int], list[str]] = defaultdict(list)
    for model_id, alias, version in _aliases(connection, {row.model_id for row in rows}):
        aliases[(model_id, version)].append(alias)
    return [
        ModelVersion(
            name=row.name,
            version=row.version,
            creation_timestamp=row.creation_timestamp,
            last_updated_timestamp=row.last_updated_timestamp,
            user_id=row.user_id,
            current_stage=Stage(row.current_stage),
            description=row.description,
            source=row.source,
            run_id=row.run_id,
            run_link=row.run_link,
            experiment_id=row.experiment_id,
            status=VersionStatus(row.status),
            status_message=row.status_message,
            etag=etag_of(row.revision),
            tags=tags.get(row.id, {}),
            aliases=aliases.get((row.model_id, row.version), []),
        )
        for row in rows
    ]


def latest_versions(
    connection: Connection, model_ids: Iterable[int], stages: Iterable[Stage]
) -> dict[int, list[ModelVersion]]:
    """The highest version per (model, stage), each found by one index probe on
    (model_id, current_stage, version): the cost does not grow with a model's version count."""
    ids = set(model_ids)
    wanted = list(dict.fromkeys(stages))
    if not ids or not wanted:
        return {}
    stage_rows = union_all(*(select(literal(stage.value).label("stage")) for stage in wanted))
    stage_table = stage_rows.subquery("stages")
    probe = model_versions.alias("probe")
    highest_in_stage = (
        select(probe.c.version)
        .where(probe.c.model_id == registered_models.c.id)
        .where(probe.c.current_stage == stage_table.c.stage)
        .order_by(probe.c.version.desc())
        .limit(1)
        .scalar_subquery()
    )
    rows = connection.execute(
        select(model_versions, registered_models.c.name)
        .select_from(
            registered_models.join(stage_table, true()).join(
                model_versions,
                and_(
                    model_versions.c.model_id == registered_models.c.id,
                    model_versions.c.version == highest_in_stage,
                ),
            )
        )
        .where(registered_models.c.id.in_(ids))
    ).all()
    by_model: dict[int, list[ModelVersion]] = defaultdict(list)
    for row, version in zip(rows, versions_from_rows(connection, rows), strict=True):
        by_model[row.model_id].append(version)
    for versions in by_model.values():
        versions.sort(key=lambda v: _STAGE_ORDER[v.current_stage])
    return by_model


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
    owner = table.c.model_id if "model_id" in table.c else table.c.version_id
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    for owner_id, key, value in connection.execute(
        select(owner, table.c.key, table.c.value).where(owner.in_(owner_ids)).order_by(table.c.key)
    ):
        tags[owner_id][key] = value
    return tags


def _aliases(connection: Connection, model_ids: set[int]) -> list[tuple[int, str, int]]:
    """(model_id, alias, version) of every alias of the given models, aliases in order."""
    aliases = registered_model_aliases
    return [
        (row.model_id, row.alias, row.version)
        for row in connection.execute(
            select(aliases.c.model_id, aliases.c.alias, aliases.c.version)
            .where(aliases.c.model_id.in_(model_ids))
            .order_by(aliases.c.alias)
        )
    ]
