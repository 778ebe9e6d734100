"""The lean RSS/Atom reader (``poll.fastparse``) gives the ParsedFeed feedparser gives,
or declines (issue 17): on the benchmark farm, on every feed fixture and on random
documents built from the elements, namespaces, dates and texts seen in the wild.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import feedparser.mixin
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.errors import ParseError
from aggregator.poll import fastparse, parse
from tests.support.farm import load_farm

DATA = Path(__file__).parent / "data"
FEED_URL = "https://feeds.example/dir/feed.xml"
FETCHED_AT = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
XML = {"content-type": "application/xml"}


@contextmanager
def feedparser_only() -> Iterator[None]:
    fastparse.ENABLED = False
    try:
        yield
    finally:
        fastparse.ENABLED = True


def parsed(body: bytes, headers: dict[str, str]) -> object:
    try:
        return parse.parse_feed(body, url=FEED_URL, headers=headers, fetched_at=FETCHED_AT)
    except ParseError as exc:
        return ("error", str(exc))


def took_fast_path(body: bytes, headers: dict[str, str]) -> bool:
    lower = {k.lower(): v for k, v in headers.items()}
    return fastparse.parse(body, lower) is not None


def assert_same(body: bytes, headers: dict[str, str]) -> bool:
    """Both paths give the same result; returns whether the fast path took the body."""
    fast = parsed(body, headers)
    with feedparser_only():
        assert not took_fast_path(body, headers)
        slow = parsed(body, headers)
    assert fast == slow
    return took_fast_path(body, headers)


def test_the_switch_turns_the_fast_path_off() -> None:
    body = (DATA / "feeds" / "rss20.xml").read_bytes()
    assert took_fast_path(body, XML)
    with feedparser_only():
        assert not took_fast_path(body, XML)
    assert took_fast_path(body, XML)


def test_every_ported_handler_is_feedparsers_and_ends_as_feedparsers_does() -> None:
    # A feedparser upgrade that adds or drops a handler must not go unnoticed: an
    # element whose handler is not ported is declined; a ported one must match.
    names = set(dir(feedparser.mixin._FeedParserMixin))
    for key in fastparse._STARTS:
        assert f"_start_{key}" in names, key
        assert (f"_end_{key}" in names) == (key in fastparse._ENDS), key
    for key in fastparse._ENDS:
        assert key in fastparse._STARTS, key


@pytest.mark.parametrize(("feeds", "items", "seed"), [(24, 12, 3), (6, 50, 1), (40, 3, 7)])
def test_the_farm_takes_the_fast_path_and_parses_the_same(
    feeds: int, items: int, seed: int
) -> None:
    farm = load_farm()
    for feed in farm.build_farm(farm.FarmSettings(feeds=feeds, items=items, seed=seed)):
        ctype = "application/rss+xml" if feed.kind == "rss" else "application/atom+xml"
        for headers in ({"content-type": f"{ctype}; charset=utf-8"}, {"Content-Type": ctype}):
            assert assert_same(feed.body, headers), feed.path


FIXTURES = sorted(
    str(p.relative_to(DATA))
    for p in DATA.rglob("*")
    if p.is_file() and not p.name.endswith((".json", ".query"))
)
TAKEN = {
    "e2e/atom10.xml",
    "e2e/rss10.rdf",
    "e2e/rss20.xml",
    "feeds/rss20.xml",
    "feeds/rss10.rdf",
    "feeds/duplicate_guids.xml",
    "feeds/no_guid_no_link.xml",
}


@pytest.mark.parametrize("name", FIXTURES)
@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "application/xml"},
        {"content-type": "application/rss+xml; charset=utf-8"},
        {"content-type": "text/xml; charset=windows-1252"},
        {"content-type": "text/html"},
        {},
    ],
)
def test_every_fixture_parses_the_same(name: str, headers: dict[str, str]) -> None:
    took = assert_same((DATA / name).read_bytes(), headers)
    if name in TAKEN and headers.get("content-type", "").startswith("application/"):
        assert took, name


@pytest.mark.parametrize(
    "document",
    [
        # A DOCTYPE (feedparser rewrites it; entities need one).
        b'<!DOCTYPE rss [<!ENTITY a "b">]><rss version="2.0"><channel><title>&a;</title>'
        b"</channel></rss>",
        # xml:base changes feedparser's base per element.
        b'<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://b.example/"><title>t'
        b"</title></feed>",
        # Markup inside text: feedparser rebuilds it as XHTML.
        b'<rss version="2.0"><channel><item><description><p>x</p></description></item>'
        b"</channel></rss>",
        # A handler that is not ported (iTunes).
        b'<rss version="2.0" xmlns:itunes="http://www.itunes.com/DTDs/PodCast-1.0.dtd">'
        b"<channel><item><itunes:author>a</itunes:author></item></channel></rss>",
        # Not well-formed: feedparser's loose parser.
        b'<rss version="2.0"><channel><item><title>x</item></channel></rss>',
        # Atom 0.3.
        b'<feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>t</title></feed>',
    ],
)
def test_what_the_fast_path_declines(document: bytes) -> None:
    assert not took_fast_path(document, XML)
    assert_same(document, XML)


# -- random documents ------------------------------------------------------------------

_TEXT_PIECES = st.sampled_from(
    [
        "plain", " ", "\n", "caf\u00e9", "\u00c3\u00a9", "\u0096", "\x93q\x94", "\u201cq\u201d",
        "\u0416", "&", "<", ">", "&amp;", "&lt;p&gt;", "&#150;", "&#x96;", "&#195;&#169;",
        "&#8211;", "\u00a0", "<b>", "</b>", "<p>", '<a href="/rel">', "</a>", "&nbsp;",
        "desk@news.example", "(Name)", "Name <n@x.example>", "http://x.example/a?b=1&c=2",
        "javascript:alert(1)", "/relative/path", "&copy;",
    ]
)  # fmt: skip
# Mostly characters XML allows (a control character makes the document one for
# feedparser's loose parser, which the fast path declines), sometimes any.
_CHARS = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=5)
_RAW_TEXT = st.lists(_TEXT_PIECES | _CHARS | st.text(max_size=2), max_size=8).map("".join)


def _escaped(text: str) -> str:
    return html.escape(text, quote=False)


@st.composite
def _text_node(draw: st.DrawFn) -> str:
    text = draw(_RAW_TEXT)
    how = draw(st.sampled_from(["escape", "cdata", "refs"]))
    if how == "cdata" and "]]>" not in text:
        return f"<![CDATA[{text}]]>"
    if how == "refs":
        return "".join(f"&#{ord(c)};" if ord(c) > 127 or c in "<&" else c for c in text)
    return _escaped(text)


_DATES = st.sampled_from(
    [
        "Wed, 30 Oct 2024 08:00:00 GMT", "Wed, 30 Oct 2024 10:00:00 +0200", "30 Oct 2024 08:00 EST",
        "2024-10-30T08:00:00Z", "2024-10-30T09:00:00-05:00", "2024-10-30", "2099-01-01T00:00:00Z",
        "1970-01-01T00:00:00Z", "yesterday", "", "Mon, 31 Feb 2024 00:00:00 GMT",
        "2024-10-30 08:00",
    ]
)  # fmt: skip
_URLS = st.sampled_from(
    [
        "https://news.example/a", "http://news.example/b?x=1&amp;y=2", "/relative", "rel/ative",
        "javascript:alert(1)", "", "  https://news.example/c  ", "https:///news.example/d",
        "mailto:x@y.example", "urn:uuid:1",
    ]
)  # fmt: skip
_TYPES = st.sampled_from(["", "text", "html", "text/html", "TEXT/HTML", "text/plain", "xml"])


@st.composite
def _rss_item_element(draw: st.DrawFn) -> str:
    kind = draw(
        st.sampled_from(
            [
                "title", "link", "description", "guid", "pubDate", "author", "dc:creator",
                "content:encoded", "category", "enclosure", "comments", "dc:date", "atom:link",
                "media:thumbnail", "media:content", "unknown", "dc:subject", "source-less",
                "dc:title", "atom:title", "dc:description", "media:group", "source",
                "media:title", "media:description", "summary", "media:content-rich",
                "image", "dc:contributor", "expirationDate", "dcterms:created",
            ]
        )
    )  # fmt: skip
    text = draw(_text_node())
    url = draw(_URLS)
    if kind == "title":
        return f"<title>{text}</title>"
    if kind == "link":
        return f"<link>{_escaped(url)}</link>"
    if kind == "description":
        return f"<description>{text}</description>"
    if kind == "guid":
        permalink = draw(st.sampled_from(["", ' isPermaLink="false"', ' isPermaLink="true"']))
        value = draw(st.sampled_from([url, "farm-1-2", "urn:x:1", text]))
        return f"<guid{permalink}>{value if value is text else _escaped(value)}</guid>"
    if kind == "pubDate":
        return f"<pubDate>{draw(_DATES)}</pubDate>"
    if kind == "dc:date":
        return f"<dc:date>{draw(_DATES)}</dc:date>"
    if kind == "author":
        return f"<author>{text}</author>"
    if kind == "dc:creator":
        return f"<dc:creator>{text}</dc:creator>"
    if kind == "content:encoded":
        return f"<content:encoded>{text}</content:encoded>"
    if kind == "category":
        return f'<category domain="d">{text}</category>'
    if kind == "dc:subject":
        return f"<dc:subject>{text}</dc:subject>"
    if kind == "enclosure":
        return f'<enclosure url="{_escaped(url)}" type="audio/mpeg" length="1"/>'
    if kind == "comments":
        return f"<comments>{_escaped(url)}</comments>"
    if kind == "atom:link":
        rel = draw(st.sampled_from(["", ' rel="alternate"', ' rel="self"', ' rel="enclosure"']))
        kind_attr = draw(st.sampled_from(["", ' type="text/html"', ' type="application/pdf"']))
        return f'<atom:link{rel}{kind_attr} href="{_escaped(url)}"/>'
    if kind == "atom:title":
        return f"<atom:title>{text}</atom:title>"
    if kind == "dc:title":
        return f"<dc:title>{text}</dc:title>"
    if kind == "dc:description":
        return f"<dc:description>{text}</dc:description>"
    if kind == "media:thumbnail":
        return f'<media:thumbnail url="{_escaped(url)}" width="1"/>'
    if kind == "media:content":
        return f'<media:content url="{_escaped(url)}" medium="image"/>'
    if kind == "image":
        return (
            f"<image><url>{_escaped(url)}</url><title>{text}</title>"
            f"<link>{_escaped(url)}</link></image>"
        )
    if kind == "dc:contributor":
        return f"<dc:contributor>{text}</dc:contributor>"
    if kind == "expirationDate":
        return f"<expirationDate>{draw(_DATES)}</expirationDate>"
    if kind == "dcterms:created":
        return f"<dcterms:created>{draw(_DATES)}</dcterms:created>"
    if kind == "source":
        url_attr = draw(st.sampled_from(["", f' url="{_escaped(url)}"']))
        return f"<source{url_attr}>{text}</source>"
    if kind == "media:title":
        return f"<media:title>{text}</media:title>"
    if kind == "media:description":
        kind_attr = draw(st.sampled_from(["", ' type="html"', ' type="plain"']))
        return f"<media:description{kind_attr}>{text}</media:description>"
    if kind == "summary":
        return f"<summary>{text}</summary>"
    if kind == "media:content-rich":
        inner = draw(
            st.lists(
                st.sampled_from(
                    [
                        f"<media:title>{text}</media:title>",
                        f"<media:description>{text}</media:description>",
                        f"<media:credit>{text}</media:credit>",
                        f'<media:thumbnail url="{_escaped(url)}"/>',
                    ]
                ),
                max_size=3,
            )
        )
        return f'<media:content url="{_escaped(url)}">{"".join(inner)}</media:content>'
    if kind == "media:group":
        return f'<media:group><media:content url="{_escaped(url)}"/></media:group>'
    if kind == "unknown":
        return draw(
            st.sampled_from(
                [
                    f"<slash:comments>{text}</slash:comments>",
                    f"<wfw:commentRss>{_escaped(url)}</wfw:commentRss>",
                    f'<x:thing xmlns:x="http://unknown.example/">{text}</x:thing>',
                    f'<x:title xmlns:x="http://unknown.example/">{text}</x:title>',
                    f'<feedburner:origLink xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0">{_escaped(url)}</feedburner:origLink>',
                    "<date>Wed, 30 Oct 2024 08:00:00 GMT</date>",
                    f"<ttl>{text}</ttl>",
                ]
            )
        )  # fmt: skip
    return f"<title>{text}</title><link>{_escaped(url)}</link>"


@st.composite
def _rss(draw: st.DrawFn) -> str:
    channel = [
        f"<title>{draw(_text_node())}</title>",
        f"<link>{_escaped(draw(_URLS))}</link>",
        f"<description>{draw(_text_node())}</description>",
    ]
    extras = st.sampled_from(
        [
            f"<ttl>{draw(st.sampled_from(['90', ' 5 ', 'x', '-1', '99999999']))}</ttl>",
            "<skipHours><hour>1</hour><hour>24</hour></skipHours>",
            "<skipDays><day>Sunday</day></skipDays>",
            '<atom:link rel="hub" href="https://hub.example/"/>',
            '<atom:link rel="self" href="https://news.example/rss"/>',
            f"<image><url>{_escaped(draw(_URLS))}</url><title>{draw(_text_node())}</title>"
            f"<link>{_escaped(draw(_URLS))}</link><width>1</width></image>",
            "<language>en</language>",
            f"<lastBuildDate>{draw(_DATES)}</lastBuildDate>",
            "<generator>g</generator>",
            "<docs>https://x.example/</docs>",
            '<cloud domain="x" port="80"/>',
            f"<textInput><title>{draw(_text_node())}</title><name>q</name>"
            "<link>https://x.example/search</link><description>d</description></textInput>",
            '<feedburner:info uri="x"/>',
            f"<feedburner:browserFriendly>{draw(_text_node())}</feedburner:browserFriendly>",
        ]
    )
    channel += draw(st.lists(extras, max_size=4))
    channel = draw(st.permutations(channel))
    items = [
        "<item>" + "".join(draw(st.lists(_rss_item_element(), min_size=1, max_size=7))) + "</item>"
        for _ in range(draw(st.integers(0, 4)))
    ]
    version = draw(st.sampled_from(["2.0", "2.0", "2.01", "0.91", "0.92", "", "3"]))
    namespaces = (
        'xmlns:atom="http://www.w3.org/2005/Atom" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:media="http://search.yahoo.com/mrss/" '
        'xmlns:slash="http://purl.org/rss/1.0/modules/slash/" '
        'xmlns:wfw="http://wellformedweb.org/commentAPI/" '
        'xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0"'
    )
    version_xml = f' version="{version}"' if version else ""
    return (
        f"<rss{version_xml} {namespaces}><channel>{''.join(channel)}"
        f"{''.join(items)}</channel></rss>"
    )


@st.composite
def _atom_entry_element(draw: st.DrawFn) -> str:
    kind = draw(
        st.sampled_from(
            [
                "title", "link", "id", "published", "updated", "author", "summary", "content",
                "category", "rights", "link-plain", "source", "contributor",
            ]
        )
    )  # fmt: skip
    text = draw(_text_node())
    type_attr = draw(_TYPES)
    type_xml = f' type="{type_attr}"' if type_attr else ""
    if kind == "title":
        return f"<title{type_xml}>{text}</title>"
    if kind == "link":
        rel = draw(st.sampled_from(["", "alternate", "self", "enclosure", "related", "ALTERNATE"]))
        rel_xml = f' rel="{rel}"' if rel else ""
        link_type = draw(st.sampled_from(["", ' type="text/html"', ' type="image/png"']))
        return f'<link{rel_xml}{link_type} href="{_escaped(draw(_URLS))}"/>'
    if kind == "link-plain":
        return f"<link>{_escaped(draw(_URLS))}</link>"
    if kind == "id":
        return f"<id>{_escaped(draw(_URLS))}</id>"
    if kind in ("published", "updated"):
        return f"<{kind}>{draw(_DATES)}</{kind}>"
    if kind == "author":
        parts = draw(
            st.lists(
                st.sampled_from(
                    [
                        f"<name>{text}</name>", "<email>a@b.example</email>",
                        "<uri>https://a.example/</uri>", "<name>Second</name>",
                    ]
                ),
                max_size=3,
            )
        )  # fmt: skip
        return f"<author>{''.join(parts)}</author>"
    if kind == "summary":
        return f"<summary{type_xml}>{text}</summary>"
    if kind == "content":
        src = draw(st.sampled_from(["", ' src="https://x.example/c"']))
        return f"<content{type_xml}{src}>{text}</content>"
    if kind == "category":
        return '<category term="t" label="l"/>'
    if kind == "contributor":
        return f"<contributor><name>{text}</name><email>c@d.example</email></contributor>"
    if kind == "source":
        return (
            f"<source><title>{text}</title><id>urn:source</id>"
            f'<link href="{_escaped(draw(_URLS))}"/><updated>{draw(_DATES)}</updated>'
            "<author><name>Source Author</name></author></source>"
        )
    return f"<rights>{text}</rights>"


@st.composite
def _atom(draw: st.DrawFn) -> str:
    head = [
        f"<title>{draw(_text_node())}</title>",
        f"<id>{_escaped(draw(_URLS))}</id>",
        f'<link rel="alternate" href="{_escaped(draw(_URLS))}"/>',
        '<link rel="hub" href="https://hub.example/"/>',
        f"<updated>{draw(_DATES)}</updated>",
        f"<subtitle>{draw(_text_node())}</subtitle>",
        "<author><name>Feed Author</name></author>",
    ]
    head = draw(st.lists(st.sampled_from(head), max_size=6))
    entries = [
        "<entry>"
        + "".join(draw(st.lists(_atom_entry_element(), min_size=1, max_size=7)))
        + "</entry>"
        for _ in range(draw(st.integers(0, 4)))
    ]
    return f'<feed xmlns="http://www.w3.org/2005/Atom">{"".join(head)}{"".join(entries)}</feed>'


@st.composite
def _rdf(draw: st.DrawFn) -> str:
    items = []
    for i in range(draw(st.integers(0, 3))):
        about = draw(st.sampled_from([f' rdf:about="https://rdf.example/{i}"', ""]))
        inner = draw(
            st.lists(
                st.sampled_from(
                    [
                        f"<title>{draw(_text_node())}</title>",
                        f"<link>{_escaped(draw(_URLS))}</link>",
                        f"<description>{draw(_text_node())}</description>",
                        f"<dc:date>{draw(_DATES)}</dc:date>",
                        f"<dc:creator>{draw(_text_node())}</dc:creator>",
                    ]
                ),
                max_size=5,
            )
        )
        items.append(f"<item{about}>{''.join(inner)}</item>")
    return (
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f'<channel rdf:about="https://rdf.example/"><title>{draw(_text_node())}</title>'
        "<link>https://rdf.example/</link><description>d</description>"
        '<image rdf:resource="https://rdf.example/i.png"/>'
        '<items><rdf:Seq><rdf:li resource="https://rdf.example/0"/></rdf:Seq></items>'
        "</channel>"
        '<image rdf:about="https://rdf.example/i.png"><title>i</title><url>u</url></image>'
        f"{''.join(items)}</rdf:RDF>"
    )


@st.composite
def _document(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    text = draw(st.one_of(_rss(), _atom(), _rdf()))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "windows-1252", "iso-8859-1", None]))
    if encoding is not None:
        text = f'<?xml version="1.0" encoding="{encoding}"?>\n' + text
    body = text.encode(encoding or "utf-8", "xmlcharrefreplace")
    headers = draw(
        st.sampled_from(
            [
                XML,
                {"content-type": "application/rss+xml; charset=utf-8"},
                {"content-type": "text/xml"},
                {"content-type": "text/xml; charset=windows-1252"},
                {"content-type": "application/octet-stream"},
            ]
        )
    )
    return body, headers


@settings(
    derandomize=True,
    database=None,
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(_document())
def test_random_documents_parse_the_same(document: tuple[bytes, dict[str, str]]) -> None:
    body, headers = document
    assert_same(body, headers)


def test_the_random_documents_mostly_take_the_fast_path() -> None:
    # Otherwise the comparison above would mostly compare feedparser with itself.
    taken = total = 0

    @settings(derandomize=True, database=None, max_examples=200, deadline=None)
    @given(_document())
    def count(document: tuple[bytes, dict[str, str]]) -> None:
        nonlocal taken, total
        total += 1
        taken += took_fast_path(*document)

    count()
    assert taken >= total // 2, (taken, total)


_URI_PIECES = ["http", "HTTPS", "svn+ssh", "a-b.c", "1x", ":", "//", "/", "///", "\n", " ", "?"]
_URI_PIECES += ["x", "news.example", "#f", "%2F", "é", ""]


@settings(derandomize=True, database=None, max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_URI_PIECES) | st.text(max_size=3), max_size=8).map("".join))
def test_links_lose_extra_slashes_as_feedparsers_urljoin_did(uri: str) -> None:
    from feedparser.urls import _urljoin

    assert fastparse._without_extra_slashes(uri) == _urljoin("", uri)
    assert fastparse._without_extra_slashes(f"https:////{uri}") == _urljoin("", f"https:////{uri}")
