"""Labels on models and versions: tags of either, and the aliases of a model that point at its
versions (set, delete, and resolve, now or as of a past time)."""

from __future__ import annotations

from collections.abc import Hashable

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.engine import Connection

from registry_service import validation
from registry_service.domain import EventType, ModelVersion
from registry_service.store import idempotency, model_access, outbox
from registry_service.store.history import alias_at, state_at
from registry_service.store.loading import first_version
from registry_service.store.model_rows import (
    check_version_key,
    count_revision,
    insert_tags,
    load_version,
    lock_model,
    model_id_by_name,
    resolve_alias,
    version_to_write,
)
from registry_service.store.statements import ALIASED_VERSION, VERSION_BY_ALIAS
from registry_service.store.tables import (
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
)
from registry_service.store.transactions import Transactions


class LabelOperations(Transactions):
    """Tags and aliases."""

    def set_registered_model_tag(
        self, name: str, key: str, value: str, etag: str = "", request_id: str = ""
    ) -> None:
        validation.check_model_name(name)
        validation.check_tag_key(key)
        validation.check_tag_value(value)
        expected = validation.check_etag(etag)

        def change(connection: Connection) -> None:
            model_id = lock_model(connection, name, etag=expected, changes=False)
            if _set_tag(
                connection,
                (registered_model_tags, "model_id", model_id),
                key,
                value,
                (EventType.REGISTERED_MODEL_TAG_SET, name, model_id, 0),
            ):
                count_revision(connection, registered_models, model_id)

        arguments = {"name": name, "key": key, "value": value, "etag": etag}
        self.write("set_registered_model_tag", request_id, arguments, idempotency.NOTHING, change)

    def delete_registered_model_tag(
        self, name: str, key: str, etag: str = "", request_id: str = ""
    ) -> None:
        validation.check_model_name(name)
        validation.check_tag_key(key)
        expected = validation.check_etag(etag)

        def change(connection: Connection) -> None:
            model_id = lock_model(connection, name, etag=expected, changes=False)
            deleted = connection.execute(
                delete(registered_model_tags)
                .where(registered_model_tags.c.model_id == model_id)
                .where(registered_model_tags.c.key == key)
                .returning(registered_model_tags.c.value)
            ).scalar_one_or_none()
            if deleted is not None:
                count_revision(connection, registered_models, model_id)
                outbox.record(
                    connection,
                    EventType.REGISTERED_MODEL_TAG_DELETED,
                    name,
                    model_id,
                    before={"key": key, "value": deleted},
                )

        arguments = {"name": name, "key": key, "etag": etag}
        self.write(
            "delete_registered_model_tag", request_id, arguments, idempotency.NOTHING, change
        )

    def set_model_version_tag(
        self, name: str, version: int, key: str, value: str, etag: str = "", request_id: str = ""
    ) -> None:
        check_version_key(name, version)
        validation.check_tag_key(key)
        validation.check_tag_value(value)
        expected = validation.check_etag(etag)

        def change(connection: Connection) -> None:
            model_id = lock_model(connection, name, changes=False)
            version_id = version_to_write(
                connection, model_id, name, version, expected, changes=False
            )
            if _set_tag(
                connection,
                (model_version_tags, "version_id", version_id),
                key,
                value,
                (EventType.MODEL_VERSION_TAG_SET, name, model_id, version),
            ):
                count_revision(connection, registered_models, model_id)
                count_revision(connection, model_versions, version_id)

        arguments = {"name": name, "version": version, "key": key, "value": value, "etag": etag}
        self.write("set_model_version_tag", request_id, arguments, idempotency.NOTHING, change)

    def delete_model_version_tag(
        self, name: str, version: int, key: str, etag: str = "", request_id: str = ""
    ) -> None:
        check_version_key(name, version)
        validation.check_tag_key(key)
        expected = validation.check_etag(etag)

        def change(connection: Connection) -> None:
            model_id = lock_model(connection, name, changes=False)
            version_id = version_to_write(
                connection, model_id, name, version, expected, changes=False
            )
            deleted = connection.execute(
                delete(model_version_tags)
                .where(model_version_tags.c.version_id == version_id)
                .where(model_version_tags.c.key == key)
                .returning(model_version_tags.c.value)
            ).scalar_one_or_none()
            if deleted is not None:
                count_revision(connection, registered_models, model_id)
                count_revision(connection, model_versions, version_id)
                outbox.record(
                    connection,
                    EventType.MODEL_VERSION_TAG_DELETED,
                    name,
                    model_id,
                    version,
                    before={"key": key, "value": deleted},
                )

        arguments = {"name": name, "version": version, "key": key, "etag": etag}
        self.write("delete_model_version_tag", request_id, arguments, idempotency.NOTHING, change)

    def set_registered_model_alias(
        self, name: str, alias: str, version: int, etag: str = "", request_id: str = ""
    ) -> None:
        check_version_key(name, version)
        validation.check_alias_to_set(alias)
        expected = validation.check_etag(etag)

        def change(connection: Connection) -> None:
            apply_set_alias(connection, name, alias, version, expected)

        arguments = {"name": name, "alias": alias, "version": version, "etag": etag}
        self.write("set_registered_model_alias", request_id, arguments, idempotency.NOTHING, change)

    def delete_registered_model_alias(
        self, name: str, alias: str, etag: str = "", request_id: str = ""
    ) -> None:
        validation.check_model_name(name)
        validation.check_alias_to_resolve(alias)
        expected = validation.check_etag(etag)

        def change(connection: Connection) -> None:
            apply_delete_alias(connection, name, alias, expected)

        arguments = {"name": name, "alias": alias, "etag": etag}
        self.write(
            "delete_registered_model_alias", request_id, arguments, idempotency.NOTHING, change
        )

    def model_version_by_alias_in_memory(
        self, name: str, alias: str, token: Hashable | None = None
    ) -> ModelVersion | None:
        """``get_model_version_by_alias(name, alias)`` when memory alone answers it, found
        without waiting for anything (see ``Transactions.in_memory``); None when it does not.
        Only for callers whose access needs no per-model decision."""
        found: ModelVersion | None = self.in_memory(_alias_key(name, alias), token)
        return found

    def get_model_version_by_alias(
        self, name: str, alias: str, as_of: int | None = None
    ) -> ModelVersion:
        validation.check_model_name(name)
        validation.check_alias_to_resolve(alias)
        if (
            as_of is None
            and alias.lower() != validation.LATEST_ALIAS
            and not model_access.checks_caller()
        ):
            found = self.cached_rows(
                _alias_key(name, alias),
                VERSION_BY_ALIAS,
                {"name": name, "alias": alias},
                first_version,
            )
            if found is not None:
                return found
        with self.reading() as connection:
            if as_of is not None:
                return alias_at(state_at(connection, name, as_of), name, alias)
            # The steps below tell which of model or alias is missing, and read by the model's
            # id, so that the version is the checked model's.
            model_id = model_id_by_name(connection, name)
            version = resolve_alias(connection, model_id, name, alias)
            return load_version(connection, model_id, name, version)


def _alias_key(name: str, alias: str) -> tuple[str, str, str]:
    """A version by alias in the read cache: only the aliases ``get_model_version_by_alias``
    checked are kept under it, never ``latest``."""
    return ("alias", name, alias)


def apply_set_alias(
    connection: Connection, name: str, alias: str, version: int, expected: int | None
) -> None:
    """Point ``alias`` at ``version`` in the caller's transaction: SetRegisteredModelAlias's
    change, and an approved transition request's."""
    model_id = lock_model(connection, name, etag=expected, changes=False)
    version_id = version_to_write(connection, model_id, name, version, changes=False)
    previous = connection.execute(
        ALIASED_VERSION, {"model_id": model_id, "alias": alias}
    ).scalar_one_or_none()
    if previous == version:
        return  # it points there already: no change, so no new etag and no event
    count_revision(connection, registered_models, model_id)
    # Both the version the alias leaves and the one it reaches list it, so both change.
    count_revision(connection, model_versions, version_id)
    if previous is None:
        connection.execute(
            insert(registered_model_aliases).values(model_id=model_id, alias=alias, version=version)
        )
    else:
        version_to_write(connection, model_id, name, previous)
        connection.execute(
            update(registered_model_aliases)
            .where(registered_model_aliases.c.model_id == model_id)
            .where(registered_model_aliases.c.alias == alias)
            .values(version=version)
        )
    outbox.record(
        connection,
        EventType.MODEL_VERSION_ALIAS_CREATED
        if previous is None
        else EventType.MODEL_VERSION_ALIAS_MOVED,
        name,
        model_id,
        version,
        before={} if previous is None else {"alias": alias, "version": previous},
        after={"alias": alias, "version": version},
    )


def apply_delete_alias(connection: Connection, name: str, alias: str, expected: int | None) -> None:
    """Delete ``alias`` in the caller's transaction: DeleteRegisteredModelAlias's change, and an
    approved transition request's."""
    model_id = lock_model(connection, name, etag=expected, changes=False)
    previous = _delete_alias(connection, model_id, alias)
    if previous is not None:
        count_revision(connection, registered_models, model_id)
        version_to_write(connection, model_id, name, previous)
        outbox.record(
            connection,
            EventType.MODEL_VERSION_ALIAS_DELETED,
            name,
            model_id,
            previous,
            before={"alias": alias, "version": previous},
        )


def _set_tag(
    connection: Connection,
    owner: tuple[Table, str, int],
    key: str,
    value: str,
    announce: tuple[EventType, str, int, int],
) -> bool:
    """Set a tag of ``owner`` (table, owner column, owner id) and announce it (event type, model
    name, model id, version); whether it changed, which it did not if it had the value already.
    The owner's lock is held, so read-then-write cannot race with another writer."""
    table, owner_column, owner_id = owner
    previous: str | None = connection.execute(
        select(table.c.value).where(table.c[owner_column] == owner_id).where(table.c.key == key)
    ).scalar_one_or_none()
    if previous == value:
        return False
    if previous is None:
        insert_tags(connection, table, owner_column, owner_id, {key: value})
    else:
        connection.execute(
            update(table)
            .where(table.c[owner_column] == owner_id)
            .where(table.c.key == key)
            .values(value=value)
        )
    event_type, name, model_id, version = announce
    outbox.record(
        connection,
        event_type,
        name,
        model_id,
        version,
        before={} if previous is None else {"key": key, "value": previous},
        after={"key": key, "value": value},
    )
    return True


def _delete_alias(connection: Connection, model_id: int, alias: str) -> int | None:
    """Delete an alias of the locked model; the version it pointed at, if it existed."""
    previous = connection.execute(
        delete(registered_model_aliases)
        .where(registered_model_aliases.c.model_id == model_id)
        .where(registered_model_aliases.c.alias == alias)
        .returning(registered_model_aliases.c.version)
    ).scalar_one_or_none()
    return None if previous is None else int(previous)
