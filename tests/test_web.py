"""The web page's HTML over real HTTP (no browser): escaping, links, errors, headers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine

from aggregator.api import ApiSettings, create_app
from aggregator.api.safety import clean_html, safe_url
from aggregator.api.web import adds_to, sparkline
from aggregator.models import HourCount
from aggregator.store import create_db_engine
from aggregator.store.archive import Archive
from tests.support.archive_data import T0, kursk_archive, serve_in_thread


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = create_db_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def client(engine: Engine) -> Iterator[httpx.Client]:
    b = kursk_archive(engine)
    b.article(
        "bbc",
        '<script>alert(1)</script>Kursk "quoted" & <b>bold</b>',
        url="javascript&#58;alert(1)",
        cluster=1,
        html='<p>ok<img src="x" onerror="alert(1)"></p>',
    )
    app = create_app(Archive(engine), ApiSettings(title="Monitor <dev>", topics=("korea",)))
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        yield c


def test_pages_render_and_escape(client: httpx.Client) -> None:
    for path in ("/", "/topics/korea", "/events/1", "/search?q=kursk", "/feeds"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/html")
        assert "<script>" not in r.text
        assert "Monitor &lt;dev&gt;" in r.text
    event = client.get("/events/1").text
    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt;Kursk &#34;quoted&#34; &amp; &lt;b&gt;bold" in event
    )
    assert "javascript" not in event.lower()
    # Outlets by their configured names, as alerts and outlet: search name them.
    assert "<h2>reuters</h2>" in event
    assert "Reuters World" not in event
    assert event.count('<section class="outlet">') == 3
    assert "Merged with event 3: a report matched both." in event


def test_a_summary_that_repeats_the_title_is_not_shown(engine: Engine) -> None:
    b = kursk_archive(engine)
    b.cluster(7, "Troops reach Kursk", articles_n=2)
    b.article("bbc", "Troops  reach Kursk", "troops reach kursk", cluster=7)
    b.article("bbc", "Troops leave Kursk", "Columns were seen on the road.", cluster=7)
    app = create_app(Archive(engine), ApiSettings())
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        # The event page shows the text's first paragraph, search the summary.
        for path, kind in (("/events/7", "snippet"), ("/search?q=troops", "summary")):
            page = c.get(path).text
            assert f'<p class="{kind}">troops reach kursk' not in page, path
            assert f'<p class="{kind}">Columns were seen on the road.' in page, path


def test_adds_to_compares_words_not_spacing_or_case() -> None:
    assert not adds_to("", "Title")
    assert not adds_to(None, "Title")
    assert not adds_to(" troops\nreach  KURSK ", "Troops reach Kursk")
    assert adds_to("Troops reach Kursk, officials say", "Troops reach Kursk")


def test_search_page_pages_and_reports_bad_queries(client: httpx.Client) -> None:
    r = client.get("/search", params={"q": "kursk OR koursk"})
    assert r.status_code == 200
    assert r.text.count('<li data-nav><a href="/articles/') == 5
    bad = client.get("/search", params={"q": "NOT kursk"})
    assert bad.status_code == 400
    assert 'class="error"' in bad.text
    assert client.get("/search").status_code == 200  # the empty form


def test_missing_things_are_html_404s(client: httpx.Client) -> None:
    for path in ("/events/999", "/articles/999", "/topics/unknown"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("text/html")


def test_safe_url_allows_only_http_and_https() -> None:
    assert safe_url("https://example.org/a?b=1&amp;c=2") == "https://example.org/a?b=1&c=2"
    assert safe_url("http://example.org/") == "http://example.org/"
    for bad in (
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "javascript&#58;alert(1)",
        "&#106;avascript:alert(1)",
        "&amp;#106;avascript:alert(1)",  # double-encoded
        "java\tscript:alert(1)",
        " \x01javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "//evil.example/x",
        "/relative",
        "https:/no-host",
        "",
        None,
    ):
        assert safe_url(bad) is None, bad


def test_clean_html_strips_active_content() -> None:
    dirty = (
        '<p onclick="x()">hi <a href="javascript:alert(1)">a</a> '
        '<a href="https://example.org/">b</a><img src="x" onerror="alert(1)">'
        "<script>alert(1)</script><style>p{}</style><iframe src=x></iframe></p>"
    )
    out = clean_html(dirty)
    for gone in ("onclick", "onerror", "javascript", "script", "style", "iframe"):
        assert gone not in out
    assert '<a href="https://example.org/" rel="noopener noreferrer nofollow">b</a>' in out


def test_sparkline_scales_to_the_busiest_hour() -> None:
    bars = sparkline((HourCount(T0, 1), HourCount(T0, 0), HourCount(T0, 4)), width=30, height=20)
    assert [b.height for b in bars] == [5.0, 0.0, 20.0]
    assert [b.x for b in bars] == [0.0, 10.0, 20.0]
    assert sparkline(()) == []


def test_head_answers_wherever_get_does(client: httpx.Client) -> None:
    for path in (
        "/",
        "/topics/korea",
        "/events/1",
        "/search?q=kursk",
        "/alerts",
        "/feeds",
        "/healthz",
        "/topics/korea.atom",
        "/search.atom?q=kursk",
        "/api/v1/topics",
        "/static/style.css",
        "/static/keys.js",
        "/favicon.ico",
    ):
        got, head = client.get(path), client.head(path)
        assert head.status_code == got.status_code == 200, path
        assert head.content == b"", path
        assert head.headers["content-type"] == got.headers["content-type"], path
        assert head.headers["content-length"] == str(len(got.content)), path
        assert "default-src 'none'" in head.headers["content-security-policy"], path
    assert client.head("/events/999").status_code == 404


def test_a_tampered_or_foreign_cursor_is_a_400_page(client: httpx.Client) -> None:
    for path in ("/", "/events/1", "/feeds", "/alerts"):
        r = client.get(path, params={"cursor": "bm9wZQ"})
        assert r.status_code == 400, path
        assert "invalid cursor" in r.text
    first = client.get("/feeds", params={"limit": 1})
    cursor = first.text.split("cursor=")[1].split('"')[0]
    foreign = client.get("/alerts", params={"cursor": cursor})
    assert foreign.status_code == 400
    assert "belongs to another list" in foreign.text


def test_bad_filters_are_400_pages(client: httpx.Client) -> None:
    for params, message in (
        ({"since": "soon"}, "is not a date"),
        ({"min_outlets": "many"}, "not a whole number"),
    ):
        r = client.get("/", params=params)
        assert r.status_code == 400
        assert r.headers["content-type"].startswith("text/html")
        assert message in r.text


def test_event_page_folds_copies_and_pages(engine: Engine) -> None:
    b = kursk_archive(engine)
    b.cluster(5, "Summit in Geneva", articles_n=6, outlets=3)
    originals = [
        b.article("reuters", f"Geneva talks {i}", f"Para one {i}.\n\nPara two {i}.", cluster=5)
        for i in range(4)
    ]
    copy = b.article("bbc", "Geneva talks 0", "Para one 0.", cluster=5, duplicate_of=originals[0])
    # A copy of an article of another event is not folded here: it is this event's own.
    other = b.article("lemonde", "Geneva elsewhere", cluster=5, duplicate_of=1)
    app = create_app(Archive(engine), ApiSettings())
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        page = c.get("/events/5").text
        assert page.count('<li class="article" data-nav>') == 5
        assert f'Also carried by <a href="/articles/{copy}">bbc</a>' in page
        assert f'<a class="headline" href="/articles/{other}">' in page
        assert "<p>Para two 0.</p>" in page  # the rest, behind "read on"
        assert "6 articles from 3 outlets" in page
        # bbc carried only a copy here; chosen alone, it shows that copy.
        only = c.get("/events/5", params={"outlet": "bbc"}).text
        assert f'<a class="headline" href="/articles/{copy}">' in only
        assert only.count('<li class="article" data-nav>') == 1
        # Two at a time: three pages, the outlet's heading marked as continued.
        seen: list[str] = []
        pages: list[str] = []
        url: str | None = "/events/5?limit=2"
        while url:
            text = c.get(url).text
            pages.append(text)
            seen += [s.split('"')[0] for s in text.split('class="headline" href="')[1:]]
            nxt = text.split('<a class="next" rel="next" href="')
            url = nxt[1].split('"')[0].replace("&amp;", "&") if len(nxt) > 1 else None
            if url:
                assert "limit=2" in url
        assert len(seen) == len(set(seen)) == 5
        # lemonde and reuters both first reported at T0: by name, lemonde first; then
        # reuters' four articles run over pages 1 to 3.
        assert [p.count("<h2>") for p in pages] == [2 + 1, 1 + 1, 1 + 1]  # + "outlets"
        assert "(continued)" not in pages[0]
        assert "<h2>reuters <small>(continued)</small></h2>" in pages[1]
        assert "<h2>reuters <small>(continued)</small></h2>" in pages[2]


def test_alerts_and_feeds_pages_escape_what_they_show(engine: Engine) -> None:
    b = kursk_archive(engine)
    b.alert(
        "x1",
        status="dead",
        rule="<b>rule</b>",
        channel="hook",
        cluster=1,
        error='<img src=x onerror="alert(1)">',
    )
    b.feed("<i>evil</i>", title="<script>alert(1)</script>")
    app = create_app(Archive(engine), ApiSettings())
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        alerts = c.get("/alerts").text
        assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in alerts
        assert "&lt;b&gt;rule&lt;/b&gt;" in alerts
        assert "<img" not in alerts
        assert "<b>rule" not in alerts
        assert "North Korean troops arrive in Kursk" in alerts  # what the alert was about
        feeds = c.get("/feeds").text
        assert "&lt;i&gt;evil&lt;/i&gt;" in feeds
        assert "<script>alert" not in feeds
        assert "1 broken" in feeds
