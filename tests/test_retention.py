"""Retention on both backends: poll history and old events are forgotten, nothing else."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, insert, inspect, select, text, update

from aggregator import compose
from aggregator.compose import load_config, pipeline_settings
from aggregator.daemon import Daemon
from aggregator.errors import ConfigError, StorageError
from aggregator.poll.poller import PipelineSettings
from aggregator.process.consumer import Consumer
from aggregator.store import ConsumerLock, FeedSpec, PruneCounts, Store, retention
from aggregator.store.archive import Archive
from aggregator.store.schema import (
    alerts,
    articles,
    clusters,
    forgotten_entries,
    matches,
    polls,
)
from tests.factories import NOW, article, poll_record
from tests.support.httpserver import LocalServer
from tests.support.poller import local_poller
from tests.test_consumer import KURSK, OTHER_EVENT, consumer, ingest, rules
from tests.test_daemon_e2e import run_cli

OLD = NOW - timedelta(days=40)
RECENT = NOW - timedelta(days=1)


def count(store: Store, table: object, *where: object) -> int:
    stmt = select(func.count()).select_from(table)  # type: ignore[arg-type]
    if where:
        stmt = stmt.where(*where)  # type: ignore[arg-type]
    with store.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def two_events(store: Store) -> tuple[int, int]:
    """An event last reported 40 days ago and one from yesterday, each with alerts."""
    # In time order, as a daemon would have seen them over the 40 days.
    ingest(
        store,
        [
            (f"Outlet {i}", article(t, guid=f"old{i}", published=OLD + timedelta(minutes=i)))
            for i, t in enumerate(OTHER_EVENT)
        ],
        at=OLD,
    )
    consumer(store, rules("new_event")).process_pending()
    ingest(
        store,
        [
            (f"Outlet {i}", article(t, guid=f"new{i}", published=RECENT + timedelta(minutes=i)))
            for i, t in enumerate(KURSK)
        ],
    )
    consumer(store, rules("new_event")).process_pending()
    with store.engine.connect() as conn:
        rows = conn.execute(select(articles.c.guid, articles.c.cluster_id)).all()
    old_ids = {r.cluster_id for r in rows if r.guid.startswith("old")}
    new_ids = {r.cluster_id for r in rows if r.guid.startswith("new")}
    assert len(old_ids) == 1, "the old event should be one cluster"
    assert len(new_ids) == 1, "the recent event should be one cluster"
    (old,), (new,) = old_ids, new_ids
    assert old != new
    return old, new


def test_old_events_go_with_their_articles_matches_and_settled_alerts(store: Store) -> None:
    old, new = two_events(store)
    # The old event's mail was sent; its webhook is still owed (pending).
    with store.engine.begin() as conn:
        conn.execute(
            update(alerts)
            .where(alerts.c.cluster_id == old, alerts.c.channel == "mail")
            .values(status="sent")
        )
        # Merge stubs point at the old event, one through another (a chain).
        for stub, into in ((900001, old), (900002, 900001)):
            conn.execute(
                clusters.insert().values(
                    id=stub,
                    headline="",
                    first_seen=OLD,
                    last_updated=OLD,
                    article_count=0,
                    outlet_count=0,
                    top_terms="[]",
                    status="merged",
                    merged_into=into,
                )
            )
    before = {
        "articles": count(store, articles),
        "matches": count(store, matches),
        "alerts": count(store, alerts),
    }
    assert Archive(store.engine).search("Pyongyang summit").items

    dry = store.prune_events(NOW - timedelta(days=30), dry_run=True)
    assert dry == PruneCounts(events=1, articles=len(OTHER_EVENT), alerts=1)
    assert count(store, articles) == before["articles"]  # a dry run deletes nothing

    done = store.prune_events(NOW - timedelta(days=30))
    assert done == dry
    assert count(store, clusters, clusters.c.id.in_([old, 900001, 900002])) == 0
    assert count(store, clusters, clusters.c.id == new) == 1
    assert count(store, articles) == before["articles"] - len(OTHER_EVENT)
    assert count(store, articles, articles.c.cluster_id == new) == len(KURSK)
    assert count(store, matches, matches.c.cluster_id == old) == 0
    assert count(store, matches) < before["matches"]
    assert count(store, matches, matches.c.cluster_id == new) == len(KURSK)
    # The pending alert is still owed; the settled one is history and went.
    assert count(store, alerts, alerts.c.cluster_id == old) == 1
    assert count(store, alerts, alerts.c.cluster_id == old, alerts.c.status == "pending") == 1
    assert count(store, alerts) == before["alerts"] - 1
    # The search index forgot them too (FTS trigger on SQLite, the column on PostgreSQL).
    assert not Archive(store.engine).search("Pyongyang summit").items
    assert Archive(store.engine).search("Kursk").items
    # Idempotent.
    assert store.prune_events(NOW - timedelta(days=30)) == PruneCounts()


def test_an_event_is_deleted_in_bounded_transactions_and_hidden_meanwhile(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "BATCH", 3)
    old, new = two_events(store)
    # Seven articles in the old event: more than two transactions' worth.
    ingest(
        store,
        [
            (f"Extra {i}", article(f"Pyongyang treaty, report {i}", guid=f"x{i}", published=OLD))
            for i in range(7 - len(OTHER_EVENT))
        ],
        at=OLD,
    )
    with store.engine.begin() as conn:
        conn.execute(update(articles).where(articles.c.guid.like("x%")).values(cluster_id=old))
    assert count(store, articles, articles.c.cluster_id == old) == 7

    steps = store.prune_batches(
        NOW, polls_age=timedelta(days=30), polls_per_feed=20, articles_age=timedelta(days=30)
    )
    done = PruneCounts()
    while done.articles == 0:
        step = next(steps)
        assert step.articles <= 3
        done += step
    # The process dies here: the event is half deleted, and no page shows it.
    steps.close()
    assert 0 < count(store, articles, articles.c.cluster_id == old) < 7
    archive = Archive(store.engine)
    assert [e.id for e in archive.events()] == [new]
    assert archive.event(old) is None
    assert archive.event(new) is not None

    # The next run finishes it, each transaction still within the bound.
    rest = list(
        store.prune_batches(
            NOW, polls_age=timedelta(days=30), polls_per_feed=20, articles_age=timedelta(days=30)
        )
    )
    assert all(step.articles <= 3 for step in rest)
    assert sum(step.articles for step in rest) + done.articles == 7
    assert sum(step.events for step in rest) == 1
    assert count(store, clusters, clusters.c.id == old) == 0
    assert count(store, articles, articles.c.cluster_id == old) == 0


def test_settled_digest_alerts_go_after_the_article_retention(store: Store) -> None:
    # A digest belongs to no single event: no event deletion takes it along.
    def digest(key: str, status: str, created_at: datetime) -> dict[str, object]:
        return {
            "id": key,
            "dedupe_key": key,
            "rule": "daily",
            "channel": "mail",
            "topic": "nk",
            "trigger": "digest",
            "payload": "{}",
            "status": status,
            "attempts": 0,
            "due_at": created_at,
            "created_at": created_at,
        }

    with store.engine.begin() as conn:
        conn.execute(
            insert(alerts),
            [
                digest("old-sent", "sent", OLD),
                digest("old-dead", "dead", OLD),
                digest("old-pending", "pending", OLD),  # still owed
                digest("recent-sent", "sent", RECENT),
            ],
        )
    cutoff = NOW - timedelta(days=30)
    assert store.prune_events(cutoff, dry_run=True) == PruneCounts(alerts=2)
    assert store.prune_events(cutoff) == PruneCounts(alerts=2)
    with store.engine.connect() as conn:
        left = set(conn.execute(select(alerts.c.id)).scalars())
    assert left == {"old-pending", "recent-sent"}


def test_an_event_still_reported_keeps_its_old_articles(store: Store) -> None:
    old, _ = two_events(store)
    # A late report brought the old event back to life yesterday.
    with store.engine.begin() as conn:
        conn.execute(update(clusters).where(clusters.c.id == old).values(last_updated=RECENT))
    assert store.prune_events(NOW - timedelta(days=30)) == PruneCounts()
    assert count(store, articles, articles.c.cluster_id == old) == len(OTHER_EVENT)


EVERGREEN = (
    "<item><guid>evergreen</guid><title>About our wire service</title>"
    "<link>{base}/about</link><description>We cover the world.</description></item>"
)
FRESH = (
    "<item><guid>fresh</guid><title>Harbour reopens after the storm</title>"
    "<link>{base}/fresh</link><pubDate>{date}</pubDate><description>Boats sail.</description>"
    "</item>"
)


def rss(base: str, *items: str) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>'
        f"<link>{base}</link>{''.join(items)}</channel></rss>"
    ).encode()


async def test_an_undated_entry_the_feed_still_lists_does_not_come_back(store: Store) -> None:
    # An undated entry is dated when first fetched, so the age check cannot tell it is
    # old: once its event is deleted, a feed that still lists it would bring it back as
    # news. Its identity is remembered instead (a dated one is refused by its date).
    now = datetime.now(UTC).replace(microsecond=0)
    with LocalServer() as server:
        base = server.url("")
        server.static("/feed", rss(base, EVERGREEN.format(base=base)))
        store.sync_feeds([FeedSpec("wire", server.url("/feed"))], now - timedelta(days=41))
        async with local_poller(store, PipelineSettings(owner="t")) as poller:

            async def poll_at(when: datetime) -> tuple[str, int]:
                poller.clock = lambda: when
                (feed,) = await poller.claim(10, names=["wire"], force=True)
                summary = await poller.poll(feed)
                return summary.outcome, summary.new

            assert await poll_at(now - timedelta(days=40)) == ("ok", 1)
            Consumer(store, topics={}, rules=[], clock=lambda: now).process_pending()
            assert store.prune_events(now - timedelta(days=30)) == PruneCounts(events=1, articles=1)
            with store.engine.connect() as conn:
                kept = conn.execute(select(forgotten_entries.c.identity)).scalars().all()
            assert kept == ["g:evergreen"]

            date = now.strftime("%a, %d %b %Y %H:%M:%S GMT")
            fresh = FRESH.format(base=base, date=date)
            server.static("/feed", rss(base, EVERGREEN.format(base=base), fresh))
            assert await poll_at(now) == ("ok", 1)  # the fresh entry, not the evergreen
            Consumer(store, topics={}, rules=[], clock=lambda: now).process_pending()
    assert count(store, articles, articles.c.guid == "evergreen") == 0
    assert count(store, articles, articles.c.guid == "fresh") == 1
    # A dated article deleted by the prune leaves nothing behind: its date keeps it out.
    assert store.prune_events(now + timedelta(days=1)) == PruneCounts(events=1, articles=1)
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(forgotten_entries)).scalar() == 1


def test_ids_of_deleted_events_and_articles_are_never_given_out_again(store: Store) -> None:
    # The old event's mail went out; its webhook is still owed (pending, key ...:c{id}).
    ingest(
        store,
        [
            (f"Outlet {i}", article(t, guid=f"old{i}", published=OLD + timedelta(minutes=i)))
            for i, t in enumerate(OTHER_EVENT)
        ],
        at=OLD,
    )
    consumer(store, rules("new_event", "every_article")).process_pending()
    with store.engine.begin() as conn:
        conn.execute(update(alerts).where(alerts.c.channel == "mail").values(status="sent"))
        old_event = conn.execute(select(func.max(clusters.c.id))).scalar_one()
        old_article = conn.execute(select(func.max(articles.c.id))).scalar_one()
    assert store.prune_events(NOW - timedelta(days=30)).events == 1
    assert count(store, clusters) == 0

    # A restarted daemon: a new consumer rebuilds its state from the database.
    ingest(
        store,
        [
            (f"Outlet {i}", article(t, guid=f"new{i}", published=RECENT + timedelta(minutes=i)))
            for i, t in enumerate(KURSK)
        ],
    )
    stats = consumer(store, rules("new_event", "every_article")).process_pending()
    with store.engine.connect() as conn:
        new_events = set(conn.execute(select(articles.c.cluster_id)).scalars())
        new_articles = list(conn.execute(select(articles.c.id)).scalars())
    assert min(new_events) > old_event
    assert min(new_articles) > old_article
    # The pending webhook of the deleted event does not silence the new one's alerts.
    assert stats.alerts == 2 + 2 * len(KURSK)
    assert count(store, alerts, alerts.c.cluster_id.in_(new_events)) == stats.alerts


def test_deleting_an_article_finds_its_copies_through_an_index(store: Store) -> None:
    # duplicate_of is ON DELETE SET NULL: without an index each deleted article costs
    # the database a scan of every article (41 s for 2,000 deletes from 100k).
    indexed = [ix["column_names"] for ix in inspect(store.engine).get_indexes("articles")]
    assert ["duplicate_of"] in indexed
    if store.backend == "sqlite":
        with store.engine.connect() as conn:
            plan = " ".join(
                str(r[-1])
                for r in conn.execute(
                    text("EXPLAIN QUERY PLAN SELECT id FROM articles WHERE duplicate_of = 1")
                )
            )
        assert "ix_articles_duplicate_of" in plan, plan


def test_poll_history_keeps_each_feeds_newest(store: Store) -> None:
    ingest(store, [("Busy", article(guid="x")), ("Quiet", article("Another", guid="y"))])
    feeds = {s.name: s.id for s in Archive(store.engine).feeds()}
    with store.engine.begin() as conn:
        conn.execute(polls.delete())
    # Busy: one poll every 2 days for 60 days; Quiet: three polls 50 days ago.
    for day in range(0, 60, 2):
        store.record_poll(poll_record(feeds["Busy"], started_at=NOW - timedelta(days=day)), [])
    for minute in range(3):
        when = NOW - timedelta(days=50, minutes=minute)
        store.record_poll(poll_record(feeds["Quiet"], started_at=when), [])
    cutoff = NOW - timedelta(days=30)
    assert store.prune_polls(cutoff, keep_per_feed=20, dry_run=True) == 10
    assert store.prune_polls(cutoff, keep_per_feed=20) == 10
    with store.engine.connect() as conn:
        left = conn.execute(select(polls.c.feed_id, polls.c.started_at)).all()
    busy = sorted((r.started_at for r in left if r.feed_id == feeds["Busy"]), reverse=True)
    assert len(busy) == 20
    assert busy == [NOW - timedelta(days=d) for d in range(0, 40, 2)]
    assert sum(r.feed_id == feeds["Quiet"] for r in left) == 3
    assert store.prune_polls(cutoff, keep_per_feed=20) == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # SQLite's VM steps
def test_poll_history_pruning_grows_linearly_with_the_polls(store: Store) -> None:
    # Work, not time: SQLite's virtual-machine steps for twice the polls. Ranking each
    # poll by counting its feed's newer ones was quadratic (10 feeds x 8,760 polls: 10 s
    # on SQLite, 30 s on PostgreSQL); the cutoff per feed is one index probe.
    store.sync_feeds([FeedSpec("busy", "http://127.0.0.1/busy")], NOW)
    (feed_id,) = [f.id for f in Archive(store.engine).feeds()]
    steps = 0

    def count_steps() -> int:
        nonlocal steps
        steps += 1
        return 0  # go on

    def on_checkout(dbapi_conn: Any, _record: object, _proxy: object) -> None:
        dbapi_conn.set_progress_handler(count_steps, 100)

    def work(n: int) -> int:
        nonlocal steps
        # Oldest first, as a daemon writes them (ids grow with time).
        rows = [poll_row(feed_id, NOW - timedelta(days=40, hours=h)) for h in reversed(range(n))]
        with store.engine.begin() as conn:
            conn.execute(insert(polls), rows)
        steps = 0
        event.listen(store.engine, "checkout", on_checkout)
        try:
            assert store.prune_polls(NOW - timedelta(days=30), keep_per_feed=20) == n - 20
        finally:
            event.remove(store.engine, "checkout", on_checkout)
        with store.engine.begin() as conn:
            conn.execute(polls.delete())
        return steps

    small, large = work(1000), work(2000)
    assert large < 3 * small, (small, large)


def poll_row(feed_id: int, started_at: datetime) -> dict[str, object]:
    return {
        "feed_id": feed_id,
        "started_at": started_at,
        "duration": 0.1,
        "outcome": "ok",
        "url": "http://127.0.0.1/busy",
        "bytes_wire": 0,
        "bytes_decoded": 0,
        "new_entries": 0,
        "updated_entries": 0,
    }


def test_prune_runs_both_and_leaves_articles_alone_without_an_age(store: Store) -> None:
    two_events(store)
    counts = store.prune(
        NOW,
        polls_age=timedelta(days=30),
        polls_per_feed=20,
        articles_age=None,
    )
    assert counts == PruneCounts()
    counts = store.prune(
        NOW, polls_age=timedelta(days=30), polls_per_feed=20, articles_age=timedelta(days=30)
    )
    assert (counts.events, counts.articles) == (1, len(OTHER_EVENT))


# -- the daemon's job --------------------------------------------------------------------


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    loaded = load_config(None, text="settings:\n  retention: {articles: 30d}\n", env={})
    d = Daemon(loaded)
    d.store = Store.open(f"sqlite:///{tmp_path / 'job.db'}")
    d.consumer_lock = ConsumerLock(d.store.engine)
    d.writer = ThreadPoolExecutor(1)
    try:
        yield d
    finally:
        d.writer.shutdown()
        d.store.close()


async def test_the_daemon_prunes_a_batch_per_turn_and_stops_between_batches(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    turns: list[str] = []

    def batches(store: Store, loaded: object) -> Generator[PruneCounts]:
        try:
            for _ in range(5):
                # Each batch on the writer thread, by itself (polls write between them).
                turns.append(threading.current_thread().name)
                daemon.stopping.set()  # SIGTERM arrives during the first batch
                yield PruneCounts(polls=500)
        finally:
            turns.append("closed")

    monkeypatch.setattr(compose, "prune_batches", batches)
    await daemon._retention()
    assert len(turns) == 2
    assert turns[0] != threading.current_thread().name
    assert turns[1] == "closed"


async def test_a_locked_database_stops_the_job_with_one_error_line(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def batches(store: Store, loaded: object) -> Generator[PruneCounts]:
        yield PruneCounts(polls=500)
        raise StorageError("prune_batches: database is locked")

    monkeypatch.setattr(compose, "prune_batches", batches)
    with caplog.at_level(logging.INFO, logger="aggregator.daemon"):
        await daemon._guarded(daemon._retention)()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "retention stopped: prune_batches: database is locked"
    ]
    assert errors[0].exc_info is None  # expected, not a crash: no traceback
    assert "deleted 500 polls" in caplog.text  # what was done is reported


# -- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retention", "problem"),
    [
        ("{articles: 2d}", "settings.retention.articles: below the 7-day floor"),
        ("{polls: 1h}", "settings.retention.polls: below the 1-day floor"),
        ("{polls_per_feed: 0}", "settings.retention.polls_per_feed: "),
        ("{interval: 0}", "settings.retention.interval: below the 1-minute floor"),
        ("{interval: 1s}", "settings.retention.interval: below the 1-minute floor"),
    ],
)
def test_retention_floors(retention: str, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, text=f"settings:\n  retention: {retention}\n", env={})
    assert any(p.startswith(problem) for p in err.value.problems), err.value.problems


def test_retention_must_outlive_the_stage_windows() -> None:
    text = "settings:\n  retention: {articles: 8d}\n  clustering: {window: 10d, max_silence: 2d}\n"
    with pytest.raises(ConfigError) as err:
        load_config(None, text=text, env={})
    assert "settings.retention.articles: shorter than settings.clustering.window" in (
        err.value.problems
    )


def test_article_retention_also_stops_old_entries_at_the_door() -> None:
    loaded = load_config(None, text="settings:\n  retention: {articles: 90d}\n", env={})
    assert pipeline_settings(loaded, "me").max_entry_age == timedelta(days=90)
    plain = load_config(None, text="", env={})
    assert pipeline_settings(plain, "me").max_entry_age is None


# -- the command --------------------------------------------------------------------------


def test_db_prune_command(tmp_path: Path, database_url: str) -> None:
    store = Store.open(database_url)
    try:
        two_events(store)
    finally:
        store.close()
    config = tmp_path / "feeds.yaml"
    config.write_text("settings:\n  retention: {articles: 30d}\n")
    env = {"AGGREGATOR_DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}
    # The clock of the command is today's, far after the test data of 2024: both
    # events are old by then, so the dry run counts both.
    dry = run_cli(config, env, "db", "prune", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    counted = json.loads(dry.stdout)
    assert counted["dry_run"] is True
    assert counted["events"] == 2
    assert counted["articles"] == len(OTHER_EVENT) + len(KURSK)
    text = run_cli(config, env, "db", "prune")
    assert text.returncode == 0, text.stderr
    assert f"deleted 2 events last reported over 30 days ago, with {counted['articles']}" in (
        text.stdout
    )
    assert "alembic" not in text.stderr  # the migration tool's chatter stays out
    again = run_cli(config, env, "db", "prune", "--json")
    assert json.loads(again.stdout)["events"] == 0
