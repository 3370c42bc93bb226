"""Restore after delete: deleted models and versions wait in trash tables for --deleted-retention.

A delete moves the rows into ``deleted_registered_models`` or ``deleted_model_versions``, as JSON,
in the delete's own transaction; nothing that reads the live tables sees them, so every read,
search, alias and MLflow error stays what it was without a filter in any query. A restore takes
the trash row (DELETE ... RETURNING: of two restores, or a restore and the purge, one gets it) and
re-inserts the rows in one transaction, as a change: new etags and one event. The purge removes
what outlived the window in small batches, each its own short transaction, so several replicas
may run it at once.

- A model keeps its row id through the trash (history and grants follow it; new models never get
  a deleted model's id, see model_rows.unused_model_id), and its version counter, so version
  numbers are never reused. Its grants come back with it; whether a caller may see or restore it
  is decided on the grants it had when deleted.
- A version comes back with its stage, tags and the aliases that pointed at it, except an alias
  set meanwhile on another version: that one stays where it is now.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, insert, select, tuple_
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from registry_service import identity, validation
from registry_service.defaults import DELETED_RETENTION_S
from registry_service.domain import (
    DeletedModelVersion,
    DeletedRegisteredModel,
    EventType,
    ModelVersion,
    Page,
    Permission,
    RegisteredModel,
)
from registry_service.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    Resource,
    Subject,
)
from registry_service.store import idempotency, model_access, outbox
from registry_service.store.loading import inserted_version
from registry_service.store.model_rows import (
    check_version_key,
    find_model_id,
    load_model,
    load_version,
    lock_model,
    model_id_by_name,
    new_revision,
    version_not_found,
)
from registry_service.store.tables import (
    deleted_model_versions,
    deleted_registered_models,
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_permissions,
    registered_model_tags,
    registered_models,
)
from registry_service.store.transactions import Transactions
from registry_service.validation import etag_of

# Rows one purge transaction removes: short enough never to hold a writer's lock for long.
PURGE_BATCH = 100
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def keep_model(connection: Connection, model_id: int, name: str, now: int) -> None:
    """Copy the model ``model_id`` with everything under it into the trash; call it, under the
    model's lock, just before the delete."""
    model = _row(
        connection.execute(
            select(registered_models).where(registered_models.c.id == model_id)
        ).one()
    )
    versions = connection.execute(
        select(model_versions).where(model_versions.c.model_id == model_id)
    ).all()
    version_tags = _grouped(
        connection.execute(
            select(model_version_tags).where(
                model_version_tags.c.version_id.in_([v.id for v in versions])
            )
        ).all(),
        "version_id",
    )
    payload = {
        "model": model,
        "tags": _pairs(connection, registered_model_tags, "key", "value", model_id),
        "aliases": _pairs(connection, registered_model_aliases, "alias", "version", model_id),
        "permissions": _pairs(
            connection, registered_model_permissions, "user_id", "permission", model_id
        ),
        "versions": [
            {"row": _version_row(v), "tags": version_tags.get(v.id, {})} for v in versions
        ],
    }
    connection.execute(
        insert(deleted_registered_models).values(
            model_id=model_id,
            name=name,
            deletion_timestamp=now,
            deleted_by=identity.current_caller(),
            version_count=len(versions),
            payload=json.dumps(payload),
        )
    )


def keep_version(connection: Connection, model_id: int, version: int, now: int) -> None:
    """Copy the version into the trash, if it exists; call it just before the delete (a delete
    that then fails rolls this back with it)."""
    row = connection.execute(
        select(model_versions)
        .where(model_versions.c.model_id == model_id)
        .where(model_versions.c.version == version)
    ).one_or_none()
    if row is None:
        return
    tags = _grouped(
        connection.execute(
            select(model_version_tags).where(model_version_tags.c.version_id == row.id)
        ).all(),
        "version_id",
    ).get(row.id, {})
    aliases = [
        alias
        for (alias,) in connection.execute(
            select(registered_model_aliases.c.alias)
            .where(registered_model_aliases.c.model_id == model_id)
            .where(registered_model_aliases.c.version == version)
        ).all()
    ]
    connection.execute(
        insert(deleted_model_versions).values(
            model_id=model_id,
            version=version,
            deletion_timestamp=now,
            deleted_by=identity.current_caller(),
            payload=json.dumps({"row": _version_row(row), "tags": tags, "aliases": aliases}),
        )
    )


class TrashOperations(Transactions):
    """Restore, list and purge what deletes kept."""

    # Seconds a deleted model or version stays restorable; 0: deletes are final at once. The
    # server sets it from --deleted-retention.
    deleted_retention: float = DELETED_RETENTION_S

    def keeps_deleted(self) -> bool:
        return self.deleted_retention > 0

    def restore_registered_model(
        self, name: str, new_name: str = "", request_id: str = ""
    ) -> RegisteredModel:
        """The most recently deleted model named ``name`` back, under ``new_name`` when given,
        with its versions, tags, aliases and grants."""
        validation.check_model_name(name)
        if new_name:
            validation.check_model_name(new_name, "new_name")
        target, field = (new_name, "new_name") if new_name else (name, "name")

        def change(connection: Connection) -> RegisteredModel:
            found = connection.execute(
                select(deleted_registered_models.c.model_id, deleted_registered_models.c.payload)
                .where(deleted_registered_models.c.name == name)
                .order_by(
                    deleted_registered_models.c.deletion_timestamp.desc(),
                    deleted_registered_models.c.model_id.desc(),
                )
                .limit(1)
            ).one_or_none()
            if found is None:
                raise model_access.model_not_found(name)
            payload = json.loads(found.payload)
            _authorize_deleted(payload["permissions"], name)
            # Taking the row is the claim: a concurrent restore or purge that took it first
            # leaves nothing here.
            taken = connection.execute(
                delete(deleted_registered_models)
                .where(deleted_registered_models.c.model_id == found.model_id)
                .returning(deleted_registered_models.c.model_id)
            ).one_or_none()
            if taken is None:
                raise model_access.model_not_found(name)
            if find_model_id(connection, target) is not None:
                raise _name_taken(target, field)
            model_id = found.model_id
            connection.execute(
                insert(registered_models).values(
                    {**payload["model"], "name": target, "revision": new_revision()}
                )
            )
            tags = payload["tags"]
            _insert_pairs(connection, registered_model_tags, "key", "value", model_id, tags)
            _insert_pairs(
                connection,
                registered_model_permissions,
                "user_id",
                "permission",
                model_id,
                payload["permissions"],
            )
            for version in payload["versions"]:
                _insert_version(connection, version)
            aliases = payload["aliases"]
            _insert_pairs(
                connection, registered_model_aliases, "alias", "version", model_id, aliases
            )
            outbox.record(
                connection,
                EventType.REGISTERED_MODEL_RESTORED,
                target,
                model_id,
                before={"name": name},
                after={"name": target, "version_count": len(payload["versions"])},
            )
            return load_model(connection, model_id)

        arguments = {"name": name, "new_name": new_name}
        try:
            return self.write(
                "restore_registered_model", request_id, arguments, idempotency.MODEL, change
            )
        except IntegrityError as error:
            # A model created under the name while this restore ran: it wins, nothing changed.
            raise _name_taken(target, field) from error

    def restore_model_version(self, name: str, version: int, request_id: str = "") -> ModelVersion:
        """The deleted version ``version`` of the live model ``name`` back, as it was."""
        check_version_key(name, version)

        def change(connection: Connection) -> ModelVersion:
            if find_model_id(connection, name) is None:
                _refuse_deleted_model(connection, name)
            model_id = lock_model(connection, name, touched_at=self.now())
            taken = connection.execute(
                delete(deleted_model_versions)
                .where(deleted_model_versions.c.model_id == model_id)
                .where(deleted_model_versions.c.version == version)
                .returning(deleted_model_versions.c.payload)
            ).one_or_none()
            if taken is None:
                raise version_not_found(name, version)
            payload = json.loads(taken.payload)
            _insert_version(connection, payload)
            taken_aliases = {
                alias
                for (alias,) in connection.execute(
                    select(registered_model_aliases.c.alias).where(
                        registered_model_aliases.c.model_id == model_id
                    )
                ).all()
            }
            aliases = sorted(set(payload["aliases"]) - taken_aliases)
            _insert_pairs(
                connection,
                registered_model_aliases,
                "alias",
                "version",
                model_id,
                dict.fromkeys(aliases, version),
            )
            restored = load_version(connection, model_id, name, version)
            outbox.record(
                connection,
                EventType.MODEL_VERSION_RESTORED,
                name,
                model_id,
                version,
                after={
                    **outbox.version_fields(restored),
                    "last_updated_timestamp": restored.last_updated_timestamp,
                    "aliases": aliases,
                },
            )
            return restored

        arguments = {"name": name, "version": version}
        return self.write(
            "restore_model_version", request_id, arguments, idempotency.VERSION, change
        )

    def list_deleted_registered_models(
        self, page_size: int = 0, page_token: str = ""
    ) -> Page[DeletedRegisteredModel]:
        """Deleted models still restorable, most recently deleted first, of those the caller
        could read when they were deleted."""
        size = _page_size(page_size)
        after = _token(page_token)
        caller = identity.current_access()
        found: list[tuple[tuple[int, int], DeletedRegisteredModel]] = []
        table = deleted_registered_models
        with self.reading() as connection:
            while len(found) <= size:
                statement = (
                    select(table)
                    .order_by(table.c.deletion_timestamp.desc(), table.c.model_id.desc())
                    .limit(size + 1)
                )
                if after is not None:
                    statement = statement.where(
                        tuple_(table.c.deletion_timestamp, table.c.model_id) < tuple_(*after)
                    )
                rows = connection.execute(statement).all()
                for row in rows:
                    payload = json.loads(row.payload)
                    after = (row.deletion_timestamp, row.model_id)
                    if caller.reads_every_model or _level(payload["permissions"]) is not None:
                        found.append((after, self._deleted_model(row, payload)))
                if len(rows) <= size:
                    break
        token = "" if len(found) <= size else "{}:{}".format(*found[size - 1][0])
        return Page([model for _key, model in found[:size]], token)

    def list_deleted_model_versions(self, name: str) -> list[DeletedModelVersion]:
        """The deleted versions of the live model ``name`` still restorable, newest first."""
        validation.check_model_name(name)
        with self.reading() as connection:
            model_id = model_id_by_name(connection, name)
            rows = connection.execute(
                select(deleted_model_versions)
                .where(deleted_model_versions.c.model_id == model_id)
                .order_by(deleted_model_versions.c.version.desc())
            ).all()
        return [self._deleted_version(name, row) for row in rows]

    def purge_deleted(self, batch: int = PURGE_BATCH) -> int:
        """Remove for good what was deleted before the window, at most ``batch`` rows a
        transaction (a model's versions deleted before it go with it); returns how many models
        and versions went. Safe to run from several replicas at once: each batch deletes by key
        what is still there."""
        cutoff = self.now() - round(self.deleted_retention * 1000)
        purged = 0
        for table in (deleted_model_versions, deleted_registered_models):
            keys = [table.c.model_id, *([table.c.version] if "version" in table.c else [])]
            while True:
                # Found in a read, removed in a short write that checks the window again: with
                # nothing due, the purge never takes a writer's lock.
                with self.reading() as connection:
                    due = connection.execute(
                        select(*keys)
                        .where(table.c.deletion_timestamp < cutoff)
                        .order_by(table.c.deletion_timestamp)
                        .limit(batch)
                    ).all()
                if not due:
                    break
                with self.writing() as connection:
                    gone = connection.execute(
                        delete(table)
                        .where(tuple_(*keys).in_([tuple(row) for row in due]))
                        .where(table.c.deletion_timestamp < cutoff)
                        .returning(table.c.model_id)
                    ).all()
                    if table is deleted_registered_models and gone:
                        # The versions deleted before their model go with it (only the models
                        # this batch removed: one restored meanwhile keeps them).
                        connection.execute(
                            delete(deleted_model_versions).where(
                                deleted_model_versions.c.model_id.in_([row[0] for row in gone])
                            )
                        )
                purged += len(gone)
                if len(due) < batch:
                    break
        return purged

    def _deleted_model(self, row: Any, payload: dict[str, Any]) -> DeletedRegisteredModel:
        model = payload["model"]
        return DeletedRegisteredModel(
            model=RegisteredModel(
                name=row.name,
                creation_timestamp=model["creation_timestamp"],
                last_updated_timestamp=model["last_updated_timestamp"],
                user_id=model["user_id"],
                description=model["description"],
                etag=etag_of(model["revision"]),
                tags=dict(sorted(payload["tags"].items())),
                aliases=dict(sorted(payload["aliases"].items())),
            ),
            deletion_timestamp=row.deletion_timestamp,
            deleted_by=row.deleted_by,
            version_count=row.version_count,
            purge_timestamp=self._purge_at(row.deletion_timestamp),
        )

    def _deleted_version(self, name: str, row: Any) -> DeletedModelVersion:
        payload = json.loads(row.payload)
        version = inserted_version(name, payload["row"], payload["tags"])
        version.aliases = sorted(payload["aliases"])
        version.etag = etag_of(payload["row"]["revision"])
        return DeletedModelVersion(
            version=version,
            deletion_timestamp=row.deletion_timestamp,
            deleted_by=row.deleted_by,
            purge_timestamp=self._purge_at(row.deletion_timestamp),
        )

    def _purge_at(self, deleted_at: int) -> int:
        return deleted_at + round(self.deleted_retention * 1000)


def _row(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


def _version_row(row: Any) -> dict[str, Any]:
    values = _row(row)
    del values["id"]
    return values


def _grouped(rows: Any, owner: str) -> dict[int, dict[str, str]]:
    grouped: dict[int, dict[str, str]] = {}
    for row in rows:
        grouped.setdefault(getattr(row, owner), {})[row.key] = row.value
    return grouped


def _pairs(
    connection: Connection, table: Any, key: str, value: str, model_id: int
) -> dict[str, Any]:
    return {
        row[0]: row[1]
        for row in connection.execute(
            select(table.c[key], table.c[value]).where(table.c.model_id == model_id)
        ).all()
    }


def _insert_pairs(
    connection: Connection, table: Any, key: str, value: str, model_id: int, pairs: dict[str, Any]
) -> None:
    if pairs:
        connection.execute(
            insert(table), [{"model_id": model_id, key: k, value: v} for k, v in pairs.items()]
        )


def _insert_version(connection: Connection, kept: dict[str, Any]) -> None:
    version_id = connection.execute(
        insert(model_versions)
        .values({**kept["row"], "revision": new_revision()})
        .returning(model_versions.c.id)
    ).scalar_one()
    if kept["tags"]:
        connection.execute(
            insert(model_version_tags),
            [{"version_id": version_id, "key": k, "value": v} for k, v in kept["tags"].items()],
        )


def _level(permissions: dict[str, str]) -> Permission | None:
    """The caller's level on a deleted model: its grant then, or the default level."""
    caller = identity.current_access()
    granted = permissions.get(caller.user_id)
    levels = [
        level
        for level in (None if granted is None else Permission[granted], caller.default_level)
        if level is not None
    ]
    return max(levels) if levels else None


def _authorize_deleted(permissions: dict[str, str], name: str) -> None:
    """What model_access.authorize decides for a live model, on the grants the deleted model had:
    no READ is NotFound, below what the call needs is PermissionDenied."""
    caller = identity.current_access()
    if caller.admin:
        return
    level = _level(permissions)
    if level is None:
        raise model_access.model_not_found(name)
    requirement = caller.requirement
    needed = Permission.READ if requirement is None else requirement.level
    if level < needed:
        doing = "this call" if requirement is None else requirement.rpc
        raise PermissionDenied(
            f"{doing} on deleted registered model {name!r} needs {needed.name} permission; "
            f"you have {level.name}"
        )


def _refuse_deleted_model(connection: Connection, name: str) -> None:
    """Restoring a version of a model that is not live: FailedPrecondition when the model is in
    the trash (and the caller could read it), else the NotFound of a missing model."""
    kept = connection.execute(
        select(deleted_registered_models.c.payload)
        .where(deleted_registered_models.c.name == name)
        .order_by(deleted_registered_models.c.deletion_timestamp.desc())
        .limit(1)
    ).scalar_one_or_none()
    if kept is not None:
        caller = identity.current_access()
        if caller.reads_every_model or _level(json.loads(kept)["permissions"]) is not None:
            raise FailedPrecondition(
                f"registered model {name!r} is deleted; restore the model first",
                field="name",
            )
    raise model_access.model_not_found(name)


def _name_taken(name: str, field: str) -> AlreadyExists:
    return AlreadyExists(
        f"registered model {name!r} already exists",
        field=field,
        subject=Subject(Resource.REGISTERED_MODEL, name),
    )


def _page_size(page_size: int) -> int:
    if page_size < 0:
        raise InvalidArgument(f"page_size must not be negative, got {page_size}", field="page_size")
    return min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _token(token: str) -> tuple[int, int] | None:
    if not token:
        return None
    try:
        deleted_at, model_id = (int(part) for part in token.split(":"))
    except ValueError:
        raise InvalidArgument(
            "page_token is not a token this call returned", field="page_token"
        ) from None
    return deleted_at, model_id
