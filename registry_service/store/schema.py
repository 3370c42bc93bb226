"""Schema versioning: Alembic migrations applied and checked from code, no alembic.ini needed."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).with_name("migrations")
UPGRADE_COMMAND = "registry-service db upgrade"


class SchemaOutdated(Exception):
    """The database's schema is not the one this code needs; the message says what to run."""


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "the migrations folder has no revisions"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema; a no-op when it is already there."""
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


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
