"""clusters, matches, the alert outbox, rule and channel state

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("cluster_score", sa.Float))
        batch.add_column(sa.Column("cluster_terms", sa.Text))

    op.create_table(
        "clusters",
        sa.Column("id", Id, autoincrement=False),
        sa.Column("headline", sa.Text, nullable=False),
        sa.Column("first_seen", TS, nullable=False),
        sa.Column("last_updated", TS, nullable=False),
        sa.Column("article_count", sa.Integer, nullable=False),
        sa.Column("outlet_count", sa.Integer, nullable=False),
        sa.Column("top_terms", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("merged_into", Id),
        sa.PrimaryKeyConstraint("id", name="pk_clusters"),
    )
    op.create_index("ix_clusters_last_updated", "clusters", ["last_updated"])

    op.create_table(
        "matches",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("article_id", Id, nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("cluster_id", Id),
        sa.Column("terms", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_matches"),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"], name="fk_matches_article_id_articles",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("article_id", "topic", name="uq_matches_article_id_topic"),
    )
    op.create_index("ix_matches_topic_created", "matches", ["topic", "created_at"])
    op.create_index("ix_matches_cluster_id", "matches", ["cluster_id"])

    op.create_table(
        "alerts",
        sa.Column("id", sa.String(40)),
        sa.Column("dedupe_key", sa.String(600), nullable=False),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("cluster_id", Id),
        sa.Column("article_id", Id),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("lease_owner", sa.String(80)),
        sa.Column("lease_until", TS),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
        sa.UniqueConstraint("dedupe_key", name="uq_alerts_dedupe_key"),
    )
    op.create_index("ix_alerts_status_due", "alerts", ["status", "due_at"])
    op.create_index("ix_alerts_rule_created", "alerts", ["rule", "created_at"])

    op.create_table(
        "rule_state",
        sa.Column("rule", sa.String(200)),
        sa.Column("last_digest_at", TS),
        sa.PrimaryKeyConstraint("rule", name="pk_rule_state"),
    )
    op.create_table(
        "channel_state",
        sa.Column("channel", sa.String(200)),
        sa.Column("disabled_at", TS),
        sa.Column("disabled_reason", sa.Text),
        sa.PrimaryKeyConstraint("channel", name="pk_channel_state"),
    )


def downgrade() -> None:
    op.drop_table("channel_state")
    op.drop_table("rule_state")
    op.drop_table("alerts")
    op.drop_table("matches")
    op.drop_table("clusters")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("cluster_terms")
        batch.drop_column("cluster_score")
