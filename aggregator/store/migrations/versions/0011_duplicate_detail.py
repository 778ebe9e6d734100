"""articles.duplicate_detail: why the consumer judged an article a copy, or not

Boilerplate (footers, "About X", disclaimers, stock sentences) no longer makes a copy
(issue 13). ``cluster show --explain`` and the API say what was set aside: a JSON
object with the share of distinctive text found (``similarity``), the phrases ignored
as boilerplate (``boilerplate``) and, for an article judged *not* a copy of one it
shared text with, that article (``not_copy_of``) and why (``reason``: "lead" when
its story differs, "boilerplate" when only boilerplate was shared). NULL when there
is nothing to explain (older rows, or no copy question arose).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("articles", sa.Column("duplicate_detail", sa.Text()))


def downgrade() -> None:
    op.drop_column("articles", "duplicate_detail")
