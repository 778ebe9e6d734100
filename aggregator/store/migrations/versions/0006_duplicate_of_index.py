"""Index articles.duplicate_of: deleting an article looks up its copies

The foreign key is ON DELETE SET NULL, so every deleted article makes the database
find the rows that point at it; without an index that is a scan of the whole table
per deleted row (the retention job deletes thousands).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_articles_duplicate_of", "articles", ["duplicate_of"])


def downgrade() -> None:
    op.drop_index("ix_articles_duplicate_of", table_name="articles")
