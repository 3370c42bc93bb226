"""Access: hashed bearer tokens and per-model permissions.

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=256), nullable=False),
        sa.Column("admin", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("creation_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("revocation_timestamp", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_access_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_access_tokens_token_hash"),
    )
    op.create_table(
        "registered_model_permissions",
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=256), nullable=False),
        sa.Column("permission", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
            name="fk_registered_model_permissions_model_id_registered_models",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_id", "user_id", name="pk_registered_model_permissions"),
    )
    op.create_index(
        "ix_registered_model_permissions_user_id_model_id",
        "registered_model_permissions",
        ["user_id", "model_id"],
    )


def downgrade() -> None:
    op.drop_index(
        "ix_registered_model_permissions_user_id_model_id",
        table_name="registered_model_permissions",
    )
    op.drop_table("registered_model_permissions")
    op.drop_table("access_tokens")
