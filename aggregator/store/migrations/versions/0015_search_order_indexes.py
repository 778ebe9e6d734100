"""articles: indexes in the order a filtered search pages, (feed_id, published, id) and
(language, published, id); the second replaces ix_articles_language

A search by outlet or language newest first (the web page's outlet view, the API's
``feed=`` or ``lang=`` with date order) had no index in that order: SQLite read every
article of the outlet (the unique (feed_id, identity) index) and sorted them, reading
each row's published past its text and html, 0.8 s for one of 50 outlets at 100,000
articles; PostgreSQL walked ix_articles_published backwards and skipped the other
outlets' rows, all of them for an outlet that wrote little. In these indexes the
outlet's or language's articles are already newest first, so a page reads its rows
and stops. The language one starts with the language, so the archive's hop over the
distinct languages (``lang:`` in a query) uses it as it used ix_articles_language.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_articles_feed_published", "articles", ["feed_id", "published", "id"])
    op.create_index(
        "ix_articles_language_published", "articles", ["language", "published", "id"]
    )
    op.drop_index("ix_articles_language", table_name="articles")


def downgrade() -> None:
    op.create_index("ix_articles_language", "articles", ["language"])
    op.drop_index("ix_articles_language_published", table_name="articles")
    op.drop_index("ix_articles_feed_published", table_name="articles")
