"""Feed-health alerts (issue 15): a feed that breaks, goes away or falls quiet alerts
once per transition and again when it recovers; on both backends, through the store."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aggregator.alerts.health import assess, run_feed_health, usual_gap
from aggregator.alerts.message import AlertMessage, render_text, subject
from aggregator.alerts.payload import message_from_json
from aggregator.alerts.rules import AlertRuleSpec
from aggregator.store import FeedSpec, Store
from aggregator.store.events import FeedActivity
from tests.factories import NOW, article, poll_record

RULE = AlertRuleSpec(
    name="ops", topic="", trigger="feed_health", channels=("pager",), quiet_min=timedelta(hours=6)
)


def feeds(store: Store, *names: str) -> dict[str, int]:
    store.sync_feeds([FeedSpec(n, f"http://127.0.0.1/{n}") for n in names], NOW)
    claimed = store.claim_due_feeds(
        NOW + timedelta(days=30), owner="t", lease_seconds=1, limit=100, force=True
    )
    return {f.name: f.id for f in claimed}


def poll(
    store: Store, feed_id: int, at: datetime, items: list[Any] | None = None, **kw: Any
) -> None:
    store.claim_due_feeds(
        at + timedelta(days=30), owner="t", lease_seconds=1, limit=100, force=True
    )
    store.record_poll(poll_record(feed_id, owner="t", started_at=at, **kw), items or [])


def hourly(name: str, hours: int, start: datetime) -> list[Any]:
    return [
        article(
            f"{name} bulletin {i}",
            guid=f"{name}-{i}",
            feed=name,
            published=start + timedelta(hours=i),
        )
        for i in range(hours)
    ]


def alerts(store: Store) -> list[AlertMessage]:
    found = [message_from_json(a.payload) for a in store.list_alerts(limit=100)]
    return sorted(found, key=lambda m: m.created_at)


def test_usual_gap_and_quiet_are_relative_to_the_feeds_own_pace() -> None:
    def feed(entries: list[datetime], state: str = "active") -> FeedActivity:
        return FeedActivity(1, "Wire", "http://x/", state, 0, None, NOW, tuple(entries))

    hourly_entries = [NOW - timedelta(hours=h) for h in range(10)]
    assert usual_gap(hourly_entries) == timedelta(hours=1)
    assert usual_gap(hourly_entries[:2]) is None  # too few to know a pace
    # Hourly feed: 5 h of silence is its usual x5 but under quiet_min (24 h): fine.
    assert (
        assess(feed(hourly_entries), 5, timedelta(hours=24), NOW + timedelta(hours=5)).status
        == "ok"
    )
    quiet = assess(feed(hourly_entries), 5, timedelta(hours=24), NOW + timedelta(hours=25))
    assert quiet.status == "quiet"
    assert "usually publishes every 60 minutes" in quiet.reason
    # A weekly column is not quiet after two days.
    weekly = [NOW - timedelta(weeks=w) for w in range(5)]
    assert assess(feed(weekly), 5, timedelta(hours=24), NOW + timedelta(days=2)).status == "ok"
    assert assess(feed([], "broken"), 5, timedelta(hours=24), NOW).status == "broken"
    assert assess(feed([], "gone"), 5, timedelta(hours=24), NOW).status == "gone"


def test_a_feed_going_broken_then_recovering_alerts_twice(store: Store) -> None:
    ids = feeds(store, "Wire", "Daily")
    for name, fid in ids.items():
        poll(store, fid, NOW, items=hourly(name, 6, NOW - timedelta(hours=6)))
    t = NOW + timedelta(minutes=5)
    assert run_feed_health(store, [RULE], clock=lambda: t) == 0  # the first run: a baseline
    assert run_feed_health(store, [RULE], clock=lambda: t) == 0
    # Wire breaks: one alert, however often the job runs.
    t = NOW + timedelta(minutes=30)
    poll(
        store,
        ids["Wire"],
        t,
        outcome="failed",
        http_status=503,
        error="HTTP 503",
        error_count=10,
        state="broken",
    )
    assert run_feed_health(store, [RULE], clock=lambda: t) == 1
    for minutes in (1, 2, 3):
        later = t + timedelta(minutes=minutes)
        assert run_feed_health(store, [RULE], clock=lambda at=later: at) == 0
    # It recovers: one more.
    t += timedelta(minutes=30)
    poll(store, ids["Wire"], t, items=hourly("Wire", 1, t))
    assert run_feed_health(store, [RULE], clock=lambda: t) == 1
    assert run_feed_health(store, [RULE], clock=lambda: t) == 0
    broke, recovered = alerts(store)
    assert broke.trigger == recovered.trigger == "feed_health"
    assert (broke.feeds[0].feed, broke.feeds[0].previous, broke.feeds[0].status) == (
        "Wire",
        "ok",
        "broken",
    )
    assert "HTTP 503" in broke.feeds[0].reason
    assert subject(broke) == "[feeds] Wire is broken"
    assert (recovered.feeds[0].previous, recovered.feeds[0].status) == ("broken", "ok")
    assert subject(recovered) == "[feeds] Wire recovered"
    assert "Wire: broken → ok" in render_text(recovered)


def test_a_feed_falling_quiet_alerts_once(store: Store) -> None:
    ids = feeds(store, "Wire")
    poll(store, ids["Wire"], NOW, items=hourly("Wire", 8, NOW - timedelta(hours=8)))
    assert run_feed_health(store, [RULE], clock=lambda: NOW) == 0
    # quiet_min 6 h, usual gap 1 h x 5: quiet after 6 h of nothing new.
    assert run_feed_health(store, [RULE], clock=lambda: NOW + timedelta(hours=5)) == 0
    later = NOW + timedelta(hours=7)
    assert run_feed_health(store, [RULE], clock=lambda: later) == 1
    assert run_feed_health(store, [RULE], clock=lambda: later + timedelta(hours=1)) == 0
    (msg,) = alerts(store)
    assert msg.feeds[0].status == "quiet"
