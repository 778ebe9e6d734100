"""The parser's fast paths give what the slow ones gave: on the benchmark farm, on every
feed fixture and on random text (issue 17).

- feedparser's windows-1252 translation is skipped when an element's text holds no C1
  control (``parse._check_c1_before_translating``);
- ``links.absolutize_html`` only looks at start tags holding an "=".
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator import links
from aggregator.errors import ParseError
from aggregator.poll import parse
from tests.support.farm import load_farm

FEEDS = Path(__file__).parent / "data" / "feeds"
FEED_URL = "https://feeds.example/dir/feed.xml"
FETCHED_AT = datetime(2024, 11, 1, 12, 0, tzinfo=UTC)
# The pattern absolutize_html used before: every start tag.
EVERY_START_TAG = re.compile(r"<[a-zA-Z][^<>]*>")


@contextmanager
def slow_paths() -> Iterator[None]:
    """feedparser's own translation of every element, absolutize_html on every tag."""
    tag = links._TAG
    parse._check_c1_before_translating(False)
    links._TAG = EVERY_START_TAG
    try:
        yield
    finally:
        parse._check_c1_before_translating(True)
        links._TAG = tag


def parsed(body: bytes, headers: dict[str, str]) -> object:
    try:
        return parse.parse_feed(body, url=FEED_URL, headers=headers, fetched_at=FETCHED_AT)
    except ParseError as exc:
        return ("error", type(exc).__name__, str(exc))


def assert_same_both_ways(body: bytes, headers: dict[str, str]) -> None:
    fast = parsed(body, headers)
    with slow_paths():
        slow = parsed(body, headers)
    assert fast == slow


def test_the_fast_paths_are_installed_and_can_be_removed() -> None:
    # Otherwise the comparisons below would compare a path with itself.
    strict = parse.feedparser.api.StrictFeedParser
    assert strict.decode_entities("title", "x\x96") == "x\x96"
    assert type(strict.decode_entities("title", "x")) is not str
    with slow_paths():
        assert type(strict.decode_entities("title", "x")) is str
        assert links._TAG is EVERY_START_TAG
    assert links._TAG is not EVERY_START_TAG


def test_c1_controls_are_still_read_as_windows_1252() -> None:
    # U+0096 (escaped, as a character reference, or raw) is an en dash in cp1252.
    body = (
        '<rss version="2.0"><channel><title>a\u0096b</title><item><title>x&#150;y</title>'
        "<description>&lt;p&gt;caf\u00e9 \u0093q\u0094&lt;/p&gt;</description></item>"
        "</channel></rss>"
    ).encode()
    feed = parse.parse_feed(
        body, url=FEED_URL, headers={"content-type": "application/xml"}, fetched_at=FETCHED_AT
    )
    assert feed.title == "a\u2013b"
    assert feed.entries[0].title == "x\u2013y"
    assert "caf\u00e9 \u201cq\u201d" in (feed.entries[0].summary_html or "")
    assert_same_both_ways(body, {"content-type": "application/xml"})


def test_the_farm_parses_the_same_both_ways() -> None:
    farm = load_farm()
    settings_ = farm.FarmSettings(feeds=24, items=12, seed=3)
    headers = {"content-type": "application/rss+xml; charset=utf-8"}
    for feed in farm.build_farm(settings_):
        assert_same_both_ways(feed.body, headers)


FIXTURES = sorted(p.name for p in FEEDS.iterdir() if not p.name.endswith(".expected.json"))


@pytest.mark.parametrize("name", FIXTURES)
@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "application/xml"},
        {"content-type": "application/xml; charset=utf-8"},
        {"content-type": "text/xml; charset=windows-1252"},
    ],
)
def test_every_fixture_parses_the_same_both_ways(name: str, headers: dict[str, str]) -> None:
    assert_same_both_ways((FEEDS / name).read_bytes(), headers)


# Text with what the fast paths look at: C1 controls, windows-1252 and Latin-1 letters,
# curly quotes, character references to the C1 range, markup and URL attributes.
_PIECES = st.sampled_from(
    [
        "\x80", "\x85", "\x93", "\x96", "\x9f", "\xe9", "\xc2", "\xc3\xa9", "\u201c",
        "\u0416", "\uac00", "&#150;", "&#x96;", "&#8211;", "&amp;", "<p>", "</p>", "<br>",
        '<a href="/x">', "<img src='y.png'>", "<a href=z>", "=", " ", "\n", "plain",
    ]
)  # fmt: skip
_TEXT = st.lists(_PIECES | st.text(max_size=6), max_size=12).map("".join)


@settings(derandomize=True, database=None, max_examples=150, deadline=None)
@given(
    title=_TEXT,
    body=_TEXT,
    escape=st.booleans(),
    kind=st.sampled_from(["rss", "atom"]),
    encoding=st.sampled_from(["utf-8", "windows-1252", "iso-8859-1", None]),
)
def test_random_entries_parse_the_same_both_ways(
    title: str, body: str, escape: bool, kind: str, encoding: str | None
) -> None:
    t = html.escape(title) if escape else title
    b = html.escape(body) if escape else body
    if kind == "rss":
        doc = (
            f'<rss version="2.0"><channel><title>{t}</title><item><title>{t}</title>'
            f"<link>https://x.example/a</link><description>{b}</description></item>"
            "</channel></rss>"
        )
    else:
        doc = (
            f'<feed xmlns="http://www.w3.org/2005/Atom"><title>{t}</title><id>urn:f</id>'
            f'<entry><title type="html">{t}</title><id>urn:e</id>'
            f'<content type="html">{b}</content></entry></feed>'
        )
    if encoding is not None:
        doc = f'<?xml version="1.0" encoding="{encoding}"?>' + doc
    raw = doc.encode(encoding or "utf-8", "replace")
    assert_same_both_ways(raw, {"content-type": "application/xml"})


@settings(derandomize=True, database=None, max_examples=300, deadline=None)
@given(_TEXT, st.sampled_from([FEED_URL, "https://x.example", "not a url", ""]))
def test_absolutize_html_is_the_same_on_every_tag_or_on_tags_with_an_equals_sign(
    text: str, base: str
) -> None:
    fast = links.absolutize_html(text, base)
    with slow_paths():
        assert links.absolutize_html(text, base) == fast
