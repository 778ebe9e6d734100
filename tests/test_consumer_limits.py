"""Throttle and max_per_hour hold across batches and within one, on a real Store.

The pure ``decide`` is tested in test_rules.py; these check what the consumer
hands it: every alert of the rule counted once per decision (not once per distinct due
time), the throttle clock at the latest alert's *due* time, and the batch's own
not-yet-committed alerts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

from aggregator.alerts.rules import AlertRuleSpec, QuietHours
from aggregator.models import Article
from aggregator.process.consumer import Consumer
from aggregator.query import parse_query
from aggregator.store import Store
from tests.factories import NOW, article
from tests.test_consumer import ingest

# Unrelated stories that share only the topic's word, so each is its own event.
EVENTS = [
    "Alert: volcano erupts near Reykjavik, flights cancelled",
    "Alert: central bank raises interest rates by half a point",
    "Alert: striker signs record transfer deal with Madrid club",
    "Alert: wildfire forces evacuation of coastal towns in Greece",
    "Alert: parliament passes budget after overnight session",
]
BASE = AlertRuleSpec(name="r", topic="alert", trigger="new_event", channels=("hook", "mail"))


def report(i: int) -> tuple[str, Article]:
    name = f"Outlet {i}"
    return name, article(
        EVENTS[i], guid=f"g{i}", feed=name, text=EVENTS[i], published=NOW + timedelta(minutes=i)
    )


def make(store: Store, rule: AlertRuleSpec, clock: Callable[[], datetime]) -> Consumer:
    return Consumer(store, topics={"alert": parse_query("alert")}, rules=[rule], clock=clock)


def due_times(store: Store) -> list[datetime]:
    """One due time per event (the rule's channels share it)."""
    by_event = {a.cluster_id: a.due_at for a in store.list_alerts(limit=100)}
    return sorted(d.astimezone(UTC) for d in by_event.values())


def test_max_per_hour_counts_each_alert_of_earlier_batches(store: Store) -> None:
    rule = replace(BASE, max_per_hour=2)
    c = make(store, rule, lambda: NOW)
    for i in range(5):  # one batch per event: the count comes from the database
        ingest(store, [report(i)])
        c.process_pending()
    hour = NOW.replace(minute=0)
    assert due_times(store) == [
        NOW,
        NOW,
        hour + timedelta(hours=1),
        hour + timedelta(hours=1),
        hour + timedelta(hours=2),
    ]


def test_throttle_applies_within_one_batch(store: Store) -> None:
    rule = replace(BASE, throttle=timedelta(hours=1))
    c = make(store, rule, lambda: NOW)
    ingest(store, [report(i) for i in range(3)])
    stats = c.process_pending()
    assert stats.new_events == 3
    assert due_times(store) == [NOW]


def test_throttle_counts_from_a_deferred_alerts_due_time(store: Store) -> None:
    # Quiet 00:00-06:00 UTC: the 02:00 alert waits until 06:00; one at 03:00 falls in
    # the throttle window that starts when the first one goes out, so it is suppressed.
    rule = replace(BASE, throttle=timedelta(minutes=30), quiet_hours=QuietHours(time(0), time(6)))
    night = NOW.replace(hour=2)
    clock = [night]
    c = make(store, rule, lambda: clock[0])
    ingest(store, [report(0)])
    c.process_pending()
    clock[0] = night + timedelta(hours=1)
    ingest(store, [report(1)])
    c.process_pending()
    assert due_times(store) == [NOW.replace(hour=6)]
