"""The web page in a real browser: hostile feed content never runs; a screenshot.

Headless Debian chromium via Playwright. Articles carry script, onerror,
javascript: (plain and entity-encoded) and data: payloads that would set
``window.__pwned``, change the title or open a dialog if anything executed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import Engine

from aggregator.api import ApiSettings, create_app
from aggregator.store import create_db_engine
from aggregator.store.archive import Archive
from tests.support.archive_data import T0, ArchiveBuilder, kursk_archive, serve_in_thread
from tests.support.browser import chromium

ARTIFACTS = Path(__file__).parent / "artifacts"
PWN = "window.__pwned=1;document.title='pwned';alert(1)"

HOSTILE_TITLES = [
    f"<script>{PWN}</script>Kursk script title",
    f'<img src=x onerror="{PWN}">Kursk onerror title',
    f'"><svg onload="{PWN}">Kursk attribute breakout',
    f"</title><script>{PWN}</script>Kursk title breakout",
]
HOSTILE_URLS = [
    f"javascript:{PWN}",
    f"javascript&#58;{PWN}",
    f"&#106;avascript:{PWN}",
    f"&#x6A;&#x61;vascript&colon;{PWN}",
    f"java\tscript:{PWN}",
    f"data:text/html,<script>{PWN}</script>",
    f"  JaVaScRiPt:{PWN}",
]
HOSTILE_HTML = (
    f"<p>Kursk body<script>{PWN}</script></p>"
    f'<img src=x onerror="{PWN}">'
    f'<a href="javascript:{PWN}">js link</a>'
    f'<a href="javascript&#58;{PWN}">encoded js link</a>'
    f'<a href="data:text/html,<script>{PWN}</script>">data link</a>'
    f'<iframe src="data:text/html,<script>{PWN}</script>"></iframe>'
    f"<svg><script>{PWN}</script></svg><math><mtext><script>{PWN}</script></mtext></math>"
    f'<object data="data:text/html,x"></object>'
    f'<form action="javascript:{PWN}"><button>go</button></form>'
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def site(database_url: str) -> Iterator[tuple[str, dict[str, int]]]:
    engine: Engine = create_db_engine(database_url)
    b = kursk_archive(engine)
    ids: dict[str, int] = {}
    b.cluster(10, HOSTILE_TITLES[0], first_seen=T0 + timedelta(hours=8), articles_n=9, outlets=4)
    for i, title in enumerate(HOSTILE_TITLES):
        ids[f"title{i}"] = b.article(
            "bbc",
            title,
            f"Kursk {title}",
            published=T0 + timedelta(hours=8 + i),
            cluster=10,
            url=HOSTILE_URLS[i],
            html=HOSTILE_HTML,
        )
        b.match(ids[f"title{i}"], "korea", 10)
    for j, url in enumerate(HOSTILE_URLS):
        ids[f"url{j}"] = b.article(
            "reuters", f"Kursk link {j}", published=T0 + timedelta(hours=9), cluster=10, url=url
        )
    _more_events(b)
    # The alerts and feeds pages show rule, channel and feed names, headlines, errors.
    b.alert(
        "hostile",
        status="dead",
        rule=HOSTILE_TITLES[1],
        channel=HOSTILE_TITLES[2],
        cluster=10,
        error=HOSTILE_HTML,
    )
    b.feed(HOSTILE_TITLES[3], title=HOSTILE_TITLES[0], state="broken")
    app = create_app(Archive(engine), ApiSettings(title="News monitor", topics=("korea",)))
    with serve_in_thread(app) as url:
        yield url, ids
    engine.dispose()


def _more_events(b: ArchiveBuilder) -> None:
    """A few ordinary events so the screenshot shows a realistic topic page."""
    stories = [
        (20, "Seoul says more troops may follow to Russia", [3, 5, 2, 1], ["ap", "yonhap"]),
        (
            21,
            "Pentagon confirms North Korean units near Kursk front",
            [1, 4, 6, 3, 2],
            ["ap", "dw"],
        ),
        (
            22,
            "Ukraine reports first clashes with North Korean soldiers",
            [2, 0, 1, 7, 4, 2],
            ["dw"],
        ),
    ]
    for k, (cid, headline, per_hour, outlets) in enumerate(stories):
        start = T0 + timedelta(hours=12 + 6 * k)
        n = sum(per_hour)
        b.cluster(cid, headline, first_seen=start, articles_n=n, outlets=len(outlets) + 1)
        for hour, count in enumerate(per_hour):
            for c in range(count):
                aid = b.article(
                    outlets[c % len(outlets)],
                    f"{headline} ({hour}.{c})",
                    published=start + timedelta(hours=hour, minutes=c),
                    cluster=cid,
                )
                if hour == 0 and c == 0:
                    b.match(aid, "korea", cid)


def watch(page: Page) -> list[str]:
    dialogs: list[str] = []

    def on_dialog(dialog: object) -> None:
        dialogs.append(str(getattr(dialog, "message", "")))
        dialog.dismiss()  # type: ignore[attr-defined]

    page.on("dialog", on_dialog)
    return dialogs


def assert_inert(page: Page, dialogs: list[str]) -> None:
    assert page.evaluate("window.__pwned") is None
    assert page.title() != "pwned"
    assert dialogs == []
    # Our escaping, independent of the CSP: no script elements but the page's own
    # static one (keyboard navigation), no handlers, no bad links.
    scripts = page.evaluate("Array.from(document.scripts).map(s => s.getAttribute('src'))")
    assert scripts == ["/static/keys.js"]
    handlers = page.evaluate(
        "Array.from(document.querySelectorAll('*')).flatMap(e => "
        "Array.from(e.attributes).filter(a => a.name.startsWith('on')).map(a => a.name))"
    )
    assert handlers == []
    # Every URL-bearing attribute resolves to http(s) (relative ones to this site).
    schemes = page.evaluate(
        "Array.from(document.querySelectorAll('[href],[src],[action],[data],[formaction]'))"
        ".flatMap(e => ['href', 'src', 'action', 'data', 'formaction']"
        ".filter(n => e.hasAttribute(n))"
        ".map(n => new URL(e.getAttribute(n), location.href).protocol))"
    )
    assert schemes
    assert set(schemes) <= {"http:", "https:"}


def test_hostile_content_never_runs(browser: Browser, site: tuple[str, dict[str, int]]) -> None:
    base, ids = site
    page = browser.new_page()
    dialogs = watch(page)
    paths = [
        "/",
        "/topics/korea",
        "/events/10",
        "/search?q=kursk",
        "/search?q=kursk&order=date",
        "/search?q=kursk&limit=2",
        "/?sort=first&min_outlets=2",
        "/events/10?limit=2",
        "/alerts",
        "/alerts?status=dead",
        "/feeds",
        "/feeds?state=broken",
        *(f"/articles/{aid}" for aid in ids.values()),
    ]
    for path in paths:
        response = page.goto(base + path)
        assert response is not None
        assert response.status == 200, path
        assert_inert(page, dialogs)
    # The escaped titles are shown as text, not dropped.
    page.goto(base + "/events/10")
    assert page.get_by_text("Kursk onerror title").count() >= 1
    assert page.locator("h1").inner_text().startswith("<script>")
    # Following every link on the event and alerts pages runs nothing either (the
    # next-page links included).
    for start in ("/events/10?limit=2", "/alerts"):
        page.goto(base + start)
        links = page.evaluate("Array.from(document.links).map(a => a.href)")
        assert links
        for href in links:
            if href.startswith(base):
                page.goto(href)
                assert_inert(page, dialogs)
    page.close()


def test_events_page_on_a_phone_screenshot(
    browser: Browser, site: tuple[str, dict[str, int]]
) -> None:
    base, _ = site
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page = context.new_page()
    dialogs = watch(page)
    page.goto(base + "/topics/korea")
    assert_inert(page, dialogs)
    headlines = page.locator("li.event .headline").all_inner_texts()
    assert headlines[:2] == [
        "Ukraine reports first clashes with North Korean soldiers",
        "Pentagon confirms North Korean units near Kursk front",
    ]
    assert page.locator("svg.spark").count() == len(headlines)
    # Nothing wider than the phone: no horizontal scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "events.png"), full_page=True)
    context.close()
