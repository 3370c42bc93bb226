"""The migrations build exactly the schema store/tables.py describes, on both backends, and
upgrading a database that already holds models keeps them usable."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert

from registry_service.store import schema
from registry_service.store.engine import make_engine
from registry_service.store.registry_store import RegistryStore
from registry_service.store.tables import metadata, model_versions, registered_models


def test_migrated_schema_is_exactly_the_tables_module(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


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
