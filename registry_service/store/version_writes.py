"""Model versions: create (numbering, models:/ copies), read, update, stage transitions, delete and
search."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from sqlalchemy import bindparam, delete, insert, update
from sqlalchemy.engine import Connection

from registry_service import identity, sources, validation
from registry_service.domain import EventType, ModelVersion, Page, Stage, VersionStatus
from registry_service.errors import InvalidArgument
from registry_service.store import idempotency, model_access, outbox, trash
from registry_service.store.driver_sql import DriverStatement, bound_values, value_parameters
from registry_service.store.loading import (
    first_version,
    inserted_version,
    version_select,
    versions_from_rows,
)
from registry_service.store.model_access import model_not_found
from registry_service.store.model_references import VersionOrigin, copy_of, resolve_model_reference
from registry_service.store.model_rows import (
    check_etag,
    check_version_key,
    count_revision,
    insert_tags,
    load_version,
    lock_model,
    model_id_by_name,
    new_revision,
    page_rows,
    readable_by_caller,
    rewrite_version,
    version_not_found,
)
from registry_service.store.search_columns import model_version_search
from registry_service.store.statements import VERSION_BY_NAME
from registry_service.store.tables import model_version_tags, model_versions, registered_models

# The stages whose previous occupants archive_existing_versions may move to Archived.
ARCHIVABLE_STAGES = (Stage.STAGING, Stage.PRODUCTION)


class ModelVersionOperations(trash.TrashOperations):
    """The operations on model versions themselves."""

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str = "",
        tags: dict[str, str] | None = None,
        run_link: str = "",
        description: str = "",
        experiment_id: str = "",
        request_id: str = "",
        model_id: str = "",
        storage_location: str = "",
    ) -> ModelVersion:
        """The next version, stamped with the caller as its user_id. A models:/ source naming a
        registered version copies it, as MLflow does: the source is stored as
        ``models:/<name>/<version>``, the files are downloaded from the copied version's, and
        its run, logged model, experiment and run link are inherited unless given (and must
        agree when given)."""
        validation.check_model_name(name)
        validation.check_identifier("source", source, validation.MAX_SOURCE_LENGTH)
        validation.check_optional_line("run_id", run_id, validation.MAX_RUN_ID_LENGTH)
        tags = validation.check_tags(tags or {})
        validation.check_optional_line("run_link", run_link, validation.MAX_RUN_LINK_LENGTH)
        validation.check_description(description)
        validation.check_optional_line(
            "experiment_id", experiment_id, validation.MAX_EXPERIMENT_ID_LENGTH
        )
        validation.check_optional_line("model_id", model_id, validation.MAX_MODEL_ID_LENGTH)
        validation.check_optional_line(
            "storage_location", storage_location, validation.MAX_SOURCE_LENGTH
        )
        user_id = identity.current_caller()
        # A runs:/ source names its run: the version records it, and a run_id given must agree.
        source_run_id = sources.run_id_of(source)
        recorded_run_id = sources.agreeing_id("run_id", run_id, source_run_id, source)
        if source_run_id is not None:
            validation.check_optional_line("source", source_run_id, validation.MAX_RUN_ID_LENGTH)
        reference = sources.model_reference_of(source)

        def change(connection: Connection) -> ModelVersion:
            now = self.now()
            # Bumping the counter row both allocates the number and holds the model's lock until
            # commit: concurrent creators queue here and each gets the next number, with no gaps
            # (a rolled-back create rolls its bump back too) and no retry loop.
            allocated = _ALLOCATE_VERSION.rows(connection, {"name": name, "now": now})
            if not allocated:
                raise model_not_found(name)
            owner_id, version = allocated[0]
            # Raising rolls the bump back.
            model_access.authorize(connection, owner_id, name)
            origin = VersionOrigin(
                source, recorded_run_id, model_id, experiment_id, run_link, storage_location
            )
            if reference is not None:
                copied = resolve_model_reference(connection, reference, source)
                origin = copy_of(copied, origin)
            row = {
                "model_id": owner_id,
                "version": version,
                "creation_timestamp": now,
                "last_updated_timestamp": now,
                "user_id": user_id,
                "current_stage": Stage.NONE.value,
                "description": description,
                "source": origin.source,
                "run_id": origin.run_id,
                "run_link": origin.run_link,
                "experiment_id": origin.experiment_id,
                "status": VersionStatus.READY.value,
                "status_message": "",
                "revision": new_revision(),
                "logged_model_id": origin.model_id,
                "storage_location": origin.storage_location,
            }
            version_id = _INSERT_VERSION.rows(connection, bound_values(row))[0][0]
            insert_tags(connection, model_version_tags, "version_id", version_id, tags)
            # Built from what was written, not read back: a statement fewer in the writer's turn.
            created = inserted_version(name, row, tags)
            outbox.record(
                connection,
                EventType.MODEL_VERSION_CREATED,
                name,
                owner_id,
                version,
                after=outbox.version_fields(created),
            )
            return created

        arguments = {
            "name": name,
            "source": source,
            "run_id": run_id,
            "tags": tags,
            "run_link": run_link,
            "description": description,
            "experiment_id": experiment_id,
            "user_id": user_id,
            "model_id": model_id,
            "storage_location": storage_location,
        }
        return self.write(
            "create_model_version", request_id, arguments, idempotency.VERSION, change
        )

    def model_version_in_memory(
        self, name: str, version: int, token: Hashable | None = None
    ) -> ModelVersion | None:
        """``get_model_version(name, version)`` when memory alone answers it, found without
        waiting for anything (see ``Transactions.in_memory``); None when it does not. Only for
        callers whose access needs no per-model decision."""
        found: ModelVersion | None = self.in_memory(_version_key(name, version), token)
        return found

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        check_version_key(name, version)
        if not model_access.checks_caller():
            found = self.cached_rows(
                _version_key(name, version),
                VERSION_BY_NAME,
                {"name": name, "version": version},
                first_version,
            )
            if found is not None:
                return found
        with self.reading() as connection:
            return load_version(connection, model_id_by_name(connection, name), name, version)

    def update_model_version(
        self,
        name: str,
        version: int,
        description: str | None,
        etag: str = "",
        request_id: str = "",
    ) -> ModelVersion:
        check_version_key(name, version)
        if description is not None:
            validation.check_description(description)
        expected = validation.check_etag(etag)

        def change(connection: Connection) -> ModelVersion:
            model_id = lock_model(connection, name, changes=False)
            values = {} if description is None else {"description": description}
            before, after, _version_id = rewrite_version(
                connection, model_id, name, version, expected, self.now(), **values
            )
            if after.description != before.description:
                count_revision(connection, registered_models, model_id)
                outbox.record(
                    connection,
                    EventType.MODEL_VERSION_UPDATED,
                    name,
                    model_id,
                    version,
                    before={"description": before.description},
                    after={"description": description},
                )
            return after

        arguments = {"name": name, "version": version, "description": description, "etag": etag}
        return self.write(
            "update_model_version", request_id, arguments, idempotency.VERSION, change
        )

    def transition_model_version_stage(
        self,
        name: str,
        version: int,
        stage: str,
        archive_existing_versions: bool = False,
        etag: str = "",
        request_id: str = "",
    ) -> ModelVersion:
        check_version_key(name, version)
        target = validation.parse_stage(stage)
        if archive_existing_versions and target not in ARCHIVABLE_STAGES:
            raise InvalidArgument(
                f"archive_existing_versions is allowed only when moving to Staging or "
                f"Production, not to {target.value}",
                field="archive_existing_versions",
            )
        expected = validation.check_etag(etag)

        def change(connection: Connection) -> ModelVersion:
            return apply_transition(
                connection, name, version, target, archive_existing_versions, expected, self.now()
            )

        arguments = {
            "name": name,
            "version": version,
            "stage": stage,
            "archive_existing_versions": archive_existing_versions,
            "etag": etag,
        }
        return self.write(
            "transition_model_version_stage", request_id, arguments, idempotency.VERSION, change
        )

    def delete_model_version(
        self, name: str, version: int, etag: str = "", request_id: str = ""
    ) -> None:
        check_version_key(name, version)
        expected = validation.check_etag(etag)

        def change(connection: Connection) -> None:
            model_id = lock_model(connection, name, touched_at=self.now())
            if self.keeps_deleted():
                trash.keep_version(connection, model_id, version, self.now())
            deleted = connection.execute(
                delete(model_versions)
                .where(model_versions.c.model_id == model_id)
                .where(model_versions.c.version == version)
                .returning(model_versions.c.revision, model_versions.c.current_stage)
            ).one_or_none()
            if deleted is None:
                raise version_not_found(name, version)
            # Raising rolls the delete back.
            check_etag(expected, deleted.revision, f"model version {version} of {name!r}")
            outbox.record(
                connection,
                EventType.MODEL_VERSION_DELETED,
                name,
                model_id,
                version,
                before={"current_stage": deleted.current_stage},
            )

        arguments = {"name": name, "version": version, "etag": etag}
        self.write("delete_model_version", request_id, arguments, idempotency.NOTHING, change)

    def search_model_versions(
        self,
        filter_string: str = "",
        order_by: Sequence[str] = (),
        page_size: int = 0,
        page_token: str = "",
    ) -> Page[ModelVersion]:
        query = model_version_search(
            filter=filter_string,
            order_by=list(order_by),
            page_token=page_token,
            page_size=page_size,
        )
        with self.reading() as connection:
            statement = version_select().where(readable_by_caller(model_versions.c.model_id))
            page, token = page_rows(connection, statement, query)
            return Page(versions_from_rows(connection, page), token)

    def get_model_version_download_uri(self, name: str, version: int) -> str:
        # The registry stores locations, not files: where the files are is the source, or for a
        # logged model or a copy, the location resolved when the version was made.
        found = self.get_model_version(name, version)
        return found.storage_location or found.source


def apply_transition(
    connection: Connection,
    name: str,
    version: int,
    target: Stage,
    archive_existing_versions: bool,
    expected: int | None,
    now: int,
) -> ModelVersion:
    """Move a version to ``target`` (archiving the others there when asked) in the caller's
    transaction: TransitionModelVersionStage's change, and an approved transition request's."""
    model_id = lock_model(connection, name, changes=False)
    before, after, version_id = rewrite_version(
        connection, model_id, name, version, expected, now, current_stage=target.value
    )
    previous = before.current_stage.value
    if before.current_stage is Stage.PRODUCTION and target is not Stage.PRODUCTION:
        model_access.authorize(connection, model_id, name, leaving_production=True)
    if previous != target.value:
        _record_stage_change(connection, name, model_id, version, previous, target)
    archived = (
        _ARCHIVE_OTHERS.rows(
            connection,
            {"model_id": model_id, "stage": target.value, "kept": version_id, "now": now},
        )
        if archive_existing_versions
        else []
    )
    for (number,) in sorted(archived):
        _record_stage_change(connection, name, model_id, number, target.value, Stage.ARCHIVED)
    # A version already in the stage, with no other to archive, changed nothing: the
    # model keeps its etag and time, as the call writes no event.
    if previous != target.value or archived:
        count_revision(connection, registered_models, model_id, last_updated_timestamp=now)
    return after


def _record_stage_change(
    connection: Connection, name: str, model_id: int, version: int, previous: str, target: Stage
) -> None:
    outbox.record(
        connection,
        EventType.MODEL_VERSION_STAGE_CHANGED,
        name,
        model_id,
        version,
        before={"current_stage": previous},
        after={"current_stage": target.value},
    )


# A new version's number: the model's counter bumped, its row locked (see create_model_version).
_ALLOCATE_VERSION = DriverStatement(
    update(registered_models)
    .where(registered_models.c.name == bindparam("name"))
    .values(
        last_version=registered_models.c.last_version + 1,
        last_updated_timestamp=bindparam("now"),
        revision=registered_models.c.revision + 1,
    )
    .returning(registered_models.c.id, registered_models.c.last_version)
)


_INSERT_VERSION = DriverStatement(
    insert(model_versions)
    .values(value_parameters(column.name for column in model_versions.c if column.name != "id"))
    .returning(model_versions.c.id)
)


# archive_existing_versions: the model's other versions in the target stage, archived.
_ARCHIVE_OTHERS = DriverStatement(
    update(model_versions)
    .where(model_versions.c.model_id == bindparam("model_id"))
    .where(model_versions.c.current_stage == bindparam("stage"))
    .where(model_versions.c.id != bindparam("kept"))
    .values(
        current_stage=Stage.ARCHIVED.value,
        last_updated_timestamp=bindparam("now"),
        revision=model_versions.c.revision + 1,
    )
    .returning(model_versions.c.version)
)


def _version_key(name: str, version: int) -> tuple[str, str, int]:
    """A version in the read cache: only versions ``get_model_version`` checked are kept."""
    return ("version", name, version)
