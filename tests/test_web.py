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
    assert "Reuters World" in event  # outlets by their titles
    assert event.count('<section class="outlet">') == 3
    assert "Merged with event 3: a report matched both." in event


def test_a_summary_that_repeats_the_title_is_not_shown(engine: Engine) -> None:
    b = kursk_archive(engine)
    b.cluster(7, "Troops reach Kursk", articles_n=2)
    b.article("bbc", "Troops  reach Kursk", "troops reach kursk", cluster=7)
    b.article("bbc", "Troops leave Kursk", "Columns were seen on the road.", cluster=7)
    app = create_app(Archive(engine), ApiSettings())
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        for path in ("/events/7", "/search?q=troops"):
            page = c.get(path).text
            assert '<p class="summary">troops reach kursk' not in page, path
            assert '<p class="summary">Columns were seen on the road.' in page, path


def test_adds_to_compares_words_not_spacing_or_case() -> None:
    assert not adds_to("", "Title")
    assert not adds_to(None, "Title")
    assert not adds_to(" troops\nreach  KURSK ", "Troops reach Kursk")
    assert adds_to("Troops reach Kursk, officials say", "Troops reach Kursk")


def test_search_page_pages_and_reports_bad_queries(client: httpx.Client) -> None:
    r = client.get("/search", params={"q": "kursk OR koursk"})
    assert r.status_code == 200
    assert r.text.count('<li><a href="/articles/') == 5
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
