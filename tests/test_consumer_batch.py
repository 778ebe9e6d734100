"""The consumer's database work per batch: asked once, answered the same, no scans.

A batch asks the database once which topics its events matched before and which rules
already alerted for them (``Store.topics_matched_in``, ``Store.rules_fired_in``),
instead of once per article and topic or rule. These tests run the real consumer on
both backends with every trigger that reads those answers, in small batches so that
later batches find earlier ones' rows, through a merge and an edited article:

* every answer the consumer reads is the one the per-event queries give at that
  moment (the batch's own work added), so the prefetch changes no decision;
* the per-event look-ups are no longer sent for new articles, however many;
* what a batch reads of an event for its alerts (its articles, its outlets, a rule's
  last alert) is asked once per batch, and the answer kept is the store's;
* no statement the consumer sends reads a whole table, over an archive with
  statistics (SQLite's ``EXPLAIN QUERY PLAN``; PostgreSQL with sequential scans
  priced out, as in ``test_idle``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, select, update

from aggregator.alerts.rules import AlertRuleSpec
from aggregator.process import consumer as consumer_module
from aggregator.process.clustering import ClusterSettings
from aggregator.process.consumer import (
    Consumer,
    ConsumerSettings,
    ProcessStats,
    _Batch,
    _BatchReads,
)
from aggregator.query import parse_query
from aggregator.store import Store
from aggregator.store.schema import alerts, articles, clusters, feeds, matches
from tests.factories import NOW, reports
from tests.test_clustering import BACKGROUND
from tests.test_consumer import ingest
from tests.test_idle import analyze, scans

REYKJAVIK = ["Volcano erupts near Reykjavik", "Reykjavik volcano eruption forces evacuations"]
GRINDAVIK = [
    "Grindavik evacuated as lava flows",
    "Lava flows reach Grindavik homes",
    "Grindavik lava flows cut road",
]
BRIDGE = ["Volcano eruption: lava flows reach Grindavik"]
LATER = [
    "Reykjavik volcano eruption: Grindavik lava flows continue",
    "Lava flows toward Reykjavik suburbs as eruption grows",
    "Reykjavik airport shut as volcano eruption grows",
]


def rules() -> list[AlertRuleSpec]:
    out = []
    for topic in ("rk", "lava"):
        out += [
            AlertRuleSpec(name=f"{topic}-new", topic=topic, trigger="new_event", channels=("h",)),
            AlertRuleSpec(
                name=f"{topic}-min",
                topic=topic,
                trigger="min_sources",
                channels=("h",),
                min_sources=2,
            ),
            AlertRuleSpec(
                name=f"{topic}-dev",
                topic=topic,
                trigger="developing",
                channels=("h",),
                min_sources=2,
                new_outlets=1,
                min_gap=timedelta(seconds=1),
            ),
            AlertRuleSpec(
                name=f"{topic}-every", topic=topic, trigger="every_article", channels=("h",)
            ),
        ]
    return out


class Checked(Consumer):
    """The consumer, with every answer it reads about an event checked against the
    per-event queries it used to send (the batch's own work added, as before)."""

    checked = 0

    def _topic_seen(self, topic: str, related: Sequence[int], batch: _Batch) -> bool:
        got = super()._topic_seen(topic, related, batch)
        in_batch = any((topic, c) in batch.topic_clusters for c in related)
        assert got == (in_batch or bool(self.store.topic_matched_clusters(topic, related)))
        Checked.checked += 1
        return got

    def _fired(self, rule: AlertRuleSpec, related: Sequence[int], batch: _Batch) -> set[int]:
        got = super()._fired(rule, related, batch)
        want = {c for c in related if (rule.name, rule.trigger, c) in batch.fired}
        if rule.trigger != "every_article":
            want |= self.store.rule_fired_for(rule.name, rule.trigger, related)
        assert got == want
        Checked.checked += 1
        return got


def consumer(store: Store, cls: type[Consumer] = Consumer, batch: int = 3) -> Consumer:
    return cls(
        store,
        topics={"rk": parse_query("reykjavik"), "lava": parse_query("lava")},
        rules=rules(),
        # A low merge threshold so that the bridging report merges two events.
        settings=ConsumerSettings(batch=batch, cluster=ClusterSettings(merge_threshold=0.05)),
        clock=lambda: NOW + timedelta(hours=1),
    )


def feed_the_story(store: Store, c: Consumer) -> None:
    """The Reykjavik and Grindavik reports, the bridge that merges them, later reports
    and one of them edited after it was processed: batch by batch."""
    ingest(store, [*reports(BACKGROUND, 0), *reports(REYKJAVIK, 100)])
    while c.process_pending().articles:
        pass
    ingest(store, [*reports(GRINDAVIK, 110), *reports(BRIDGE, 200), *reports(LATER, 300)])
    merges = 0
    while stats := c.process_pending():
        if not stats.articles:
            break
        merges += stats.merges
    assert merges >= 1  # the scenario goes through a merge
    with store.engine.begin() as conn:
        edited = conn.execute(
            select(articles.c.id).where(articles.c.title == GRINDAVIK[0])
        ).scalar_one()
        conn.execute(
            update(articles)
            .where(articles.c.id == edited)
            .values(
                title="Grindavik evacuated as lava flows toward Reykjavik",
                text="Grindavik evacuated as lava flows toward Reykjavik",
                content_hash="edited",
                rematch_at=NOW + timedelta(hours=1),
            )
        )
    while c.process_pending().articles:
        pass


def test_every_answer_the_consumer_reads_is_the_per_event_querys(store: Store) -> None:
    Checked.checked = 0
    feed_the_story(store, consumer(store, Checked))
    assert Checked.checked > 20  # the rules did ask
    # and they alerted: the scenario exercises what the answers decide
    triggers = {a.trigger for a in store.list_alerts(limit=500)}
    assert triggers == {"new_event", "min_sources", "developing", "every_article"}


def test_the_batch_answers_are_the_per_event_ones(store: Store) -> None:
    feed_the_story(store, consumer(store))
    with store.engine.connect() as conn:
        ids = sorted(set(conn.execute(select(clusters.c.id)).scalars()))
    assert ids
    seen = store.topics_matched_in(ids)
    fired = store.rules_fired_in(ids)
    assert seen  # something to compare
    assert fired
    for topic in ("rk", "lava"):
        assert {c for t, c in seen if t == topic} == store.topic_matched_clusters(topic, ids)
    for rule in rules():
        assert {c for r, t, c in fired if (r, t) == (rule.name, rule.trigger)} == (
            store.rule_fired_for(rule.name, rule.trigger, ids)
        )
    # more ids than one statement may carry on SQLite: asked in parts, answered whole
    many = [*range(-1200, 0), *ids]
    assert store.topics_matched_in(many) == seen
    assert store.rules_fired_in(many) == fired


def recorded(engine: Engine) -> tuple[list[tuple[str, Any]], Any]:
    statements: list[tuple[str, Any]] = []

    def record(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, many: bool
    ) -> None:
        # (a many-row INSERT .. RETURNING goes as one statement with one dict, "many")
        first = many and isinstance(parameters, list | tuple)
        statements.append((statement, parameters[0] if first else parameters))

    return statements, record


def second_batch_statements(store: Store) -> tuple[Any, list[tuple[str, Any]]]:
    """A first batch's events in the store, then the statements a second batch (new
    articles growing them and starting others) sends, with its stats."""
    c = consumer(store, batch=200)
    ingest(store, [*reports(BACKGROUND, 0), *reports(REYKJAVIK, 100)])
    c.process_pending()  # the first batch's rows, for the next to find
    ingest(store, [*reports(GRINDAVIK, 110), *reports(BRIDGE, 200), *reports(LATER, 300)])
    statements, record = recorded(store.engine)
    event.listen(store.engine, "before_cursor_execute", record)
    try:
        stats = c.process_pending()
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    return stats, statements


def test_a_batch_of_new_articles_asks_about_its_events_once(store: Store) -> None:
    stats, statements = second_batch_statements(store)
    assert stats.articles == len(GRINDAVIK) + len(BRIDGE) + len(LATER)
    assert stats.matches >= 5
    flat = [" ".join(s.split()) for s, _ in statements]
    per_event = [s for s in flat if "matches.topic =" in s or "alerts.trigger =" in s]
    batch = [
        s
        for s in flat
        if s.startswith(("SELECT DISTINCT matches.topic", "SELECT DISTINCT alerts.rule"))
    ]
    assert per_event == [s for s in per_event if "ORDER BY" in s]  # only what alerts show
    assert len(batch) == 2


class CheckedReads(_BatchReads):
    """The batch's reads, each answer checked against the store's at that moment."""

    checked = 0

    def cluster_articles(
        self,
        cluster_ids: Sequence[int],
        limit: int = 50,
        *,
        processed_after: Any = None,
        newest_first: bool = False,
    ) -> list[Any]:
        got = super().cluster_articles(
            cluster_ids, limit, processed_after=processed_after, newest_first=newest_first
        )
        assert got == self.store.cluster_articles(
            list(cluster_ids), limit, processed_after=processed_after, newest_first=newest_first
        )
        CheckedReads.checked += 1
        return got

    def cluster_outlets(self, cluster_ids: Sequence[int]) -> list[tuple[str, int, Any]]:
        got = super().cluster_outlets(cluster_ids)
        assert got == self.store.cluster_outlets(list(cluster_ids))
        CheckedReads.checked += 1
        return got


def test_the_reads_kept_for_a_batch_are_the_stores_answers(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    CheckedReads.checked = 0
    monkeypatch.setattr(consumer_module, "_BatchReads", CheckedReads)
    feed_the_story(store, consumer(store))
    assert CheckedReads.checked > 20
    assert {a.trigger for a in store.list_alerts(limit=500)} == {
        "new_event",
        "min_sources",
        "developing",
        "every_article",
    }


def test_a_batch_never_asks_the_database_the_same_question_twice(store: Store) -> None:
    """An event that grows through a batch causes an alert per rule and topic, each
    reading its articles, outlets and last alert: asked once, answered from the batch
    after (the database only changes at the batch's commit)."""
    stats, statements = second_batch_statements(store)
    assert stats.alerts >= 5
    reads = [
        (" ".join(s.split()), repr(p)) for s, p in statements if s.lstrip().startswith("SELECT")
    ]
    assert len(reads) > 10  # the alerts did read
    assert [r for r in reads if reads.count(r) > 1] == []


BULK = 3000


@pytest.fixture
def archive(store: Store) -> Store:
    """An archive with statistics worth planning by: years of processed articles in
    events, with their matches and alerts (on a handful of rows a scan is cheapest)."""
    ingest(store, reports(["Archive anchor"], 0))
    with store.engine.begin() as conn:
        feed_id = conn.execute(select(feeds.c.id)).scalars().first()
        old = NOW - timedelta(days=400)
        ids = (
            conn.execute(
                insert(articles).returning(articles.c.id, sort_by_parameter_order=True),
                [
                    {
                        "feed_id": feed_id,
                        "identity": f"bulk:{i}",
                        "title": f"Bulk {i}",
                        "title_raw": f"Bulk {i}",
                        "summary": "",
                        "text": "",
                        "html": "",
                        "published": old + timedelta(minutes=i),
                        "fetched_at": old,
                        "updated_at": old,
                        "content_hash": f"{i:064x}",
                        "processed_at": old,
                        "cluster_id": 100_000 + i // 10,
                    }
                    for i in range(BULK)
                ],
            )
            .scalars()
            .all()
        )
        conn.execute(
            insert(clusters),
            [
                {
                    "id": 100_000 + k,
                    "headline": f"Bulk {k}",
                    "first_seen": old,
                    "last_updated": old,
                    "article_count": 10,
                    "outlet_count": 1,
                    "top_terms": "[]",
                    "status": "dormant",
                }
                for k in range(BULK // 10)
            ],
        )
        conn.execute(
            insert(matches),
            [
                {
                    "article_id": a,
                    "topic": "rk" if i % 2 else "lava",
                    "cluster_id": 100_000 + i // 10,
                    "terms": "[]",
                    "created_at": old,
                }
                for i, a in enumerate(ids)
            ],
        )
        conn.execute(
            insert(alerts),
            [
                {
                    "id": f"bulk-{i}",
                    "dedupe_key": f"bulk:{i}",
                    "rule": "rk-every" if i % 2 else "lava-every",
                    "channel": "h",
                    "topic": "rk" if i % 2 else "lava",
                    "trigger": "every_article",
                    "cluster_id": 100_000 + i // 10,
                    "article_id": a,
                    "payload": "{}",
                    "status": "sent",
                    "attempts": 1,
                    "due_at": old,
                    "created_at": old,
                }
                for i, a in enumerate(ids)
            ],
        )
    return store


def test_no_statement_of_a_busy_consumer_scans_a_table(archive: Store) -> None:
    engine = archive.engine
    statements, record = recorded(engine)
    c = consumer(archive)
    process = c.process_pending

    def recording() -> ProcessStats:
        # The consumer's statements only, not the test's own (storing the polls).
        event.listen(engine, "before_cursor_execute", record)
        try:
            return process()
        finally:
            event.remove(engine, "before_cursor_execute", record)

    c.process_pending = recording  # type: ignore[method-assign]
    feed_the_story(archive, c)
    queries: dict[str, Any] = {}
    for statement, parameters in statements:
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH")):
            queries.setdefault(statement, parameters)
    flat = [" ".join(s.split()) for s in queries]
    # What the busy consumer is known to ask; if one stops being seen, this test no
    # longer covers it and must say so.
    for fragment in (
        "SELECT DISTINCT matches.topic",  # topics_matched_in
        "SELECT DISTINCT alerts.rule",  # rules_fired_in
        "UPDATE articles SET",  # the batch's outcomes
        "UPDATE clusters SET",  # events that grew
        "UPDATE alerts SET cluster_id",  # a merge
        "WHERE articles.rematch_at IS NOT NULL",  # edited articles
        "FROM alerts WHERE alerts.rule",  # throttle history, a developing rule's last
    ):
        assert any(fragment in s for s in flat), f"{fragment!r} not seen: {flat}"
    analyze(engine)
    found = {s: bad for s, p in queries.items() if (bad := scans(engine, s, p))}
    assert found == {}, "\n".join(f"{bad}: {' '.join(s.split())}" for s, bad in found.items())
