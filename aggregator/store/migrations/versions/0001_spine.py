"""feeds, articles, polls

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("config_url", sa.Text, nullable=False),
        sa.Column("title", sa.Text),
        sa.Column("site_url", sa.Text),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("fixed_interval", sa.Float),
        sa.Column("fulltext", sa.Boolean, nullable=False),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("validators_url", sa.Text),
        sa.Column("body_hash", sa.String(64)),
        sa.Column("interval_seconds", sa.Float),
        sa.Column("next_poll_at", TS, nullable=False),
        sa.Column("last_polled_at", TS),
        sa.Column("last_success_at", TS),
        sa.Column("last_new_at", TS),
        sa.Column("last_outcome", sa.String(16)),
        sa.Column("last_http_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("error_count", sa.Integer, nullable=False),
        sa.Column("lease_owner", sa.String(80)),
        sa.Column("lease_until", TS),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feeds"),
        sa.UniqueConstraint("name", name="uq_feeds_name"),
    )
    op.create_index("ix_feeds_due", "feeds", ["enabled", "next_poll_at"])

    op.create_table(
        "articles",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("feed_id", Id, nullable=False),
        sa.Column("identity", sa.String(512), nullable=False),
        sa.Column("guid", sa.Text),
        sa.Column("url", sa.Text),
        sa.Column("canonical_url", sa.Text),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("title_raw", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("html", sa.Text, nullable=False),
        sa.Column("fulltext", sa.Text),
        sa.Column("author", sa.Text),
        sa.Column("published", TS, nullable=False),
        sa.Column("published_estimated", sa.Boolean, nullable=False),
        sa.Column("fetched_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("language", sa.String(16)),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.BigInteger, nullable=False),
        sa.Column("duplicate_of", Id),
        sa.Column("duplicate_kind", sa.String(16)),
        sa.Column("cluster_id", Id),
        sa.Column("processed_at", TS),
        sa.PrimaryKeyConstraint("id", name="pk_articles"),
        sa.ForeignKeyConstraint(
            ["feed_id"], ["feeds.id"], name="fk_articles_feed_id_feeds", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["duplicate_of"],
            ["articles.id"],
            name="fk_articles_duplicate_of_articles",
            ondelete="SET NULL",
        ),
        sa.UniqueConstraint("feed_id", "identity", name="uq_articles_feed_id_identity"),
    )
    op.create_index("ix_articles_published", "articles", ["published"])
    op.create_index("ix_articles_content_hash", "articles", ["content_hash"])
    op.create_index("ix_articles_canonical_url", "articles", ["canonical_url"])
    op.create_index("ix_articles_cluster_id", "articles", ["cluster_id"])
    op.create_index("ix_articles_processed_at", "articles", ["processed_at"])

    op.create_table(
        "polls",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("feed_id", Id, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("http_status", sa.Integer),
        sa.Column("bytes_wire", sa.BigInteger, nullable=False),
        sa.Column("bytes_decoded", sa.BigInteger, nullable=False),
        sa.Column("etag_sent", sa.Text),
        sa.Column("last_modified_sent", sa.Text),
        sa.Column("etag_received", sa.Text),
        sa.Column("last_modified_received", sa.Text),
        sa.Column("new_entries", sa.Integer, nullable=False),
        sa.Column("updated_entries", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("warnings", sa.Text),
        sa.Column("next_poll_at", TS),
        sa.PrimaryKeyConstraint("id", name="pk_polls"),
        sa.ForeignKeyConstraint(
            ["feed_id"], ["feeds.id"], name="fk_polls_feed_id_feeds", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_polls_feed_started", "polls", ["feed_id", "started_at"])


def downgrade() -> None:
    op.drop_table("polls")
    op.drop_table("articles")
    op.drop_table("feeds")
