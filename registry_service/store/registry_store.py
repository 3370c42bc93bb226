"""The registry's operations on a SQL database: one method per operation, one transaction each.

Every method validates its input before touching the database, so a rejected call changes nothing.
Mutations of anything under a model first lock that model's row; with one lock order everywhere,
concurrent writers queue instead of deadlocking, and multi-row invariants (one Production version
after an archiving transition) hold under concurrency on PostgreSQL as well as on SQLite.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Row, Select, delete, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from registry_service import sources, validation
from registry_service.domain import (
    ConflictPolicy,
    ImportOutcome,
    ImportResult,
    ModelVersion,
    Page,
    RegisteredModel,
    Stage,
    VersionStatus,
)
from registry_service.errors import AlreadyExists, InvalidArgument, NotFound, Unavailable
from registry_service.search import SearchQuery, model_version_search, registered_model_search
from registry_service.store.engine import (
    WRITE_TRANSACTION,
    bounded_transaction,
    first_line,
    holding,
    is_sqlite,
)
from registry_service.store.loading import (
    latest_versions,
    models_from_rows,
    version_select,
    versions_from_rows,
)
from registry_service.store.tables import (
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
)

# The stages whose previous occupants archive_existing_versions may move to Archived.
ARCHIVABLE_STAGES = (Stage.STAGING, Stage.PRODUCTION)
# How often an import races another writer for a name before it reports the name as taken.
IMPORT_ATTEMPTS = 3
# What a renamed import appends to the name, before the number that makes it free.
IMPORT_SUFFIX = "-imported"


def now_millis() -> int:
    return time.time_ns() // 1_000_000


class RegistryStore:
    """Registered models and their versions, stored through SQLAlchemy on SQLite or PostgreSQL."""

    def __init__(self, engine: Engine, clock: Callable[[], int] = now_millis) -> None:
        self._engine = engine
        self._clock = clock
        # SQLite admits one writer at a time. Queueing this process's writers on a lock is
        # cheaper and fairer than SQLite's sleep-and-retry busy handler; other processes still
        # queue on the database lock.
        self._write_lock = threading.Lock() if is_sqlite(engine) else None

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

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        with (
            _database_errors_as_unavailable(),
            holding(self._write_lock),
            self._engine.connect() as connection,
        ):
            connection.execution_options(**{WRITE_TRANSACTION: True})
            with bounded_transaction(connection):
                yield connection

    # -- registered models -------------------------------------------------------------------

    def create_registered_model(
        self,
        name: str,
        tags: dict[str, str] | None = None,
        description: str = "",
        user_id: str = "",
    ) -> RegisteredModel:
        validation.check_model_name(name)
        tags = validation.check_tags(tags or {})
        validation.check_description(description)
        validation.check_optional_line("user_id", user_id, validation.MAX_USER_ID_LENGTH)
        now = self._clock()
        try:
            with self._writing() as connection:
                model_id = connection.execute(
                    insert(registered_models)
                    .values(
                        name=name,
                        creation_timestamp=now,
                        last_updated_timestamp=now,
                        user_id=user_id,
                        description=description,
                        last_version=0,
                    )
                    .returning(registered_models.c.id)
                ).scalar_one()
                _insert_tags(connection, registered_model_tags, "model_id", model_id, tags)
                return self._load_model(connection, model_id)
        except IntegrityError as error:
            raise AlreadyExists(
                f"registered model {name!r} already exists", field="name"
            ) from error

    def get_registered_model(self, name: str) -> RegisteredModel:
        validation.check_model_name(name)
        with self._reading() as connection:
            return self._load_model(connection, _model_id(connection, name))

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        validation.check_model_name(name)
        validation.check_model_name(new_name, "new_name")
        try:
            with self._writing() as connection:
                model_id = _lock_model(connection, name, touched_at=self._clock())
                if new_name != name:
                    connection.execute(
                        update(registered_models)
                        .where(registered_models.c.id == model_id)
                        .values(name=new_name)
                    )
                return self._load_model(connection, model_id)
        except IntegrityError as error:
            raise AlreadyExists(
                f"registered model {new_name!r} already exists", field="new_name"
            ) from error

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        validation.check_model_name(name)
        if description is not None:
            validation.check_description(description)
        with self._writing() as connection:
            model_id = _lock_model(connection, name, touched_at=self._clock())
            if description is not None:
                connection.execute(
                    update(registered_models)
                    .where(registered_models.c.id == model_id)
                    .values(description=description)
                )
            return self._load_model(connection, model_id)

    def delete_registered_model(self, name: str) -> None:
        validation.check_model_name(name)
        with self._writing() as connection:
            deleted = connection.execute(
                delete(registered_models).where(registered_models.c.name == name)
            ).rowcount
            if not deleted:
                raise _model_not_found(name)

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
            page, token = _page_rows(connection, select(registered_models), query)
            return Page(models_from_rows(connection, page), token)

    def get_latest_versions(self, name: str, stages: Sequence[str] = ()) -> list[ModelVersion]:
        validation.check_model_name(name)
        wanted = [validation.parse_stage(s, "stages") for s in stages] or list(Stage)
        with self._reading() as connection:
            model_id = _model_id(connection, name)
            found = latest_versions(connection, [model_id], wanted).get(model_id, [])
            order = {stage: position for position, stage in enumerate(wanted)}
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
        user_id: str = "",
    ) -> ModelVersion:
        validation.check_model_name(name)
        validation.check_identifier("source", source, validation.MAX_SOURCE_LENGTH)
        validation.check_optional_line("run_id", run_id, validation.MAX_RUN_ID_LENGTH)
        tags = validation.check_tags(tags or {})
        validation.check_optional_line("run_link", run_link, validation.MAX_RUN_LINK_LENGTH)
        validation.check_description(description)
        validation.check_optional_line(
            "experiment_id", experiment_id, validation.MAX_EXPERIMENT_ID_LENGTH
        )
        validation.check_optional_line("user_id", user_id, validation.MAX_USER_ID_LENGTH)
        run_id = _run_id_agreeing_with_source(source, run_id)
        reference = sources.model_reference_of(source)
        now = self._clock()
        with self._writing() as connection:
            if reference is not None:
                source = _resolve_model_reference(connection, reference, source)
            # Bumping the counter row both allocates the number and holds the model's lock until
            # commit: concurrent creators queue here and each gets the next number, with no gaps
            # (a rolled-back create rolls its bump back too) and no retry loop.
            allocated = connection.execute(
                update(registered_models)
                .where(registered_models.c.name == name)
                .values(
                    last_version=registered_models.c.last_version + 1,
                    last_updated_timestamp=now,
                )
                .returning(registered_models.c.id, registered_models.c.last_version)
            ).one_or_none()
            if allocated is None:
                raise _model_not_found(name)
            model_id, version = allocated
            version_id = connection.execute(
                insert(model_versions)
                .values(
                    model_id=model_id,
                    version=version,
                    creation_timestamp=now,
                    last_updated_timestamp=now,
                    user_id=user_id,
                    current_stage=Stage.NONE.value,
                    description=description,
                    source=source,
                    run_id=run_id,
                    run_link=run_link,
                    experiment_id=experiment_id,
                    status=VersionStatus.READY.value,
                    status_message="",
                )
                .returning(model_versions.c.id)
            ).scalar_one()
            _insert_tags(connection, model_version_tags, "version_id", version_id, tags)
            return _load_version(connection, name, version)

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        _check_version_key(name, version)
        with self._reading() as connection:
            return _load_version(connection, name, version)

    def update_model_version(
        self, name: str, version: int, description: str | None
    ) -> ModelVersion:
        _check_version_key(name, version)
        if description is not None:
            validation.check_description(description)
        with self._writing() as connection:
            model_id = _lock_model(connection, name)
            version_id = _version_id(connection, model_id, name, version)
            if description is not None:
                connection.execute(
                    update(model_versions)
                    .where(model_versions.c.id == version_id)
                    .values(description=description, last_updated_timestamp=self._clock())
                )
            return _load_version(connection, name, version)

    def transition_model_version_stage(
        self, name: str, version: int, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        _check_version_key(name, version)
        target = validation.parse_stage(stage)
        if archive_existing_versions and target not in ARCHIVABLE_STAGES:
            raise InvalidArgument(
                f"archive_existing_versions is allowed only when moving to Staging or "
                f"Production, not to {target.value}",
                field="archive_existing_versions",
            )
        now = self._clock()
        with self._writing() as connection:
            model_id = _lock_model(connection, name, touched_at=now)
            version_id = _version_id(connection, model_id, name, version)
            if archive_existing_versions:
                connection.execute(
                    update(model_versions)
                    .where(model_versions.c.model_id == model_id)
                    .where(model_versions.c.current_stage == target.value)
                    .where(model_versions.c.id != version_id)
                    .values(current_stage=Stage.ARCHIVED.value, last_updated_timestamp=now)
                )
            connection.execute(
                update(model_versions)
                .where(model_versions.c.id == version_id)
                .values(current_stage=target.value, last_updated_timestamp=now)
            )
            return _load_version(connection, name, version)

    def delete_model_version(self, name: str, version: int) -> None:
        _check_version_key(name, version)
        with self._writing() as connection:
            model_id = _lock_model(connection, name, touched_at=self._clock())
            deleted = connection.execute(
                delete(model_versions)
                .where(model_versions.c.model_id == model_id)
                .where(model_versions.c.version == version)
            ).rowcount
            if not deleted:
                raise _version_not_found(name, version)

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
            page, token = _page_rows(connection, version_select(), query)
            return Page(versions_from_rows(connection, page), token)

    def get_model_version_download_uri(self, name: str, version: int) -> str:
        # The registry stores locations, not files: the source is where the files are.
        return self.get_model_version(name, version).source

    # -- tags --------------------------------------------------------------------------------

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        validation.check_model_name(name)
        validation.check_tag_key(key)
        validation.check_tag_value(value)
        with self._writing() as connection:
            model_id = _lock_model(connection, name)
            _upsert_tag(connection, registered_model_tags, "model_id", model_id, key, value)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        validation.check_model_name(name)
        validation.check_tag_key(key)
        with self._writing() as connection:
            model_id = _lock_model(connection, name)
            connection.execute(
                delete(registered_model_tags)
                .where(registered_model_tags.c.model_id == model_id)
                .where(registered_model_tags.c.key == key)
            )

    def set_model_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        _check_version_key(name, version)
        validation.check_tag_key(key)
        validation.check_tag_value(value)
        with self._writing() as connection:
            model_id = _lock_model(connection, name)
            version_id = _version_id(connection, model_id, name, version)
            _upsert_tag(connection, model_version_tags, "version_id", version_id, key, value)

    def delete_model_version_tag(self, name: str, version: int, key: str) -> None:
        _check_version_key(name, version)
        validation.check_tag_key(key)
        with self._writing() as connection:
            model_id = _lock_model(connection, name)
            version_id = _version_id(connection, model_id, name, version)
            connection.execute(
                delete(model_version_tags)
                .where(model_version_tags.c.version_id == version_id)
                .where(model_version_tags.c.key == key)
            )

    # -- aliases -----------------------------------------------------------------------------

    def set_registered_model_alias(self, name: str, alias: str, version: int) -> None:
        _check_version_key(name, version)
        validation.check_alias_to_set(alias)
        with self._writing() as connection:
            model_id = _lock_model(connection, name)
            _version_id(connection, model_id, name, version)
            connection.execute(
                delete(registered_model_aliases)
                .where(registered_model_aliases.c.model_id == model_id)
                .where(registered_model_aliases.c.alias == alias)
            )
            connection.execute(
                insert(registered_model_aliases).values(
                    model_id=model_id, alias=alias, version=version
                )
            )

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        validation.check_model_name(name)
        validation.check_alias_to_resolve(alias)
        with self._writing() as connection:
            model_id = _lock_model(connection, name)
            connection.execute(
                delete(registered_model_aliases)
                .where(registered_model_aliases.c.model_id == model_id)
                .where(registered_model_aliases.c.alias == alias)
            )

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        validation.check_model_name(name)
        validation.check_alias_to_resolve(alias)
        with self._reading() as connection:
            model_id = _model_id(connection, name)
            version = _resolve_alias(connection, model_id, name, alias)
            return _load_version(connection, name, version)

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
    ) -> ImportResult:
        """Recreate a model copied from another registry, all or nothing: its versions keep
        their numbers, stages, timestamps and users, and new versions continue after
        ``last_version`` (0: the highest imported number), so numbers deleted in the source stay
        unused. ``model.latest_versions`` and each version's ``name`` and ``aliases`` are
        ignored: ``model.aliases`` says where aliases point."""
        last_version = _check_import(model, versions, last_version)
        now = self._clock()
        for _attempt in range(IMPORT_ATTEMPTS):
            try:
                with self._writing() as connection:
                    name, outcome = model.name, ImportOutcome.CREATED
                    existing = _find_model_id(connection, model.name)
                    if existing is not None:
                        if on_conflict is ConflictPolicy.SKIP:
                            model_now = self._load_model(connection, existing)
                            return ImportResult(ImportOutcome.SKIPPED, model_now)
                        if on_conflict is ConflictPolicy.FAIL:
                            raise _import_name_taken(model.name)
                        name, outcome = (
                            _free_import_name(connection, model.name),
                            ImportOutcome.RENAMED,
                        )
                    model_id = _insert_import(connection, model, name, versions, last_version, now)
                    return ImportResult(outcome, self._load_model(connection, model_id))
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


def _check_version_key(name: str, version: int) -> None:
    validation.check_model_name(name)
    validation.check_version(version)


def _model_not_found(name: str) -> NotFound:
    return NotFound(f"registered model {name!r} does not exist", field="name")


def _version_not_found(name: str, version: int) -> NotFound:
    return NotFound(f"model version {version} of {name!r} does not exist", field="version")


def _model_id(connection: Connection, name: str) -> int:
    model_id = connection.execute(
        select(registered_models.c.id).where(registered_models.c.name == name)
    ).scalar_one_or_none()
    if model_id is None:
        raise _model_not_found(name)
    return int(model_id)


def _lock_model(connection: Connection, name: str, touched_at: int | None = None) -> int:
    """Lock the model's row for the rest of the transaction (and stamp it as changed when
    ``touched_at`` is given); every mutation under a model starts here."""
    if touched_at is None:
        statement: Any = (
            select(registered_models.c.id).where(registered_models.c.name == name).with_for_update()
        )
    else:
        statement = (
            update(registered_models)
            .where(registered_models.c.name == name)
            .values(last_updated_timestamp=touched_at)
            .returning(registered_models.c.id)
        )
    model_id = connection.execute(statement).scalar_one_or_none()
    if model_id is None:
        raise _model_not_found(name)
    return int(model_id)


def _version_id(connection: Connection, model_id: int, name: str, version: int) -> int:
    version_id = connection.execute(
        select(model_versions.c.id)
        .where(model_versions.c.model_id == model_id)
        .where(model_versions.c.version == version)
    ).scalar_one_or_none()
    if version_id is None:
        raise _version_not_found(name, version)
    return int(version_id)


def _load_version(connection: Connection, name: str, version: int) -> ModelVersion:
    row = connection.execute(
        version_select()
        .where(registered_models.c.name == name)
        .where(model_versions.c.version == version)
    ).one_or_none()
    if row is None:
        _model_id(connection, name)  # a missing model is reported as such, not as its version
        raise _version_not_found(name, version)
    return versions_from_rows(connection, [row])[0]


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
        select(registered_model_aliases.c.version)
        .where(registered_model_aliases.c.model_id == model_id)
        .where(registered_model_aliases.c.alias == alias)
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


def _resolve_model_reference(
    connection: Connection, reference: sources.ModelReference, source: str
) -> str:
    """The source of the version a models:/ URI names, read in the creating transaction."""
    model_id = connection.execute(
        select(registered_models.c.id).where(registered_models.c.name == reference.name)
    ).scalar_one_or_none()
    if model_id is None:
        raise NotFound(
            f"source {source!r} names registered model {reference.name!r}, which does not exist",
            field="source",
        )
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
    row = (
        None
        if version is None
        else connection.execute(
            select(model_versions.c.source)
            .where(model_versions.c.model_id == model_id)
            .where(model_versions.c.version == version)
        ).one_or_none()
    )
    if row is None:
        raise NotFound(f"source {source!r} names no existing model version", field="source")
    return str(row.source)


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
) -> None:
    # The owner's lock is held, so update-then-insert cannot race with another writer.
    updated = connection.execute(
        update(table)
        .where(table.c[owner_column] == owner_id)
        .where(table.c.key == key)
        .values(value=value)
    ).rowcount
    if not updated:
        _insert_tags(connection, table, owner_column, owner_id, {key: value})


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
    model_id = connection.execute(
        select(registered_models.c.id).where(registered_models.c.name == name)
    ).scalar_one_or_none()
    return None if model_id is None else int(model_id)


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
            name=name,
            creation_timestamp=model.creation_timestamp or now,
            last_updated_timestamp=model.last_updated_timestamp or now,
            user_id=model.user_id,
            description=model.description,
            last_version=last_version,
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
