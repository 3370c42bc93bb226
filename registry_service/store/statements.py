"""The statements that reads and writes of models and versions share, each built and compiled once
(see driver_sql): a statement built per call is hashed for SQLAlchemy's compiled cache per call."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from registry_service.store.driver_sql import DriverStatement
from registry_service.store.loading import labelled, version_select
from registry_service.store.tables import (
    model_versions,
    registered_model_aliases,
    registered_models,
)

# The reads every GetModelVersion, GetModelVersionByAlias and write makes, run as driver SQL
# compiled once (see driver_sql).
VERSION_BY_NAME = DriverStatement(
    labelled(
        version_select()
        .where(registered_models.c.name == bindparam("name"))
        .where(model_versions.c.version == bindparam("version"))
    )
)
# A version of a model the write has locked, as it is before the write changes it.
VERSION_BY_MODEL_ID = DriverStatement(
    labelled(
        version_select()
        .where(model_versions.c.model_id == bindparam("model_id"))
        .where(model_versions.c.version == bindparam("version"))
    )
)
MODEL_ID_BY_NAME = DriverStatement(
    select(registered_models.c.id).where(registered_models.c.name == bindparam("name"))
)
# An alias's version in one statement, where name, alias and version took three.
VERSION_BY_ALIAS = DriverStatement(
    labelled(
        version_select()
        .join(
            registered_model_aliases,
            (registered_model_aliases.c.model_id == model_versions.c.model_id)
            & (registered_model_aliases.c.version == model_versions.c.version),
        )
        .where(registered_models.c.name == bindparam("name"))
        .where(registered_model_aliases.c.alias == bindparam("alias"))
    )
)
# Every write's first statement: the model's row, locked to the end of the transaction.
LOCK_MODEL = DriverStatement(
    select(registered_models.c.id, registered_models.c.revision)
    .where(registered_models.c.name == bindparam("name"))
    .with_for_update()
)
VERSION_TO_WRITE = DriverStatement(
    select(model_versions.c.id, model_versions.c.revision)
    .where(model_versions.c.model_id == bindparam("model_id"))
    .where(model_versions.c.version == bindparam("version"))
)
ALIASED_VERSION = (
    select(registered_model_aliases.c.version)
    .where(registered_model_aliases.c.model_id == bindparam("model_id"))
    .where(registered_model_aliases.c.alias == bindparam("alias"))
)
