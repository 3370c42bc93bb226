"""Turning rows into domain records, a page at a time: tags, aliases and latest versions are read
with one query each for the whole page, never one per row."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Row, Select, and_, literal, select, true, union_all
from sqlalchemy.engine import Connection

from registry_service.domain import ModelVersion, RegisteredModel, Stage, VersionStatus
from registry_service.store.tables import (
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
)

_STAGE_ORDER = {stage: position for position, stage in enumerate(Stage)}


def version_select() -> Select[Any]:
    """Version rows with their model's name: the shape ``versions_from_rows`` reads."""
    return select(model_versions, registered_models.c.name).select_from(
        model_versions.join(registered_models, model_versions.c.model_id == registered_models.c.id)
    )


def versions_from_rows(connection: Connection, rows: Sequence[Row[Any]]) -> list[ModelVersion]:
    if not rows:
        return []
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    for version_id, key, value in connection.execute(
        select(
            model_version_tags.c.version_id, model_version_tags.c.key, model_version_tags.c.value
        )
        .where(model_version_tags.c.version_id.in_({row.id for row in rows}))
        .order_by(model_version_tags.c.key)
    ):
        tags[version_id][key] = value
    aliases: dict[tuple[int, int], list[str]] = defaultdict(list)
    for model_id, alias, version in connection.execute(
        select(
            registered_model_aliases.c.model_id,
            registered_model_aliases.c.alias,
            registered_model_aliases.c.version,
        )
        .where(registered_model_aliases.c.model_id.in_({row.model_id for row in rows}))
        .order_by(registered_model_aliases.c.alias)
    ):
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
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    for model_id, key, value in connection.execute(
        select(
            registered_model_tags.c.model_id,
            registered_model_tags.c.key,
            registered_model_tags.c.value,
        )
        .where(registered_model_tags.c.model_id.in_(ids))
        .order_by(registered_model_tags.c.key)
    ):
        tags[model_id][key] = value
    aliases: dict[int, dict[str, int]] = defaultdict(dict)
    for model_id, alias, version in connection.execute(
        select(
            registered_model_aliases.c.model_id,
            registered_model_aliases.c.alias,
            registered_model_aliases.c.version,
        )
        .where(registered_model_aliases.c.model_id.in_(ids))
        .order_by(registered_model_aliases.c.alias)
    ):
        aliases[model_id][alias] = version
    latest = latest_versions(connection, ids, Stage)
    return [
        RegisteredModel(
            name=row.name,
            creation_timestamp=row.creation_timestamp,
            last_updated_timestamp=row.last_updated_timestamp,
            user_id=row.user_id,
            description=row.description,
            latest_versions=latest.get(row.id, []),
            tags=tags.get(row.id, {}),
            aliases=aliases.get(row.id, {}),
        )
        for row in rows
    ]
