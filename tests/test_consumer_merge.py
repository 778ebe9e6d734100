"""An event that already alerted keeps its alert history when it is merged away.

The consumer on a real Store (both backends). Cluster A (two Reykjavik reports) matches
the topic and fires ``new_event``; cluster B (three Grindavik reports) does not match.
A bridging report that does not name Reykjavik merges A into the larger B. Later
Reykjavik reports join B: the event has alerted already (as A), so nothing more fires.
"""

from __future__ import annotations

from sqlalchemy import select

from aggregator.alerts.rules import AlertRuleSpec
from aggregator.process.clustering import ClusterSettings
from aggregator.process.consumer import Consumer, ConsumerSettings
from aggregator.query import parse_query
from aggregator.store import Store
from aggregator.store.schema import alerts, matches
from tests.factories import NOW, reports
from tests.test_clustering import BACKGROUND
from tests.test_consumer import ingest

REYKJAVIK = ["Volcano erupts near Reykjavik", "Reykjavik volcano eruption forces evacuations"]
GRINDAVIK = [
    "Grindavik evacuated as lava flows",
    "Lava flows reach Grindavik homes",
    "Grindavik lava flows cut road",
]
BRIDGE = ["Volcano eruption: lava flows reach Grindavik"]  # no "Reykjavik": no match
LATER = ["Reykjavik volcano eruption: Grindavik lava flows continue"]


def make(store: Store, *triggers: str) -> Consumer:
    rules = [
        AlertRuleSpec(name=f"r-{t}", topic="rk", trigger=t, channels=("hook",))  # type: ignore[arg-type]
        for t in triggers
    ]
    return Consumer(
        store,
        topics={"rk": parse_query("reykjavik")},
        rules=rules,
        # A low merge threshold so that the bridging report merges the two clusters.
        settings=ConsumerSettings(cluster=ClusterSettings(merge_threshold=0.05)),
        clock=lambda: NOW,
    )


def event_alerts(store: Store) -> list[tuple[str, int | None]]:
    return sorted((a.trigger, a.cluster_id) for a in store.list_alerts(limit=100))


def test_merged_away_event_does_not_fire_new_event_again_in_the_next_batch(
    store: Store,
) -> None:
    c = make(store, "new_event")
    ingest(store, [*reports(BACKGROUND, 0), *reports(REYKJAVIK, 100)])
    ingest(store, [*reports(GRINDAVIK, 110), *reports(BRIDGE, 200)])
    # Created, alerted and merged away within one batch.
    stats = c.process_pending()
    assert stats.merges == 1
    ((_, survivor),) = store.cluster_merges()
    assert event_alerts(store) == [("new_event", survivor)]
    with store.engine.connect() as conn:
        # The match rows made in that batch moved with the merge, like the alert.
        assert set(conn.execute(select(matches.c.cluster_id)).scalars()) == {survivor}
    ingest(store, reports(LATER, 300))
    stats = c.process_pending()
    assert stats.matches == 1
    assert stats.alerts == 0
    assert event_alerts(store) == [("new_event", survivor)]


def test_merged_away_event_does_not_fire_again_later_in_the_same_batch(store: Store) -> None:
    c = make(store, "new_event")
    ingest(store, [*reports(BACKGROUND, 0), *reports(REYKJAVIK, 100)])
    c.process_pending()
    assert len(event_alerts(store)) == 1  # A alerted, committed
    # One batch: the bridge merges A into B, then a Reykjavik report joins B.
    ingest(store, [*reports(GRINDAVIK, 110), *reports(BRIDGE, 200)])
    ingest(store, reports(LATER, 300))
    stats = c.process_pending()
    assert stats.merges == 1
    ((_, survivor),) = store.cluster_merges()
    assert stats.alerts == 0
    assert event_alerts(store) == [("new_event", survivor)]
    with store.engine.connect() as conn:
        assert set(conn.execute(select(alerts.c.cluster_id)).scalars()) == {survivor}


def test_min_sources_counts_the_outlets_of_both_sides_of_a_merge_once(store: Store) -> None:
    c = make(store, "min_sources")  # min_sources=3 by default
    ingest(store, [*reports(BACKGROUND, 0), *reports(REYKJAVIK, 100)])
    c.process_pending()
    assert event_alerts(store) == []  # two outlets only
    ingest(store, [*reports(GRINDAVIK, 110), *reports(BRIDGE, 200), *reports(LATER, 300)])
    c.process_pending()
    ((_, survivor),) = store.cluster_merges()
    # Exactly one corroboration alert for the merged event, under its surviving id.
    assert event_alerts(store) == [("min_sources", survivor)]
