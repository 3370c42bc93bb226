"""Restore after delete: deleted models and versions wait in trash tables for the retention window.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deleted_registered_models",
        sa.Column("model_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("deletion_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("deleted_by", sa.String(256), nullable=False),
        sa.Column("version_count", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("model_id", name="pk_deleted_registered_models"),
    )
    op.create_index("ix_deleted_registered_models_name", "deleted_registered_models", ["name"])
    op.create_index(
        "ix_deleted_registered_models_deletion_timestamp",
        "deleted_registered_models",
        ["deletion_timestamp", "model_id"],
    )
    op.create_table(
        "deleted_model_versions",
        sa.Column("model_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("deletion_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("deleted_by", sa.String(256), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("model_id", "version", name="pk_deleted_model_versions"),
    )
    op.create_index(
        "ix_deleted_model_versions_deletion_timestamp",
        "deleted_model_versions",
        ["deletion_timestamp"],
    )


def downgrade() -> None:
    op.drop_table("deleted_model_versions")
    op.drop_table("deleted_registered_models")
