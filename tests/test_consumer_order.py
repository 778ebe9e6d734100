"""The consumer takes new articles in publication order, not in the order they were
stored, and a restart replays them in the order it took them. Real Store, both backends.

A poll stores its feed's articles together, so a burst (a first poll of many feeds)
is stored one outlet after the next; the clusterer must still meet the news in the
order it was published.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from aggregator.models import Article
from aggregator.process.clustering import Clusterer
from aggregator.process.consumer import Consumer, ConsumerSettings
from aggregator.store import Store
from aggregator.store.schema import articles
from tests.factories import NOW, article
from tests.support.plans import sqlite_plan
from tests.test_consumer import ingest

# Unrelated stories: each starts an event of its own.
STORIES = [
    "Volcano erupts near Reykjavik, flights cancelled across Iceland",
    "Central bank raises interest rates by half a point in Sweden",
    "Striker signs record transfer deal with Madrid football club",
    "Wildfire forces evacuation of coastal towns in southern Greece",
]


def report(i: int, hours: float) -> tuple[str, Article]:
    name = f"Outlet {i}"
    return name, article(
        STORIES[i], guid=f"g{i}", feed=name, text=STORIES[i], published=NOW + timedelta(hours=hours)
    )


def event_of(store: Store) -> dict[str, int | None]:
    with store.engine.connect() as conn:
        return dict(conn.execute(select(articles.c.guid, articles.c.cluster_id)).all())


def test_a_burst_is_clustered_in_publication_order_not_in_storage_order(store: Store) -> None:
    # Outlet 0 is stored first (ingest stores the outlets in name order), but its
    # report is the later one: the event of the earlier report is created first.
    ingest(store, [report(0, hours=2), report(1, hours=1)])
    Consumer(store, topics={}, rules=[], clock=lambda: NOW).process_pending()
    events = event_of(store)
    first, later = events["g1"], events["g0"]
    assert first is not None
    assert later is not None
    assert first < later


def test_the_next_batch_is_the_earliest_published(store: Store) -> None:
    ingest(store, [report(0, hours=2), report(1, hours=1)])
    consumer = Consumer(
        store, topics={}, rules=[], settings=ConsumerSettings(batch=1), clock=lambda: NOW
    )
    assert consumer.process_pending().articles == 1
    first = event_of(store)
    assert first["g1"] is not None  # the earlier one, stored second
    assert first["g0"] is None
    assert consumer.process_pending().articles == 1
    assert None not in event_of(store).values()


@pytest.fixture
def order_seen(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The article ids the clusterer is given, live (``assign``) or replayed
    (``restore``), in the order it is given them."""
    seen: list[int] = []
    assign, restore = Clusterer.assign, Clusterer.restore

    def spy_assign(self: Clusterer, article_id: int, *a: Any, **kw: Any) -> Any:
        seen.append(article_id)
        return assign(self, article_id, *a, **kw)

    def spy_restore(self: Clusterer, article_id: int, *a: Any, **kw: Any) -> Any:
        seen.append(article_id)
        return restore(self, article_id, *a, **kw)

    monkeypatch.setattr(Clusterer, "assign", spy_assign)
    monkeypatch.setattr(Clusterer, "restore", spy_restore)
    return seen


def test_a_restart_replays_the_batches_in_the_order_they_were_taken(
    store: Store, order_seen: list[int]
) -> None:
    # A clock that does not move (as a stepped-back one can): two batches at one
    # time. The second batch's articles were published before the first's, so
    # publication order alone would replay them first.
    at: list[datetime] = [NOW]
    consumer = Consumer(store, topics={}, rules=[], clock=lambda: at[0])
    ingest(store, [report(0, hours=3), report(1, hours=4)])
    consumer.process_pending()
    ingest(store, [report(2, hours=2), report(3, hours=1)])
    consumer.process_pending()
    live = list(order_seen)
    assert len(live) == 4
    order_seen.clear()
    assert Consumer(store, topics={}, rules=[], clock=lambda: at[0]).rebuild() == 4
    assert order_seen == live
    with store.engine.connect() as conn:
        stamps = dict(conn.execute(select(articles.c.guid, articles.c.processed_at)).all())
    # Each batch has its own processed_at, the later batch's later.
    assert stamps["g0"] == stamps["g1"] < stamps["g3"] == stamps["g2"]


def test_the_next_batch_is_read_along_the_unprocessed_index_not_sorted(store: Store) -> None:
    # The statement the store sends for the next batch, planned by the engine: it walks
    # the partial index of the waiting rows in publication order and stops at the
    # batch's size. Sorting every waiting row instead (what SQLite chose without
    # statistics) read each one's publication time past its text, a cost that grew
    # with the backlog of a first poll.
    ingest(store, [report(i, hours=i) for i in range(len(STORIES))])
    sent: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        sent.append((statement, params))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        batch = store.unprocessed_articles(2)
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    assert [s.article.guid for s in batch] == ["g0", "g1"]
    ((statement, params),) = sent
    if store.engine.dialect.name != "sqlite":
        # PostgreSQL plans by its statistics (on these few rows a sort is what it
        # should pick); the choice without statistics was SQLite's alone.
        return
    plan = " | ".join(sqlite_plan(store.engine, statement, params))
    assert "ix_articles_unprocessed_published" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
