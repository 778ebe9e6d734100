"""The ordered consumer on both backends: events, matches and exactly-once alerts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from aggregator.alerts.digest import run_digests
from aggregator.alerts.payload import message_from_json
from aggregator.alerts.rules import AlertRuleSpec
from aggregator.models import Article
from aggregator.process.consumer import Consumer
from aggregator.query import parse_query
from aggregator.store import FeedSpec, Store
from aggregator.store.archive import Archive
from aggregator.store.schema import articles, clusters
from tests.factories import NOW, article, poll_record, reports

TOPIC = parse_query('("north korean" OR dprk OR pyongyang) AND (kursk OR russia* OR putin)')
KURSK = [
    "North Korean troops arrive in Russia's Kursk region, officials say",
    "Thousands of North Korean soldiers reach Kursk to fight Ukraine",
    "Kursk: North Korean troops deployed near Ukrainian border",
    "North Korean soldiers in Kursk region, NATO confirms",
]
OTHER_EVENT = [
    "Putin and Kim Jong Un sign mutual defence treaty in Pyongyang",
    "Pyongyang summit: Putin and Kim agree mutual defence pact",
]
BODIES = {
    KURSK[0]: "Several thousand soldiers from Pyongyang reached the western region, "
    "Ukrainian intelligence said, after training in the Far East.",
    OTHER_EVENT[0]: "The leaders signed a comprehensive strategic partnership at a summit, "
    "state media reported, promising assistance if either side is attacked.",
}


def rules(*triggers: str, min_sources: int = 3) -> list[AlertRuleSpec]:
    return [
        AlertRuleSpec(
            name=f"rule-{t}",
            topic="nk",
            trigger=t,  # type: ignore[arg-type]
            channels=("mail", "hook"),
            min_sources=min_sources,
            digest_cron="0 8 * * *" if t == "digest" else None,
        )
        for t in triggers
    ]


def consumer(
    store: Store, rule_specs: Sequence[AlertRuleSpec], clock_at: object = None
) -> Consumer:
    return Consumer(store, topics={"nk": TOPIC}, rules=rule_specs, clock=lambda: NOW)


def ingest(store: Store, items: Sequence[tuple[str, Article]], at: datetime = NOW) -> None:
    """Store articles as polls of the named feeds would, polls started ``at``."""
    names = sorted({name for name, _ in items})
    existing = {s.name for s in Archive(store.engine).feeds()}
    specs = [
        FeedSpec(n, f"http://127.0.0.1/{i}") for i, n in enumerate(sorted(existing | set(names)))
    ]
    store.sync_feeds(specs, NOW)
    feeds = {
        f.name: f
        for f in store.claim_due_feeds(
            NOW + timedelta(days=30), owner="t", lease_seconds=1, limit=1000, force=True
        )
    }
    for name in names:
        batch = [a for n, a in items if n == name]
        store.record_poll(poll_record(feeds[name].id, owner="t", started_at=at), batch)


def outlet_reports(
    titles: Sequence[str], outlets: int, start: int = 0
) -> list[tuple[str, Article]]:
    out = []
    for i in range(outlets):
        title = titles[i % len(titles)]
        name = f"Outlet {start + i:02d}"
        out.append(
            (
                name,
                article(
                    title,
                    guid=f"{name}-{i}",
                    feed=name,
                    text=f"{title}. {BODIES.get(titles[0], '')}",
                    published=NOW + timedelta(minutes=i),
                ),
            )
        )
    return out


def outbox(store: Store) -> list[tuple[str, str, str, int | None]]:
    return sorted(
        (a.rule, a.channel, a.trigger, a.cluster_id) for a in store.list_alerts(limit=500)
    )


def test_forty_outlets_one_event_one_alert_per_rule_and_channel(store: Store) -> None:
    c = consumer(store, rules("new_event"))
    ingest(store, outlet_reports(KURSK, 40))
    stats = c.process_pending()
    assert stats.articles == 40
    assert stats.new_events == 1
    assert stats.matches == 40
    alerts = outbox(store)
    assert [(r, ch, t) for r, ch, t, _ in alerts] == [
        ("rule-new_event", "hook", "new_event"),
        ("rule-new_event", "mail", "new_event"),
    ]
    # Nothing more when processing again or when more reports of the same event arrive.
    assert c.process_pending().articles == 0
    ingest(store, outlet_reports(KURSK, 5, start=40))
    assert c.process_pending().alerts == 0
    assert len(outbox(store)) == 2
    # A second event: a second alert per channel.
    ingest(store, outlet_reports(OTHER_EVENT, 4, start=60))
    stats = c.process_pending()
    assert stats.new_events == 1
    assert stats.alerts == 2
    assert len({cid for *_, cid in outbox(store)}) == 2
    # The stored message names the event and its outlets.
    msg = message_from_json(store.list_alerts(limit=500)[-1].payload)
    (event,) = msg.events
    assert event.article_count >= 1
    assert event.outlets


def test_min_sources_fires_once_when_enough_outlets_carry_the_event(store: Store) -> None:
    c = consumer(store, rules("min_sources", min_sources=3))
    ingest(store, outlet_reports(KURSK, 2))
    c.process_pending()
    assert outbox(store) == []
    ingest(store, outlet_reports(KURSK, 1, start=2))
    c.process_pending()
    assert len(outbox(store)) == 2
    ingest(store, outlet_reports(KURSK, 5, start=3))
    c.process_pending()
    assert len(outbox(store)) == 2


def test_every_article_fires_per_matching_article(store: Store) -> None:
    c = consumer(store, rules("every_article"))
    unrelated = [("Weather", article("Sunny weekend ahead in Seoul", guid="w", feed="Weather"))]
    ingest(store, [*outlet_reports(KURSK, 3), *unrelated])
    stats = c.process_pending()
    assert stats.matches == 3
    assert len(outbox(store)) == 6


def test_duplicates_are_linked_and_join_the_original_cluster(store: Store) -> None:
    body = " ".join(
        f"Sentence {i} of the wire story about North Korean troops in Kursk." for i in range(40)
    )
    items = [
        ("Wire", article("NK troops in Kursk", guid="w1", feed="Wire", text=body)),
        ("Copy", article("NK troops in Kursk (AP)", guid="c1", feed="Copy", text=body + " AP")),
    ]
    ingest(store, items)
    stats = consumer(store, []).process_pending()
    assert stats.duplicates == 1
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(articles.c.id, articles.c.duplicate_of, articles.c.cluster_id).order_by(
                articles.c.id
            )
        ).all()
    (first, second) = rows
    assert second.duplicate_of == first.id
    assert second.cluster_id == first.cluster_id


def test_restart_rebuilds_state_and_keeps_assigning_to_the_same_events(store: Store) -> None:
    c = consumer(store, rules("new_event"))
    ingest(store, outlet_reports(KURSK, 10))
    c.process_pending()
    (event_id,) = {r.cluster_id for r in store.unprocessed_articles(0)} or {store.max_cluster_id()}
    # A new process: state rebuilt from the database.
    fresh = consumer(store, rules("new_event"))
    assert fresh.rebuild() == 10
    ingest(store, outlet_reports(KURSK, 3, start=10))
    stats = fresh.process_pending()
    assert stats.new_events == 0
    assert stats.alerts == 0
    with store.engine.connect() as conn:
        ids = set(conn.execute(select(articles.c.cluster_id)).scalars())
        row = conn.execute(select(clusters).where(clusters.c.id == event_id)).one()
    assert ids == {event_id}
    assert row.article_count == 13
    assert row.outlet_count == 13
    assert json.loads(row.top_terms)


def test_digest_sends_one_message_per_tick_with_the_events(store: Store) -> None:
    (rule,) = rules("digest")
    c = consumer(store, [rule])
    assert run_digests(store, [rule], clock=lambda: NOW - timedelta(days=1)) == 0  # baseline
    ingest(store, [*outlet_reports(KURSK, 3), *outlet_reports(OTHER_EVENT, 2, start=10)])
    c.process_pending()
    assert outbox(store) == []  # digests do not alert per article
    after_tick = NOW.replace(hour=8) + timedelta(days=1)
    assert run_digests(store, [rule], clock=lambda: after_tick) == 2
    assert run_digests(store, [rule], clock=lambda: after_tick) == 0  # same tick: once
    msg = message_from_json(store.list_alerts()[0].payload)
    assert msg.trigger == "digest"
    assert len(msg.events) == 2


@pytest.mark.parametrize("crash_at", ["record"])
def test_a_failed_commit_loses_nothing(store: Store, crash_at: str) -> None:
    c = consumer(store, rules("new_event"))
    ingest(store, outlet_reports(KURSK, 5))
    real = store.record_processing

    def boom(*args: object, **kwargs: object) -> int:
        raise RuntimeError("simulated crash before commit")

    store.record_processing = boom  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        c.process_pending()
    store.record_processing = real  # type: ignore[method-assign]
    assert len(store.unprocessed_articles(100)) == 5
    stats = c.process_pending()  # state rebuilt, the batch processed again
    assert stats.articles == 5
    assert stats.new_events == 1
    assert len(outbox(store)) == 2


def test_merge_is_stored_old_ids_resolve_and_restart_keeps_it(store: Store) -> None:
    from aggregator.process.clustering import ClusterSettings
    from aggregator.process.consumer import ConsumerSettings
    from aggregator.store.archive import Archive
    from tests.test_clustering import BACKGROUND

    settings = ConsumerSettings(cluster=ClusterSettings(merge_threshold=0.05))

    def make() -> Consumer:
        return Consumer(store, topics={}, rules=[], settings=settings, clock=lambda: NOW)

    c = make()
    ingest(store, reports(BACKGROUND, 0))
    c.process_pending()
    ingest(
        store,
        reports(
            [
                "Volcano erupts near Reykjavik",
                "Reykjavik volcano eruption forces evacuations",
                "Grindavik evacuated as lava flows",
                "Lava flows reach Grindavik homes",
            ],
            100,
        ),
    )
    c.process_pending()
    volcano = {a.id: a for a in store.processed_articles_since(NOW - timedelta(days=1))}
    before = {s.cluster_id for s in volcano.values() if "Grindavik" in s.article.title} | {
        s.cluster_id for s in volcano.values() if "Reykjavik" in s.article.title
    }
    assert len(before) == 2
    ingest(store, reports(["Reykjavik volcano: lava flows reach Grindavik"], 200))
    stats = c.process_pending()
    assert stats.merges == 1
    merged = store.cluster_merges()
    assert len(merged) == 1
    (old, new) = merged[0]
    assert {old, new} == before
    archive = Archive(store.engine)
    detail = archive.event(old)
    assert detail is not None
    assert detail.event.id == new  # the old id leads to the survivor
    assert detail.event.article_count == 5
    with store.engine.connect() as conn:
        ids = set(
            conn.execute(
                select(articles.c.cluster_id).where(articles.c.title.contains("Grindavik"))
            ).scalars()
        )
    assert ids == {new}
    # After a restart the merge is replayed: a new report joins the survivor.
    fresh = make()
    fresh.rebuild()
    ingest(store, reports(["Grindavik lava flows slow, volcano eruption continues"], 300))
    fresh.process_pending()
    with store.engine.connect() as conn:
        last = conn.execute(select(articles.c.cluster_id).where(articles.c.guid == "g300")).one()
    assert last.cluster_id == new
