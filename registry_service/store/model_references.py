"""models:/ sources: a new version whose source names a registered version copies it, as MLflow
does, read in the creating transaction under the caller's permission to read the named model."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy.engine import Connection

from registry_service import sources, validation
from registry_service.domain import ModelVersion
from registry_service.errors import InvalidArgument, NotFound
from registry_service.store import model_access
from registry_service.store.loading import labelled_versions
from registry_service.store.model_rows import find_model_id, highest_version, resolve_alias
from registry_service.store.statements import VERSION_BY_MODEL_ID


class VersionOrigin(NamedTuple):
    """Where a new version comes from, as its row records it."""

    source: str
    run_id: str
    model_id: str
    experiment_id: str
    run_link: str
    storage_location: str


def copy_of(copied: ModelVersion, given: VersionOrigin) -> VersionOrigin:
    """The origin of a version that copies ``copied``: what the request gives must agree with
    it, and what it leaves out is inherited."""
    for field, mine, theirs in (
        ("run_id", given.run_id, copied.run_id),
        ("model_id", given.model_id, copied.model_id),
    ):
        if mine and mine != theirs:
            raise InvalidArgument(
                f"invalid model version source {given.source!r}: the {field} request parameter "
                f"{mine!r} must match the referenced model version's ({theirs!r})",
                field="source",
            )
    return VersionOrigin(
        source=f"models:/{copied.name}/{copied.version}",
        run_id=copied.run_id,
        model_id=copied.model_id,
        experiment_id=given.experiment_id or copied.experiment_id,
        run_link=given.run_link or copied.run_link,
        storage_location=copied.storage_location or copied.source,
    )


def missing_reference(source: str, name: str) -> NotFound:
    """The error for a models:/ source naming a model that does not exist (or, to a caller who
    may not read it, that it must not learn exists)."""
    return NotFound(
        f"source {source!r} names registered model {name!r}, which does not exist", field="source"
    )


def resolve_model_reference(
    connection: Connection, reference: sources.ModelReference, source: str
) -> ModelVersion:
    """The version a models:/ URI names, read in the creating transaction, where the caller must
    be able to read its model as any read of it would."""
    model_id = find_model_id(connection, reference.name)
    if model_id is None or not model_access.readable(connection, model_id):
        raise missing_reference(source, reference.name)
    version: int | None
    if reference.version is not None:
        version = reference.version
    elif reference.alias is not None:
        try:
            version = resolve_alias(connection, model_id, reference.name, reference.alias)
        except NotFound as error:
            raise NotFound(f"source {source!r}: {error.message}", field="source") from error
    else:
        assert reference.stage_or_latest is not None
        stage = (
            None
            if reference.stage_or_latest.lower() == validation.LATEST_ALIAS
            else validation.parse_stage(reference.stage_or_latest, "source")
        )
        version = highest_version(connection, model_id, stage)
    rows = (
        []
        if version is None
        else VERSION_BY_MODEL_ID.rows(connection, {"model_id": model_id, "version": version})
    )
    if not rows:
        raise NotFound(f"source {source!r} names no existing model version", field="source")
    return labelled_versions(rows)[0]
