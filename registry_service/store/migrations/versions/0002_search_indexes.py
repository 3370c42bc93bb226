"""Search indexes, and byte-wise comparison of searchable text on PostgreSQL.

Every filter and sort key of the search language gets an index (store/tables.py says which
serves what). On PostgreSQL the searchable text columns move to the "C" collation, so that
comparisons, ORDER BY and page tokens agree with SQLite whatever the server's locale, and a plain
btree serves ``LIKE 'prefix%'``. Unbounded text is never indexed whole, because a PostgreSQL
btree entry larger than ~2700 bytes makes the INSERT fail: tag values are indexed by their first
200 characters and the source by a hash index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# (table, column, type) of the text that searches compare.
_SEARCHABLE = [
    ("registered_models", "name", sa.String(length=256), False),
    ("registered_models", "user_id", sa.String(length=256), False),
    ("registered_models", "description", sa.Text(), False),
    ("model_versions", "user_id", sa.String(length=256), False),
    ("model_versions", "current_stage", sa.String(length=20), False),
    ("model_versions", "source", sa.Text(), False),
    ("model_versions", "run_id", sa.String(length=256), False),
    ("model_versions", "status", sa.String(length=32), False),
    ("registered_model_tags", "key", sa.String(length=250), False),
    ("registered_model_tags", "value", sa.Text(), False),
    ("model_version_tags", "key", sa.String(length=250), False),
    ("model_version_tags", "value", sa.Text(), False),
    ("registered_model_aliases", "alias", sa.String(length=255), False),
]

# (name, table, columns) of the plain btree indexes.
_INDEXES = [
    (
        "ix_registered_models_creation_timestamp_name",
        "registered_models",
        ["creation_timestamp", "name"],
    ),
    (
        "ix_registered_models_last_updated_timestamp_name",
        "registered_models",
        ["last_updated_timestamp", "name"],
    ),
    ("ix_registered_models_user_id", "registered_models", ["user_id"]),
    (
        "ix_model_versions_model_updated_version",
        "model_versions",
        ["model_id", "last_updated_timestamp", "version"],
    ),
    ("ix_model_versions_last_updated_timestamp", "model_versions", ["last_updated_timestamp"]),
    ("ix_model_versions_creation_timestamp", "model_versions", ["creation_timestamp"]),
    ("ix_model_versions_version", "model_versions", ["version"]),
    ("ix_model_versions_user_id", "model_versions", ["user_id"]),
    ("ix_model_versions_status", "model_versions", ["status"]),
    (
        "ix_model_versions_stage_updated",
        "model_versions",
        ["current_stage", "last_updated_timestamp"],
    ),
    (
        "ix_registered_model_aliases_alias",
        "registered_model_aliases",
        ["alias", "model_id", "version"],
    ),
]

# Tag values are indexed by this many leading characters; see TAG_VALUE_PREFIX in tables.py.
_TAG_VALUE_PREFIX = "substr(value, 1, 200)"


def _collate(collation: str | None) -> None:
    for table, column, type_, nullable in _SEARCHABLE:
        collated = type_.__class__(length=type_.length, collation=collation)
        op.alter_column(table, column, type_=collated, existing_nullable=nullable)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        _collate("C")
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns)
    op.create_index(
        "ix_model_versions_source", "model_versions", ["source"], postgresql_using="hash"
    )
    for table in ("registered_model_tags", "model_version_tags"):
        op.create_index(f"ix_{table}_key_value", table, ["key", sa.text(_TAG_VALUE_PREFIX)])


def downgrade() -> None:
    for table in ("registered_model_tags", "model_version_tags"):
        op.drop_index(f"ix_{table}_key_value", table_name=table)
    op.drop_index("ix_model_versions_source", table_name="model_versions")
    for name, table, _columns in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
    if op.get_bind().dialect.name == "postgresql":
        _collate(None)
