"""alerts: indexes on cluster_id and on (rule, due_at), for the consumer's questions
about an event and a rule's throttle; clusters: a partial index of the merged ones

The consumer asks, once per batch, which rules already alerted for the events the
batch's articles joined (``rules_fired_in``), and a ``developing`` rule reads its
last alert for an event (``rule_last_alert``); a merge moves the absorbed event's
alerts to the survivor (``UPDATE alerts ... WHERE cluster_id = ?``). Without an
index each of these read every alert of the rule, or of the whole outbox for a
merge: a cost growing with the archive's history, paid every batch.

Each batch reads, per rule, its latest due time and its due times of the last two
hours (the throttle and the hourly cap). By the (rule, created_at) index that read
every alert the rule ever made: 6 ms of a 10 ms article with 1,000,000 articles and
250,000 alerts stored (``cluster_scale.py --consumer 2000 --stored 1000000``).

At start-up the consumer reads every merge (``merged_into IS NOT NULL``): a partial
index over just those rows, in id order, instead of a scan of every event.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


MERGED = sa.text("merged_into IS NOT NULL")


def upgrade() -> None:
    op.create_index("ix_alerts_cluster_id", "alerts", ["cluster_id"])
    op.create_index("ix_alerts_rule_due", "alerts", ["rule", "due_at"])
    op.create_index(
        "ix_clusters_merged", "clusters", ["id"], sqlite_where=MERGED, postgresql_where=MERGED
    )


def downgrade() -> None:
    op.drop_index("ix_clusters_merged", table_name="clusters")
    op.drop_index("ix_alerts_rule_due", table_name="alerts")
    op.drop_index("ix_alerts_cluster_id", table_name="alerts")
