"""articles.rematch_at: an article edited in place is matched against the topics again

A poll that finds an entry with new content (a corrected headline, an updated body)
rewrites the row but left processed_at set, so the consumer never looked at the new
text: a topic the correction brought in ("... in Russia's Kursk region") never matched
and never alerted. The poll now sets rematch_at; the consumer matches the article
again under its existing event (without clustering it twice) and clears the column
in the transaction that stores the matches and alerts.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("articles", sa.Column("rematch_at", sa.DateTime(timezone=True)))
    op.create_index("ix_articles_rematch_at", "articles", ["rematch_at"])


def downgrade() -> None:
    op.drop_index("ix_articles_rematch_at", table_name="articles")
    op.drop_column("articles", "rematch_at")
