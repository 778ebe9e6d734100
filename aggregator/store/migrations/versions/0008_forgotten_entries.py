"""forgotten_entries: undated entries whose articles the retention job deleted

normalize dates an undated entry when it is fetched, so an entry a feed keeps listing
(an evergreen "about us" item) came back as a new article and a new event once the
retention job had deleted its old copy. Their identities are kept here and such an
entry is not stored again. Dated entries need nothing: the age check refuses them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "forgotten_entries",
        sa.Column("feed_id", Id, nullable=False),
        sa.Column("identity", sa.String(512), nullable=False),
        sa.Column("forgotten_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["feed_id"],
            ["feeds.id"],
            name="fk_forgotten_entries_feed_id_feeds",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("feed_id", "identity", name="pk_forgotten_entries"),
    )


def downgrade() -> None:
    op.drop_table("forgotten_entries")
