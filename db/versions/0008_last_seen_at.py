"""articles.last_seen_at and feeds.entries_seen_at: when a feed last listed an entry

The retention job deletes an event only when none of its articles was listed by its
feed after the cutoff. Without this, an entry a feed keeps listing (an undated
"about us" item is dated when fetched) came back as news once its old copy was
deleted. Existing articles count as last seen when last stored or changed.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

TS = sa.DateTime(timezone=True)
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("last_seen_at", TS, nullable=True))
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("entries_seen_at", TS, nullable=True))
    op.execute("UPDATE articles SET last_seen_at = updated_at")
    op.create_index("ix_articles_feed_id_last_seen_at", "articles", ["feed_id", "last_seen_at"])


def downgrade() -> None:
    op.drop_index("ix_articles_feed_id_last_seen_at", table_name="articles")
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("entries_seen_at")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("last_seen_at")
