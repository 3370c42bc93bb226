"""The registry's schema as SQLAlchemy Core tables.

Alembic migrations own the schema in every database; these definitions must match the newest
migration (a test compares them). Models are keyed by a surrogate id so a rename touches one row.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from registry_service import validation as limits

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

registered_models = Table(
    "registered_models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(limits.MAX_NAME_LENGTH), nullable=False, unique=True),
    Column("creation_timestamp", BigInteger, nullable=False),
    Column("last_updated_timestamp", BigInteger, nullable=False),
    Column("user_id", String(limits.MAX_USER_ID_LENGTH), nullable=False),
    Column("description", Text, nullable=False),
    # The highest version number ever allocated; bumped in the creating transaction so numbers
    # are unique and gap-free across processes, and never reused after a delete.
    Column("last_version", Integer, nullable=False),
    # Bumped by every write to the model or anything under it; its etag is this number. The
    # default only fills rows that existed before the column did: new rows get a random start.
    Column("revision", BigInteger, nullable=False, server_default=text("1")),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "model_id",
        Integer,
        ForeignKey("registered_models.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("version", Integer, nullable=False),
    Column("creation_timestamp", BigInteger, nullable=False),
    Column("last_updated_timestamp", BigInteger, nullable=False),
    Column("user_id", String(limits.MAX_USER_ID_LENGTH), nullable=False),
    Column("current_stage", String(20), nullable=False),
    Column("description", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("run_id", String(limits.MAX_RUN_ID_LENGTH), nullable=False),
    Column("run_link", Text, nullable=False),
    Column("experiment_id", String(limits.MAX_EXPERIMENT_ID_LENGTH), nullable=False),
    Column("status", String(32), nullable=False),
    Column("status_message", Text, nullable=False),
    # Bumped by every write to the version (stage, description, tags, aliases); see
    # registered_models.revision.
    Column("revision", BigInteger, nullable=False, server_default=text("1")),
    UniqueConstraint("model_id", "version"),
    # Serves GetLatestVersions and latest_versions: the highest version per stage of one model.
    Index("ix_model_versions_model_stage_version", "model_id", "current_stage", "version"),
    Index("ix_model_versions_run_id", "run_id"),
)

registered_model_tags = Table(
    "registered_model_tags",
    metadata,
    Column(
        "model_id",
        Integer,
        ForeignKey("registered_models.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(limits.MAX_TAG_KEY_LENGTH), primary_key=True),
    Column("value", Text, nullable=False),
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column(
        "version_id",
        Integer,
        ForeignKey("model_versions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(limits.MAX_TAG_KEY_LENGTH), primary_key=True),
    Column("value", Text, nullable=False),
)

registered_model_aliases = Table(
    "registered_model_aliases",
    metadata,
    Column("model_id", Integer, primary_key=True),
    Column("alias", String(limits.MAX_ALIAS_LENGTH), primary_key=True),
    Column("version", Integer, nullable=False),
    # Deleting a version (or its model) removes the aliases that point at it.
    ForeignKeyConstraint(
        ["model_id", "version"],
        ["model_versions.model_id", "model_versions.version"],
        ondelete="CASCADE",
    ),
)

# Writes that carried a request_id, remembered for the idempotency window so that a retry gets
# the first response instead of repeating the change. A row is inserted in the same transaction
# as the change it records, so it exists exactly when the change committed.
idempotent_requests = Table(
    "idempotent_requests",
    metadata,
    Column("request_id", String(limits.REQUEST_ID_LENGTH), primary_key=True),
    # SHA-256 (hex) of the operation and its arguments: a reused id with another request is refused.
    Column("fingerprint", String(64), nullable=False),
    # The first call's result as JSON; NULL only inside the transaction that claimed the id.
    Column("response", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    # Serves the purge of rows older than the window.
    Index("ix_idempotent_requests_created_at", "created_at"),
)
