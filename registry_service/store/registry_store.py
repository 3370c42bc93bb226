"""The registry's operations on a SQL database: one method per operation, one transaction each.

Every method validates its input before touching the database, so a rejected call changes nothing.
Mutations of anything under a model first lock that model's row; with one lock order everywhere,
concurrent writers queue instead of deadlocking, and multi-row invariants (one Production version
after an archiving transition) hold under concurrency on PostgreSQL as well as on SQLite.

Every write takes an optional ``request_id`` (a retry with the same id returns the first result and
changes nothing, see ``idempotency``) and, where it targets an existing model or version, an
optional ``etag``: the resource's revision as the caller last read it, checked under the lock so
that a write based on a stale read fails with Aborted instead of overwriting someone else's change.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from registry_service import identity, sources, validation
from registry_service.defaults import DATABASE_TIMEOUT_S, IDEMPOTENCY_WINDOW_S
from registry_service.domain import (
    ConflictPolicy,
    DeliveryStatus,
    Event,
    EventType,
    ImportOutcome,
    ImportResult,
    ModelVersion,
    Page,
    Permission,
    RegisteredModel,
    Stage,
    VersionStatus,
    Webhook,
    WebhookDelivery,
)
from registry_service.errors import Aborted, AlreadyExists, InvalidArgument, NotFound, Unavailable
from registry_service.identity import current_caller
from registry_service.search import SearchQuery, effective_page_size
from registry_service.store import idempotency, model_access, outbox, webhook_rows
from registry_service.store.driver_sql import (
    DriverConnection,
    DriverStatement,
    bound_values,
    value_parameters,
)
from registry_service.store.engine import (
    WRITE_TRANSACTION,
    LoneReads,
    bounded_statement,
    bounded_transaction,
    first_line,
    holding,
    is_sqlite,
)
from registry_service.store.loading import (
    REVISION_COLUMN,
    inserted_version,
    labelled,
    labelled_versions,
    latest_by_name_statement,
    latest_versions,
    models_from_rows,
    version_select,
    versions_from_rows,
    with_columns,
)
from registry_service.store.model_access import model_not_found
from registry_service.store.search_columns import model_version_search, registered_model_search
from registry_service.store.tables import (
    events,
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_permissions,
    registered_model_tags,
    registered_models,
)
from registry_service.store.writer_lock import writer_lock

# The stages whose previous occupants archive_existing_versions may move to Archived.
ARCHIVABLE_STAGES = (Stage.STAGING, Stage.PRODUCTION)
# How often an import races another writer for a name before it reports the name as taken.
IMPORT_ATTEMPTS = 3
# What a renamed import appends to the name, before the number that makes it free.
IMPORT_SUFFIX = "-imported"
# New rows start their revision at a random number below this, so that a model deleted and created
# again under the same name never repeats an etag its predecessor had.
_REVISION_START_BOUND = 2**62

T = TypeVar("T")


def now_millis() -> int:
    return time.time_ns() // 1_000_000


class RegistryStore:
    """Registered models and their versions, stored through SQLAlchemy on SQLite or PostgreSQL."""

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], int] = now_millis,
        *,
        timeout: float = DATABASE_TIMEOUT_S,
        idempotency_window: float = IDEMPOTENCY_WINDOW_S,
    ) -> None:
        self._engine = engine
        self._clock = clock
        # SQLite admits one writer at a time. Queueing writers on a lock shared by every process
        # on the file is cheaper and fairer than SQLite's sleep-and-retry busy handler.
        self._write_lock = writer_lock(engine.url) if is_sqlite(engine) else None
        # Seconds a writer waits for its turn on that lock, like every other wait for the database.
        self._timeout = timeout
        self._idempotency_window_ms = round(idempotency_window * 1000)
        self._lone_reads = LoneReads(engine)

    @property
    def engine(self) -> Engine:
        return self._engine

    # -- transactions ------------------------------------------------------------------------

    # Transactions are bounded by the deadline of the call they serve (see engine.call_bounds).

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        with (
            _database_errors_as_unavailable(),
            self._engine.connect() as connection,
            bounded_transaction(connection),
        ):
            yield connection

    def _read_alone(
        self, statement: DriverStatement, parameters: Mapping[str, object]
    ) -> Sequence[Any]:
        """The rows of a read that is one statement, run on its own: no BEGIN and COMMIT, and
        on PostgreSQL one round trip (see ``DriverStatement.rows_alone``), and outside
        SQLAlchemy's pool (see ``LoneReads``)."""
        with _database_errors_as_unavailable():
            if self._lone_reads.usable():
                with self._lone_reads.bounded() as (connection, timeout_ms):
                    return statement.rows_alone(connection, parameters, timeout_ms)
            with self._engine.connect() as pooled:
                connection = DriverConnection.around(pooled)
                with bounded_statement(connection) as timeout_ms:
                    return statement.rows_alone(connection, parameters, timeout_ms)

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        with (
            _database_errors_as_unavailable(),
            holding(self._write_lock, self._timeout),
            self._engine.connect() as connection,
        ):
            connection.execution_options(**{WRITE_TRANSACTION: True})
            with bounded_transaction(connection):
                yield connection

    # The access store (tokens, permissions) runs its work in these same transactions.
    reading = _reading
    writing = _writing

    def _write(
        self,
        operation: str,
        request_id: str,
        arguments: Mapping[str, object],
        codec: idempotency.Codec[T],
        change: Callable[[Connection], T],
    ) -> T:
        """Run ``change`` in one write transaction. With a request_id the id is claimed and the
        result remembered in that same transaction, or the remembered result of an earlier call
        with the id is returned and nothing changes."""
        # The caller is part of the request: another caller's replay of a request_id must not be
        # answered with a result made under someone else's permissions.
        request = idempotency.request_of(
            operation, request_id, {**arguments, "caller": current_caller()}
        )
        with self._writing() as connection:
            try:
                if request is not None:
                    replay = idempotency.claim(
                        connection, request, codec, self._clock(), self._idempotency_window_ms
                    )
                    if replay is not None:
                        return replay.result
                result = change(connection)
                if request is not None:
                    idempotency.remember(connection, request, codec, result)
                # Last, so that the event counter's row lock orders commits (see outbox).
                outbox.flush(connection, self._clock(), current_caller())
                return result
            finally:
                outbox.discard(connection)

    # -- registered models -------------------------------------------------------------------

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
            now = self._clock()
            model_id = connection.execute(
                insert(registered_models)
                .values(
                    **_unused_model_id(connection),
                    name=name,
                    creation_timestamp=now,
                    last_updated_timestamp=now,
                    user_id=user_id,
                    description=description,
                    last_version=0,
                    revision=_new_revision(),
                )
                .returning(registered_models.c.id)
            ).scalar_one()
            _insert_tags(connection, registered_model_tags, "model_id", model_id, tags)
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
            return self._load_model(connection, model_id)

        arguments = {"name": name, "tags": tags, "description": description, "user_id": user_id}
        try:
            return self._write(
                "create_registered_model", request_id, arguments, idempotency.MODEL, change
            )
        except IntegrityError as error:
            raise AlreadyExists(
                f"registered model {name!r} already exists", field="name"
            ) from error

    def get_registered_model(self, name: str) -> RegisteredModel:
        validation.check_model_name(name)
        with self._reading() as connection:
            return self._load_model(connection, model_id_by_name(connection, name))

    def rename_registered_model(
        self, name: str, new_name: str, etag: str = "", request_id: str = ""
    ) -> RegisteredModel:
        validation.check_model_name(name)
        validation.check_model_name(new_name, "new_name")
        expected = validation.check_etag(etag)

        def change(connection: Connection) -> RegisteredModel:
            model_id = _lock_model(
                connection, name, touched_at=self._clock(), etag=expected, values={"name": new_name}
            )
            if new_name != name:
                outbox.record(
                    connection,
                    EventType.REGISTERED_MODEL_RENAMED,
                    new_name,
                    model_id,
                    before={"name": name},
                    after={"name": new_name},
                )
            return self._load_model(connection, model_id)

        arguments = {"name": name, "new_name": new_name, "etag": etag}
        try:
            return self._write(
                "rename_registered_model", request_id, arguments, idempotency.MODEL, change
            )
        except IntegrityError as error:
            raise AlreadyExists(
                f"registered model {new_name!r} already exists", field="new_name"
            ) from error

    def update_registered_model(
        self, name: str, description: str | None, etag: str = "", request_id: str = ""
    ) -> RegisteredModel:
        validation.check_model_name(name)
        if description is not None:
            validation.check_description(description)
        expected = validation.check_etag(etag)

        def change(connection: Connection) -> RegisteredModel:
            model_id = _lock_model(connection, name, etag=expected, changes=False)
            values = {} if description is None else {"description": description}
            previous = _column_of(connection, registered_models, model_id, "description")
            _count_revision(
                connection,
                registered_models,
                model_id,
                last_updated_timestamp=self._clock(),
                **values,
            )
            if description is not None and description != previous:
                outbox.record(
                    connection,
                    EventType.REGISTERED_MODEL_UPDATED,
                    name,
                    model_id,
                    before={"description": previous},
                    after={"description": description},
                )
            return self._load_model(connection, model_id)

        arguments = {"name": name, "description": description, "etag": etag}
        return self._write(
            "update_registered_model", request_id, arguments, idempotency.MODEL, change
        )

    def delete_registered_model(self, name: str, etag: str = "", request_id: str = "") -> None:
        validation.check_model_name(name)
        expected = validation.check_etag(etag)

        def change(connection: Connection) -> None:
            model_id = _lock_model(connection, name, etag=expected, changes=False)
            connection.execute(delete(registered_models).where(registered_models.c.id == model_id))
            outbox.record(
                connection,
                EventType.REGISTERED_MODEL_DELETED,
                name,
                model_id,
                before={"name": name},
            )

        arguments = {"name": name, "etag": etag}
        self._write("delete_registered_model", request_id, arguments, idempotency.NOTHING, change)

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
        with self._reading() as connection:
            statement = select(registered_models).where(readable_by_caller(registered_models.c.id))
            page, token = _page_rows(connection, statement, query)
            return Page(models_from_rows(connection, page), token)

    def get_latest_versions(
        self, name: str, stages: Sequence[str] = (), as_of: int | None = None
    ) -> list[ModelVersion]:
        """The highest version in each stage, now or (``as_of``, epoch milliseconds) as the
        event history says it was then."""
        validation.check_model_name(name)
        wanted = validation.parse_stages(list(stages)) or list(Stage)
        order = {stage: position for position, stage in enumerate(wanted)}
        found: list[ModelVersion] = []
        if as_of is None:
            if not model_access.checks_caller():
                statement = latest_by_name_statement(self._engine.dialect.name, wanted)
                found = labelled_versions(self._read_alone(statement, {"name": name}))
            if not found:
                # The model's id first: NotFound when it is missing or hidden from the caller;
                # then its versions by that id, so that they are the checked model's.
                with self._reading() as connection:
                    model_id = model_id_by_name(connection, name)
                    found = latest_versions(connection, [model_id], wanted).get(model_id, [])
        else:
            with self._reading() as connection:
                state = _state_at(connection, name, as_of)
            highest: dict[Stage, int] = {}
            for number, version in state.versions.items():
                if version.current_stage in order:
                    stage = version.current_stage
                    highest[stage] = max(highest.get(stage, 0), number)
            found = [state.version_with_aliases(number) for number in highest.values()]
        return sorted(found, key=lambda v: order[v.current_stage])

    # -- model versions ----------------------------------------------------------------------

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
        recorded_run_id = _run_id_agreeing_with_source(source, run_id)
        reference = sources.model_reference_of(source)

        def change(connection: Connection) -> ModelVersion:
            now = self._clock()
            # Bumping the counter row both allocates the number and holds the model's lock until
            # commit: concurrent creators queue here and each gets the next number, with no gaps
            # (a rolled-back create rolls its bump back too) and no retry loop.
            allocated = _ALLOCATE_VERSION.rows(connection, {"name": name, "now": now})
            if not allocated:
                raise model_not_found(name)
            owner_id, version = allocated[0]
            # Raising rolls the bump back.
            model_access.authorize(connection, owner_id, name)
            origin = _Origin(
                source, recorded_run_id, model_id, experiment_id, run_link, storage_location
            )
            if reference is not None:
                copied = _resolve_model_reference(connection, reference, source)
                origin = _copy_of(copied, origin)
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
                "revision": _new_revision(),
                "logged_model_id": origin.model_id,
                "storage_location": origin.storage_location,
            }
            version_id = _INSERT_VERSION.rows(connection, bound_values(row))[0][0]
            _insert_tags(connection, model_version_tags, "version_id", version_id, tags)
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
        return self._write(
            "create_model_version", request_id, arguments, idempotency.VERSION, change
        )

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        _check_version_key(name, version)
        if not model_access.checks_caller():
            rows = self._read_alone(_VERSION_BY_NAME, {"name": name, "version": version})
            if rows:
                return labelled_versions(rows)[0]
        with self._reading() as connection:
            return _load_version(connection, model_id_by_name(connection, name), name, version)

    def update_model_version(
        self,
        name: str,
        version: int,
        description: str | None,
        etag: str = "",
        request_id: str = "",
    ) -> ModelVersion:
        _check_version_key(name, version)
        if description is not None:
            validation.check_description(description)
        expected = validation.check_etag(etag)

        def change(connection: Connection) -> ModelVersion:
            model_id = _lock_model(connection, name)
            values: dict[str, Any] = (
                {}
                if description is None
                else {"description": description, "last_updated_timestamp": self._clock()}
            )
            before, after, _version_id = _rewrite_version(
                connection, model_id, name, version, expected, **values
            )
            if description is not None and description != before.description:
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
        return self._write(
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
        _check_version_key(name, version)
        target = validation.parse_stage(stage)
        if archive_existing_versions and target not in ARCHIVABLE_STAGES:
            raise InvalidArgument(
                f"archive_existing_versions is allowed only when moving to Staging or "
                f"Production, not to {target.value}",
                field="archive_existing_versions",
            )
        expected = validation.check_etag(etag)

        def change(connection: Connection) -> ModelVersion:
            now = self._clock()
            model_id = _lock_model(connection, name, touched_at=now)
            before, after, version_id = _rewrite_version(
                connection,
                model_id,
                name,
                version,
                expected,
                current_stage=target.value,
                last_updated_timestamp=now,
            )
            previous = before.current_stage.value
            if before.current_stage is Stage.PRODUCTION and target is not Stage.PRODUCTION:
                model_access.authorize(connection, model_id, name, leaving_production=True)
            if previous != target.value:
                _record_stage_change(connection, name, model_id, version, previous, target)
            if archive_existing_versions:
                archived = _ARCHIVE_OTHERS.rows(
                    connection,
                    {"model_id": model_id, "stage": target.value, "kept": version_id, "now": now},
                )
                for (number,) in sorted(archived):
                    _record_stage_change(
                        connection, name, model_id, number, target.value, Stage.ARCHIVED
                    )
            return after

        arguments = {
            "name": name,
            "version": version,
            "stage": stage,
            "archive_existing_versions": archive_existing_versions,
            "etag": etag,
        }
        return self._write(
            "transition_model_version_stage", request_id, arguments, idempotency.VERSION, change
        )

    def delete_model_version(
        self, name: str, version: int, etag: str = "", request_id: str = ""
    ) -> None:
        _check_version_key(name, version)
        expected = validation.check_etag(etag)

        def change(connection: Connection) -> None:
            model_id = _lock_model(connection, name, touched_at=self._clock())
            deleted = connection.execute(
                delete(model_versions)
                .where(model_versions.c.model_id == model_id)
                .where(model_versions.c.version == version)
                .returning(model_versions.c.revision, model_versions.c.current_stage)
            ).one_or_none()
            if deleted is None:
                raise _version_not_found(name, version)
            # Raising rolls the delete back.
            _check_etag(expected, deleted.revision, f"model version {version} of {name!r}")
            outbox.record(
                connection,
                EventType.MODEL_VERSION_DELETED,
                name,
                model_id,
                version,
                before={"current_stage": deleted.current_stage},
            )

        arguments = {"name": name, "version": version, "etag": etag}
        self._write("delete_model_version", request_id, arguments, idempotency.NOTHING, change)

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
        with self._reading() as connection:
            statement = version_select().where(readable_by_caller(model_versions.c.model_id))
            page, token = _page_rows(connection, statement, query)
            return Page(versions_from_rows(connection, page), token)

    def get_model_version_download_uri(self, name: str, version: int) -> str:
        # The registry stores locations, not files: where the files are is the source, or for a
        # logged model or a copy, the location resolved when the version was made.
        found = self.get_model_version(name, version)
        return found.storage_location or found.source

    # -- tags --------------------------------------------------------------------------------

    def set_registered_model_tag(
        self, name: str, key: str, value: str, etag: str = "", request_id: str = ""
    ) -> None:
        validation.check_model_name(name)
        validation.check_tag_key(key)
        validation.check_tag_value(value)
        expected = validation.check_etag(etag)

        def change(connection: Connection) -> None:
            model_id = _lock_model(connection, name, etag=expected)
            _set_tag(
                connection,
                (registered_model_tags, "model_id", model_id),
                key,
                value,
                (EventType.REGISTERED_MODEL_TAG_SET, name, model_id, 0),
            )

        arguments = {"name": name, "key": key, "value": value, "etag": etag}
        self._write("set_registered_model_tag", request_id, arguments, idempotency.NOTHING, change)

    def delete_registered_model_tag(
        self, name: str, key: str, etag: str = "", request_id: str = ""
    ) -> None:
        validation.check_model_name(name)
        validation.check_tag_key(key)
        expected = validation.check_etag(etag)

        def change(connection: Connection) -> None:
            model_id = _lock_model(connection, name, etag=expected, changes=False)
            deleted = connection.execute(
                delete(registered_model_tags)
                .where(registered_model_tags.c.model_id == model_id)
                .where(registered_model_tags.c.key == key)
                .returning(registered_model_tags.c.value)
            ).scalar_one_or_none()
            if deleted is not None:
                _count_revision(connection, registered_models, model_id)
                outbox.record(
                    connection,
                    EventType.REGISTERED_MODEL_TAG_DELETED,
                    name,
                    model_id,
                    before={"key": key, "value": deleted},
                )

        arguments = {"name": name, "key": key, "etag": etag}
        self._write(
            "delete_registered_model_tag", request_id, arguments, idempotency.NOTHING, change
        )

    def set_model_version_tag(
        self, name: str, version: int, key: str, value: str, etag: str = "", request_id: str = ""
    ) -> None:
        _check_version_key(name, version)
        validation.check_tag_key(key)
        validation.check_tag_value(value)
        expected = validation.check_etag(etag)

        def change(connection: Connection) -> None:
            model_id = _lock_model(connection, name)
            version_id = _version_to_write(connection, model_id, name, version, expected)
            _set_tag(
                connection,
                (model_version_tags, "version_id", version_id),
                key,
                value,
                (EventType.MODEL_VERSION_TAG_SET, name, model_id, version),
            )

        arguments = {"name": name, "version": version, "key": key, "value": value, "etag": etag}
        self._write("set_model_version_tag", request_id, arguments, idempotency.NOTHING, change)

    def delete_model_version_tag(
        self, name: str, version: int, key: str, etag: str = "", request_id: str = ""
    ) -> None:
        _check_version_key(name, version)
        validation.check_tag_key(key)
        expected = validation.check_etag(etag)

        def change(connection: Connection) -> None:
            model_id = _lock_model(connection, name, changes=False)
            version_id = _version_to_write(
                connection, model_id, name, version, expected, changes=False
            )
            deleted = connection.execute(
                delete(model_version_tags)
                .where(model_version_tags.c.version_id == version_id)
                .where(model_version_tags.c.key == key)
                .returning(model_version_tags.c.value)
            ).scalar_one_or_none()
            if deleted is not None:
                _count_revision(connection, registered_models, model_id)
                _count_revision(connection, model_versions, version_id)
                outbox.record(
                    connection,
                    EventType.MODEL_VERSION_TAG_DELETED,
                    name,
                    model_id,
                    version,
                    before={"key": key, "value": deleted},
                )

        arguments = {"name": name, "version": version, "key": key, "etag": etag}
        self._write("delete_model_version_tag", request_id, arguments, idempotency.NOTHING, change)

    # -- aliases -----------------------------------------------------------------------------

    def set_registered_model_alias(
        self, name: str, alias: str, version: int, etag: str = "", request_id: str = ""
    ) -> None:
        _check_version_key(name, version)
        validation.check_alias_to_set(alias)
        expected = validation.check_etag(etag)

        def change(connection: Connection) -> None:
            model_id = _lock_model(connection, name, etag=expected)
            # Both the version the alias leaves and the one it reaches list it, so both change.
            _version_to_write(connection, model_id, name, version)
            previous = _delete_alias(connection, model_id, alias)
            if previous is not None and previous != version:
                _version_to_write(connection, model_id, name, previous)
            connection.execute(
                insert(registered_model_aliases).values(
                    model_id=model_id, alias=alias, version=version
                )
            )
            if previous != version:
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

        arguments = {"name": name, "alias": alias, "version": version, "etag": etag}
        self._write(
            "set_registered_model_alias", request_id, arguments, idempotency.NOTHING, change
        )

    def delete_registered_model_alias(
        self, name: str, alias: str, etag: str = "", request_id: str = ""
    ) -> None:
        validation.check_model_name(name)
        validation.check_alias_to_resolve(alias)
        expected = validation.check_etag(etag)

        def change(connection: Connection) -> None:
            model_id = _lock_model(connection, name, etag=expected, changes=False)
            previous = _delete_alias(connection, model_id, alias)
            if previous is not None:
                _count_revision(connection, registered_models, model_id)
                _version_to_write(connection, model_id, name, previous)
                outbox.record(
                    connection,
                    EventType.MODEL_VERSION_ALIAS_DELETED,
                    name,
                    model_id,
                    previous,
                    before={"alias": alias, "version": previous},
                )

        arguments = {"name": name, "alias": alias, "etag": etag}
        self._write(
            "delete_registered_model_alias", request_id, arguments, idempotency.NOTHING, change
        )

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
            rows = self._read_alone(_VERSION_BY_ALIAS, {"name": name, "alias": alias})
            if rows:
                return labelled_versions(rows)[0]
        with self._reading() as connection:
            if as_of is not None:
                return _alias_at(_state_at(connection, name, as_of), name, alias)
            # The steps below tell which of model or alias is missing, and read by the model's
            # id, so that the version is the checked model's.
            model_id = model_id_by_name(connection, name)
            version = _resolve_alias(connection, model_id, name, alias)
            return _load_version(connection, model_id, name, version)

    # -- events ------------------------------------------------------------------------------

    def list_events(
        self,
        start_after: int = 0,
        model_names: Sequence[str] = (),
        event_types: Sequence[EventType] = (),
        page_size: int = 0,
        page_token: str = "",
    ) -> Page[Event]:
        """Committed events in sequence order; the page token is the last sequence read."""
        check_event_filters(start_after, model_names)
        size = effective_page_size(page_size)
        after = max(start_after, _event_page_token(page_token))
        with self._reading() as connection:
            found = outbox.read(
                connection,
                after,
                model_names,
                event_types,
                size + 1,
                readable_by_caller(events.c.model_id),
            )
        page = found[:size]
        return Page(page, str(page[-1].sequence) if len(found) > size else "")

    def read_events(
        self,
        start_after: int,
        model_names: Sequence[str],
        event_types: Sequence[EventType],
        limit: int,
    ) -> tuple[list[Event], int]:
        """Up to ``limit`` matching events after ``start_after``, and the sequence to read after
        next time: past the events that did not match too, so filtered reads do not rescan them.

        The high-water mark is read first: every event up to it has committed by then (the
        counter row commits with them), so nothing up to it can still appear later."""
        with self._reading() as connection:
            high = outbox.high_water(connection)
            found = outbox.read(
                connection,
                start_after,
                model_names,
                event_types,
                limit,
                readable_by_caller(events.c.model_id),
                high,
            )
        if len(found) == limit:
            return found, found[-1].sequence
        return found, max(high, start_after)

    # -- webhooks ----------------------------------------------------------------------------

    def create_webhook(self, fields: webhook_rows.WebhookFields, request_id: str = "") -> Webhook:
        webhook_rows.check_fields(fields)
        return self._write(
            "create_webhook",
            request_id,
            dataclasses.asdict(fields),
            idempotency.WEBHOOK,
            lambda connection: webhook_rows.insert_webhook(connection, fields, self._clock()),
        )

    def update_webhook(
        self,
        webhook_id: str,
        fields: webhook_rows.WebhookFields,
        mask: Sequence[str],
        request_id: str = "",
    ) -> Webhook:
        webhook_rows.check_id(webhook_id)
        webhook_rows.check_fields(fields)
        arguments = {"id": webhook_id, "fields": dataclasses.asdict(fields), "mask": list(mask)}

        def change(connection: Connection) -> Webhook:
            return webhook_rows.update_webhook(connection, webhook_id, fields, mask, self._clock())

        return self._write("update_webhook", request_id, arguments, idempotency.WEBHOOK, change)

    def delete_webhook(self, webhook_id: str, request_id: str = "") -> None:
        webhook_rows.check_id(webhook_id)
        self._write(
            "delete_webhook",
            request_id,
            {"id": webhook_id},
            idempotency.NOTHING,
            lambda connection: webhook_rows.delete_webhook(connection, webhook_id),
        )

    def list_webhooks(self) -> list[Webhook]:
        with self._reading() as connection:
            return webhook_rows.list_webhooks(connection)

    def get_webhook(self, webhook_id: str) -> Webhook:
        webhook_rows.check_id(webhook_id)
        with self._reading() as connection:
            return webhook_rows.load_webhook(connection, webhook_id)

    def webhook_target(self, webhook_id: str) -> tuple[str, str]:
        """The URL and secret of a webhook."""
        webhook_rows.check_id(webhook_id)
        with self._reading() as connection:
            return webhook_rows.secret_of(connection, webhook_id)

    def list_webhook_deliveries(
        self,
        webhook_id: str = "",
        status: DeliveryStatus | None = None,
        page_size: int = 0,
        page_token: str = "",
    ) -> Page[WebhookDelivery]:
        if webhook_id:
            webhook_rows.check_id(webhook_id, "webhook_id")
        size = effective_page_size(page_size)
        offset = _event_page_token(page_token)
        with self._reading() as connection:
            found = webhook_rows.list_deliveries(connection, webhook_id, status, offset, size + 1)
        return Page(found[:size], str(offset + size) if len(found) > size else "")

    # The worker looks before it writes: an idle registry then costs a read per poll, and never
    # takes SQLite's write lock from the writers.

    def fan_out_events(self, batch: int) -> int:
        """Queue deliveries for the events webhooks have not seen yet (see webhook_rows)."""
        with self._reading() as connection:
            if not webhook_rows.fan_out_pending(connection):
                return 0
        with self._writing() as connection:
            return webhook_rows.fan_out(connection, self._clock(), batch)

    def claim_deliveries(self, lease_ms: int, limit: int) -> list[webhook_rows.DueDelivery]:
        now = self._clock()
        with self._reading() as connection:
            if not webhook_rows.any_due(connection, now):
                return []
        with self._writing() as connection:
            return webhook_rows.claim_due(connection, now, lease_ms, limit)

    def record_delivery_attempt(
        self, delivery_id: str, response_code: int, error: str, retry_at: int | None
    ) -> None:
        with self._writing() as connection:
            webhook_rows.record_attempt(
                connection, delivery_id, self._clock(), response_code, error, retry_at
            )

    def now(self) -> int:
        """The store's clock, in epoch milliseconds."""
        return self._clock()

    # -- loading -----------------------------------------------------------------------------

    def _load_model(self, connection: Connection, model_id: int) -> RegisteredModel:
        row = connection.execute(
            select(registered_models).where(registered_models.c.id == model_id)
        ).one()
        return models_from_rows(connection, [row])[0]

    # -- import ------------------------------------------------------------------------------

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
        now = self._clock()

        def change(connection: Connection) -> ImportResult:
            name, outcome = model.name, ImportOutcome.CREATED
            existing = _find_model_id(connection, model.name)
            if existing is not None:
                if on_conflict is ConflictPolicy.SKIP:
                    return ImportResult(
                        ImportOutcome.SKIPPED, self._load_model(connection, existing)
                    )
                if on_conflict is ConflictPolicy.FAIL:
                    raise _import_name_taken(model.name)
                name, outcome = _free_import_name(connection, model.name), ImportOutcome.RENAMED
            model_id = _insert_import(connection, model, name, versions, checked_last_version, now)
            _record_import(connection, model, name, model_id, versions, now)
            return ImportResult(outcome, self._load_model(connection, model_id))

        for _attempt in range(IMPORT_ATTEMPTS):
            try:
                return self._write(
                    "import_registered_model", request_id, arguments, idempotency.IMPORT, change
                )
            except IntegrityError as error:
                # After validation only the unique name can clash: another writer took it after
                # the check above (PostgreSQL; SQLite writers queue). The next attempt sees it.
                if on_conflict is ConflictPolicy.FAIL:
                    raise _import_name_taken(model.name) from error
        raise _import_name_taken(model.name)


# -- helpers shared by the operations above ---------------------------------------------------


@contextmanager
def _database_errors_as_unavailable() -> Iterator[None]:
    """A database that is down, restarting or locked is a retryable condition, not a bug."""
    try:
        yield
    except (OperationalError, PoolTimeoutError) as error:
        raise Unavailable(f"the database is unavailable: {first_line(error)}") from error
    except DBAPIError as error:
        if error.connection_invalidated:
            raise Unavailable(f"the database connection was lost: {first_line(error)}") from error
        raise


def _page_rows(
    connection: Connection, statement: Select[Any], query: SearchQuery
) -> tuple[Sequence[Row[Any]], str]:
    """One page of ``statement`` under ``query``, and the token for the next ("" at the end).
    One row more than the page is read to learn whether another page exists."""
    rows = connection.execute(
        statement.add_columns(*query.sort_columns)
        .where(query.where)
        .order_by(*query.order_by)
        .limit(query.page_size + 1)
    ).all()
    page = rows[: query.page_size]
    token = query.next_page_token(page[-1]) if len(rows) > query.page_size else ""
    return page, token


def readable_by_caller(model_id: ColumnElement[int]) -> ColumnElement[bool]:
    """Rows of models the caller may read, for any query that lists what is under models.
    Filtered in the query, not after it, so that pages stay full and page tokens continue
    where the previous page ended."""
    caller = identity.current_access()
    if caller.reads_every_model:
        return true()
    return model_id.in_(
        select(registered_model_permissions.c.model_id).where(
            registered_model_permissions.c.user_id == caller.user_id
        )
    )


def _unused_model_id(connection: Connection) -> dict[str, int]:
    """The id for a new model, where the database would pick one already used. SQLite hands the id
    of a deleted model, when it was the highest, to the next one; the outbox keeps the ids of
    deleted models (history and who may read it follow them), so a new model's id lies past every
    id the outbox has seen. PostgreSQL's sequence never hands one out twice."""
    if connection.dialect.name != "sqlite":
        return {}
    highest = connection.execute(select(func.max(registered_models.c.id))).scalar() or 0
    announced = connection.execute(select(func.max(events.c.model_id))).scalar() or 0
    return {"id": max(highest, announced) + 1}


def _check_version_key(name: str, version: int) -> None:
    validation.check_model_name(name)
    validation.check_version(version)


def _version_not_found(name: str, version: int) -> NotFound:
    return NotFound(f"model version {version} of {name!r} does not exist", field="version")


def model_id_by_name(connection: Connection, name: str) -> int:
    """The row id of the model ``name``, once the caller may make its call on that model (see
    model_access); NotFound, naming the model, when there is none."""
    model_id = _find_model_id(connection, name)
    if model_id is None:
        raise model_not_found(name)
    model_access.authorize(connection, model_id, name)
    return model_id


def lock_model_row(connection: Connection, name: str) -> int:
    """The row id of the model ``name``, locked to the end of the transaction and checked as
    ``model_id_by_name`` checks it: for writes outside this module (grants) that must not
    interleave with the writes the grants decide."""
    return _lock_model(connection, name, changes=False)


def _new_revision() -> int:
    return secrets.randbelow(_REVISION_START_BOUND) + 1


def _check_etag(expected: int | None, revision: int, resource: str) -> None:
    """Raise Aborted when the caller sent an etag and the resource was at ``revision`` instead."""
    if expected is not None and expected != revision:
        raise Aborted(
            f"{resource} has changed since its etag was read; read it again and retry",
            field="etag",
        )


def _lock_model(
    connection: Connection,
    name: str,
    touched_at: int | None = None,
    etag: int | None = None,
    *,
    changes: bool = True,
    values: Mapping[str, Any] | None = None,
) -> int:
    """Lock the model's row for the rest of the transaction; every mutation under a model starts
    here. ``etag``: the revision the caller read, if it wants the write to depend on it. Unless
    the write may turn out to change nothing (``changes=False``; it calls ``_count_revision``
    itself once it did change something), count a new revision of the model now, stamped
    ``touched_at`` when given and with ``values`` applied to the row."""
    locked = _LOCK_MODEL.rows(connection, {"name": name})
    if not locked:
        raise model_not_found(name)
    model_id, revision = locked[0]
    model_access.authorize(connection, model_id, name)
    _check_etag(etag, revision, f"registered model {name!r}")
    if changes:
        stamp = {} if touched_at is None else {"last_updated_timestamp": touched_at}
        _count_revision(connection, registered_models, model_id, **(values or {}), **stamp)
    return int(model_id)


def _version_to_write(
    connection: Connection,
    model_id: int,
    name: str,
    version: int,
    etag: int | None = None,
    *,
    changes: bool = True,
    **values: Any,
) -> int:
    """The row id of a version of the locked model that is about to be written, with its etag
    checked; like ``_lock_model``, counts a new revision (applying ``values``) unless
    ``changes=False``."""
    rows = _VERSION_TO_WRITE.rows(connection, {"model_id": model_id, "version": version})
    if not rows:
        raise _version_not_found(name, version)
    version_id, revision = rows[0]
    _check_etag(etag, revision, f"model version {version} of {name!r}")
    if changes:
        _count_revision(connection, model_versions, version_id, **values)
    return int(version_id)


def _rewrite_version(
    connection: Connection,
    model_id: int,
    name: str,
    version: int,
    etag: int | None,
    **values: Any,
) -> tuple[ModelVersion, ModelVersion, int]:
    """A version of the locked model before and after ``values`` are written to it, with its
    etag checked and a new revision counted, and its row id. Its row is read once, with its
    labels, and the version after is that row with the new values: a read before to check the
    etag and one after to return the result took three statements in the write's turn."""
    rows = _VERSION_BY_MODEL_ID.rows(connection, {"model_id": model_id, "version": version})
    if not rows:
        raise _version_not_found(name, version)
    row = rows[0]
    version_id, revision = row[0], row[REVISION_COLUMN]
    _check_etag(etag, revision, f"model version {version} of {name!r}")
    _count_revision(connection, model_versions, version_id, **values)
    before, after = labelled_versions([row, with_columns(row, revision=revision + 1, **values)])
    return before, after, int(version_id)


def _count_revision(connection: Connection, table: Table, row_id: int, **values: Any) -> None:
    """A new revision of a model or version row (so a new etag), applying ``values`` with it."""
    statement = _revision_statement(table, tuple(values))
    statement.rows(connection, {"row_id": row_id, **bound_values(values)})


@lru_cache(maxsize=64)
def _revision_statement(table: Table, columns: tuple[str, ...]) -> DriverStatement:
    """The update counting a revision of ``table``'s row ``:row_id`` and setting ``columns``
    (the few combinations the writes use, each compiled once)."""
    return DriverStatement(
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values(revision=table.c.revision + 1, **value_parameters(columns))
    )


def _delete_alias(connection: Connection, model_id: int, alias: str) -> int | None:
    """Delete an alias of the locked model; the version it pointed at, if it existed."""
    previous = connection.execute(
        delete(registered_model_aliases)
        .where(registered_model_aliases.c.model_id == model_id)
        .where(registered_model_aliases.c.alias == alias)
        .returning(registered_model_aliases.c.version)
    ).scalar_one_or_none()
    return None if previous is None else int(previous)


# The reads every GetModelVersion, GetModelVersionByAlias and write makes, run as driver SQL
# compiled once (see driver_sql).
_VERSION_BY_NAME = DriverStatement(
    labelled(
        version_select()
        .where(registered_models.c.name == bindparam("name"))
        .where(model_versions.c.version == bindparam("version"))
    )
)
# A version of a model the write has locked, as it is before the write changes it.
_VERSION_BY_MODEL_ID = DriverStatement(
    labelled(
        version_select()
        .where(model_versions.c.model_id == bindparam("model_id"))
        .where(model_versions.c.version == bindparam("version"))
    )
)
_MODEL_ID_BY_NAME = DriverStatement(
    select(registered_models.c.id).where(registered_models.c.name == bindparam("name"))
)
# An alias's version in one statement, where name, alias and version took three.
_VERSION_BY_ALIAS = DriverStatement(
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
# Every write's first statement: the model's row, locked to the end of the transaction.
_LOCK_MODEL = DriverStatement(
    select(registered_models.c.id, registered_models.c.revision)
    .where(registered_models.c.name == bindparam("name"))
    .with_for_update()
)
_VERSION_TO_WRITE = DriverStatement(
    select(model_versions.c.id, model_versions.c.revision)
    .where(model_versions.c.model_id == bindparam("model_id"))
    .where(model_versions.c.version == bindparam("version"))
)
_ALIASED_VERSION = (
    select(registered_model_aliases.c.version)
    .where(registered_model_aliases.c.model_id == bindparam("model_id"))
    .where(registered_model_aliases.c.alias == bindparam("alias"))
)


def _load_version(connection: Connection, model_id: int, name: str, version: int) -> ModelVersion:
    rows = _VERSION_BY_MODEL_ID.rows(connection, {"model_id": model_id, "version": version})
    if not rows:
        raise _version_not_found(name, version)
    return labelled_versions(rows)[0]


def _highest_version(connection: Connection, model_id: int, stage: Stage | None) -> int | None:
    statement = select(model_versions.c.version).where(model_versions.c.model_id == model_id)
    if stage is not None:
        statement = statement.where(model_versions.c.current_stage == stage.value)
    return connection.execute(
        statement.order_by(model_versions.c.version.desc()).limit(1)
    ).scalar_one_or_none()


def _resolve_alias(connection: Connection, model_id: int, name: str, alias: str) -> int:
    if alias.lower() == validation.LATEST_ALIAS:
        version = _highest_version(connection, model_id, None)
        if version is None:
            raise NotFound(f"registered model {name!r} has no versions", field="alias")
        return version
    version = connection.execute(
        _ALIASED_VERSION, {"model_id": model_id, "alias": alias}
    ).scalar_one_or_none()
    if version is None:
        raise NotFound(f"registered model {name!r} has no alias {alias!r}", field="alias")
    return int(version)


def _run_id_agreeing_with_source(source: str, run_id: str) -> str:
    source_run_id = sources.run_id_of(source)
    if source_run_id is None:
        return run_id
    if run_id and run_id != source_run_id:
        raise InvalidArgument(
            f"run_id {run_id!r} contradicts the run {source_run_id!r} in source {source!r}",
            field="run_id",
        )
    validation.check_optional_line("source", source_run_id, validation.MAX_RUN_ID_LENGTH)
    return source_run_id


class _Origin(NamedTuple):
    """Where a new version comes from, as its row records it."""

    source: str
    run_id: str
    model_id: str
    experiment_id: str
    run_link: str
    storage_location: str


def _copy_of(copied: ModelVersion, given: _Origin) -> _Origin:
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
    return _Origin(
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


def _resolve_model_reference(
    connection: Connection, reference: sources.ModelReference, source: str
) -> ModelVersion:
    """The version a models:/ URI names, read in the creating transaction, where the caller must
    be able to read its model as any read of it would."""
    model_id = _find_model_id(connection, reference.name)
    if model_id is None or not model_access.readable(connection, model_id):
        raise missing_reference(source, reference.name)
    version: int | None
    if reference.version is not None:
        version = reference.version
    elif reference.alias is not None:
        try:
            version = _resolve_alias(connection, model_id, reference.name, reference.alias)
        except NotFound as error:
            raise NotFound(f"source {source!r}: {error.message}", field="source") from error
    else:
        assert reference.stage_or_latest is not None
        stage = (
            None
            if reference.stage_or_latest.lower() == validation.LATEST_ALIAS
            else validation.parse_stage(reference.stage_or_latest, "source")
        )
        version = _highest_version(connection, model_id, stage)
    rows = (
        []
        if version is None
        else _VERSION_BY_MODEL_ID.rows(connection, {"model_id": model_id, "version": version})
    )
    if not rows:
        raise NotFound(f"source {source!r} names no existing model version", field="source")
    return labelled_versions(rows)[0]


def _insert_tags(
    connection: Connection, table: Any, owner_column: str, owner_id: int, tags: dict[str, str]
) -> None:
    if tags:
        connection.execute(
            insert(table),
            [{owner_column: owner_id, "key": key, "value": value} for key, value in tags.items()],
        )


def _upsert_tag(
    connection: Connection, table: Any, owner_column: str, owner_id: int, key: str, value: str
) -> str | None:
    """Set the tag; the value it had before, if it existed."""
    # The owner's lock is held, so read-then-write cannot race with another writer.
    previous: str | None = connection.execute(
        select(table.c.value).where(table.c[owner_column] == owner_id).where(table.c.key == key)
    ).scalar_one_or_none()
    if previous is None:
        _insert_tags(connection, table, owner_column, owner_id, {key: value})
    else:
        connection.execute(
            update(table)
            .where(table.c[owner_column] == owner_id)
            .where(table.c.key == key)
            .values(value=value)
        )
    return previous


def _column_of(connection: Connection, table: Table, row_id: int, column: str) -> Any:
    return connection.execute(select(table.c[column]).where(table.c.id == row_id)).scalar_one()


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


def _set_tag(
    connection: Connection,
    owner: tuple[Table, str, int],
    key: str,
    value: str,
    announce: tuple[EventType, str, int, int],
) -> None:
    """Set a tag of ``owner`` (table, owner column, owner id) and announce it (event type, model
    name, model id, version) unless it already had the value."""
    table, owner_column, owner_id = owner
    previous = _upsert_tag(connection, table, owner_column, owner_id, key, value)
    if previous == value:
        return
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


def check_event_filters(start_after: int, model_names: Sequence[str]) -> None:
    if start_after < 0:
        raise InvalidArgument(
            f"start_after must be 0 or a sequence number, got {start_after}", field="start_after"
        )
    for name in model_names:
        validation.check_model_name(name, "model_names")


def _event_page_token(token: str) -> int:
    if not token:
        return 0
    if not token.isdigit() or len(token) > 19:
        raise InvalidArgument(
            f"page_token {token[:40]!r} is not a token of this list", field="page_token"
        )
    return int(token)


def _state_at(connection: Connection, name: str, as_of: int) -> outbox.ModelState:
    if as_of < 0:
        raise InvalidArgument(f"as_of must not be negative, got {as_of}", field="as_of")
    state = outbox.state_at(connection, name, as_of)
    # The model that held the name then need not be the one holding it now: a caller who may not
    # read that one learns no more than that there was none.
    if state is None or not model_access.readable(connection, state.model_id):
        raise NotFound(
            f"the event history has no registered model {name!r} at {as_of}", field="name"
        )
    return state


def _alias_at(state: outbox.ModelState, name: str, alias: str) -> ModelVersion:
    if alias.lower() == validation.LATEST_ALIAS:
        if not state.versions:
            raise NotFound(f"registered model {name!r} had no versions then", field="alias")
        return state.version_with_aliases(max(state.versions))
    number = state.aliases.get(alias)
    if number is None:
        raise NotFound(f"registered model {name!r} had no alias {alias!r} then", field="alias")
    return state.version_with_aliases(number)


# -- helpers of import_registered_model --------------------------------------------------------


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


def _import_name_taken(name: str) -> AlreadyExists:
    return AlreadyExists(f"registered model {name!r} already exists", field="registered_model.name")


def _find_model_id(connection: Connection, name: str) -> int | None:
    rows = _MODEL_ID_BY_NAME.rows(connection, {"name": name})
    return int(rows[0][0]) if rows else None


def _free_import_name(connection: Connection, name: str) -> str:
    """The first of "<name>-imported", "<name>-imported-2", … that no model has, the name
    shortened so that the whole stays within the name limit."""
    number = 1
    while True:
        suffix = IMPORT_SUFFIX if number == 1 else f"{IMPORT_SUFFIX}-{number}"
        candidate = name[: validation.MAX_NAME_LENGTH - len(suffix)].rstrip() + suffix
        if _find_model_id(connection, candidate) is None:
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
            **_unused_model_id(connection),
            name=name,
            creation_timestamp=model.creation_timestamp or now,
            last_updated_timestamp=model.last_updated_timestamp or now,
            user_id=model.user_id,
            description=model.description,
            last_version=last_version,
            revision=_new_revision(),
        )
        .returning(registered_models.c.id)
    ).scalar_one()
    _insert_tags(connection, registered_model_tags, "model_id", model_id, model.tags)
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
                "revision": _new_revision(),
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
