"""Issue 18, feeds: nothing a real feed sends is dropped or mangled in silence.

Entries sharing a GUID and a link, lying charsets, an extension element feedparser
chokes on, an entity-hidden script link, a URL httpx refuses, the per-host queue
counted as slowness, near-feeds. Storage cases run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from aggregator.config import FeedConfig
from aggregator.errors import ParseError
from aggregator.models import FetchSettings
from aggregator.poll.parse import parse_feed
from aggregator.poll.poller import PipelineSettings, Poller
from aggregator.store import FeedSpec, Store
from aggregator.store.archive import Archive
from tests.support.httpserver import LocalServer, Response
from tests.support.poller import local_poller

FEED_URL = "https://feeds.example/feed.xml"
FETCHED_AT = datetime(2024, 11, 1, 12, 0, tzinfo=UTC)


def rss(items: str, *, declaration: str = '<?xml version="1.0" encoding="utf-8"?>') -> str:
    return (
        f'{declaration}<rss version="2.0"><channel><title>Wire</title>'
        f"<link>https://feeds.example/</link>{items}</channel></rss>"
    )


def item(title: str, *, guid: str | None = None, link: str | None = None, body: str = "") -> str:
    parts = [f"<title>{title}</title>"]
    if guid is not None:
        parts.append(f"<guid>{guid}</guid>")
    if link is not None:
        parts.append(f"<link>{link}</link>")
    if body:
        parts.append(f"<description>{body}</description>")
    return "<item>" + "".join(parts) + "</item>"


# Seven different stories in the shapes a broken CMS produces: three share one
# permalink GUID and no <link> (feedparser copies the GUID into the link), two share
# a GUID and a link, two share a link and a title but not their text.
SHARED = "".join(
    [
        item("Dam breaks upstream", guid="https://feeds.example/live"),
        item("Villages evacuated", guid="https://feeds.example/live"),
        item("Army sends boats", guid="https://feeds.example/live"),
        item("Budget passes", guid="123", link="https://feeds.example/politics"),
        item("Minister resigns", guid="123", link="https://feeds.example/politics"),
        item("Live: markets", link="https://feeds.example/markets", body="Stocks fall."),
        item("Live: markets", link="https://feeds.example/markets", body="Oil rises."),
    ]
)


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        yield srv


@pytest.fixture
async def poller(store: Store) -> AsyncIterator[Poller]:
    async with local_poller(store) as p:
        yield p


def parse(body: bytes, content_type: str = "application/xml") -> tuple[list[str], list[str]]:
    feed = parse_feed(
        body, url=FEED_URL, headers={"content-type": content_type}, fetched_at=FETCHED_AT
    )
    return [e.title for e in feed.entries], list(feed.warnings)


# -- 1. items that share a GUID ----------------------------------------------------------


async def test_entries_sharing_guid_and_link_are_each_stored(
    store: Store, poller: Poller, server: LocalServer
) -> None:
    server.route("/feed", Response(body=rss(SHARED).encode()))
    store.sync_feeds([FeedSpec("wire", server.url("/feed"))], datetime.now(UTC))
    (feed,) = await poller.claim(10, force=True)
    first = await poller.poll(feed)
    assert (first.outcome, first.new) == ("ok", 7)
    assert store.count_articles() == 7
    (info,) = Archive(store.engine).feeds(polls_per_feed=1)
    warnings = info.recent_polls[0].warnings or ""
    assert "share a GUID" in warnings, warnings
    assert "told apart" in warnings, warnings
    # The next document, with a new story on top and an exact repeat at the end: the
    # seven keep their identities (nothing new, nothing updated), the repeat is
    # dropped and counted.
    repeat = item("Army sends boats", guid="https://feeds.example/live")
    newer = item("Bridge reopens", guid="https://feeds.example/bridge") + SHARED + repeat
    server.route("/feed", Response(body=rss(newer).encode()))
    (feed,) = await poller.claim(10, force=True)
    second = await poller.poll(feed)
    assert (second.outcome, second.new, second.updated) == ("ok", 1, 0)
    assert store.count_articles() == 8
    (info,) = Archive(store.engine).feeds(polls_per_feed=1)
    assert "1 repeated entries dropped" in (info.recent_polls[0].warnings or "")


# -- 2. a wrong charset in the HTTP header -------------------------------------------------


def test_utf8_document_labelled_koi8r_by_http_is_read_as_utf8() -> None:
    body = rss(item("Привет, мир", link="https://feeds.example/1")).encode("utf-8")
    titles, warnings = parse(body, "text/xml; charset=koi8-r")
    assert titles == ["Привет, мир"]
    assert any("koi8-r" in w and "utf-8" in w for w in warnings), warnings


def test_shift_jis_body_labelled_utf8_is_read_as_shift_jis() -> None:
    text = rss(
        item("東京で国際会議が開かれました", link="https://feeds.example/1"),
        declaration='<?xml version="1.0"?>',
    )
    titles, warnings = parse(text.encode("shift_jis"), "application/rss+xml; charset=utf-8")
    assert titles == ["東京で国際会議が開かれました"]
    assert any("utf-8" in w for w in warnings), warnings


def test_byte_order_mark_beats_both_labels() -> None:
    text = rss(item("Grüße aus Köln", link="https://feeds.example/1"))
    body = b"\xef\xbb\xbf" + text.replace("utf-8", "iso-8859-1").encode("utf-8")
    titles, warnings = parse(body, "text/xml; charset=windows-1251")
    assert titles == ["Grüße aus Köln"]
    assert any("byte-order mark" in w for w in warnings), warnings


def test_labels_that_agree_with_the_bytes_give_no_warning() -> None:
    body = rss(item("Grüße", link="https://feeds.example/1")).encode("utf-8")
    assert parse(body, "application/rss+xml; charset=utf-8") == (["Grüße"], [])


# -- 3. one bad element must not lose the whole feed ---------------------------------------

GEO = (
    '<?xml version="1.0"?><rss version="2.0" xmlns:georss="http://www.georss.org/georss"'
    ' xmlns:gml="http://www.opengis.net/gml"><channel><title>t</title>'
    "<item><title>Quake</title><link>https://feeds.example/1</link>"
    "<georss:where><gml:Polygon><gml:exterior><gml:LinearRing><gml:posList>x</gml:posList>"
    "</gml:LinearRing></gml:exterior></gml:Polygon></georss:where></item>"
    "<item><title>Flood</title><link>https://feeds.example/2</link>"
    "<gml:pos>1 2</gml:pos></item></channel></rss>"
)


def test_extension_element_that_crashes_feedparser_loses_only_itself() -> None:
    titles, warnings = parse(GEO.encode())
    assert titles == ["Quake", "Flood"]
    assert any("gml_pos" in w for w in warnings), warnings


def test_nul_in_the_encoding_name_is_read_again_with_a_warning() -> None:
    body = rss(item("Storm", link="https://feeds.example/1")).replace("utf-8", "utf\x00-8")
    titles, warnings = parse(body.encode())
    assert titles == ["Storm"]
    assert any("parser failed" in w for w in warnings), warnings


def test_wrong_utf16_declaration_on_utf8_bytes_is_read_as_utf8() -> None:
    body = rss(item("Grüße", link="https://feeds.example/1")).replace("utf-8", "utf-16")
    titles, warnings = parse(body.encode("utf-8"))
    assert titles == ["Grüße"]
    assert any("utf-16" in w for w in warnings), warnings


# -- 5. a URL that passes validation and then crashes every poll ---------------------------


@pytest.mark.parametrize(
    "url",
    ["http://256.0.0.1/feed", "http://feeds.example/a\x00b", "http://feeds.example/a\tb"],
)
def test_configuration_refuses_urls_httpx_cannot_send(url: str) -> None:
    with pytest.raises(ValidationError, match="URL"):
        FeedConfig(name="x", url=url)


async def test_unsendable_url_is_a_recorded_failure_with_backoff(
    store: Store, poller: Poller, server: LocalServer
) -> None:
    # Stored before the check existed (or reached by a redirect): polled, it must fail
    # like any other fetch, on the feed, with backoff; not raise.
    server.route("/moved", Response(status=302, headers={"location": "http://256.0.0.1/x"}))
    specs = [FeedSpec("bad", "http://256.0.0.1/feed"), FeedSpec("hop", server.url("/moved"))]
    store.sync_feeds(specs, datetime.now(UTC))
    for feed in await poller.claim(10, force=True):
        summary = await poller.poll(feed)
        assert summary.outcome == "failed"
        assert summary.error is not None
        assert "256.0.0.1" in summary.error
    for info in Archive(store.engine).feeds():
        assert info.error_count == 1
        assert info.last_error
        assert info.next_poll_at > datetime.now(UTC)


# -- 6. the per-host queue is not the feed's slowness --------------------------------------


async def test_time_queued_for_the_host_gap_is_recorded_apart(
    store: Store, server: LocalServer
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from aggregator.compose import user_agent
    from aggregator.poll.fetch import Fetcher

    gap = 0.6
    body = rss(item("One", link="https://feeds.example/1")).encode()
    server.route("/a", Response(body=body))
    server.route("/b", Response(body=body))
    store.sync_feeds(
        [FeedSpec("a", server.url("/a")), FeedSpec("b", server.url("/b"))], datetime.now(UTC)
    )
    settings = FetchSettings(
        user_agent=user_agent(), allow_private_networks=True, per_host_min_gap=gap
    )
    writer = ThreadPoolExecutor(1)
    try:
        async with Fetcher(settings) as fetcher:
            poller = Poller(store, fetcher, PipelineSettings(owner="test"), cpu=None, writer=writer)
            import asyncio

            feeds = await poller.claim(10, force=True)
            t0 = time.monotonic()
            summaries = await asyncio.gather(*(poller.poll(f) for f in feeds))
            wall = time.monotonic() - t0
    finally:
        writer.shutdown()
    assert all(s.outcome == "ok" for s in summaries)
    polls = {i.name: i.recent_polls[0] for i in Archive(store.engine).feeds(polls_per_feed=1)}
    waits = sorted(p.waited or 0.0 for p in polls.values())
    # One of the two went second and waited its turn for at least most of the gap.
    assert waits[1] >= gap / 2
    for p in polls.values():
        # The wait is not in the duration: both fit in the wall time together.
        assert p.duration + (p.waited or 0.0) <= wall


# -- 12. near-feeds: say what was seen -----------------------------------------------------


def test_cdf_channel_says_its_root_element_and_content_type() -> None:
    cdf = b'<?xml version="1.0"?><CHANNEL HREF="http://x.example/"><TITLE>News</TITLE></CHANNEL>'
    with pytest.raises(ParseError) as caught:
        parse(cdf, "application/x-cdf")
    assert "root element <CHANNEL>" in str(caught.value)
    assert "Content-Type application/x-cdf" in str(caught.value)


def test_html_page_says_what_it_is() -> None:
    with pytest.raises(ParseError, match=r"an HTML page \(root element <html>, Content-Type"):
        parse(b"<!doctype html><html><body>Hi</body></html>", "text/html")


def test_rss_behind_an_html_doctype_is_a_feed() -> None:
    # An empty RSS document with an HTML doctype in front: a (quiet) feed, not a page.
    body = b'<!DOCTYPE html>\n<rss version="2.0"><channel><title>t</title></channel></rss>'
    feed = parse_feed(body, url=FEED_URL, headers={}, fetched_at=FETCHED_AT)
    assert (feed.kind, feed.entries) == ("rss20", ())
