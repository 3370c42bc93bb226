"""Event retention: the horizon of pruned events, and per-model snapshots that point-in-time
reads start from once a model's older events are gone.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    horizon = op.create_table(
        "event_horizon",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_event_horizon"),
    )
    op.bulk_insert(horizon, [{"id": 1, "sequence": 0, "timestamp": 0}])
    op.create_table(
        "model_snapshots",
        sa.Column("model_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("model_name", sa.String(length=256), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("model_id", name="pk_model_snapshots"),
    )
    op.create_index("ix_model_snapshots_model_name", "model_snapshots", ["model_name"])
    # Pruning deletes the oldest deliveries first.
    op.create_index(
        "ix_webhook_deliveries_creation_timestamp", "webhook_deliveries", ["creation_timestamp"]
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_creation_timestamp", "webhook_deliveries")
    op.drop_index("ix_model_snapshots_model_name", "model_snapshots")
    op.drop_table("model_snapshots")
    op.drop_table("event_horizon")
