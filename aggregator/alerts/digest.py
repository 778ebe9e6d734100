"""Digest rules: one message per schedule tick with every matching event since the last.

Run by the daemon holding the consumer lock (its ``consume`` job, ``aggregator.daemon``),
after the articles of the moment are processed.
Each tick's message has a dedupe key made of the rule, channel and tick time, and is
enqueued in the same transaction that advances the rule's digest clock: a tick is sent
once, never skipped by a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from aggregator.alerts.assemble import (
    Links,
    event_summary,
    load_event_facts,
    outbox_rows,
    ref_from,
)
from aggregator.alerts.message import EventSummary
from aggregator.alerts.rules import AlertRuleSpec, RuleHistory, delivery_time, next_digest_time
from aggregator.store import Store

log = logging.getLogger(__name__)

MAX_EVENTS = 50
# Per event: the articles new since the last digest (all listed first, up to this),
# then older ones up to MAX_ARTICLES, every outlet counted.
MAX_NEW = 50
MAX_ARTICLES = 20


def run_digests(
    store: Store,
    rules: Sequence[AlertRuleSpec],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    links: Links | None = None,
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
            events = tuple(
                e for e in (_event(store, cid, last, tick, links) for cid in cluster_ids) if e
            )
            rows = outbox_rows(
                rule,
                trigger="digest",
                topic=rule.topic,
                subject_key=tick.isoformat(),
                created_at=tick,
                due_at=due,
                events=events,
                links=links,
            )
        enqueued += store.record_digest(rule.name, tick, rows)
        log.info("digest %r for %s: %d events", rule.name, tick.isoformat(), len(cluster_ids))
    return enqueued


def _event(
    store: Store, cluster_id: int, since: datetime, until: datetime, links: Links | None
) -> EventSummary | None:
    row = store.cluster_row(cluster_id)
    if row is None:
        return None
    new = store.cluster_articles(
        [cluster_id], MAX_NEW, processed_after=since, processed_until=until
    )
    facts = load_event_facts(
        store,
        [cluster_id],
        headline=row.headline,
        first_seen=row.first_seen,
        last_updated=row.last_updated,
        article_count=row.article_count,
        outlet_count=row.outlet_count,
        limit=MAX_ARTICLES,
    )
    summary = event_summary(
        facts,
        lead=[ref_from(a) for a in new],
        links=links,
        max_articles=MAX_ARTICLES + len(new),
    )
    # The event's own headline, not the first new article's: a digest names events.
    return EventSummary(
        cluster_id=summary.cluster_id,
        headline=row.headline,
        first_seen=summary.first_seen,
        last_updated=summary.last_updated,
        outlets=summary.outlets,
        article_count=summary.article_count,
        matched_terms=summary.matched_terms,
        articles=summary.articles,
        lead=summary.lead,
        by_outlet=summary.by_outlet,
        outlet_count=summary.outlet_count,
        link=summary.link,
    )
