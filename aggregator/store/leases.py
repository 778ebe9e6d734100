"""Leases: how work (feeds to poll, alerts to send) is claimed by one process at a time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Table, and_, or_, select, update


def lease_rows(
    conn: Connection,
    table: Table,
    conditions: Sequence[ColumnElement[bool]],
    order_by: Sequence[Any],
    *,
    now: datetime,
    limit: int,
    owner: str,
    until: datetime,
) -> list[Row[Any]]:
    """Claim up to ``limit`` rows matching ``conditions`` whose lease is free or expired.

    On PostgreSQL the rows are locked with ``FOR UPDATE SKIP LOCKED`` while the lease is
    written, so any number of processes can claim at once and none gets a row another
    holds; an expired lease (a killed process) is free again. ``table`` needs ``id``,
    ``lease_owner`` and ``lease_until`` columns. Returns the claimed rows, re-read.
    """
    free = or_(table.c.lease_until.is_(None), table.c.lease_until < now)
    ids = list(
        conn.execute(
            select(table.c.id)
            .where(and_(*conditions, free))
            .order_by(*order_by)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    if not ids:
        return []
    conn.execute(
        update(table).where(table.c.id.in_(ids)).values(lease_owner=owner, lease_until=until)
    )
    return list(conn.execute(select(table).where(table.c.id.in_(ids)).order_by(*order_by)))
