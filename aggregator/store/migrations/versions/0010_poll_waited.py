"""polls.waited: time queued for the per-host limits, apart from the poll's duration

Feeds on one host (BBC, Guardian sections) queue for the per-host gap one after the
other; that wait was counted in the poll's duration, so they all showed "slow" after
tens of seconds of queueing. The duration is now the feed's own time (fetch and
processing); the wait is recorded beside it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("polls", sa.Column("waited", sa.Float()))


def downgrade() -> None:
    op.drop_column("polls", "waited")
