"""The registry's schema as SQLAlchemy Core tables.

Alembic migrations own the schema in every database; these definitions must match the newest
migration (a test compares them). Models are keyed by a surrogate id so a rename touches one row.

Indexes serve every filter and sort key of the search language (docs/performance.md lists which
index serves which query). Two rules shape them:

- Searchable text is compared byte-wise on both databases: SQLite's BINARY collation, and on
  PostgreSQL the "C" collation on those columns. Filters, ORDER BY and keyset page tokens then mean
  the same on either database whatever the server's default locale, and PostgreSQL can serve
  ``LIKE 'prefix%'`` from a plain btree index.
- A PostgreSQL btree entry must stay under ~2700 bytes, so unbounded text (tag values up to 5000
  characters, sources up to 4096) is never indexed whole: tag values are indexed by their first
  ``TAG_VALUE_PREFIX`` characters (the filter adds the matching prefix condition next to the exact
  one), and the source by a hash index on PostgreSQL (equality only, no size limit).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
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
    func,
    literal_column,
    text,
)
from sqlalchemy.types import TypeEngine

from registry_service import validation as limits

# Characters of a tag value that its index holds: 200 characters of at most 4 bytes each, with a
# 250-character key, stay far below PostgreSQL's btree entry limit.
TAG_VALUE_PREFIX = 200


def tag_value_prefix(value: Any) -> Any:
    """The indexed prefix of a tag value column (or of a literal compared with one).

    The bounds are rendered inline, not bound: SQLite uses an expression index only for a query
    expression that matches it exactly.
    """
    return func.substr(value, literal_column("1"), literal_column(str(TAG_VALUE_PREFIX)))


def _searchable(type_: String) -> TypeEngine[str]:
    """``type_`` compared byte-wise: the "C" collation on PostgreSQL (SQLite's default is)."""
    return type_.with_variant(type(type_)(length=type_.length, collation="C"), "postgresql")


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
    Column("name", _searchable(String(limits.MAX_NAME_LENGTH)), nullable=False, unique=True),
    Column("creation_timestamp", BigInteger, nullable=False),
    Column("last_updated_timestamp", BigInteger, nullable=False),
    Column("user_id", _searchable(String(limits.MAX_USER_ID_LENGTH)), nullable=False),
    # Filtered only by a scan: the useful filters on prose are LIKE '%word%', which no btree
    # serves, and an index on 64 KiB of text would break PostgreSQL's entry limit.
    Column("description", _searchable(Text()), nullable=False),
    # The highest version number ever allocated; bumped in the creating transaction so numbers
    # are unique and gap-free across processes, and never reused after a delete.
    Column("last_version", Integer, nullable=False),
    # Bumped by every write to the model or anything under it; its etag is this number. The
    # default only fills rows that existed before the column did: new rows get a random start.
    Column("revision", BigInteger, nullable=False, server_default=text("1")),
    # Sort keys with the name tie-break, so a keyset page is one index range.
    Index("ix_registered_models_creation_timestamp_name", "creation_timestamp", "name"),
    Index("ix_registered_models_last_updated_timestamp_name", "last_updated_timestamp", "name"),
    Index("ix_registered_models_user_id", "user_id"),
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
    Column("user_id", _searchable(String(limits.MAX_USER_ID_LENGTH)), nullable=False),
    Column("current_stage", _searchable(String(20)), nullable=False),
    Column("description", Text, nullable=False),
    Column("source", _searchable(Text()), nullable=False),
    Column("run_id", _searchable(String(limits.MAX_RUN_ID_LENGTH)), nullable=False),
    Column("run_link", Text, nullable=False),
    Column("experiment_id", String(limits.MAX_EXPERIMENT_ID_LENGTH), nullable=False),
    Column("status", _searchable(String(32)), nullable=False),
    Column("status_message", Text, nullable=False),
    # Bumped by every write to the version (stage, description, tags, aliases); see
    # registered_models.revision.
    Column("revision", BigInteger, nullable=False, server_default=text("1")),
    # The logged model (MLflow 3's model_id, "m-<id>") it was registered from; "" when none.
    Column(
        "logged_model_id", String(limits.MAX_MODEL_ID_LENGTH), nullable=False, server_default=""
    ),
    # Where its files are downloaded from, when that is not its source: the logged model's
    # artifacts, or the files of the version a models:/ source copies. "" means the source.
    Column("storage_location", Text, nullable=False, server_default=""),
    # Also serves "name = ..." (the model's id, then its versions) and ORDER BY name, version.
    UniqueConstraint("model_id", "version"),
    # Serves GetLatestVersions and latest_versions: the highest version per stage of one model.
    Index("ix_model_versions_model_stage_version", "model_id", "current_stage", "version"),
    # One model's versions newest first (the default order), without sorting them all.
    Index(
        "ix_model_versions_model_updated_version", "model_id", "last_updated_timestamp", "version"
    ),
    Index("ix_model_versions_run_id", "run_id"),
    Index("ix_model_versions_last_updated_timestamp", "last_updated_timestamp"),
    Index("ix_model_versions_creation_timestamp", "creation_timestamp"),
    Index("ix_model_versions_version", "version"),
    Index("ix_model_versions_user_id", "user_id"),
    Index("ix_model_versions_status", "status"),
    # "What is in Production", newest first.
    Index("ix_model_versions_stage_updated", "current_stage", "last_updated_timestamp"),
    # Equality only on PostgreSQL, where a hash entry has no size limit; a btree on SQLite.
    Index("ix_model_versions_source", "source", postgresql_using="hash"),
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
    Column("key", _searchable(String(limits.MAX_TAG_KEY_LENGTH)), primary_key=True),
    Column("value", _searchable(Text()), nullable=False),
)
Index(
    "ix_registered_model_tags_key_value",
    registered_model_tags.c.key,
    tag_value_prefix(registered_model_tags.c.value),
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
    Column("key", _searchable(String(limits.MAX_TAG_KEY_LENGTH)), primary_key=True),
    Column("value", _searchable(Text()), nullable=False),
)
Index(
    "ix_model_version_tags_key_value",
    model_version_tags.c.key,
    tag_value_prefix(model_version_tags.c.value),
)

registered_model_aliases = Table(
    "registered_model_aliases",
    metadata,
    Column("model_id", Integer, primary_key=True),
    Column("alias", _searchable(String(limits.MAX_ALIAS_LENGTH)), primary_key=True),
    Column("version", Integer, nullable=False),
    # Deleting a version (or its model) removes the aliases that point at it.
    ForeignKeyConstraint(
        ["model_id", "version"],
        ["model_versions.model_id", "model_versions.version"],
        ondelete="CASCADE",
    ),
    # "alias = ..." across all models, answered from the index alone.
    Index("ix_registered_model_aliases_alias", "alias", "model_id", "version"),
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

# The outbox: one row per committed change, written in the change's own transaction (see
# store/outbox.py). The sequence is allocated from event_counter as the transaction's last
# statement, so on PostgreSQL too rows become visible in sequence order and a tailer that reads
# "sequence > last seen" never skips a row that commits late.
events = Table(
    "events",
    metadata,
    Column("sequence", BigInteger, primary_key=True, autoincrement=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("actor", String(limits.MAX_USER_ID_LENGTH), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("model_name", String(limits.MAX_NAME_LENGTH), nullable=False),
    # The model's row id: history follows a model across renames by it. Not a foreign key, since
    # the history outlives the model.
    Column("model_id", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    # JSON objects of the values that changed.
    Column("before", Text, nullable=False),
    Column("after", Text, nullable=False),
    # Watch and ListEvents filtered by model; as_of finds a name's model at a time.
    Index("ix_events_model_name_sequence", "model_name", "sequence"),
    # as_of replays one model's history.
    Index("ix_events_model_id_sequence", "model_id", "sequence"),
)

# A single row (id 1): the last sequence allocated. Its row lock is taken last in each writing
# transaction, which orders commits as the sequence does.
event_counter = Table(
    "event_counter",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_sequence", BigInteger, nullable=False),
)

# A single row (id 1): the last event pruned by --event-retention (sequence 0 before any). Events up
# to its sequence are gone; point-in-time reads before its timestamp are refused.
event_horizon = Table(
    "event_horizon",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("sequence", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
)

# Per model, its state as the pruned events left it: as_of starts from here and replays the
# events after ``sequence``. JSON of the model's versions and aliases (see model_state.ModelState).
model_snapshots = Table(
    "model_snapshots",
    metadata,
    Column("model_id", Integer, primary_key=True, autoincrement=False),
    Column("model_name", String(limits.MAX_NAME_LENGTH), nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("state", Text, nullable=False),
    # Deleted by then: kept, since a restore after the horizon continues from it.
    Column("deleted", Boolean, nullable=False),
    # as_of finds a name's model here once its events are gone.
    Index("ix_model_snapshots_model_name", "model_name"),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("url", Text, nullable=False),
    # JSON list of EventType values.
    Column("event_types", Text, nullable=False),
    # The HMAC key, stored as given: the signature needs it in clear. "" signs nothing.
    Column("secret", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("description", Text, nullable=False),
    Column("creation_timestamp", BigInteger, nullable=False),
    Column("last_updated_timestamp", BigInteger, nullable=False),
    # MLflow's webhook name; "" for none.
    Column("name", Text, nullable=False, server_default=""),
)

# A single row (id 1): the last event that webhook fan-out turned into deliveries.
webhook_cursor = Table(
    "webhook_cursor",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_sequence", BigInteger, nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column(
        "webhook_id",
        String(36),
        ForeignKey("webhooks.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("event_sequence", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", BigInteger, nullable=False),
    # A sender owns the delivery until then; a sender that died loses it when the lease ends.
    Column("lease_until", BigInteger, nullable=False),
    Column("last_attempt_at", BigInteger, nullable=False),
    Column("last_response_code", Integer, nullable=False),
    Column("last_error", Text, nullable=False),
    Column("creation_timestamp", BigInteger, nullable=False),
    UniqueConstraint("webhook_id", "event_sequence"),
    # The sender's query: pending deliveries that are due.
    Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    # Retention prunes the oldest deliveries first.
    Index("ix_webhook_deliveries_creation_timestamp", "creation_timestamp"),
)

# Every attempt of every delivery, for the delivery log.
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column(
        "delivery_id",
        String(36),
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("attempt", Integer, primary_key=True, autoincrement=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("response_code", Integer, nullable=False),
    Column("error", Text, nullable=False),
)

# Bearer tokens (--auth token). Only the SHA-256 of a token is kept: a copy of the database does
# not hand out working tokens.
access_tokens = Table(
    "access_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", String(limits.MAX_USER_ID_LENGTH), nullable=False),
    Column("admin", Boolean, nullable=False),
    Column("description", Text, nullable=False),
    Column("creation_timestamp", BigInteger, nullable=False),
    # NULL while the token is valid; a revoked token stays listed.
    Column("revocation_timestamp", BigInteger, nullable=True),
    # NULL: the token never expires. An expired token stays listed, like a revoked one.
    Column("expiration_timestamp", BigInteger, nullable=True),
    # NULL until first used; then refreshed at most once a minute (see AccessStore.valid_token).
    Column("last_used_timestamp", BigInteger, nullable=True),
)

# Per-model grants. Keyed by the model's id, so a rename keeps them and a delete removes them.
registered_model_permissions = Table(
    "registered_model_permissions",
    metadata,
    Column(
        "model_id",
        Integer,
        ForeignKey("registered_models.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("user_id", String(limits.MAX_USER_ID_LENGTH), primary_key=True),
    # READ, EDIT or MANAGE.
    Column("permission", String(16), nullable=False),
    # Serves the search filter "models this user may read".
    Index("ix_registered_model_permissions_user_id_model_id", "user_id", "model_id"),
)

# Transition requests: changes a caller without MANAGE asked for, waiting for a MANAGE holder.
# Keyed by the model's id like the grants, so a rename keeps them and a delete removes them.
transition_requests = Table(
    "transition_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "model_id",
        Integer,
        ForeignKey("registered_models.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("version", Integer, nullable=False),
    # The target stage; "" for an alias request.
    Column("stage", String(32), nullable=False),
    # The alias to set or delete; "" for a stage request.
    Column("alias", String(limits.MAX_ALIAS_LENGTH), nullable=False),
    Column("delete_alias", Boolean, nullable=False),
    Column("archive_existing_versions", Boolean, nullable=False),
    Column("comment", Text, nullable=False),
    # PENDING, APPROVED, REJECTED or CANCELLED.
    Column("state", String(16), nullable=False),
    Column("user_id", String(limits.MAX_USER_ID_LENGTH), nullable=False),
    Column("creation_timestamp", BigInteger, nullable=False),
    Column("last_updated_timestamp", BigInteger, nullable=False),
    Column("resolved_by", String(limits.MAX_USER_ID_LENGTH), nullable=False),
    Column("resolution_comment", Text, nullable=False),
    # The request's etag; and the version's revision when the request was made.
    Column("revision", BigInteger, nullable=False),
    Column("version_revision", BigInteger, nullable=False),
    # Listing a model's (or version's) requests, newest first.
    Index("ix_transition_requests_model_id_version", "model_id", "version"),
)

# Restore after delete (store/trash.py): a deleted model or version waits here, serialized, for
# --deleted-retention; reads never look here, and the purge removes it after the window.
deleted_registered_models = Table(
    "deleted_registered_models",
    metadata,
    # The model's row id, kept: its history and grants follow it, and a restore reuses it.
    Column("model_id", Integer, primary_key=True, autoincrement=False),
    # Its name when deleted; the same name may be deleted more than once (by several models).
    Column("name", String(limits.MAX_NAME_LENGTH), nullable=False),
    Column("deletion_timestamp", BigInteger, nullable=False),
    Column("deleted_by", String(limits.MAX_USER_ID_LENGTH), nullable=False),
    Column("version_count", Integer, nullable=False),
    # JSON: the model's row, tags, aliases, grants and versions (each with its tags).
    Column("payload", Text, nullable=False),
    Index("ix_deleted_registered_models_name", "name"),
    # The listing (newest first) and the purge (oldest first).
    Index("ix_deleted_registered_models_deletion_timestamp", "deletion_timestamp", "model_id"),
)

deleted_model_versions = Table(
    "deleted_model_versions",
    metadata,
    # The live (or itself deleted) model's row id; no foreign key, the model may be in the trash.
    Column("model_id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("deletion_timestamp", BigInteger, nullable=False),
    Column("deleted_by", String(limits.MAX_USER_ID_LENGTH), nullable=False),
    # JSON: the version's row, tags and the aliases that pointed at it.
    Column("payload", Text, nullable=False),
    Index("ix_deleted_model_versions_deletion_timestamp", "deletion_timestamp"),
)
