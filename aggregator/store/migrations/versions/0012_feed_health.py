"""feed_health: what each feed_health alert rule last said about each feed

A rule alerts once per transition (a feed becomes broken, gone or quiet, and again when
it recovers); the status it last reported is kept here, written in the same transaction
as the alert.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "feed_health",
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("feed_id", Id, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["feed_id"],
            ["feeds.id"],
            name="fk_feed_health_feed_id_feeds",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rule", "feed_id", name="pk_feed_health"),
    )


def downgrade() -> None:
    op.drop_table("feed_health")
