"""Schema versioning: Alembic migrations applied and checked from code, no alembic.ini needed."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).with_name("migrations")
UPGRADE_COMMAND = "registry-service db upgrade"

# Key of the PostgreSQL advisory lock that replicas starting together on an empty database take
# before creating the schema, so that one creates it and the others find it made.
_CREATE_LOCK = 0x5265_6753_6368  # "RegSch"


class SchemaOutdated(Exception):
    """The database's schema is not the one this code needs; the message says what to run."""


def alembic_config() -> Config:
    """Alembic's configuration for these migrations, for whatever runs them to a revision of its
    choosing (the benchmark's seed, the migration tests) as well as for ``upgrade``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations folder has no revisions"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (the newest schema unless told; tests build older
    ones); a no-op when it is already there."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def require_current(engine: Engine) -> None:
    """Refuse to serve on a schema older (or newer) than this code's."""
    current = current_revision(engine)
    head = head_revision()
    if current != head:
        found = "no registry schema" if current is None else f"schema revision {current}"
        raise SchemaOutdated(
            f"the database at {engine.url.render_as_string(hide_password=True)} has {found}; "
            f"this version needs revision {head}. Run `{UPGRADE_COMMAND}` with the same "
            "--database-url (or REGISTRY_DATABASE_URL) first."
        )


def create_if_empty(engine: Engine) -> bool:
    """Create the newest schema on a database that holds no tables at all, as MLflow's server
    does on first start; True when it did. A database with tables (an older registry schema, or
    someone else's) is left for ``require_current`` to judge: migrating data stays an operator's
    explicit ``db upgrade``.

    PostgreSQL runs DDL in the transaction, so the check and the creation are one transaction
    under an advisory lock: replicas that start together on an empty database create it once.
    """
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_CREATE_LOCK})")
        if inspect(connection).get_table_names():
            return False
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return True
