"""Feed discovery: the HTML link finder, pure."""

from __future__ import annotations

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from aggregator.discover import PROBE_PATHS, FeedLink, find_feed_links, probe_urls

PAGE = "https://news.example/world/today.html"


def urls(html: str | bytes, url: str = PAGE, content_type: str | None = None) -> list[str]:
    body = html.encode() if isinstance(html, str) else html
    return [link.url for link in find_feed_links(body, url, content_type=content_type)]


# -- the link finder -----------------------------------------------------------------


def test_rel_tokens_and_case() -> None:
    html = """<html><head>
    <LINK REL="Alternate" TYPE="Application/RSS+XML" HREF="/a.xml" title="A">
    <link rel="feed  alternate home" type="application/atom+xml" href="/b.xml">
    <link rel=" ALTERNATE\t" type="application/rdf+xml; charset=utf-8" href="/c.rdf">
    <link rel="alternate" type="application/feed+json" href="/d.json">
    <link rel="alternative" type="application/rss+xml" href="/not-a-token.xml">
    <link rel="stylesheet" type="application/rss+xml" href="/not-alternate.xml">
    <link rel="alternate" hreflang="fr" href="/fr/today.html">
    <link rel="alternate" type="text/html" href="/print.html">
    <link rel="alternate" type="application/json+oembed" href="/oembed.json">
    </head></html>"""
    assert urls(html) == [
        "https://news.example/a.xml",
        "https://news.example/b.xml",
        "https://news.example/c.rdf",
        "https://news.example/d.json",
    ]
    first = find_feed_links(html.encode(), PAGE)[0]
    assert first == FeedLink(
        url="https://news.example/a.xml", type="application/rss+xml", title="A"
    )


def test_generic_types_need_a_title_that_says_feed() -> None:
    html = """
    <link rel="alternate" type="application/json" title="JSON" href="/wp-json/wp/v2/posts/7">
    <link rel="alternate" type="application/json" href="/api/page.json">
    <link rel="alternate" type="application/json" title="My JSON Feed" href="/feed.json">
    <link rel="alternate" type="text/xml" title="RSS 2.0" href="/rss.xml">
    <link rel="alternate" type="application/xml" title="Sitemap" href="/sitemap.xml">
    """
    assert urls(html) == ["https://news.example/feed.json", "https://news.example/rss.xml"]


def test_relative_hrefs_resolve_against_the_page() -> None:
    html = """
    <link rel=alternate type=application/rss+xml href=feed.xml>
    <link rel=alternate type=application/rss+xml href="../up.xml">
    <link rel=alternate type=application/rss+xml href="//cdn.example/f.xml">
    <link rel=alternate type=application/rss+xml href="?format=rss">
    <link rel=alternate type=application/rss+xml href="  https://feeds.example/x.xml  ">
    """
    assert urls(html) == [
        "https://news.example/world/feed.xml",
        "https://news.example/up.xml",
        "https://cdn.example/f.xml",
        "https://news.example/world/today.html?format=rss",
        "https://feeds.example/x.xml",
    ]


def test_the_first_base_href_applies_to_every_link() -> None:
    html = """<head>
    <link rel=alternate type=application/rss+xml href="early.xml">
    <base href="/blog/">
    <base href="https://ignored.example/">
    <link rel=alternate type=application/atom+xml href="atom.xml">
    </head>"""
    assert urls(html) == [
        "https://news.example/blog/early.xml",
        "https://news.example/blog/atom.xml",
    ]
    # A base that is not http(s) is ignored: the page's own URL stands.
    bad_base = (
        '<base href="javascript:alert(1)//"><link rel=alternate type=application/rss+xml href=f>'
    )
    assert urls(bad_base) == ["https://news.example/world/f"]


def test_unsafe_and_empty_hrefs_are_ignored() -> None:
    html = """
    <link rel=alternate type=application/rss+xml href="javascript:alert(1)">
    <link rel=alternate type=application/rss+xml href=" JaVa&#x09;Script:alert(1)">
    <link rel=alternate type=application/rss+xml href="&amp;#106;avascript:alert(1)">
    <link rel=alternate type=application/rss+xml href="data:application/rss+xml,<rss/>">
    <link rel=alternate type=application/rss+xml href="ftp://news.example/feed.xml">
    <link rel=alternate type=application/rss+xml href="mailto:desk@news.example">
    <link rel=alternate type=application/rss+xml href="">
    <link rel=alternate type=application/rss+xml>
    <link rel=alternate type=application/rss+xml href="http://">
    <link rel=alternate type=application/rss+xml href="https://[::1">
    <link rel=alternate type=application/rss+xml href="/ok.xml">
    """
    assert urls(html) == ["https://news.example/ok.xml"]


def test_duplicates_are_dropped_in_order() -> None:
    html = """
    <link rel=alternate type=application/atom+xml href="/atom.xml">
    <link rel=alternate type=application/rss+xml href="/rss.xml">
    <link rel=alternate type=application/atom+xml href="https://news.example/atom.xml">
    <link rel=alternate type=application/rss+xml href="/rss.xml#comments">
    <link rel=alternate type=application/rss+xml href="../rss.xml">
    """
    assert urls(html) == ["https://news.example/atom.xml", "https://news.example/rss.xml"]


def test_malformed_html_keeps_what_can_be_read() -> None:
    html = """<html><head><title>unclosed <b><i>
    <link rel=alternate type=application/rss+xml href=/one.xml title=unquoted
    <div <p>>< <<
    <link rel='alternate' type='application/atom+xml' href='/two.xml'/>
    <script>document.write('<link rel=alternate type=application/rss+xml href=/js.xml>')</script>
    <!-- <link rel="alternate" type="application/rss+xml" href="/commented.xml"> -->
    <![junk <link rel=alternate type=application/rss+xml href=/after-junk.xml>"""
    found = urls(html)
    assert "https://news.example/two.xml" in found
    assert "https://news.example/js.xml" not in found
    assert "https://news.example/commented.xml" not in found
    # A bare "<![" makes CPython's parser give up (AssertionError before 3.13); the
    # links before it are kept and nothing is raised.
    assert urls("<link rel=alternate type=application/rss+xml href=/a.xml><![junk") == [
        "https://news.example/a.xml"
    ]


def test_non_utf8_pages() -> None:
    # windows-1252 without any declaration: not UTF-8, so read as browsers would.
    cp1252 = b'<link rel=alternate type=application/rss+xml title="Caf\xe9 \x93news\x94" href=/f>'
    assert find_feed_links(cp1252, PAGE)[0].title == "Café “news”"
    # A <meta> charset overrules the guess; "iso-8859-1" means windows-1252 there too.
    meta = (
        b'<meta charset="iso-8859-1"><link rel=alternate type=application/rss+xml '
        b'title="\xc3\xa9t\xe9 \x96 news" href=/f>'
    )
    assert find_feed_links(meta, PAGE)[0].title == "Ã©té – news"
    http_equiv = (
        b'<meta http-equiv="Content-Type" content="text/html; charset=koi8-r">'
        b'<link rel=alternate type=application/rss+xml title="\xeb\xd5\xd2\xd3\xcb" href=/f>'
    )
    assert find_feed_links(http_equiv, PAGE)[0].title == "Курск"
    # The HTTP charset wins over the <meta>.
    title = "Курск".encode("koi8-r")
    page = b'<meta charset="utf-8"><link rel=alternate type=application/rss+xml title="%s" href=/f>'
    assert (
        find_feed_links(page % title, PAGE, content_type="text/html; charset=KOI8-R")[0].title
        == "Курск"
    )
    # UTF-16 with a BOM; a non-ASCII href.
    utf16 = '<link rel=alternate type=application/rss+xml href="/lenta/новости.xml">'
    assert urls(utf16.encode("utf-16")) == ["https://news.example/lenta/новости.xml"]
    # Charsets that cannot decode a page, broken bytes, NULs: no crash.
    for junk in (
        b'<meta charset="idna"><link rel=alternate type=application/rss+xml href=/f>',
        b'<meta charset="base64"><link rel=alternate type=application/rss+xml href=/f>',
        b'<meta charset="no-such-charset"><link rel=alternate type=application/rss+xml href=/f>',
        b"<link rel=alternate type=application/rss+xml href=/f\xff\xfe\x00>",
    ):
        assert len(find_feed_links(junk, PAGE)) == 1
    assert urls(b"", content_type="text/html; charset=idna") == []


@hsettings(max_examples=200, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_any_bytes_give_only_http_links(body: bytes) -> None:
    prefix = b'<link rel="alternate" type="application/rss+xml" href="'
    for data in (body, prefix + body):
        for link in find_feed_links(data, PAGE):
            assert link.url.startswith(("http://", "https://"))


def test_probe_urls_stay_on_the_origin() -> None:
    assert probe_urls("http://blog.example:8080/2024/10/post?x=1#top") == tuple(
        f"http://blog.example:8080{path}" for path in PROBE_PATHS
    )
    assert PROBE_PATHS[0] == "/feed"
    assert len(PROBE_PATHS) == 7
