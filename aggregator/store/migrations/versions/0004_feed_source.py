"""feeds.managed_by: feeds.yaml or the HTTP API

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(
            sa.Column("managed_by", sa.String(16), nullable=False, server_default="config")
        )


def downgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("managed_by")
