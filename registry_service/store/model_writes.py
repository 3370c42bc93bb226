"""Registered models: create, read, rename, update, delete, search, and their latest versions."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from registry_service import identity, validation
from registry_service.domain import (
    EventType,
    ModelVersion,
    Page,
    Permission,
    RegisteredModel,
    Stage,
)
from registry_service.errors import AlreadyExists, RegistryError, Resource, Subject
from registry_service.store import idempotency, model_access, outbox, trash
from registry_service.store.history import state_at
from registry_service.store.loading import (
    labelled_versions,
    latest_by_name_statement,
    latest_versions,
    models_from_rows,
)
from registry_service.store.model_rows import (
    count_revision,
    insert_tags,
    load_model,
    lock_model,
    model_id_by_name,
    new_revision,
    page_rows,
    readable_by_caller,
    unused_model_id,
)
from registry_service.store.search_columns import registered_model_search
from registry_service.store.tables import (
    registered_model_permissions,
    registered_model_tags,
    registered_models,
)


class RegisteredModelOperations(trash.TrashOperations):
    """The operations on registered models themselves."""

    def create_registered_model(
        self,
        name: str,
        tags: dict[str, str] | None = None,
        description: str = "",
        request_id: str = "",
    ) -> RegisteredModel:
        """The model, stamped with the caller as its user_id; an authenticated creator gets
        MANAGE on it in the same transaction."""
        validation.check_model_name(name)
        tags = validation.check_tags(tags or {})
        validation.check_description(description)
        user_id = identity.current_caller()

        def change(connection: Connection) -> RegisteredModel:
            now = self.now()
            model_id = connection.execute(
                insert(registered_models)
                .values(
                    **unused_model_id(connection),
                    name=name,
                    creation_timestamp=now,
                    last_updated_timestamp=now,
                    user_id=user_id,
                    description=description,
                    last_version=0,
                    revision=new_revision(),
                )
                .returning(registered_models.c.id)
            ).scalar_one()
            insert_tags(connection, registered_model_tags, "model_id", model_id, tags)
            if user_id:
                connection.execute(
                    insert(registered_model_permissions).values(
                        model_id=model_id, user_id=user_id, permission=Permission.MANAGE.name
                    )
                )
            outbox.record(
                connection,
                EventType.REGISTERED_MODEL_CREATED,
                name,
                model_id,
                after={"name": name, "description": description, "tags": tags},
            )
            return load_model(connection, model_id)

        arguments = {"name": name, "tags": tags, "description": description, "user_id": user_id}
        try:
            return self.write(
                "create_registered_model", request_id, arguments, idempotency.MODEL, change
            )
        except IntegrityError as error:
            raise model_name_taken(name, "name") from error

    def get_registered_model(self, name: str) -> RegisteredModel:
        validation.check_model_name(name)

        def load() -> RegisteredModel:
            with self.reading() as connection:
                return load_model(connection, model_id_by_name(connection, name))

        if model_access.checks_caller():
            return load()
        found = self.cached(_model_key(name), load)
        assert found is not None
        return found

    def registered_model_in_memory(
        self, name: str, token: Hashable | None = None
    ) -> RegisteredModel | None:
        """``get_registered_model(name)`` when memory alone answers it, found without waiting
        for anything (see ``Transactions.in_memory``); None when it does not. Only for callers
        whose access needs no per-model decision."""
        found: RegisteredModel | None = self.in_memory(_model_key(name), token)
        return found

    def rename_registered_model(
        self, name: str, new_name: str, etag: str = "", request_id: str = ""
    ) -> RegisteredModel:
        validation.check_model_name(name)
        validation.check_model_name(new_name, "new_name")
        expected = validation.check_etag(etag)

        def change(connection: Connection) -> RegisteredModel:
            model_id = lock_model(connection, name, etag=expected, changes=False)
            if new_name != name:
                count_revision(
                    connection,
                    registered_models,
                    model_id,
                    name=new_name,
                    last_updated_timestamp=self.now(),
                )
                outbox.record(
                    connection,
                    EventType.REGISTERED_MODEL_RENAMED,
                    new_name,
                    model_id,
                    before={"name": name},
                    after={"name": new_name},
                )
            return load_model(connection, model_id)

        arguments = {"name": name, "new_name": new_name, "etag": etag}
        try:
            return self.write(
                "rename_registered_model", request_id, arguments, idempotency.MODEL, change
            )
        except IntegrityError as error:
            raise model_name_taken(new_name, "new_name") from error

    def update_registered_model(
        self, name: str, description: str | None, etag: str = "", request_id: str = ""
    ) -> RegisteredModel:
        validation.check_model_name(name)
        if description is not None:
            validation.check_description(description)
        expected = validation.check_etag(etag)

        def change(connection: Connection) -> RegisteredModel:
            model_id = lock_model(connection, name, etag=expected, changes=False)
            previous = _column_of(connection, registered_models, model_id, "description")
            if description is not None and description != previous:
                count_revision(
                    connection,
                    registered_models,
                    model_id,
                    description=description,
                    last_updated_timestamp=self.now(),
                )
                outbox.record(
                    connection,
                    EventType.REGISTERED_MODEL_UPDATED,
                    name,
                    model_id,
                    before={"description": previous},
                    after={"description": description},
                )
            return load_model(connection, model_id)

        arguments = {"name": name, "description": description, "etag": etag}
        return self.write(
            "update_registered_model", request_id, arguments, idempotency.MODEL, change
        )

    def delete_registered_model(self, name: str, etag: str = "", request_id: str = "") -> None:
        validation.check_model_name(name)
        expected = validation.check_etag(etag)

        def change(connection: Connection) -> None:
            model_id = lock_model(connection, name, etag=expected, changes=False)
            if self.keeps_deleted():
                trash.keep_model(connection, model_id, name, self.now())
            connection.execute(delete(registered_models).where(registered_models.c.id == model_id))
            outbox.record(
                connection,
                EventType.REGISTERED_MODEL_DELETED,
                name,
                model_id,
                before={"name": name},
            )

        arguments = {"name": name, "etag": etag}
        self.write("delete_registered_model", request_id, arguments, idempotency.NOTHING, change)

    def search_registered_models(
        self,
        filter_string: str = "",
        order_by: Sequence[str] = (),
        page_size: int = 0,
        page_token: str = "",
    ) -> Page[RegisteredModel]:
        query = registered_model_search(
            filter=filter_string,
            order_by=list(order_by),
            page_token=page_token,
            page_size=page_size,
        )
        with self.reading() as connection:
            statement = select(registered_models).where(readable_by_caller(registered_models.c.id))
            page, token = page_rows(connection, statement, query)
            return Page(models_from_rows(connection, page), token)

    def get_latest_versions(
        self, name: str, stages: Sequence[str] = (), as_of: int | None = None
    ) -> list[ModelVersion]:
        """The highest version in each stage, now or (``as_of``, epoch milliseconds) as the
        event history says it was then."""
        validation.check_model_name(name)
        wanted = validation.parse_stages(list(stages)) or list(Stage)
        in_wanted = set(wanted)
        found: list[ModelVersion] = []
        if as_of is None:
            if not model_access.checks_caller():
                statement = latest_by_name_statement(self.engine.dialect.name, wanted)
                # None (nothing kept) when there are none: the model may be missing.
                found = (
                    self.cached_rows(
                        _latest_key(name, wanted),
                        statement,
                        {"name": name},
                        lambda rows: labelled_versions(rows) or None,
                    )
                    or []
                )
            if not found:
                # The model's id first: NotFound when it is missing or hidden from the caller;
                # then its versions by that id, so that they are the checked model's.
                with self.reading() as connection:
                    model_id = model_id_by_name(connection, name)
                    found = latest_versions(connection, [model_id], wanted).get(model_id, [])
        else:
            with self.reading() as connection:
                state = state_at(connection, name, as_of)
            highest: dict[Stage, int] = {}
            for number, version in state.versions.items():
                if version.current_stage in in_wanted:
                    stage = version.current_stage
                    highest[stage] = max(highest.get(stage, 0), number)
            found = [state.version_with_aliases(number) for number in highest.values()]
        return _in_stage_order(found, wanted)

    def latest_versions_in_memory(
        self, name: str, stages: Sequence[str] = (), token: Hashable | None = None
    ) -> list[ModelVersion] | None:
        """``get_latest_versions(name, stages)`` when memory alone answers it, found without
        waiting for anything (see ``Transactions.in_memory``); None when it does not (stages
        that do not parse included: the read says what is wrong with them). Only for callers
        whose access needs no per-model decision."""
        try:
            wanted = validation.parse_stages(list(stages)) or list(Stage)
        except RegistryError:
            return None
        found: list[ModelVersion] | None = self.in_memory(_latest_key(name, wanted), token)
        return None if found is None else _in_stage_order(found, wanted)


def _column_of(connection: Connection, table: Table, row_id: int, column: str) -> Any:
    return connection.execute(select(table.c[column]).where(table.c.id == row_id)).scalar_one()


def model_name_taken(name: str, field: str) -> AlreadyExists:
    """The error for creating, renaming or importing a model under a name another model has."""
    return AlreadyExists(
        f"registered model {name!r} already exists",
        field=field,
        subject=Subject(Resource.REGISTERED_MODEL, name),
    )


def _model_key(name: str) -> tuple[str, str]:
    """A model in the read cache: only models ``get_registered_model`` checked are kept."""
    return ("model", name)


def _latest_key(name: str, stages: Sequence[Stage]) -> tuple[object, ...]:
    """A model's latest versions in ``stages`` in the read cache: only those of models that
    ``get_latest_versions`` checked and found versions of are kept."""
    return ("latest", name, *stages)


def _in_stage_order(
    versions: Sequence[ModelVersion], stages: Sequence[Stage]
) -> list[ModelVersion]:
    """``versions`` in the order of ``stages``, the order GetLatestVersions answers in."""
    order = {stage: position for position, stage in enumerate(stages)}
    return sorted(versions, key=lambda version: order[version.current_stage])
