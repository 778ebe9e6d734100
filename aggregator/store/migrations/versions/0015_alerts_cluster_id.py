"""alerts: an index on cluster_id, for the consumer's questions about an event

The consumer asks, once per batch, which rules already alerted for the events the
batch's articles joined (``rules_fired_in``), and a ``developing`` rule reads its
last alert for an event (``rule_last_alert``); a merge moves the absorbed event's
alerts to the survivor (``UPDATE alerts ... WHERE cluster_id = ?``). Without an
index each of these read every alert of the rule, or of the whole outbox for a
merge: a cost growing with the archive's history, paid every batch.

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
    op.create_index("ix_alerts_cluster_id", "alerts", ["cluster_id"])


def downgrade() -> None:
    op.drop_index("ix_alerts_cluster_id", table_name="alerts")
