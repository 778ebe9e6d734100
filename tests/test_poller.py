"""One poll through the real stages, against a real local HTTP server, on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aggregator.poll.poller import Poller
from aggregator.store import FeedSpec, FeedState, Store
from aggregator.store.archive import Archive
from tests.support.httpserver import LocalServer, Response
from tests.support.poller import local_poller

RSS = (Path(__file__).parent / "data" / "e2e" / "rss20.xml").read_bytes()


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        yield srv


@pytest.fixture
async def poller(store: Store) -> AsyncIterator[Poller]:
    async with local_poller(store) as p:
        yield p


async def claim(poller: Poller, *names: str) -> list[FeedState]:
    return await poller.claim(10, names=list(names), force=True)


def add_feeds(store: Store, server: LocalServer, **paths: str) -> None:
    specs = [FeedSpec(name, server.url(path)) for name, path in paths.items()]
    store.sync_feeds(specs, datetime.now(UTC))


async def test_first_poll_then_304_then_unchanged_body(
    store: Store, poller: Poller, server: LocalServer
) -> None:
    server.static("/feed", RSS, content_type="application/rss+xml")
    add_feeds(store, server, wire="/feed")
    (feed,) = await claim(poller, "wire")
    first = await poller.poll(feed)
    assert (first.outcome, first.new, first.http_status) == ("ok", 3, 200)
    (feed,) = await claim(poller, "wire")
    second = await poller.poll(feed)
    assert (second.outcome, second.new) == ("not_modified", 0)
    assert server.requests_for("/feed")[1].header("if-none-match") == feed.etag
    # A server without validators sending the same bytes: not parsed again.
    server.route("/feed", Response(body=RSS, headers={"content-type": "application/rss+xml"}))
    (feed,) = await claim(poller, "wire")
    third = await poller.poll(feed)
    assert (third.outcome, third.http_status) == ("unchanged", 200)
    # Changed bytes are parsed again.
    server.route("/feed", Response(body=RSS.replace(b"Grain", b"Wheat")))
    (feed,) = await claim(poller, "wire")
    fourth = await poller.poll(feed)
    assert (fourth.outcome, fourth.new, fourth.updated) == ("ok", 0, 1)
    assert store.count_articles() == 3


async def test_html_page_is_a_failed_poll_with_a_reason(
    store: Store, poller: Poller, server: LocalServer
) -> None:
    server.route(
        "/page",
        Response(
            body=b"<!doctype html><html><body>Hi</body></html>",
            headers={"content-type": "text/html"},
        ),
    )
    add_feeds(store, server, page="/page")
    (feed,) = await claim(poller, "page")
    result = await poller.poll(feed)
    assert result.outcome == "failed"
    assert result.error
    assert "not a readable feed" in result.error
    status = Archive(store.engine).feeds()[0]
    assert status.error_count == 1
    assert status.next_poll_at > datetime.now(UTC)


async def test_permanent_redirect_moves_the_feed_temporary_does_not(
    store: Store, poller: Poller, server: LocalServer
) -> None:
    server.static("/new", RSS, content_type="application/rss+xml")
    server.route("/old", Response(status=301, headers={"location": server.url("/new")}))
    server.route("/tmp", Response(status=302, headers={"location": server.url("/new")}))
    add_feeds(store, server, moved="/old", temp="/tmp")
    for feed in await claim(poller, "moved", "temp"):
        assert (await poller.poll(feed)).outcome == "ok"
    urls = {s.name: s.url for s in Archive(store.engine).feeds()}
    assert urls["moved"] == server.url("/new")
    assert urls["temp"] == server.url("/tmp")


async def test_gone_feed_stops_and_bad_feeds_do_not_stop_good_ones(
    store: Store, poller: Poller, server: LocalServer
) -> None:
    server.static("/good", RSS, content_type="application/rss+xml")
    server.route("/gone", Response(status=410))
    server.route("/broken", Response(status=500))
    server.route("/garbage", Response(body=b"\x00\xff" * 500))
    add_feeds(store, server, good="/good", gone="/gone", broken="/broken", garbage="/garbage")
    feeds = await claim(poller, "good", "gone", "broken", "garbage")
    results = {r.feed: r for r in await asyncio.gather(*(poller.poll(f) for f in feeds))}
    assert results["good"].new == 3
    assert {results[n].outcome for n in ("gone", "broken", "garbage")} == {"failed"}
    states = {s.name: s.state for s in Archive(store.engine).feeds()}
    assert states["gone"] == "gone"
    assert await claim(poller, "gone") == []  # never polled again


PAGE = """<!doctype html><html lang="en"><head><title>NK troops in Kursk</title>
<link rel="canonical" href="{canonical}"></head><body>
<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a></nav>
<article><h1>North Korean troops arrive in Russia's Kursk region</h1>
<p>Several thousand North Korean soldiers have reached the Kursk region, Ukrainian
officials said on Monday, after weeks of training at ranges in Russia's Far East.</p>
<p>NATO's secretary general called the deployment a dangerous expansion of the war and
said the alliance was consulting with partners in the Indo-Pacific about a response.</p>
<p>Ukrainian military intelligence said the troops were stationed in temporary barracks
between 25 and 40 miles from the border and had not yet taken part in combat.</p>
</article><aside>Most read: weather, football, recipes</aside>
<footer>Copyright Example News. All rights reserved.</footer></body></html>"""


async def test_fulltext_feed_fetches_pages_of_new_articles_and_falls_back(
    store: Store, poller: Poller, server: LocalServer
) -> None:
    items = "".join(
        f"<item><title>Item {n}</title><link>{server.url(path)}</link><guid>g{n}</guid>"
        f"<description>Short teaser {n}.</description></item>"
        for n, path in ((1, "/a/1?utm_source=rss"), (2, "/a/missing"))
    )
    feed = f'<rss version="2.0"><channel><title>T</title>{items}</channel></rss>'.encode()
    server.static("/full", feed, content_type="application/rss+xml")
    canonical = "https://example.org/world/nk-troops-kursk"
    server.route(
        "/a/1",
        Response(body=PAGE.format(canonical=canonical).encode(), content_type="text/html"),
    )
    server.route("/a/missing", Response(status=404))
    store.sync_feeds([FeedSpec("full", server.url("/full"), fulltext=True)], datetime.now(UTC))
    (feed_state,) = await claim(poller, "full")
    summary = await poller.poll(feed_state)
    assert (summary.outcome, summary.new) == ("ok", 2)
    with store.engine.connect() as conn:
        from sqlalchemy import select

        from aggregator.store.schema import articles

        rows = {r.guid: r for r in conn.execute(select(articles))}
    assert rows["g1"].fulltext is not None
    assert "temporary barracks" in rows["g1"].fulltext
    assert "Most read" not in rows["g1"].fulltext
    assert "temporary barracks" in rows["g1"].text  # the longer, better text is used
    assert rows["g1"].canonical_url == canonical
    assert rows["g2"].fulltext is None
    assert rows["g2"].text.startswith("Short teaser 2")
    (poll,) = Archive(store.engine).feeds(polls_per_feed=20, name="full")[0].recent_polls
    assert poll.warnings is not None
    assert "/a/missing: HTTP 404" in poll.warnings
    # Articles already stored are not fetched again on the next poll.
    server.route("/full", Response(body=feed + b" ", content_type="application/rss+xml"))
    (feed_state,) = await claim(poller, "full")
    await poller.poll(feed_state)
    assert len(server.requests_for("/a/1")) == 1


async def test_topic_fulltext_backfills_page_text_of_matching_articles(
    store: Store, poller: Poller, server: LocalServer
) -> None:
    from aggregator.process.consumer import Consumer
    from aggregator.query import parse_query

    items = "".join(
        f"<item><title>{title}</title><link>{server.url(path)}</link><guid>{guid}</guid>"
        f"<description>{title}.</description></item>"
        for guid, title, path in (
            ("k1", "North Korean troops in Kursk", "/a/1"),
            ("k2", "North Korean troops seen again", "/a/404"),
            ("w1", "Weather: sunny weekend", "/a/2"),
        )
    )
    feed = f'<rss version="2.0"><channel><title>T</title>{items}</channel></rss>'.encode()
    server.static("/plain", feed, content_type="application/rss+xml")
    server.route(
        "/a/1", Response(body=PAGE.format(canonical="").encode(), content_type="text/html")
    )
    server.route("/a/404", Response(status=404))
    store.sync_feeds([FeedSpec("plain", server.url("/plain"))], datetime.now(UTC))
    (feed_state,) = await claim(poller, "plain")
    await poller.poll(feed_state)
    assert server.requests_for("/a/1") == []  # the feed itself does not ask for pages
    consumer = Consumer(store, topics={"nk": parse_query('"north korean"')}, rules=[])
    consumer.process_pending()
    since = datetime.now(UTC) - timedelta(days=1)
    assert await poller.backfill_fulltext(["nk"], since) == 2
    assert server.requests_for("/a/2") == []  # not matching: never fetched
    assert await poller.backfill_fulltext(["nk"], since) == 0  # failures are not retried
    with store.engine.connect() as conn:
        from sqlalchemy import select

        from aggregator.store.schema import articles

        rows = {r.guid: r for r in conn.execute(select(articles))}
    assert "temporary barracks" in rows["k1"].fulltext
    assert "temporary barracks" in rows["k1"].text
    assert rows["k2"].fulltext == ""
    assert rows["w1"].fulltext is None
