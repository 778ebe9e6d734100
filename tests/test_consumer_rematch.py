"""An article its feed edits after it was processed is matched against the topics again,
under the event it is already in, on both backends."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from aggregator.alerts.payload import message_from_json
from aggregator.alerts.rules import AlertRuleSpec
from aggregator.errors import StorageError
from aggregator.models import Article
from aggregator.process.consumer import Consumer
from aggregator.query import parse_query
from aggregator.store import FeedSpec, Store
from aggregator.store.archive import Archive
from aggregator.store.schema import alerts, articles, clusters, matches
from tests.factories import NOW, article, poll_record
from tests.test_consumer import TOPIC

KURSK = parse_query("kursk")
BEFORE = "Troops arrive in Russian region"
AFTER = "Troops arrive in Russia's Kursk region"


def rule(topic: str, trigger: str, min_sources: int = 3) -> AlertRuleSpec:
    return AlertRuleSpec(
        name=f"{topic}-{trigger}",
        topic=topic,
        trigger=trigger,  # type: ignore[arg-type]
        channels=("hook",),
        min_sources=min_sources,
    )


def consumer(store: Store, rules: Sequence[AlertRuleSpec]) -> Consumer:
    return Consumer(store, topics={"nk": TOPIC, "kursk": KURSK}, rules=rules, clock=lambda: NOW)


def report(outlet: str, title: str, minutes: int = 0) -> tuple[str, Article]:
    """One outlet's entry; the same outlet and minute give the same guid, so a later
    poll with another title is the feed editing it in place."""
    return (
        outlet,
        article(
            title,
            guid=f"{outlet}-{minutes}",
            feed=outlet,
            published=NOW + timedelta(minutes=minutes),
        ),
    )


def ingest(store: Store, items: Sequence[tuple[str, Article]], at: datetime = NOW) -> None:
    """Polls of the named feeds. Unlike test_consumer's ``ingest`` it claims only those,
    so a feed left out of one poll is free for the next (its edits arrive later)."""
    names = sorted({name for name, _ in items})
    known = {f.name for f in Archive(store.engine).feeds()}
    everyone = sorted(known | set(names))
    store.sync_feeds([FeedSpec(n, f"http://127.0.0.1/{n}") for n in everyone], NOW)
    claimed = store.claim_due_feeds(
        NOW + timedelta(days=30), owner="t", lease_seconds=1, limit=1000, names=names, force=True
    )
    assert sorted(f.name for f in claimed) == names
    for feed in claimed:
        batch = [a for n, a in items if n == feed.name]
        store.record_poll(poll_record(feed.id, owner="t", started_at=at), batch)


def drain(c: Consumer) -> None:
    while c.process_pending().articles:
        pass


def match_rows(store: Store) -> list[tuple[int, str, int | None]]:
    with store.engine.connect() as conn:
        return sorted(
            (int(r.article_id), r.topic, r.cluster_id)
            for r in conn.execute(
                select(matches.c.article_id, matches.c.topic, matches.c.cluster_id)
            )
        )


def alert_keys(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        return sorted(conn.execute(select(alerts.c.dedupe_key)).scalars())


def article_rows(store: Store) -> dict[str, tuple[int, int | None, object]]:
    """title → (id, cluster id, rematch_at)"""
    with store.engine.connect() as conn:
        return {
            r.title: (int(r.id), r.cluster_id, r.rematch_at)
            for r in conn.execute(
                select(
                    articles.c.id, articles.c.title, articles.c.cluster_id, articles.c.rematch_at
                )
            )
        }


def article_count(store: Store, cluster_id: int) -> int:
    with store.engine.connect() as conn:
        return int(
            conn.execute(
                select(clusters.c.article_count).where(clusters.c.id == cluster_id)
            ).scalar_one()
        )


def test_a_corrected_headline_matches_the_topic_it_brings_in(store: Store) -> None:
    # QA's reproduction: "kursk" appears only in the corrected headline.
    c = consumer(store, [rule("kursk", "new_event"), rule("kursk", "every_article")])
    ingest(store, [report("Outlet A", BEFORE)])
    drain(c)
    ((aid, cid, _),) = article_rows(store).values()
    assert cid is not None
    assert match_rows(store) == []

    ingest(store, [report("Outlet A", AFTER)], at=NOW + timedelta(minutes=5))
    assert article_rows(store)[AFTER][2] is not None  # waiting for the consumer
    stats = c.process_pending()
    assert (stats.articles, stats.rematched, stats.new_events, stats.matches) == (1, 1, 0, 1)
    assert match_rows(store) == [(aid, "kursk", cid)]
    assert alert_keys(store) == [
        f"kursk-every_article:hook:every_article:a{aid}",
        f"kursk-new_event:hook:new_event:c{cid}",
    ]
    # Not clustered again: same event, counted once, in the database and in memory.
    assert article_rows(store)[AFTER] == (aid, cid, None)
    assert article_count(store, cid) == 1
    assert c.clusterer.info(cid).article_count == 1
    payload = message_from_json(store.list_alerts(limit=10)[0].payload)
    event = payload.events[0]
    # The alert leads with the corrected article, with the terms it matched.
    assert [a.title for a in (*event.lead, *event.articles)] == [AFTER]
    assert event.lead[0].matched_terms

    # Done once: neither this consumer nor a restarted one does it again.
    assert c.process_pending().articles == 0
    assert consumer(store, []).process_pending().articles == 0
    assert len(alert_keys(store)) == 2


def test_only_new_topics_alert_and_new_event_fires_once_per_event(store: Store) -> None:
    c = consumer(
        store,
        [
            rule("nk", "new_event"),
            rule("nk", "every_article"),
            rule("kursk", "new_event"),
            rule("kursk", "every_article"),
            rule("kursk", "min_sources", min_sources=2),
        ],
    )
    first = "North Korean troops arrive in Russian border region"
    second = "North Korean soldiers arrive in Russian border region"
    ingest(store, [report("Outlet A", first, 0), report("Outlet B", second, 1)])
    drain(c)
    ids = {t: r[0] for t, r in article_rows(store).items()}
    ((cid,),) = {(r[1],) for r in article_rows(store).values()}
    assert cid is not None
    before = alert_keys(store)
    assert before == [
        f"nk-every_article:hook:every_article:a{ids[first]}",
        f"nk-every_article:hook:every_article:a{ids[second]}",
        f"nk-new_event:hook:new_event:c{cid}",
    ]

    # The second report now names Kursk: the first kursk match of the event.
    ingest(store, [report("Outlet B", second.replace("Russian", "Russia's Kursk"), 1)])
    drain(c)
    assert match_rows(store) == sorted(
        [(ids[first], "nk", cid), (ids[second], "nk", cid), (ids[second], "kursk", cid)]
    )
    assert alert_keys(store) == sorted(
        [
            *before,
            f"kursk-every_article:hook:every_article:a{ids[second]}",
            f"kursk-new_event:hook:new_event:c{cid}",
            # two outlets carry the event that now matches: corroborated at once
            f"kursk-min_sources:hook:min_sources:c{cid}",
        ]
    )

    # Then the first: its own every_article alert; the event's rules fired already, and
    # nk (matched before the edit) alerts nothing again.
    ingest(store, [report("Outlet A", first.replace("Russian", "Russia's Kursk"), 0)])
    drain(c)
    assert (ids[first], "kursk", cid) in match_rows(store)
    assert len(match_rows(store)) == 4
    assert alert_keys(store) == sorted(
        [
            *before,
            f"kursk-every_article:hook:every_article:a{ids[second]}",
            f"kursk-new_event:hook:new_event:c{cid}",
            f"kursk-min_sources:hook:min_sources:c{cid}",
            f"kursk-every_article:hook:every_article:a{ids[first]}",
        ]
    )
    assert article_count(store, cid) == 2


def test_a_match_the_edit_no_longer_supports_is_kept(store: Store) -> None:
    c = consumer(store, [rule("kursk", "every_article")])
    ingest(store, [report("Outlet A", AFTER)])
    drain(c)
    ((aid, cid, _),) = article_rows(store).values()
    assert match_rows(store) == [(aid, "kursk", cid)]

    ingest(store, [report("Outlet A", BEFORE)], at=NOW + timedelta(minutes=5))
    assert c.process_pending().rematched == 1
    assert match_rows(store) == [(aid, "kursk", cid)]
    assert len(alert_keys(store)) == 1
    assert article_rows(store)[BEFORE] == (aid, cid, None)


def test_a_crash_before_the_commit_rematches_once_after_restart(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = consumer(store, [rule("kursk", "new_event")])
    ingest(store, [report("Outlet A", BEFORE)])
    drain(c)
    ingest(store, [report("Outlet A", AFTER)], at=NOW + timedelta(minutes=5))

    def crash(*args: object, **kwargs: object) -> int:
        raise StorageError("record_processing: server closed the connection")

    with monkeypatch.context() as m:
        m.setattr(store, "record_processing", crash)
        with pytest.raises(StorageError):
            c.process_pending()
    assert match_rows(store) == []
    assert article_rows(store)[AFTER][2] is not None  # still to do

    restarted = consumer(store, [rule("kursk", "new_event")])
    assert restarted.process_pending().rematched == 1
    assert restarted.process_pending().articles == 0
    assert c.process_pending().articles == 0
    assert len(match_rows(store)) == 1
    assert len(alert_keys(store)) == 1


def test_an_edit_while_the_article_is_first_processed_is_matched_next(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The consumer reads the old text of an unprocessed article, a poll stores the
    # correction, then the consumer commits: the correction still gets its turn.
    c = consumer(store, [rule("kursk", "new_event")])
    ingest(store, [report("Outlet A", BEFORE)])
    read = store.unprocessed_articles

    def read_then_edit(limit: int) -> list[object]:
        found = read(limit)
        ingest(store, [report("Outlet A", AFTER)], at=NOW + timedelta(minutes=5))
        return found  # type: ignore[return-value]

    with monkeypatch.context() as m:
        m.setattr(store, "unprocessed_articles", read_then_edit)
        stats = c.process_pending()
    assert (stats.articles, stats.matches) == (1, 0)
    ((aid, cid, _),) = article_rows(store).values()
    stats = c.process_pending()
    assert (stats.rematched, stats.matches, stats.alerts) == (1, 1, 1)
    assert match_rows(store) == [(aid, "kursk", cid)]


def test_an_edit_while_the_article_is_rematched_is_matched_next(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = consumer(store, [rule("nk", "every_article"), rule("kursk", "every_article")])
    ingest(store, [report("Outlet A", BEFORE)])
    drain(c)
    ingest(store, [report("Outlet A", "Troops arrive in Russian region, officials say")])
    read = store.articles_to_rematch
    third = "North Korean troops arrive in Russia's Kursk region"

    def read_then_edit(limit: int) -> list[object]:
        found = read(limit)
        if found:
            ingest(store, [report("Outlet A", third)], at=NOW + timedelta(minutes=9))
        return found  # type: ignore[return-value]

    with monkeypatch.context() as m:
        m.setattr(store, "articles_to_rematch", read_then_edit)
        assert c.process_pending().rematched == 1
    # The second text matched nothing; the third is still to be matched.
    assert match_rows(store) == []
    assert article_rows(store)[third][2] is not None
    assert c.process_pending().rematched == 1
    ((aid, cid, _),) = article_rows(store).values()
    assert match_rows(store) == [(aid, "kursk", cid), (aid, "nk", cid)]
    assert c.process_pending().articles == 0


def test_an_edit_to_an_event_no_longer_in_memory_uses_the_stored_event(store: Store) -> None:
    c = consumer(store, [rule("kursk", "new_event")])
    old = NOW - timedelta(days=5)
    ingest(store, [("Outlet A", article(BEFORE, guid="a", feed="Outlet A", published=old))])
    drain(c)
    # A later, unrelated report moves the clusterer past the old event's window.
    ingest(store, [report("Outlet B", "Parliament passes the annual budget")])
    drain(c)
    aid, cid, _ = article_rows(store)[BEFORE]
    assert cid is not None
    with pytest.raises(KeyError):
        c.clusterer.info(cid)

    ingest(store, [("Outlet A", article(AFTER, guid="a", feed="Outlet A", published=old))])
    assert c.process_pending().rematched == 1
    assert match_rows(store) == [(aid, "kursk", cid)]
    (alert,) = store.list_alerts(limit=10)
    event = message_from_json(alert.payload).events[0]
    assert (event.cluster_id, event.article_count) == (cid, 1)
    assert article_count(store, cid) == 1
