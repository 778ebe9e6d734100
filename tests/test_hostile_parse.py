"""Hostile feed documents and entries whose cost grew with the square of their size.

Each once held a parse worker for minutes to hours on a body within the 10 MB cap.
The tests check what the bounded code returns (never how long it takes): the inputs
are kept small enough that the old code also finishes, and gave a different answer.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from aggregator.models import ParsedEntry
from aggregator.poll import normalize as normalize_module
from aggregator.poll.normalize import NormalizeSettings, normalize_entry
from aggregator.poll.parse import parse_feed
from aggregator.poll.poller import PipelineSettings
from aggregator.store import FeedSpec, Store
from aggregator.store.schema import articles
from aggregator.text import sanitize_html
from tests.support.httpserver import LocalServer
from tests.support.poller import local_poller

FETCHED_AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
FEED_URL = "https://feed.example/rss"


def entry(summary_html: str = "", content_html: str = "") -> ParsedEntry:
    return ParsedEntry(
        guid="g1",
        link="https://feed.example/1",
        title="Grain deal",
        summary_html=summary_html,
        content_html=content_html,
        author=None,
        published=FETCHED_AT,
        updated=None,
    )


def normalize(e: ParsedEntry) -> str:
    article = normalize_entry(e, feed="wire", fetched_at=FETCHED_AT, settings=NormalizeSettings())
    return article.html


def test_elements_left_open_thousands_deep_are_shown_as_text() -> None:
    # nh3's parser looks through every open element at each tag: 250 KB of unclosed
    # <div> took 9 s, 1 MB (one field) over two minutes.
    body = "<p>Ships <a href='https://x.example/'>left</a> port.</p>" + "<div>" * 2000 + "tail"
    assert sanitize_html(body) == "<p>Ships left port.</p>"


def test_markup_within_the_limits_is_sanitized_as_before() -> None:
    closed = "<div>" * 200 + "<b>deep</b>" + "</div>" * 200
    assert sanitize_html(closed).count("<div>") == 200
    # Sloppy but cheap: a new <p> or <li> closes the previous one.
    paragraphs = "".join(f"<p>para {i} <em>x</em>" for i in range(400))
    assert sanitize_html(paragraphs).count("<p>") == 400
    links = "".join(f"<p><a href='https://x.example/{i}'>l</a> <b>b</b></p>" for i in range(3000))
    assert sanitize_html(links).count("<a ") == 3000


def test_thousands_of_elements_the_parser_keeps_open_are_shown_as_text() -> None:
    # The end tags look balanced, but </div> cannot close a <div> outside the <table>,
    # so the parser nests one level deeper per unit (25,000 units took 6 s).
    body = "<p>Start.</p>" + "<div><table></div></table>" * 6000
    assert sanitize_html(body) == "<p>Start.</p>"


def test_a_deeply_nested_feed_entry_is_stored_as_its_text() -> None:
    html = normalize(entry(content_html="<p>Wheat prices rose.</p>" + "<blockquote>" * 5000))
    assert html == "<p>Wheat prices rose.</p>"


class _Recording:
    """Wraps a compiled pattern, recording the length of every text it substitutes in."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.lengths: list[int] = []

    def sub(self, repl: str, text: str) -> str:
        self.lengths.append(len(text))
        return self.pattern.sub(repl, text)


def test_a_summary_that_is_a_long_run_of_ellipses_is_merged_in_linear_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The teaser-ending pattern is anchored at the end but was tried from every
    # position: a 32 KB run of "... " took 12 s, a 1 MB one hours. Only the end of
    # the summary may be handed to it (this is what bounds the time).
    recording = _Recording(normalize_module._ELLIPSIS_RE)
    monkeypatch.setattr(normalize_module, "_ELLIPSIS_RE", recording)
    e = entry(summary_html="... " * 3000 + "Ships left port [...]", content_html="<p>Body.</p>")
    article = normalize_entry(e, feed="wire", fetched_at=FETCHED_AT, settings=NormalizeSettings())
    assert article.text.endswith("Ships left port [...]\n\nBody.")
    assert recording.lengths
    assert max(recording.lengths) <= 200
    # A summary the body contains is still dropped once its "[...]" is cut.
    e = entry(summary_html="Ships left port [...]", content_html="<p>Ships left port today.</p>")
    article = normalize_entry(e, feed="wire", fetched_at=FETCHED_AT, settings=NormalizeSettings())
    assert article.text == "Ships left port today."


def rss(extra: str = "", description: str = "d") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        f"{extra}<item><title>x</title><link>https://feed.example/1</link>"
        f"<description>{description}</description></item></channel></rss>"
    ).encode()


def test_skip_lists_next_to_thousands_of_unclosed_skip_tags() -> None:
    # feedparser sees the real <skipHours>; our own reading of the lists scanned from
    # every "<skipHours>" in the CDATA to the end of the document: 220 KB took 18 s.
    cdata = "<![CDATA[" + "<skipHours><skipDays>" * 3000 + "]]>"
    body = rss(
        "<skipHours><hour>3</hour><hour>24</hour></skipHours>"
        "<skipDays><day>Sunday</day></skipDays>",
        description=cdata,
    )
    feed = parse_feed(body, url=FEED_URL, headers={}, fetched_at=FETCHED_AT)
    assert (feed.skip_hours, feed.skip_days) == (frozenset({0, 3}), frozenset({"Sunday"}))


def test_skip_lists_are_all_read_and_unclosed_ones_ignored() -> None:
    body = rss(
        "<skipHours><hour>1</hour></skipHours><skipHours><hour>2</hour></skipHours>"
        "<skipDays><day>Monday</day></skipDays><skipDays><day>Tuesday</day>"
    )
    feed = parse_feed(body, url=FEED_URL, headers={}, fetched_at=FETCHED_AT)
    assert feed.skip_hours == frozenset({1, 2})
    assert feed.skip_days == frozenset({"Monday"})


def test_a_link_header_full_of_angle_brackets_still_yields_the_hub() -> None:
    # 128 Link headers of 8 KB "<<<…" (what aiohttp lets through) took hours: "[^>]*"
    # ran to the end of the value from every "<". It also read "<<https://hub…>" as the
    # relative URL "<https://hub…" on the feed's own host.
    headers = {"link": "<" * 5000 + ', <<https://hub.example/>; rel="hub"'}
    feed = parse_feed(rss(), url=FEED_URL, headers=headers, fetched_at=FETCHED_AT)
    assert feed.hub_url == "https://hub.example/"


async def test_a_guid_shared_by_every_item_loses_no_story(store: Store) -> None:
    # A CMS that gives every item one GUID: when a new item is put on top it took the
    # GUID over (first come keeps it), overwrote the old top story's row as an "update"
    # (no alert, no new article) and the old story came back as new without a GUID.
    def feed(*items: tuple[str, str]) -> bytes:
        body = "".join(
            f"<item><title>{title}</title><link>https://wire.example/{slug}</link>"
            f"<guid isPermaLink='false'>same</guid></item>"
            for slug, title in items
        )
        return f'<rss version="2.0"><channel><title>W</title>{body}</channel></rss>'.encode()

    a, b, c, d = (
        ("a", "Troops reach Kursk"),
        ("b", "Moldova votes"),
        ("c", "Storm hits harbour"),
        ("d", "Ceasefire talks open"),
    )
    with LocalServer() as server:
        server.static("/feed", feed(a, b, c), content_type="application/rss+xml")
        store.sync_feeds([FeedSpec("wire", server.url("/feed"))], datetime.now(UTC))
        async with local_poller(store, PipelineSettings(owner="t")) as poller:
            (state,) = await poller.claim(10, names=["wire"], force=True)
            first = await poller.poll(state)
            server.static("/feed", feed(d, a, b, c), content_type="application/rss+xml")
            (state,) = await poller.claim(10, names=["wire"], force=True)
            second = await poller.poll(state)
    assert (first.new, second.new, second.updated) == (3, 1, 0)
    with store.engine.connect() as conn:
        titles = sorted(conn.execute(select(articles.c.title)).scalars())
    assert titles == sorted(t for _, t in (a, b, c, d))
