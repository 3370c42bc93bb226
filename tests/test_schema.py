"""The migrations and store/tables.py describe the same schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert, inspect, select

from registry_service.store import schema
from registry_service.store.engine import make_engine
from registry_service.store.registry_store import RegistryStore
from registry_service.store.tables import (
    metadata,
    model_version_tags,
    model_versions,
    registered_model_tags,
    registered_models,
)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


# SQLite cannot reflect expression indexes, so autogenerate skips the tag-value indexes there
# (with a warning); index_names and test_tag_value_indexes check them from sqlite_master instead.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*expression-based index:UserWarning",
    "ignore:.*expression-based index:sqlalchemy.exc.SAWarning",
)


def index_names(engine: Engine) -> set[str]:
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            return set(
                connection.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'index'"
                ).scalars()
            )
    inspector = inspect(engine)
    return {
        index["name"]
        for table in inspector.get_table_names()
        for index in inspector.get_indexes(table)
    }


def differences(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def test_migrated_schema_matches_the_tables(engine: Engine) -> None:
    assert schema.current_revision(engine) == schema.head_revision()
    assert differences(engine) == []


def test_every_search_index_exists(engine: Engine) -> None:
    found = index_names(engine)
    expected = {index.name for table in metadata.tables.values() for index in table.indexes}
    assert expected <= found
    assert "ix_model_version_tags_key_value" in found
    assert "ix_model_versions_source" in found


def test_tag_value_indexes_hold_a_prefix(engine: Engine) -> None:
    with engine.connect() as connection:
        for table in ("model_version_tags", "registered_model_tags"):
            if engine.dialect.name == "sqlite":
                sql = connection.exec_driver_sql(
                    "SELECT sql FROM sqlite_master WHERE name = ?", (f"ix_{table}_key_value",)
                ).scalar_one()
            else:
                sql = connection.exec_driver_sql(
                    "SELECT indexdef FROM pg_indexes WHERE indexname = %s",
                    (f"ix_{table}_key_value",),
                ).scalar_one()
            assert "substr(value, 1, 200)" in sql, sql


def test_searchable_text_is_compared_bytewise_on_postgres(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite compares text byte-wise (BINARY) by default")
    with engine.connect() as connection:
        collations = dict(
            connection.exec_driver_sql(
                "SELECT table_name || '.' || column_name, collation_name "
                "FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name IN ('registered_models', 'model_versions')"
            ).all()
        )
    assert collations["registered_models.name"] == "C"
    assert collations["model_versions.run_id"] == "C"
    assert collations["model_versions.run_link"] is None


def test_downgrade_to_the_first_revision_and_back(engine: Engine) -> None:
    config = schema.alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    assert schema.current_revision(engine) == "0001"
    assert "ix_model_versions_source" not in index_names(engine)
    schema.upgrade(engine)
    assert schema.current_revision(engine) == schema.head_revision()
    assert differences(engine) == []


def test_long_text_is_indexable(engine: Engine) -> None:
    """Tag values, sources and descriptions at their largest insert without an index error
    (a whole-value btree on PostgreSQL would refuse entries above ~2700 bytes)."""
    wide = "\U0001f600" * 5000  # 4 bytes each in UTF-8: 20 000 bytes
    with engine.begin() as connection:
        model_id = connection.execute(
            insert(registered_models)
            .values(
                name="m" * 256,
                creation_timestamp=1,
                last_updated_timestamp=1,
                user_id="\U0001f600" * 256,
                description="\U0001f600" * 65536,
                last_version=1,
            )
            .returning(registered_models.c.id)
        ).scalar_one()
        version_id = connection.execute(
            insert(model_versions)
            .values(
                model_id=model_id,
                version=1,
                creation_timestamp=1,
                last_updated_timestamp=1,
                user_id="\U0001f600" * 256,
                current_stage="None",
                description="",
                source="\U0001f600" * 4096,
                run_id="\U0001f600" * 256,
                run_link="",
                experiment_id="",
                status="READY",
                status_message="",
            )
            .returning(model_versions.c.id)
        ).scalar_one()
        connection.execute(
            insert(model_version_tags).values(
                version_id=version_id, key="\U0001f600" * 250, value=wide
            )
        )
        connection.execute(
            insert(registered_model_tags).values(
                model_id=model_id, key="\U0001f600" * 250, value=wide
            )
        )
    with engine.connect() as connection:
        assert connection.execute(select(model_version_tags.c.value)).scalar_one() == wide


def migrate(database_url: str, revision: str, direction: str = "upgrade") -> None:
    engine = make_engine(database_url)
    config = Config()
    config.set_main_option("script_location", str(schema.MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            getattr(command, direction)(config, revision)
    finally:
        engine.dispose()


def test_upgrading_a_registry_that_holds_models_keeps_them_and_gives_them_etags(
    database_url: str,
) -> None:
    migrate(database_url, "0001", "downgrade")
    try:
        engine = make_engine(database_url)
        with engine.begin() as connection:
            # Only the columns revision 0001 has, as a server of that revision wrote them.
            connection.execute(
                insert(registered_models).values(
                    id=1,
                    name="old",
                    creation_timestamp=1,
                    last_updated_timestamp=2,
                    user_id="",
                    description="kept",
                    last_version=1,
                )
            )
            connection.execute(
                insert(model_versions).values(
                    id=1,
                    model_id=1,
                    version=1,
                    creation_timestamp=1,
                    last_updated_timestamp=2,
                    user_id="",
                    current_stage="None",
                    description="",
                    source="s3://old",
                    run_id="",
                    run_link="",
                    experiment_id="",
                    status="READY",
                    status_message="",
                )
            )
        engine.dispose()
    finally:
        migrate(database_url, "head")

    engine = make_engine(database_url)
    store = RegistryStore(engine)
    try:
        model = store.get_registered_model("old")
        assert (model.description, model.latest_versions[0].source) == ("kept", "s3://old")
        updated = store.update_registered_model("old", "changed", etag=model.etag)
        assert updated.etag != model.etag
        version = store.get_model_version("old", 1)
        moved = store.transition_model_version_stage("old", 1, "Staging", etag=version.etag)
        assert moved.etag != version.etag
    finally:
        engine.dispose()
