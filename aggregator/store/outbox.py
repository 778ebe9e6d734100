"""Statements of the alert outbox: claim due alerts under a lease, mark them sent or
failed, list and retry them, and the channels switched off.

Mixed into ``Store`` beside ``EventStatements`` (which enqueues alerts in the same
transaction as the articles that caused them); database errors leave as
``StorageError`` through ``Store``'s wrapping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, delete, func, or_, select, update

from aggregator.store.engine import storage_errors
from aggregator.store.leases import lease_rows
from aggregator.store.schema import alerts, channel_state, feeds
from aggregator.store.views import AlertInfo, alert_from_row


@dataclass(frozen=True, slots=True)
class OutboxItem(AlertInfo):
    """An alert as the delivery loop needs it: the API's record plus what to send."""

    payload: str  # JSON


@storage_errors
class OutboxStatements:
    engine: Engine

    def claim_due_alerts(
        self, now: datetime, *, owner: str, lease_seconds: float, limit: int
    ) -> list[OutboxItem]:
        """Lease due alerts (``FOR UPDATE SKIP LOCKED`` on PostgreSQL: safe with several
        daemons). A lease that expired — its daemon died between claim and send — is
        free again, so the alert is sent, not lost."""
        until = now + timedelta(seconds=lease_seconds)
        with self.engine.begin() as conn:
            rows = lease_rows(
                conn,
                alerts,
                (alerts.c.status == "pending", alerts.c.due_at <= now),
                (alerts.c.due_at, alerts.c.id),
                now=now,
                limit=limit,
                owner=owner,
                until=until,
            )
            return [_outbox_item(r) for r in rows]

    def mark_alert_sent(self, alert_id: str, owner: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(alerts)
                .where(alerts.c.id == alert_id)
                .values(
                    status="sent",
                    sent_at=now,
                    attempts=alerts.c.attempts + 1,
                    lease_owner=None,
                    lease_until=None,
                    last_error=None,
                )
            )

    def lease_owners(self) -> set[str]:
        """Every process that holds a feed or alert lease now."""
        with self.engine.connect() as conn:
            return {
                owner
                for table in (feeds, alerts)
                for owner in conn.execute(
                    select(table.c.lease_owner).where(table.c.lease_owner.is_not(None)).distinct()
                ).scalars()
            }

    def release_all_leases(self, owners: Sequence[str] | None = None) -> tuple[int, int]:
        """Free the feed and alert leases of ``owners`` (all when None): (feeds, alerts)
        released.

        Only for owners known to be dead: on SQLite the single-instance lock proves no
        other daemon runs, and ``service.stale_lease_owners`` leaves out a one-off
        ``poll`` still running. A daemon killed with leases out would otherwise leave
        its feeds unpolled for the feed lease (5 min) and its alerts unsent for the
        alert lease (120 s) after its restart."""
        counts = []
        with self.engine.begin() as conn:
            for table in (feeds, alerts):
                held = table.c.lease_owner.is_not(None)
                if owners is not None:
                    held = table.c.lease_owner.in_(list(owners))
                counts.append(
                    conn.execute(
                        update(table).where(held).values(lease_owner=None, lease_until=None)
                    ).rowcount
                )
        return int(counts[0] or 0), int(counts[1] or 0)

    def mark_alert_failed(
        self, alert_id: str, owner: str, error: str, retry_at: datetime | None
    ) -> None:
        """Schedule a retry, or dead-letter the alert when ``retry_at`` is None."""
        values: dict[str, Any] = {
            "attempts": alerts.c.attempts + 1,
            "last_error": error,
            "lease_owner": None,
            "lease_until": None,
        }
        if retry_at is None:
            values["status"] = "dead"
        else:
            values["due_at"] = retry_at
        with self.engine.begin() as conn:
            conn.execute(
                update(alerts)
                .where(alerts.c.id == alert_id, alerts.c.status == "pending")
                .values(**values)
            )

    def list_alerts(
        self, *, statuses: Sequence[str] | None = None, limit: int = 50
    ) -> list[OutboxItem]:
        stmt = select(alerts).order_by(alerts.c.created_at.desc(), alerts.c.id).limit(limit)
        if statuses:
            stmt = stmt.where(alerts.c.status.in_(statuses))
        with self.engine.connect() as conn:
            return [_outbox_item(r) for r in conn.execute(stmt)]

    def retry_alert(self, alert_id: str, now: datetime) -> bool:
        """Put a dead (or pending) alert back in the queue, due now, attempts reset.

        Not a pending alert a worker holds right now: clearing its lease would let the
        next delivery tick claim it while the first send is still in flight, and the
        alert would go out twice. Once that attempt ends it is sent or due again."""
        idle = or_(alerts.c.lease_until.is_(None), alerts.c.lease_until < now)
        retryable = or_(alerts.c.status == "dead", and_(alerts.c.status == "pending", idle))
        with self.engine.begin() as conn:
            done = conn.execute(
                update(alerts)
                .where(alerts.c.id == alert_id, retryable)
                .values(
                    status="pending",
                    due_at=now,
                    attempts=0,
                    lease_owner=None,
                    lease_until=None,
                )
            )
            return done.rowcount > 0

    def alert_counts(self) -> dict[tuple[str, str], dict[str, int]]:
        """(rule, channel) → {status: count}."""
        stmt = select(
            alerts.c.rule, alerts.c.channel, alerts.c.status, func.count().label("n")
        ).group_by(alerts.c.rule, alerts.c.channel, alerts.c.status)
        out: dict[tuple[str, str], dict[str, int]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(stmt):
                out.setdefault((r.rule, r.channel), {})[r.status] = int(r.n)
        return out

    def disable_channel(self, channel: str, reason: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(channel_state).where(channel_state.c.channel == channel))
            conn.execute(
                channel_state.insert().values(
                    channel=channel, disabled_at=now, disabled_reason=reason
                )
            )

    def enable_channel(self, channel: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(channel_state).where(channel_state.c.channel == channel))

    def disabled_channels(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            return {
                r.channel: r.disabled_reason or "disabled"
                for r in conn.execute(
                    select(channel_state).where(channel_state.c.disabled_at.is_not(None))
                )
            }


def _outbox_item(r: Any) -> OutboxItem:
    return alert_from_row(r, OutboxItem, payload=r.payload)


__all__ = ["OutboxItem", "OutboxStatements"]
