"""articles: a partial index of the unprocessed ones in publication order

The consumer takes its next batch of new articles by publication time, then id (a
burst is stored outlet by outlet; clustered in that order, each outlet's news came as
a block and joined too much). The index holds only the rows not processed yet, in
that order, so the look-up every second stays as small as the id-ordered one beside it
(``ix_articles_unprocessed``, which the embed stage's id-ordered look-up still uses).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


UNPROCESSED = sa.text("processed_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_articles_unprocessed_published",
        "articles",
        ["published", "id"],
        sqlite_where=UNPROCESSED,
        postgresql_where=UNPROCESSED,
    )


def downgrade() -> None:
    op.drop_index("ix_articles_unprocessed_published", table_name="articles")
