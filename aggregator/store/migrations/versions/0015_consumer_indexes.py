"""alerts: an index on cluster_id, for the consumer's questions about an event;
clusters: a partial index of the merged ones

The consumer asks, once per batch, which rules already alerted for the events the
batch's articles joined (``rules_fired_in``), and a ``developing`` rule reads its
last alert for an event (``rule_last_alert``); a merge moves the absorbed event's
alerts to the survivor (``UPDATE alerts ... WHERE cluster_id = ?``). Without an
index each of these read every alert of the rule, or of the whole outbox for a
merge: a cost growing with the archive's history, paid every batch.

At start-up the consumer reads every merge (``merged_into IS NOT NULL``): a partial
index over just those rows, in id order, instead of a scan of every event.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


MERGED = sa.text("merged_into IS NOT NULL")


def upgrade() -> None:
    op.create_index("ix_alerts_cluster_id", "alerts", ["cluster_id"])
    op.create_index(
        "ix_clusters_merged", "clusters", ["id"], sqlite_where=MERGED, postgresql_where=MERGED
    )


def downgrade() -> None:
    op.drop_index("ix_clusters_merged", table_name="clusters")
    op.drop_index("ix_alerts_cluster_id", table_name="alerts")
