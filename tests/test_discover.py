"""Feed discovery: the HTML link finder (pure) and `aggregator feeds add` against a real
HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from aggregator.cli import main
from aggregator.compose import load_config
from aggregator.config import DATABASE_URL_ENV
from aggregator.poll.discover import MAX_CHECKED, PROBE_PATHS, FeedLink, find_feed_links, probe_urls
from aggregator.store import FeedSpec, Store
from tests.support.httpserver import LocalServer, Response
from tests.support.poller import local_poller

ROOT = Path(__file__).resolve().parents[1]
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
    html = """<html><head><title>unclosed <b><i></title>
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
    # An unclosed <title> holds the rest of the page as its text, in browsers too.
    assert urls("<title>x<link rel=alternate type=application/rss+xml href=/a.xml>") == []
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


# -- `aggregator feeds add` ------------------------------------------------------------


def rss(title: str, items: int = 2) -> bytes:
    entries = "".join(
        f"<item><title>Story {i}</title><link>https://news.example/{i}</link>"
        f"<guid>urn:{title}:{i}</guid></item>"
        for i in range(items)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>https://news.example/</link>{entries}</channel></rss>"
    ).encode()


ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom Desk</title><id>urn:a</id>
<updated>2024-10-30T12:00:00Z</updated>
<entry><title>One</title><id>urn:a:1</id><updated>2024-10-30T12:00:00Z</updated>
<link href="https://news.example/a1"/></entry></feed>"""


def page(*links: str) -> bytes:
    tags = "".join(f'<link rel="alternate" {attrs}>' for attrs in links)
    html = f"<!doctype html><html><head><title>Home</title>{tags}</head><body>hi</body></html>"
    return html.encode()


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        yield srv


def write_config(path: Path, server: LocalServer, extra: str = "") -> Path:
    path.write_text(
        "# feeds for the discovery tests\n"
        "settings:\n"
        "  # the test server is on 127.0.0.1\n"
        "  poll: {allow_private_networks: true, per_host_min_gap: 0s" + extra + "}\n"
        "feeds:\n"
        "  - name: Existing  # keep me\n"
        f"    url: {server.url('/existing.xml')}\n"
        "\n"
        "# topics follow\n"
        "topics:\n"
        "  - {name: t, query: kursk}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def config(tmp_path: Path, server: LocalServer) -> Path:
    return write_config(tmp_path / "feeds.yaml", server)


def add(config: Path, *args: str) -> int:
    return main(["--config", str(config), "feeds", "add", *args])


def test_page_with_a_link_tag(
    server: LocalServer, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.static(
        "/", page('type="application/rss+xml" href="/news/rss.xml"'), content_type="text/html"
    )
    server.static("/news/rss.xml", rss("World Desk", 3), content_type="application/rss+xml")
    before = config.read_text()
    assert add(config, server.url("/")) == 0
    out = capsys.readouterr()
    assert out.out == f'  - name: "World Desk"\n    url: "{server.url("/news/rss.xml")}"\n'
    assert "ok      " + server.url("/news/rss.xml") in out.err
    assert "'World Desk', rss20, 3 entries" in out.err
    assert [r.path for r in server.requests] == ["/", "/news/rss.xml"]
    # Polling's fetcher: our User-Agent, HTML asked of the page, feeds of the feed.
    first, second = server.requests
    assert (first.header("user-agent") or "").startswith("aggregator/")
    assert (first.header("accept") or "").startswith("text/html")
    assert (second.header("accept") or "").startswith("application/rss+xml")
    assert config.read_text() == before  # nothing written without --write


def test_page_without_links_probes_until_the_first_feed(
    server: LocalServer, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.static("/blog/", page(), content_type="text/html")
    server.route(
        "/rss", Response(status=200, body=b"<html>not here</html>", content_type="text/html")
    )
    server.static("/feed.xml", ATOM, content_type="application/atom+xml")
    server.static("/rss.xml", rss("never asked"), content_type="application/rss+xml")
    assert add(config, server.url("/blog/")) == 0
    out = capsys.readouterr()
    assert [r.path for r in server.requests] == ["/blog/", "/feed", "/rss", "/feed.xml"]
    assert f'url: "{server.url("/feed.xml")}"' in out.out
    assert 'name: "Atom Desk"' in out.out
    assert "names no feed" in out.err
    assert f"FAILED  {server.url('/feed')}: HTTP 404" in out.err


def test_a_feed_address_is_its_own_candidate(
    server: LocalServer, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.static(
        "/feed.json",
        json.dumps(
            {
                "version": "https://jsonfeed.org/version/1.1",
                "title": "JSON Desk",
                "items": [{"id": "1", "content_text": "x", "url": "https://news.example/1"}],
            }
        ).encode(),
        content_type="application/feed+json",
    )
    assert add(config, server.url("/feed.json"), "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert [r.path for r in server.requests] == ["/feed.json"]
    [candidate] = report["candidates"]
    assert candidate["source"] == "direct"
    assert candidate["format"] == "json11"
    assert candidate["title"] == "JSON Desk"
    assert candidate["entries"] == 1
    assert candidate["chosen"] is True
    assert report["entries"] == [{"name": "JSON Desk", "url": server.url("/feed.json")}]
    assert report["written"] is None


def test_broken_linked_feeds_are_reported_and_the_valid_one_chosen(
    server: LocalServer, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.static(
        "/",
        page(
            'type="application/rss+xml" href="/gone.xml" title="Gone"',
            'type="application/atom+xml" href="/html.xml" title="Actually HTML"',
            'type="application/rss+xml" href="/good.xml" title="Good"',
            'type="application/rss+xml" href="/also-good.xml" title="Comments"',
        ),
        content_type="text/html",
    )
    server.static("/html.xml", page(), content_type="application/atom+xml")
    server.static("/good.xml", rss("Good Desk"), content_type="application/rss+xml")
    server.static("/also-good.xml", rss("Comments"), content_type="application/rss+xml")
    assert add(config, server.url("/"), "--json") == 0
    report = json.loads(capsys.readouterr().out)
    by_url = {c["url"].removeprefix(server.base_url): c for c in report["candidates"]}
    assert list(by_url) == ["/gone.xml", "/html.xml", "/good.xml", "/also-good.xml"]
    assert by_url["/gone.xml"]["error"] == "HTTP 404"
    assert by_url["/gone.xml"]["error_type"] == "HTTPStatusError"
    # What was seen, so a wrong URL is told from a broken feed (issue 18).
    assert by_url["/html.xml"]["error"] == (
        "not a feed: an HTML page (root element <html>, Content-Type application/atom+xml)"
    )
    assert by_url["/html.xml"]["error_type"] == "ParseError"
    assert [c["chosen"] for c in by_url.values()] == [False, False, True, False]
    assert by_url["/also-good.xml"]["ok"] is True  # checked, not chosen without --all
    assert report["page_error"] == (
        "not a feed: an HTML page (root element <html>, Content-Type text/html)"
    )
    assert report["entries"] == [{"name": "Good Desk", "url": server.url("/good.xml")}]


def test_all_takes_every_valid_feed_with_unique_names(
    server: LocalServer, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.static(
        "/",
        page(
            'type="application/rss+xml" href="/a.xml"',
            'type="application/rss+xml" href="/missing.xml"',
            'type="application/rss+xml" href="/b.xml"',
        ),
        content_type="text/html",
    )
    server.static("/a.xml", rss("Existing"), content_type="application/rss+xml")
    server.static("/b.xml", rss("Existing"), content_type="application/rss+xml")
    assert add(config, server.url("/"), "--all", "--write") == 0
    out = capsys.readouterr()
    assert "2 feeds added" in out.out
    feeds = load_config(config).config.feeds
    assert [(f.name, f.url) for f in feeds] == [
        ("Existing", server.url("/existing.xml")),
        ("Existing (2)", server.url("/a.xml")),
        ("Existing (3)", server.url("/b.xml")),
    ]


def test_nothing_found_exits_1(
    server: LocalServer, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.static("/", page('type="text/css" href="/style.css"'), content_type="text/html")
    before = config.read_text()
    assert add(config, server.url("/"), "--write") == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert f"no feed found at {server.url('/')}" in out.err
    # Every conventional path, once, in order.
    assert [r.path for r in server.requests] == ["/", *PROBE_PATHS]
    assert config.read_text() == before


def test_unreachable_or_refused_addresses_exit_1(
    tmp_path: Path, server: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    config = write_config(tmp_path / "feeds.yaml", server)
    assert add(config, f"http://127.0.0.1:{closed_port}/", "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert report["page_error_type"] == "NetworkError"
    assert report["candidates"] == []
    # The SSRF guard applies exactly as when polling: off by default.
    guarded = tmp_path / "guarded.yaml"
    guarded.write_text(f"feeds:\n  - {{name: x, url: '{server.url('/x')}'}}\n")
    server.static("/", page('type="application/rss+xml" href="/f.xml"'), content_type="text/html")
    assert add(guarded, server.url("/")) == 1
    assert "non-public address" in capsys.readouterr().err
    assert server.requests == []


def test_huge_pages_are_capped_by_the_fetcher(
    tmp_path: Path, server: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "feeds.yaml", server, extra=", max_body: 4KiB")
    filler = b"<p>" + b"x" * 100_000 + b"</p>"
    server.static(
        "/", page('type="application/rss+xml" href="/f.xml"') + filler, content_type="text/html"
    )
    assert add(config, server.url("/")) == 1
    assert "exceeds the 4096-byte cap" in capsys.readouterr().err
    assert [r.path for r in server.requests] == ["/"]


def test_duplicates_exit_2(
    server: LocalServer, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.static(
        "/", page('type="application/rss+xml" href="/existing.xml"'), content_type="text/html"
    )
    server.static("/existing.xml", rss("Existing"), content_type="application/rss+xml")
    before = config.read_text()
    # Found by discovery.
    assert add(config, server.url("/"), "--write") == 2
    assert "is already configured as feed 'Existing'" in capsys.readouterr().err
    assert config.read_text() == before
    # Named directly (whitespace as the configuration strips it): no request at all.
    server.clear_requests()
    assert add(config, f"  {server.url('/existing.xml')} ", "--write") == 2
    assert "already configured as feed 'Existing'" in capsys.readouterr().err
    # A name already taken.
    assert add(config, server.url("/"), "--name", "Existing") == 2
    assert "a feed named 'Existing' is already configured" in capsys.readouterr().err
    assert server.requests == []
    assert config.read_text() == before


def test_bad_usage_exits_2_before_any_request(
    server: LocalServer, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert add(config, "ftp://news.example/feed") == 2
    assert "not an http(s) URL" in capsys.readouterr().err
    assert add(config, "news.example") == 2
    assert add(config, server.url("/"), "--name", "bad\x07name") == 2
    assert "--name" in capsys.readouterr().err
    assert add(config, server.url("/"), "--interval", "10s") == 2
    assert "interval: below the 1-minute floor" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        add(config, server.url("/"), "--interval", "soon")
    assert exit_info.value.code == 2
    assert server.requests == []
    broken = config.parent / "broken.yaml"
    broken.write_text("feeds: [{name: x}]\n")
    assert add(broken, server.url("/")) == 2
    assert "feeds[0].url" in capsys.readouterr().err


def test_write_appends_to_a_copy_of_the_shipped_config(
    tmp_path: Path, server: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    shipped = (ROOT / "feeds.yaml").read_text(encoding="utf-8")
    assert "allow_private_networks: false" in shipped
    assert "per_host_min_gap: 1s" in shipped
    text = shipped.replace("allow_private_networks: false", "allow_private_networks: true")
    text = text.replace("per_host_min_gap: 1s", "per_host_min_gap: 0s")
    config = tmp_path / "feeds.yaml"
    config.write_text(text, encoding="utf-8")
    original = load_config(config, env={}).config
    server.static("/", page('type="application/rss+xml" href="/rss.xml"'), content_type="text/html")
    server.static("/rss.xml", rss("Kursk Watch"), content_type="application/rss+xml")
    args = ["--name", "Kursk", "--interval", "30m", "--fulltext", "--tag", "war", "--tag", "ru"]
    assert add(config, server.url("/"), *args, "--write") == 0
    out = capsys.readouterr().out
    assert f"{config}: 1 feed added; configuration OK ({len(original.feeds) + 1} feeds)" in out
    updated = config.read_text(encoding="utf-8")
    assert updated.startswith(text[: text.index("\nfeeds:")])  # everything before is kept
    assert updated.count("#") == text.count("#")  # every comment kept
    assert main(["config", "check", str(config)]) == 0
    cfg = load_config(config, env={}).config
    assert cfg.feeds[:-1] == original.feeds
    assert cfg.topics == original.topics
    assert cfg.alerts == original.alerts
    new = cfg.feeds[-1]
    assert (new.name, new.url) == ("Kursk", server.url("/rss.xml"))
    assert (new.interval, new.fulltext, new.tags) == (1800.0, True, ("war", "ru"))
    # The same again is now a duplicate.
    assert add(config, server.url("/"), "--write") == 2
    assert config.read_text(encoding="utf-8") == updated


def test_redirects(server: LocalServer, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The page moved: relative hrefs resolve against where it ended up.
    server.route("/old", Response(status=302, headers={"Location": "/blog/"}))
    server.static(
        "/blog/", page('type="application/rss+xml" href="feed.xml"'), content_type="text/html"
    )
    server.static("/blog/feed.xml", rss("Blog"), content_type="application/rss+xml")
    assert add(config, server.url("/old")) == 0
    out = capsys.readouterr()
    assert f'url: "{server.url("/blog/feed.xml")}"' in out.out
    assert f"{server.url('/old')} (→ {server.url('/blog/')})" in out.err
    # A feed that moved permanently is added where it lives now (as polling would move
    # it); a temporary redirect keeps the address the page gave.
    server.static(
        "/two/",
        page(
            'type="application/rss+xml" href="/moved.xml"',
            'type="application/rss+xml" href="/tmp.xml"',
        ),
        content_type="text/html",
    )
    server.route("/moved.xml", Response(status=301, headers={"Location": "/new.xml"}))
    server.route("/tmp.xml", Response(status=307, headers={"Location": "/new2.xml"}))
    server.static("/new.xml", rss("Moved"), content_type="application/rss+xml")
    server.static("/new2.xml", rss("Temporary"), content_type="application/rss+xml")
    assert add(config, server.url("/two/"), "--all") == 0
    out = capsys.readouterr()
    assert f'url: "{server.url("/new.xml")}"' in out.out
    assert f'url: "{server.url("/tmp.xml")}"' in out.out
    assert "moved permanently to" in out.err


def test_linked_feeds_checked_are_capped(
    server: LocalServer, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    links = [f'type="application/rss+xml" href="/c{i}.xml"' for i in range(MAX_CHECKED + 2)]
    server.static("/", page(*links), content_type="text/html")
    assert add(config, server.url("/"), "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert len(report["candidates"]) == MAX_CHECKED
    assert report["unchecked"] == [
        server.url(f"/c{i}.xml") for i in range(MAX_CHECKED, MAX_CHECKED + 2)
    ]
    assert len(server.requests) == 1 + MAX_CHECKED


def test_probing_stops_when_the_host_stops_answering(
    tmp_path: Path, server: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "feeds.yaml", server, extra=", read_timeout: 0.3s")
    server.static("/", page(), content_type="text/html")
    server.route("/feed", Response(body=b"late", delay=3))
    assert add(config, server.url("/")) == 1
    assert f"FAILED  {server.url('/feed')}: read timeout" in capsys.readouterr().err
    # The other six paths would each wait out the same timeout.
    assert [r.path for r in server.requests] == ["/", "/feed"]


SETTINGS = "settings:\n  poll: {allow_private_networks: true, per_host_min_gap: 0s}\n"


@pytest.mark.parametrize(
    ("layout", "written"),
    [
        ("feeds: [{name: Old, url: 'OLD'}]\n", False),
        ("feeds:\n- name: Old\n  url: OLD\n", True),
        ("feeds:\n    -   name: Old\n        url: OLD\n", True),
        ("\ufefffeeds:\n  - name: Old\n    url: OLD\n", True),
        ("\ufefffeeds: [{name: Old, url: 'OLD'}]\n", False),
    ],
    ids=["flow", "0-indent", "4-space", "BOM", "BOM+flow"],
)
def test_write_keeps_the_existing_feeds_whatever_the_layout(
    tmp_path: Path,
    server: LocalServer,
    capsys: pytest.CaptureFixture[str],
    layout: str,
    written: bool,
) -> None:
    server.static("/", page('type="application/rss+xml" href="/new.xml"'), content_type="text/html")
    server.static("/new.xml", rss("New Desk"), content_type="application/rss+xml")
    config = tmp_path / "feeds.yaml"
    text = layout.replace("OLD", server.url("/old.xml")) + SETTINGS
    config.write_text(text, encoding="utf-8")
    status = add(config, server.url("/"), "--write")
    out = capsys.readouterr()
    names = [f.name for f in load_config(config, env={}).config.feeds]
    if written:
        assert (status, names) == (0, ["Old", "New Desk"])
        assert "configuration OK (2 feeds)" in out.out
    else:
        # Before: a second `feeds:` key was appended and the old feed vanished.
        assert (status, names) == (2, ["Old"])
        assert config.read_text(encoding="utf-8") == text
        assert "add the entries by hand" in out.err
        assert f'url: "{server.url("/new.xml")}"' in out.out


def test_hostile_markup_is_scanned_in_one_pass(
    server: LocalServer, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # "<a" over and over made html.parser rescan the rest of the page at every "<":
    # 195 KiB took 25 s and the time grows with the square of the size, so this 2 MiB
    # page would take about an hour. libxml2 reads it once.
    link = b'<link rel="alternate" type="application/rss+xml" href="/f.xml">'
    hostile = b"<html><head>" + link + b"</head><body>" + b"<a" * 1_000_000
    found = find_feed_links(hostile, PAGE)
    assert [f.url for f in found] == ["https://news.example/f.xml"]
    server.static("/", hostile, content_type="text/html")
    server.static("/f.xml", rss("Desk"), content_type="application/rss+xml")
    assert add(config, server.url("/")) == 0
    assert f'url: "{server.url("/f.xml")}"' in capsys.readouterr().out


@pytest.mark.parametrize("status", [429, 503])
def test_probing_stops_when_the_host_asks_us_to_slow_down(
    server: LocalServer, config: Path, capsys: pytest.CaptureFixture[str], status: int
) -> None:
    server.static("/", page(), content_type="text/html")
    for path in PROBE_PATHS:
        server.route(path, Response(status=status))
    assert add(config, server.url("/")) == 1
    assert f"FAILED  {server.url('/feed')}: HTTP {status}" in capsys.readouterr().err
    # Six more probes would be the requests the host just declined.
    assert [r.path for r in server.requests] == ["/", "/feed"]


def test_duplicates_of_feeds_the_database_knows_are_found(
    tmp_path: Path,
    server: LocalServer,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.route("/old.xml", Response(status=301, headers={"Location": "/new.xml"}))
    server.static("/new.xml", rss("Desk"), content_type="application/rss+xml")
    server.static("/", page('type="application/rss+xml" href="/new.xml"'), content_type="text/html")
    server.static("/api.xml", rss("Api"), content_type="application/rss+xml")
    server.static(
        "/api/", page('type="application/rss+xml" href="/api.xml"'), content_type="text/html"
    )
    config = tmp_path / "feeds.yaml"
    config.write_text(
        SETTINGS + f"feeds:\n  - name: Desk\n    url: {server.url('/old.xml')}\n", encoding="utf-8"
    )
    store = Store.open(database_url)

    async def poll_desk() -> None:  # the poll follows the 301 and keeps the new URL
        async with local_poller(store) as poller:
            (feed,) = await poller.claim(10, names=["Desk"], force=True)
            await poller.poll(feed)

    try:
        store.sync_feeds([FeedSpec("Desk", server.url("/old.xml"))], datetime.now(UTC))
        asyncio.run(poll_desk())
        store.add_api_feed("Api Desk", server.url("/api.xml"), datetime.now(UTC))
    finally:
        store.close()
    monkeypatch.setenv(DATABASE_URL_ENV, database_url)
    assert add(config, server.url("/")) == 2
    assert f"{server.url('/new.xml')} is already configured as feed 'Desk'" in (
        capsys.readouterr().err
    )
    assert add(config, server.url("/api/")) == 2
    assert "is already configured as feed 'Api Desk'" in capsys.readouterr().err
    # No database yet: nothing is compared, and none is created.
    missing = tmp_path / "none.db"
    monkeypatch.setenv(DATABASE_URL_ENV, f"sqlite:///{missing}")
    assert add(config, server.url("/api/")) == 0
    assert not missing.exists()
