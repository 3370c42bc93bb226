"""Logged models (MLflow 3): a version's logged model id and where its files are downloaded from.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(
            sa.Column("logged_model_id", sa.String(length=256), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("storage_location", sa.Text(), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("storage_location")
        batch.drop_column("logged_model_id")
