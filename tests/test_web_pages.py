"""The web page as a reader uses it, in Debian chromium (Playwright), at desktop and
phone width: every page, pagination to the end of a 1,000-article event, the event
page's structure, filters, keyboard navigation. Screenshots of every page are written
to tests/artifacts/pages/ (kept out of git) for a person to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page
from sqlalchemy import Engine

from aggregator.api import ApiSettings, create_app
from aggregator.store import create_db_engine
from aggregator.store.archive import Archive
from tests.support.archive_data import serve_in_thread
from tests.support.browser import chromium
from tests.support.newsroom import (
    BIG,
    BIG_ARTICLES,
    COPIES,
    OUTLETS,
    SHARED_TITLE,
    SMALL_EVENTS,
    Newsroom,
    build_newsroom,
)
from tests.test_web_browser import assert_inert, watch

SHOTS = Path(__file__).parent / "artifacts" / "pages"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
SITE = "News monitor"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def site(database_url: str) -> Iterator[tuple[str, Newsroom]]:
    engine: Engine = create_db_engine(database_url)
    room = build_newsroom(engine)
    app = create_app(Archive(engine), ApiSettings(title=SITE, topics=("korea",)))
    with serve_in_thread(app) as url:
        yield url, room
    engine.dispose()


def _shot(page: Page, request: pytest.FixtureRequest, name: str) -> None:
    backend = request.node.callspec.params.get("database_url", "db")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{backend}.png"), full_page=True)


@pytest.mark.parametrize("form", list(WIDTHS))
def test_every_page_at_desktop_and_phone_width(
    browser: Browser, site: tuple[str, Newsroom], form: str, request: pytest.FixtureRequest
) -> None:
    base, room = site
    width, height = WIDTHS[form]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    dialogs = watch(page)
    pages = {
        "events": ("/", f"Events · {SITE}"),
        "events-first-report": ("/?sort=first&min_outlets=2", f"Events · {SITE}"),
        "topic": ("/topics/korea", f"Topic: korea · {SITE}"),
        "event": (f"/events/{BIG}", f"North Korean troops move into Kursk · {SITE}"),
        "event-one-outlet": (
            f"/events/{BIG}?outlet=herald-en",
            f"North Korean troops move into Kursk · {SITE}",
        ),
        "article": (
            f"/articles/{room.big_article_ids[0]}",
            f"Kursk update 0: troops on the move · {SITE}",
        ),
        "search": ("/search?q=kursk+troop*", f"Search: kursk troop* · {SITE}"),
        "alerts": ("/alerts", f"Alerts · {SITE}"),
        "feeds": ("/feeds", f"Feeds · {SITE}"),
    }
    print(f"\nscreenshots: {SHOTS}")
    for name, (path, title) in pages.items():
        response = page.goto(base + path)
        assert response is not None, path
        assert response.status == 200, path
        assert page.title() == title, path
        assert_inert(page, dialogs)
        # Nothing wider than the window: no sideways scrolling, on a phone either.
        assert page.evaluate("document.documentElement.scrollWidth") <= width, path
        # The favicon is linked and served.
        assert page.locator("link[rel=icon]").count() == 1
        _shot(page, request, f"{name}-{form}")
    icon = page.goto(base + "/favicon.ico")
    assert icon is not None
    assert icon.status == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    context.close()


def _follow(page: Page, link: Locator) -> None:
    """Click a link or a form's button and wait until the page it opens has loaded.

    ``click()`` may return while the next document is still coming: a count read then
    sees nothing yet (a CI run read 0 of 15 alerts on the page a link opened)."""
    with page.expect_navigation():
        link.click()


def _article_ids(page: Page) -> list[int]:
    hrefs = page.locator("section.outlet li.article > a.headline").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    return [int(h.rsplit("/", 1)[1]) for h in hrefs]


def test_pagination_reaches_the_end_of_a_1000_article_event(
    browser: Browser, site: tuple[str, Newsroom]
) -> None:
    base, room = site
    page = browser.new_page()
    dialogs = watch(page)
    page.goto(f"{base}/events/{BIG}")
    seen: list[int] = []
    copies = 0
    headings: list[str] = []
    pages = 0
    while True:
        pages += 1
        assert_inert(page, dialogs)
        seen += _article_ids(page)
        copies += page.locator("p.copies a").count()
        for h in page.locator("section.outlet > h2").all_inner_texts():
            outlet = h.removesuffix(" (continued)")
            # An outlet's articles are together: a heading comes back only to say
            # that the previous page's last outlet continues.
            if h.endswith("(continued)"):
                assert headings[-1] == outlet
            else:
                assert outlet not in headings
                headings.append(outlet)
        more = page.locator("nav.pager a.next")
        if more.count() == 0:
            assert page.locator("nav.pager .end").inner_text() == "End of the list"
            break
        _follow(page, more)
        assert pages < 100, "the cursor does not advance"
    # Every original once, each copy folded under its original instead of repeated.
    assert len(seen) == len(set(seen)) == BIG_ARTICLES - COPIES
    assert set(seen) == set(room.big_article_ids)
    assert copies == COPIES
    assert pages == -(-(BIG_ARTICLES - COPIES) // 50)
    assert len(headings) == OUTLETS - 1
    # The page size is in the URL, and a smaller one gives more pages.
    page.goto(f"{base}/events/{BIG}?limit=200")
    assert len(_article_ids(page)) == 200
    assert "limit=200" in (page.locator("nav.pager a.next").get_attribute("href") or "")
    page.close()


def test_the_event_page_structure(browser: Browser, site: tuple[str, Newsroom]) -> None:
    base, _room = site
    page = browser.new_page()
    page.goto(f"{base}/events/{BIG}")
    # Outlets by configured name: the two feeds titled "Korea Herald" stay two outlets.
    # (30 outlets: the list starts folded, so read its text, not what is drawn.)
    outlets = page.locator("ul.outlet-list li > a").all_text_contents()
    assert len(outlets) == OUTLETS - 1
    assert {"herald-en", "herald-biz"} <= set(outlets)
    assert SHARED_TITLE not in page.locator("main").inner_text()
    # The first to report comes first, in the list and in the articles.
    assert outlets[0] == "outlet-05"
    assert page.locator("section.outlet > h2").first.inner_text() == "outlet-05"
    # A snippet per article: the first paragraph only; the rest one click away.
    first = page.locator("section.outlet li.article").first
    assert first.locator("p.snippet").inner_text().startswith("North Korean troops crossed")
    hidden = first.locator("details .fulltext p")
    assert hidden.count() == 2
    assert not hidden.first.is_visible()
    first.locator("details summary").click()
    assert hidden.first.is_visible()
    assert hidden.first.inner_text().startswith("The defence ministry in Seoul")
    # Copies are folded under their original.
    carried = first.locator("p.copies")
    assert carried.inner_text().startswith("Also carried by ")
    # The timeline of a one-hour event: 5-minute bars, a labelled time axis.
    ticks = page.locator("figure.timeline text.tick").all_text_contents()
    assert ticks[0] == "06:00"
    assert ticks[-1] == "07:00"
    assert all(re.fullmatch(r"\d\d:\d\d", t) for t in ticks)
    assert page.locator("figure.timeline rect.bar").count() == 12
    caption = page.locator("figure.timeline figcaption").inner_text()
    assert caption.startswith("Articles per 5 minutes, 2024-11-04 06:00 UTC to 07:00 UTC")
    # One outlet only, through its link in the list.
    page.locator("section.outlets summary").click()
    _follow(page, page.locator("ul.outlet-list a", has_text="herald-en"))
    assert set(page.locator("section.outlet > h2").all_inner_texts()) == {"herald-en"}
    assert page.locator("ul.outlet-list li.current").inner_text().startswith("herald-en")
    page.close()


def test_event_lists_sort_filter_and_page(browser: Browser, site: tuple[str, Newsroom]) -> None:
    base, room = site
    page = browser.new_page()
    page.goto(base + "/")
    # By last update: the small story that grew last is first, then the big one.
    ids = _event_ids(page)
    assert ids[:2] == [room.newest_update, BIG]
    listed = list(ids)
    while page.locator("nav.pager a.next").count():
        _follow(page, page.locator("nav.pager a.next"))
        listed += _event_ids(page)
    assert sorted(listed) == sorted(room.event_ids)
    assert len(listed) == SMALL_EVENTS + 1
    # By first report, through the form.
    page.goto(base + "/")
    page.select_option("select[name=sort]", "first")
    _follow(page, page.locator("form.filters button"))
    assert "sort=first" in page.url
    assert _event_ids(page)[0] == BIG
    # At least 4 outlets: the form keeps the values it was given.
    page.fill("input[name=min_outlets]", "4")
    _follow(page, page.locator("form.filters button"))
    counts = page.locator("li.event .badge").all_inner_texts()
    assert counts
    assert all(int(c.split()[0]) >= 4 for c in counts)
    assert page.input_value("input[name=min_outlets]") == "4"
    # A topic narrows the list; a bad "since" is a clear 400 page, not a crash.
    page.goto(base + "/?topic=korea")
    assert _event_ids(page) == [BIG]
    response = page.goto(base + "/?since=yesterdayish")
    assert response is not None
    assert response.status == 400
    assert "is not a date" in page.locator("main").inner_text()
    page.close()


def _event_ids(page: Page) -> list[int]:
    hrefs = page.locator("li.event a.headline").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    return [int(h.rsplit("/", 1)[1]) for h in hrefs]


def test_keyboard_navigation(browser: Browser, site: tuple[str, Newsroom]) -> None:
    base, room = site
    page = browser.new_page()
    page.goto(base + "/")
    page.keyboard.press("j")
    page.keyboard.press("j")
    current = page.locator("li.event.current")
    assert current.count() == 1
    assert current.locator("a.headline").inner_text() == "North Korean troops move into Kursk"
    page.keyboard.press("k")
    assert page.locator("li.event.current a.headline").get_attribute("href") == (
        f"/events/{room.newest_update}"
    )
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/events/{BIG}")
    # "/" goes to the search box; typing there does not move the selection.
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("kursk troops")
    assert page.locator("[data-nav].current").count() == 0
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/search\?q=kursk\+troops"))
    # The searched words are highlighted in the results.
    marks = {m.lower() for m in page.locator("ul.results mark").all_inner_texts()}
    assert marks == {"kursk", "troops"}
    page.close()


def test_alerts_page_shows_deliveries_and_failures(
    browser: Browser, site: tuple[str, Newsroom]
) -> None:
    base, _ = site
    page = browser.new_page()
    page.goto(base + "/alerts")
    rows = page.locator("table.deliveries tbody tr")
    assert rows.count() == 3  # breaking→desk-mail, breaking→hook, korea-desk→desk-mail
    failing = page.locator("table.deliveries tr.failing")
    assert failing.count() == 1
    text = failing.inner_text()
    assert "HTTP 502 from hooks.example: bad gateway" in text
    assert "channel off: the endpoint answered 410 Gone" in text
    # The failed count links to those alerts, each with its reason.
    _follow(page, failing.locator("a.error"))
    assert "status=dead" in page.url
    items = page.locator("ul.alerts li")
    assert items.count() == 15
    assert all(
        "Failed: HTTP 502 from hooks.example" in t
        for t in items.locator("p.error").all_inner_texts()
    )
    # The recent list pages to its end.
    page.goto(base + "/alerts?limit=25")
    total = page.locator("ul.alerts li").count()
    while page.locator("nav.pager a.next").count():
        _follow(page, page.locator("nav.pager a.next"))
        total += page.locator("ul.alerts li").count()
    assert total == 60
    page.close()


def test_feeds_page_on_a_phone(browser: Browser, site: tuple[str, Newsroom]) -> None:
    base, _ = site
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(base + "/feeds?limit=10")
    rows = page.locator("table.feeds tbody tr")
    assert rows.count() == 10
    first = rows.first
    # URL, state, last and next poll: each visible within the phone's width.
    for part in ("small.url a", "td[data-label='State']", "td[data-label='Next poll']"):
        box = first.locator(part).bounding_box()
        assert box is not None, part
        assert box["x"] >= 0, part
        assert box["x"] + box["width"] <= 390, part
    assert "2024-11-04" in first.locator("td[data-label='Next poll']").inner_text()
    names = []
    while True:
        names += page.locator("table.feeds td.feed strong").all_inner_texts()
        more = page.locator("nav.pager a.next")
        if not more.count():
            break
        _follow(page, more)
    assert len(names) == len(set(names)) == OUTLETS
    assert names == sorted(names)
    # The broken feed, through the state filter, with its reason.
    page.goto(base + "/feeds")
    _follow(page, page.locator("p.filters-line a", has_text="broken"))
    assert page.locator("table.feeds tbody tr").count() == 1
    assert "HTTP 503 Service Unavailable" in page.locator("table.feeds tbody").inner_text()
    context.close()
