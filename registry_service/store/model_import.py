"""ImportRegisteredModel: a model copied from another registry recreated all or nothing, with its
versions' numbers, stages, timestamps and users."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sqlalchemy import insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from registry_service import validation
from registry_service.domain import (
    ConflictPolicy,
    EventType,
    ImportOutcome,
    ImportResult,
    ModelVersion,
    RegisteredModel,
)
from registry_service.errors import InvalidArgument
from registry_service.store import idempotency, outbox
from registry_service.store.model_rows import (
    find_model_id,
    insert_tags,
    load_model,
    new_revision,
    unused_model_id,
)
from registry_service.store.model_writes import model_name_taken
from registry_service.store.tables import (
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
)
from registry_service.store.transactions import Transactions

# How often an import races another writer for a name before it reports the name as taken.
IMPORT_ATTEMPTS = 3

# What a renamed import appends to the name, before the number that makes it free.
IMPORT_SUFFIX = "-imported"


class ModelImport(Transactions):
    """The import of whole models."""

    def import_registered_model(
        self,
        model: RegisteredModel,
        versions: Sequence[ModelVersion],
        last_version: int = 0,
        on_conflict: ConflictPolicy = ConflictPolicy.FAIL,
        request_id: str = "",
    ) -> ImportResult:
        """Recreate a model copied from another registry, all or nothing: its versions keep
        their numbers, stages, timestamps and users, and new versions continue after
        ``last_version`` (0: the highest imported number), so numbers deleted in the source stay
        unused. ``model.latest_versions`` and each version's ``name`` and ``aliases`` are
        ignored: ``model.aliases`` says where aliases point."""
        checked_last_version = _check_import(model, versions, last_version)
        arguments = {
            "model": dataclasses.asdict(model),
            "versions": [dataclasses.asdict(version) for version in versions],
            "last_version": last_version,
            "on_conflict": on_conflict.value,
        }
        now = self.now()

        def change(connection: Connection) -> ImportResult:
            name, outcome = model.name, ImportOutcome.CREATED
            existing = find_model_id(connection, model.name)
            if existing is not None:
                if on_conflict is ConflictPolicy.SKIP:
                    return ImportResult(ImportOutcome.SKIPPED, load_model(connection, existing))
                if on_conflict is ConflictPolicy.FAIL:
                    raise model_name_taken(model.name, "registered_model.name")
                name, outcome = _free_import_name(connection, model.name), ImportOutcome.RENAMED
            model_id = _insert_import(connection, model, name, versions, checked_last_version, now)
            _record_import(connection, model, name, model_id, versions, now)
            return ImportResult(outcome, load_model(connection, model_id))

        for _attempt in range(IMPORT_ATTEMPTS):
            try:
                return self.write(
                    "import_registered_model", request_id, arguments, idempotency.IMPORT, change
                )
            except IntegrityError as error:
                # After validation only the unique name can clash: another writer took it after
                # the check above (PostgreSQL; SQLite writers queue). The next attempt sees it.
                if on_conflict is ConflictPolicy.FAIL:
                    raise model_name_taken(model.name, "registered_model.name") from error
        raise model_name_taken(model.name, "registered_model.name")


def _check_import(
    model: RegisteredModel, versions: Sequence[ModelVersion], last_version: int
) -> int:
    """Every field under the creating calls' rules, named by its request path; returns the
    version counter to store."""
    validation.check_model_name(model.name, "registered_model.name")
    _check_imported_annotations("registered_model", model.description, model.user_id, model.tags)
    _check_timestamps("registered_model", model.creation_timestamp, model.last_updated_timestamp)
    numbers: set[int] = set()
    for index, version in enumerate(versions):
        field = f"model_versions[{index}]"
        validation.check_version(version.version, f"{field}.version")
        if version.version > validation.MAX_VERSION or version.version in numbers:
            raise InvalidArgument(
                f"{field}.version {version.version} is a duplicate or above "
                f"{validation.MAX_VERSION}",
                field=f"{field}.version",
            )
        numbers.add(version.version)
        validation.check_identifier(f"{field}.source", version.source, validation.MAX_SOURCE_LENGTH)
        for name, value, maximum in (
            ("run_id", version.run_id, validation.MAX_RUN_ID_LENGTH),
            ("run_link", version.run_link, validation.MAX_RUN_LINK_LENGTH),
            ("experiment_id", version.experiment_id, validation.MAX_EXPERIMENT_ID_LENGTH),
            ("model_id", version.model_id, validation.MAX_MODEL_ID_LENGTH),
        ):
            validation.check_optional_line(f"{field}.{name}", value, maximum)
        validation.check_text(
            f"{field}.status_message", version.status_message, validation.MAX_DESCRIPTION_LENGTH
        )
        _check_imported_annotations(field, version.description, version.user_id, version.tags)
        _check_timestamps(field, version.creation_timestamp, version.last_updated_timestamp)
    for alias, number in model.aliases.items():
        validation.check_alias_to_set(alias, "registered_model.aliases")
        if number not in numbers:
            raise InvalidArgument(
                f"registered_model.aliases: {alias!r} points at version {number}, which is not "
                "among model_versions",
                field="registered_model.aliases",
            )
    highest = max(numbers, default=0)
    if last_version == 0:
        return highest
    if not highest <= last_version <= validation.MAX_VERSION:
        raise InvalidArgument(
            f"last_version must be 0 or from {max(highest, 1)} (the highest imported version) "
            f"to {validation.MAX_VERSION}, got {last_version}",
            field="last_version",
        )
    return last_version


def _check_imported_annotations(
    field: str, description: str, user_id: str, tags: dict[str, str]
) -> None:
    validation.check_description(description, f"{field}.description")
    validation.check_optional_line(f"{field}.user_id", user_id, validation.MAX_USER_ID_LENGTH)
    validation.check_tag_entries(tags, f"{field}.tags")


def _check_timestamps(field: str, creation_timestamp: int, last_updated_timestamp: int) -> None:
    for name, value in (
        ("creation_timestamp", creation_timestamp),
        ("last_updated_timestamp", last_updated_timestamp),
    ):
        if value < 0:
            raise InvalidArgument(
                f"{field}.{name} must be 0 (the time of the import) or more, got {value}",
                field=f"{field}.{name}",
            )


def _free_import_name(connection: Connection, name: str) -> str:
    """The first of "<name>-imported", "<name>-imported-2", … that no model has, the name
    shortened so that the whole stays within the name limit."""
    number = 1
    while True:
        suffix = IMPORT_SUFFIX if number == 1 else f"{IMPORT_SUFFIX}-{number}"
        candidate = name[: validation.MAX_NAME_LENGTH - len(suffix)].rstrip() + suffix
        if find_model_id(connection, candidate) is None:
            return candidate
        number += 1


def _insert_import(
    connection: Connection,
    model: RegisteredModel,
    name: str,
    versions: Sequence[ModelVersion],
    last_version: int,
    now: int,
) -> int:
    """Insert a validated model with its versions, tags and aliases; returns the model's id."""
    model_id: int = connection.execute(
        insert(registered_models)
        .values(
            **unused_model_id(connection),
            name=name,
            creation_timestamp=model.creation_timestamp or now,
            last_updated_timestamp=model.last_updated_timestamp or now,
            user_id=model.user_id,
            description=model.description,
            last_version=last_version,
            revision=new_revision(),
        )
        .returning(registered_models.c.id)
    ).scalar_one()
    insert_tags(connection, registered_model_tags, "model_id", model_id, model.tags)
    if not versions:
        return model_id
    inserted = connection.execute(
        insert(model_versions).returning(model_versions.c.version, model_versions.c.id),
        [
            {
                "model_id": model_id,
                "version": version.version,
                "creation_timestamp": version.creation_timestamp or now,
                "last_updated_timestamp": version.last_updated_timestamp or now,
                "user_id": version.user_id,
                "current_stage": version.current_stage.value,
                "description": version.description,
                "source": version.source,
                "run_id": version.run_id,
                "run_link": version.run_link,
                "experiment_id": version.experiment_id,
                "status": version.status.value,
                "status_message": version.status_message,
                "revision": new_revision(),
                "logged_model_id": version.model_id,
                # Where an import's files are is the source it brings.
                "storage_location": "",
            }
            for version in versions
        ],
    ).all()
    version_ids: dict[int, int] = {row.version: row.id for row in inserted}
    version_tags = [
        {"version_id": version_ids[version.version], "key": key, "value": value}
        for version in versions
        for key, value in version.tags.items()
    ]
    if version_tags:
        connection.execute(insert(model_version_tags), version_tags)
    if model.aliases:
        connection.execute(
            insert(registered_model_aliases),
            [
                {"model_id": model_id, "alias": alias, "version": number}
                for alias, number in model.aliases.items()
            ],
        )
    return model_id


def _record_import(
    connection: Connection,
    model: RegisteredModel,
    name: str,
    model_id: int,
    versions: Sequence[ModelVersion],
    now: int,
) -> None:
    """An import is announced as the creations it amounts to: the model, each version (in its
    imported stage), each alias."""
    outbox.record(
        connection,
        EventType.REGISTERED_MODEL_CREATED,
        name,
        model_id,
        after={"name": name, "description": model.description, "tags": dict(model.tags)},
    )
    for version in sorted(versions, key=lambda v: v.version):
        fields = outbox.version_fields(version)
        fields["creation_timestamp"] = version.creation_timestamp or now
        outbox.record(
            connection,
            EventType.MODEL_VERSION_CREATED,
            name,
            model_id,
            version.version,
            after=fields,
        )
    for alias, number in sorted(model.aliases.items()):
        outbox.record(
            connection,
            EventType.MODEL_VERSION_ALIAS_CREATED,
            name,
            model_id,
            number,
            after={"alias": alias, "version": number},
        )
