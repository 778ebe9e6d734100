"""id_high_water: the highest event and article ids ever given out

The retention job deletes old events; before it does, it records their highest ids
here, so a restarted consumer (next event id = max + 1) and SQLite (next article id =
max(id) + 1) never hand out the id of a deleted event or article again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "id_high_water",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_id_high_water"),
    )


def downgrade() -> None:
    op.drop_table("id_high_water")
