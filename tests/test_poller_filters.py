"""A feed's include/exclude queries: which of its entries are stored at all."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from aggregator.compose import feed_filters, load_config, pipeline_settings
from aggregator.errors import ConfigError
from aggregator.models import article_identity
from aggregator.poll.poller import PipelineSettings, admit
from aggregator.query import EntryFilter, parse_query
from aggregator.store import FeedSpec, Store
from aggregator.store.schema import articles
from tests.factories import article
from tests.support.httpserver import LocalServer, Response
from tests.support.poller import local_poller
from tests.test_daemon_e2e import FEEDS, daemon_env, run_cli, write_config


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        yield srv


def entry_filter(include: str | None = None, exclude: str | None = None) -> EntryFilter:
    return EntryFilter(
        include=parse_query(include) if include else None,
        exclude=parse_query(exclude) if exclude else None,
    )


TROOPS = article("North Korean troops reach Kursk", text="Soldiers arrived by train.")
FOOTBALL = article("Cup final goes to penalties", text="Sport: the match ended 1-1.")


def test_include_keeps_only_matching_entries() -> None:
    f = entry_filter(include="korea* OR kursk")
    assert f.keeps(TROOPS)
    assert not f.keeps(FOOTBALL)


def test_exclude_drops_matching_entries_in_title_or_text() -> None:
    assert not entry_filter(exclude="sport").keeps(FOOTBALL)  # found in the text
    assert not entry_filter(exclude="title:penalties").keeps(FOOTBALL)
    assert entry_filter(exclude="text:penalties").keeps(FOOTBALL)  # scoped to the text
    assert entry_filter(exclude="sport").keeps(TROOPS)


def test_include_and_exclude_together() -> None:
    f = entry_filter(include="troops OR match", exclude="penalties")
    assert f.keeps(TROOPS)
    assert not f.keeps(FOOTBALL)  # included, then excluded


def test_filters_are_built_per_feed_from_the_configuration() -> None:
    text = (
        "feeds:\n"
        "  - {name: A, url: 'https://a.example/f', exclude: 'sport OR horoscope*'}\n"
        "  - {name: B, url: 'https://b.example/f', include: 'title:korea'}\n"
        "  - {name: C, url: 'https://c.example/f'}\n"
    )
    loaded = load_config(None, text=text, env={})
    filters = feed_filters(loaded)
    assert set(filters) == {"A", "B"}
    assert filters["A"].include is None
    assert filters["A"].exclude is not None
    assert filters["B"].exclude is None
    assert not filters["A"].keeps(FOOTBALL)
    assert not filters["B"].keeps(FOOTBALL)
    assert pipeline_settings(loaded, "me").feed_filters == filters


def test_a_bad_filter_query_is_reported_with_its_path() -> None:
    text = (
        "feeds:\n"
        "  - {name: A, url: 'https://a.example/f', exclude: '(sport'}\n"
        "  - {name: B, url: 'https://b.example/f', include: 'NOT korea'}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(None, text=text, env={})
    problems = err.value.problems
    assert any(p.startswith("feeds[0].exclude: ") for p in problems), problems
    assert any(p.startswith("feeds[1].include: ") for p in problems), problems


RSS = (
    '<rss version="2.0"><channel><title>Wire</title>'
    "<item><title>North Korean troops reach Kursk</title><guid>a</guid>"
    "<link>{base}/a</link><description>Soldiers arrived.</description></item>"
    "<item><title>Cup final goes to penalties</title><guid>b</guid>"
    "<link>{base}/b</link><description>Sport round-up.</description></item>"
    "<item><title>Your horoscope for Tuesday</title><guid>c</guid>"
    "<link>{base}/c</link><description>Stars.</description></item>"
    "</channel></rss>"
)


async def test_a_poll_stores_only_what_the_filters_keep_and_counts_the_rest(
    store: Store, server: LocalServer
) -> None:
    server.static(
        "/feed", RSS.format(base=server.url("")).encode(), content_type="application/rss+xml"
    )
    for path in ("/a", "/b", "/c"):
        server.route(path, Response(body=b"<html><body><p>page</p></body></html>"))
    store.sync_feeds([FeedSpec("wire", server.url("/feed"), fulltext=True)], datetime.now(UTC))
    filters = {"wire": entry_filter(exclude="sport OR horoscope*")}
    async with local_poller(store, PipelineSettings(owner="t", feed_filters=filters)) as poller:
        (feed,) = await poller.claim(10, names=["wire"], force=True)
        summary = await poller.poll(feed)
    assert (summary.outcome, summary.new, summary.filtered) == ("ok", 1, 2)
    with store.engine.connect() as conn:
        guids = {r.guid for r in conn.execute(select(articles.c.guid))}
    assert guids == {"a"}
    # A dropped entry costs no page fetch.
    assert server.requests_for("/a")
    assert not server.requests_for("/b")
    assert not server.requests_for("/c")


@pytest.mark.e2e
def test_poll_once_reports_dropped_entries(
    tmp_path: Path, database_url: str, server: LocalServer
) -> None:
    data = Path(__file__).parent / "data" / "e2e"
    for path, filename, ctype, _ in FEEDS.values():
        server.static(path, (data / filename).read_bytes(), content_type=ctype)
    config = write_config(tmp_path, server)
    # The wire feed drops its grain-exports story.
    text = config.read_text().replace(
        f"    url: {server.url(FEEDS['Local Wire'][0])}\n",
        f"    url: {server.url(FEEDS['Local Wire'][0])}\n    exclude: 'grain OR exports'\n",
    )
    config.write_text(text)
    env = daemon_env(database_url)
    result = run_cli(config, env, "poll", "--once")
    assert result.returncode == 0, result.stderr
    assert "6 new articles, 0 updated, 1 dropped by the feeds' filters" in result.stdout
    store = Store.open(database_url)
    try:
        with store.engine.connect() as conn:
            titles = {r.title for r in conn.execute(select(articles.c.title))}
    finally:
        store.close()
    assert len(titles) == 6
    assert not any("Grain" in t for t in titles)
    assert any("Seoul summons" in t for t in titles)


def busy_feed(now: datetime) -> bytes:
    """Twenty entries ten minutes apart; one in ten about Korea."""
    items = "".join(
        f"<item><title>{'Korea' if i % 10 == 0 else 'Sport'} item {i}</title><guid>g{i}</guid>"
        f"<pubDate>{format_datetime(now - timedelta(minutes=10 * i), usegmt=True)}</pubDate>"
        "<description>d</description></item>"
        for i in range(20)
    )
    return f"<rss version='2.0'><channel><title>W</title>{items}</channel></rss>".encode()


async def test_filters_do_not_change_how_often_a_feed_is_polled(
    store: Store, server: LocalServer
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    server.static("/feed", busy_feed(now), content_type="application/rss+xml")
    store.sync_feeds(
        [FeedSpec("plain", server.url("/feed")), FeedSpec("narrow", server.url("/feed?n"))], now
    )
    filters = {"narrow": entry_filter(include="korea")}
    planned = {}
    for name in ("plain", "narrow"):
        # A fresh poller each (same seeded jitter) on a fixed clock: the plans compare.
        async with local_poller(store, PipelineSettings(owner="t", feed_filters=filters)) as p:
            p.clock = lambda: now
            (feed,) = await p.claim(10, names=[name], force=True)
            summary = await p.poll(feed)
        planned[name] = (summary.next_poll_at, summary.new)
    assert planned["narrow"][1] == 2  # the filter did drop entries
    # Two Korea items in 200 minutes looked like a quiet feed polled about hourly.
    assert planned["narrow"][0] == planned["plain"][0]


# -- the filter admits new entries; stored ones are updated whatever they say now ------


def test_admit_decides_new_entries_only_and_counts_each_reason() -> None:
    now = datetime(2024, 11, 1, tzinfo=UTC)
    old = article("Troops in Kursk, a year on", guid="old", published=now - timedelta(days=400))
    sport = replace(FOOTBALL, guid="sport")
    stored_sport = replace(FOOTBALL, guid="stored-sport", title="Cup final: a correction")
    troops = replace(TROOPS, guid="troops")
    arts = [old, sport, stored_sport, troops]
    known = {article_identity(stored_sport)}
    flt = entry_filter(exclude="sport")
    got = admit(arts, known=known, entry_filter=flt, max_age=timedelta(days=90), now=now)
    assert got.articles == (stored_sport, troops)  # the stored entry passes as an update
    assert (got.filtered, got.too_old) == (1, 1)
    # The next poll turns the same two away: they were counted already.
    again = admit(
        arts,
        known=known,
        entry_filter=flt,
        max_age=timedelta(days=90),
        now=now,
        counted=got.turned_away,
    )
    assert (again.articles, again.filtered, again.too_old) == (got.articles, 0, 0)


def one_item(title: str, text: str, guid: str = "a") -> str:
    return (
        f"<item><title>{title}</title><guid>{guid}</guid>"
        f"<link>http://x.example/{guid}</link><description>{text}</description></item>"
    )


def channel(*items: str) -> bytes:
    return f"<rss version='2.0'><channel><title>W</title>{''.join(items)}</channel></rss>".encode()


async def test_an_update_to_a_stored_entry_is_kept_when_it_no_longer_passes(
    store: Store, server: LocalServer
) -> None:
    server.static(
        "/feed",
        channel(
            one_item("Troops reach Kursk", "First report."), one_item("Cup final", "Sport", "b")
        ),
        content_type="application/rss+xml",
    )
    store.sync_feeds([FeedSpec("wire", server.url("/feed"))], datetime.now(UTC))
    filters = {"wire": entry_filter(exclude="sport OR football")}
    async with local_poller(store, PipelineSettings(owner="t", feed_filters=filters)) as poller:
        (feed,) = await poller.claim(10, names=["wire"], force=True)
        first = await poller.poll(feed)
        server.static(
            "/feed",
            channel(
                one_item("Troops reach Kursk; football stadium used as barracks", "3,000 troops."),
                one_item("Cup final", "Sport", "b"),
            ),
            content_type="application/rss+xml",
        )
        (feed,) = await poller.claim(10, names=["wire"], force=True)
        second = await poller.poll(feed)
    assert (first.new, first.updated, first.filtered) == (1, 0, 1)
    # The correction reaches the stored copy; the sport entry, dropped already, is
    # not counted as dropped again.
    assert (second.new, second.updated, second.filtered) == (0, 1, 0)
    with store.engine.connect() as conn:
        rows = [(r.title, r.text) for r in conn.execute(select(articles.c.title, articles.c.text))]
    assert rows == [("Troops reach Kursk; football stadium used as barracks", "3,000 troops.")]


async def test_entries_older_than_the_retention_are_not_counted_as_filtered(
    store: Store, server: LocalServer
) -> None:
    server.static(
        "/feed",
        channel(
            "<item><title>Old story</title><guid>a</guid>"
            "<pubDate>Mon, 01 Jan 2024 00:00:00 GMT</pubDate><description>x</description></item>"
        ),
        content_type="application/rss+xml",
    )
    store.sync_feeds([FeedSpec("wire", server.url("/feed"))], datetime.now(UTC))
    settings = PipelineSettings(owner="t", max_entry_age=timedelta(days=30))
    async with local_poller(store, settings) as poller:
        (feed,) = await poller.claim(10, names=["wire"], force=True)
        summary = await poller.poll(feed)
    assert (summary.new, summary.filtered, summary.too_old) == (0, 0, 1)
