"""Indexes for searches with filters: articles.language, and a covering index of
what searches filter and order on (id, feed_id, published, language, cluster_id)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_articles_language", "articles", ["language"])
    op.create_index(
        "ix_articles_search_filter",
        "articles",
        ["id", "feed_id", "published", "language", "cluster_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_articles_search_filter", table_name="articles")
    op.drop_index("ix_articles_language", table_name="articles")
