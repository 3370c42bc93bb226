"""Reliability: revision counters behind etags, and remembered idempotent requests.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN with a default, never a batch rebuild: rebuilding registered_models on
    # SQLite with foreign keys on would drop it, and the drop would cascade to every version.
    for table in ("registered_models", "model_versions"):
        op.add_column(
            table,
            sa.Column("revision", sa.BigInteger(), nullable=False, server_default=sa.text("1")),
        )
    op.create_table(
        "idempotent_requests",
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name="pk_idempotent_requests"),
    )
    op.create_index("ix_idempotent_requests_created_at", "idempotent_requests", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotent_requests_created_at", table_name="idempotent_requests")
    op.drop_table("idempotent_requests")
    # Native DROP COLUMN (SQLite 3.35+), for the same reason as above.
    for table in ("model_versions", "registered_models"):
        op.drop_column(table, "revision")
