"""Quiet hours around DST changes, and quiet hours on digest rules (real Store)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from aggregator.alerts.digest import run_digests
from aggregator.alerts.rules import AlertRuleSpec, QuietHours, quiet_end
from aggregator.process.consumer import Consumer
from aggregator.query import parse_query
from aggregator.store import Store
from tests.factories import NOW, article
from tests.test_consumer import ingest

LONDON = ZoneInfo("Europe/London")


def test_quiet_hours_ending_in_the_repeated_autumn_hour_end_at_its_second_showing() -> None:
    # 27 Oct 2024, London: 02:00 BST becomes 01:00 GMT, so 01:00-02:00 is shown twice.
    quiet = QuietHours(time(22), time(1, 30))
    # 01:10 GMT (01:10 UTC), in the second pass: the wall clock shows 01:30 again 20
    # minutes later; the quiet period ends then, not a day later.
    when = datetime(2024, 10, 27, 1, 10, tzinfo=UTC)
    assert quiet.contains(when.astimezone(LONDON).time())
    assert quiet_end(quiet, LONDON, when) == datetime(2024, 10, 27, 1, 30, tzinfo=UTC)
    # In the first pass it ends at the first 01:30 (BST), as before.
    first = datetime(2024, 10, 27, 0, 10, tzinfo=UTC)
    assert quiet_end(quiet, LONDON, first) == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)


def test_a_digest_due_in_quiet_hours_waits_for_their_end(store: Store) -> None:
    rule = AlertRuleSpec(
        name="nightly",
        topic="k",
        trigger="digest",
        channels=("hook",),
        digest_cron="0 23 * * *",
        timezone="Europe/London",
        quiet_hours=QuietHours(time(22), time(7)),
    )
    assert run_digests(store, [rule], clock=lambda: NOW) == 0  # the rule's clock starts
    ingest(store, [("W", article("Troops reach Kursk", guid="w1", feed="W"))])
    Consumer(
        store, topics={"k": parse_query("kursk")}, rules=[rule], clock=lambda: NOW
    ).process_pending()
    tick = NOW.replace(hour=23)  # London is on GMT in November
    assert run_digests(store, [rule], clock=lambda: tick + timedelta(minutes=1)) == 1
    (alert,) = store.list_alerts()
    assert alert.due_at == datetime(2024, 11, 5, 7, tzinfo=UTC)
