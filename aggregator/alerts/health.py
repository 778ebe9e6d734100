"""Feed-health rules: tell the operator when a source breaks, goes away or falls
quiet, and when it recovers.

``assess`` is pure: a feed's state and the times of its newest entries → its status
and a reason a person can act on. ``run_feed_health`` (the daemon's consume job, at
most once a minute) compares that with what each rule last reported and enqueues one
alert per transition, in the transaction that records the new status.

"Quiet" is relative to the feed's own pace: nothing new for ``quiet_factor`` × its
usual (median) gap between entries, and at least ``quiet_min`` — a wire that publishes
every ten minutes is quiet after a day, a weekly column is not.
"""

from __future__ import annotations

import itertools
import logging
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aggregator.alerts.assemble import Links, outbox_rows
from aggregator.alerts.message import FeedHealthNote
from aggregator.alerts.rules import AlertRuleSpec, RuleHistory, delivery_time
from aggregator.store import Store
from aggregator.store.events import FeedActivity

log = logging.getLogger(__name__)

# Fewer entries than this give no usual pace: such a feed is never called quiet.
MIN_ENTRIES = 3


@dataclass(frozen=True, slots=True)
class Health:
    status: str  # ok | broken | gone | quiet
    reason: str


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    if seconds >= 2 * 3600:
        return f"{seconds // 3600} hours"
    return f"{max(seconds // 60, 1)} minutes"


def usual_gap(entries: Sequence[datetime]) -> timedelta | None:
    """The median gap between consecutive entries (newest first), or None if too few."""
    if len(entries) < MIN_ENTRIES:
        return None
    ordered = sorted(entries)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(ordered)]
    return timedelta(seconds=statistics.median(gaps))


def assess(feed: FeedActivity, quiet_factor: float, quiet_min: timedelta, now: datetime) -> Health:
    """The feed's status now, with the reason shown in the alert."""
    if feed.state == "gone":
        return Health("gone", f"the feed is gone: {feed.last_error or 'HTTP 410'}")
    if feed.state == "broken":
        return Health(
            "broken",
            f"{feed.error_count} failed polls in a row; last error: {feed.last_error or '?'}",
        )
    gap = usual_gap(feed.entries)
    if gap is not None and feed.entries:
        newest = min(max(feed.entries), now)
        limit = max(gap * quiet_factor, quiet_min)
        silence = now - newest
        if silence > limit:
            return Health(
                "quiet",
                f"nothing new for {_span(silence)}; it usually publishes every {_span(gap)}",
            )
    return Health("ok", "polled successfully and publishing")


def transitions(
    rule: AlertRuleSpec,
    feeds: Sequence[FeedActivity],
    known: dict[int, str] | None,
    now: datetime,
) -> tuple[list[tuple[int, str]], list[tuple[FeedActivity, str, Health]]]:
    """(statuses to record, (feed, previous, now) to alert about). On the rule's first
    run (``known`` None) every status is recorded and nothing alerts: a new rule does
    not page about feeds that were broken before it existed. A feed the rule has not
    seen yet starts as ``ok``."""
    factor, quiet_min = rule.quiet
    record: list[tuple[int, str]] = []
    alert: list[tuple[FeedActivity, str, Health]] = []
    for feed in feeds:
        health = assess(feed, factor, quiet_min, now)
        previous = None if known is None else known.get(feed.id, "ok")
        if previous == health.status:
            continue
        record.append((feed.id, health.status))
        if previous is not None:
            alert.append((feed, previous, health))
    return record, alert


def run_feed_health(
    store: Store,
    rules: Sequence[AlertRuleSpec],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    links: Links | None = None,
) -> int:
    """Check every feed against every feed_health rule; returns alerts enqueued."""
    health_rules = [r for r in rules if r.trigger == "feed_health"]
    if not health_rules:
        return 0
    now = clock()
    feeds = store.feed_activity()
    enqueued = 0
    for rule in health_rules:
        record, alert = transitions(rule, feeds, store.feed_health_states(rule.name), now)
        if not record:
            continue
        rows = []
        due = delivery_time(rule, RuleHistory(), now)
        for feed, previous, health in alert:
            note = FeedHealthNote(
                feed=feed.name,
                url=feed.url,
                status=health.status,
                previous=previous,
                reason=health.reason,
                since=now,
                link=links.feeds() if links else None,
            )
            rows.extend(
                outbox_rows(
                    rule,
                    trigger="feed_health",
                    topic="",
                    subject_key=f"f{feed.id}:{health.status}:{now.isoformat()}",
                    created_at=now,
                    due_at=due,
                    feeds=(note,),
                )
            )
            log.warning("feed %r: %s -> %s (%s)", feed.name, previous, health.status, health.reason)
        enqueued += store.record_feed_health(rule.name, record, rows, now)
    return enqueued


__all__ = ["Health", "assess", "run_feed_health", "transitions", "usual_gap"]
