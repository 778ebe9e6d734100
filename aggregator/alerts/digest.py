"""Digest rules: one message per schedule tick with every matching event since the last.

Run by the daemon holding the consumer lock (its ``consume`` job, ``aggregator.daemon``),
after the articles of the moment are processed.
Each tick's message has a dedupe key made of the rule, channel and tick time, and is
enqueued in the same transaction that advances the rule's digest clock: a tick is sent
once, never skipped by a crash.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from aggregator.alerts.message import AlertMessage, ArticleRef, EventSummary
from aggregator.alerts.payload import message_to_json
from aggregator.alerts.rules import AlertRuleSpec, RuleHistory, delivery_time, next_digest_time
from aggregator.store import OutboxRow, Store

log = logging.getLogger(__name__)

MAX_EVENTS = 50


def run_digests(
    store: Store,
    rules: Sequence[AlertRuleSpec],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Enqueue the digests that are due; returns how many messages were enqueued."""
    now = clock()
    enqueued = 0
    for rule in rules:
        if rule.trigger != "digest" or not rule.digest_cron:
            continue
        last = store.last_digest_at(rule.name)
        if last is None:
            # A new rule starts counting now: no digest of the whole archive.
            store.record_digest(rule.name, now, [])
            continue
        tick = next_digest_time(rule.digest_cron, rule.timezone, last)
        if tick > now:
            continue
        # Ticks missed while the daemon was down collapse into one digest.
        while (following := next_digest_time(rule.digest_cron, rule.timezone, tick)) <= now:
            tick = following
        cluster_ids = store.matched_clusters_between(rule.topic, last, tick)[:MAX_EVENTS]
        rows = []
        # A digest is an alert like the others: quiet hours hold it until they end.
        due = delivery_time(rule, RuleHistory(), now)
        if cluster_ids:
            events = tuple(e for e in (_event(store, cid) for cid in cluster_ids) if e)
            for channel in rule.channels:
                alert_id = uuid.uuid4().hex
                msg = AlertMessage(
                    alert_id=alert_id,
                    rule=rule.name,
                    topic=rule.topic,
                    trigger="digest",
                    created_at=tick,
                    events=events,
                    timezone=rule.timezone,
                )
                rows.append(
                    OutboxRow(
                        id=alert_id,
                        dedupe_key=f"{rule.name}:{channel}:digest:{tick.isoformat()}",
                        rule=rule.name,
                        channel=channel,
                        topic=rule.topic,
                        trigger="digest",
                        cluster_id=None,
                        article_id=None,
                        payload=message_to_json(msg),
                        due_at=due,
                    )
                )
        enqueued += store.record_digest(rule.name, tick, rows)
        log.info("digest %r for %s: %d events", rule.name, tick.isoformat(), len(cluster_ids))
    return enqueued


def _event(store: Store, cluster_id: int) -> EventSummary | None:
    row = store.cluster_row(cluster_id)
    if row is None:
        return None
    refs = tuple(
        ArticleRef(title=a.title, url=a.url, outlet=a.feed, published=a.published)
        for a in store.cluster_articles([cluster_id], 20)
    )
    outlets: list[str] = []
    for ref in refs:
        if ref.outlet not in outlets:
            outlets.append(ref.outlet)
    return EventSummary(
        cluster_id=row.id,
        headline=row.headline,
        first_seen=row.first_seen,
        last_updated=row.last_updated,
        outlets=tuple(outlets),
        article_count=row.article_count,
        matched_terms=(),
        articles=refs,
    )
