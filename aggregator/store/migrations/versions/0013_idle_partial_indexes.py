"""articles: partial indexes for the consumer's look-ups, which run every second

The consumer asks every second for the edited articles to match again
(``rematch_at IS NOT NULL ... ORDER BY id LIMIT n``). With a plain index on
``rematch_at`` SQLite preferred walking the table in id order (no sort needed) and
read every article each time: 20 ms at 25,000 articles and growing with the archive,
2 CPU-seconds a minute for a daemon with nothing to do. A partial index over ``id``
holding only the rows that wait (``WHERE rematch_at IS NOT NULL``) is both in the
order asked and as small as the work: both engines use it whatever their statistics
say, and it costs nothing to keep up while no article waits.

The look-up of new articles (``processed_at IS NULL ... ORDER BY id``) gets the same
kind of index: on the plain ``processed_at`` index PostgreSQL, once it has statistics,
preferred walking an id-ordered index of every article and filtering, a scan of the
archive whenever few articles wait.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

WAITING = sa.text("rematch_at IS NOT NULL")
UNPROCESSED = sa.text("processed_at IS NULL")


def upgrade() -> None:
    op.drop_index("ix_articles_rematch_at", table_name="articles")
    op.create_index(
        "ix_articles_rematch_waiting",
        "articles",
        ["id"],
        sqlite_where=WAITING,
        postgresql_where=WAITING,
    )
    op.create_index(
        "ix_articles_unprocessed",
        "articles",
        ["id"],
        sqlite_where=UNPROCESSED,
        postgresql_where=UNPROCESSED,
    )


def downgrade() -> None:
    op.drop_index("ix_articles_unprocessed", table_name="articles")
    op.drop_index("ix_articles_rematch_waiting", table_name="articles")
    op.create_index("ix_articles_rematch_at", "articles", ["rematch_at"])
