"""``GET /api/v1/articles`` with plain arguments is answered without FastAPI's parameter
parsing (api/app.py ``_PlainSearches``, issue 17): every request gets the answer FastAPI's
own route gives, byte for byte, on both backends; anything not plain goes to FastAPI.
A search alone runs on the event loop within a budget, else in the pool."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event, text

from aggregator.api import ApiSettings, create_app
from aggregator.api import app as app_module
from aggregator.api.app import _PlainSearches, plain_search_args
from aggregator.errors import OverBudget
from aggregator.query.limits import SearchLimits
from aggregator.store import create_db_engine
from aggregator.store.archive import Archive
from aggregator.store.search import DriverStatement
from aggregator.store.views import ArticleSummary
from tests.support.archive_data import kursk_archive, serve_in_thread

PLAIN = [
    "",
    "q=kursk",
    "q=kursk&limit=1",
    "q=kursk&order=date&limit=2",
    "q=troops%20korea&feed=bbc&feed=reuters",
    "q=kursk&lang=fr",
    "q=kursk&language=fr",
    "q=kursk&lang=fr&language=fr",
    "q=kursk&topic=korea",
    "q=kursk&cluster=1",
    "q=kursk&since=2024-11-04&until=2024-11-05",
    "q=kursk&unknown=1",
    "q=",
    "q=kursk&q=moldova",
    "order=date&limit=200",
    "feed=bbc",
    # answered by the plain path too, with the handler's error
    "q=kursk&topic=nosuchtopic",
    "q=kursk&feed=nosuchfeed",
    "q=kursk&feed=bbc&feed=nosuchfeed",  # a page from bbc: the other name still looked up
    "q=%22unclosed&feed=nosuchfeed",  # a bad query and an unknown name: the name's 404
    "q=%22unclosed&topic=nosuchtopic",
    "q=kursk&feed=broken",  # a known feed the page has nothing from
    "q=kursk&cluster=999",
    "q=%22unclosed",
    "q=kursk&cursor=garbage",
    "q=-kursk",
    "q=kursk%20outlet:bbc",
]

NOT_PLAIN = [
    "q=kursk&limit=0",
    "q=kursk&limit=201",
    "q=kursk&limit=007",
    "q=kursk&limit=%2B5",
    "q=kursk&limit=",
    "q=kursk&limit=abc",
    "q=kursk&cluster=0",
    "q=kursk&cluster=-1",
    "q=kursk&cluster=99999999999999999999",
    "q=kursk&order=newest",
    "q=kursk&lang=fr&language=en",
    "q=kursk&since=yesterday-ish",
    "q=" + "k" * 1001,
    "q=kursk&cursor=" + "c" * 501,
]


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = create_db_engine(database_url)
    kursk_archive(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def servers(engine: Engine) -> Iterator[tuple[str, str]]:
    """(the app as served, the same app with every search through FastAPI)."""
    archive = Archive(engine)
    settings_ = ApiSettings(topics=("korea", "quiet"))
    with (
        serve_in_thread(create_app(archive, settings_)) as plain,
        serve_in_thread(create_app(archive, settings_, plain_searches=False)) as validated,
    ):
        yield plain, validated


def _answers(servers: tuple[str, str], query: str) -> tuple[httpx.Response, httpx.Response]:
    plain, validated = servers
    path = "/api/v1/articles" + ("?" + query if query else "")
    return httpx.get(plain + path, timeout=30), httpx.get(validated + path, timeout=30)


def _same(a: httpx.Response, b: httpx.Response) -> None:
    assert (a.status_code, a.headers["content-type"], a.content) == (
        b.status_code,
        b.headers["content-type"],
        b.content,
    )


def test_which_requests_are_plain() -> None:
    for query in PLAIN:
        assert plain_search_args(query.encode()) is not None, query
    for query in NOT_PLAIN:
        assert plain_search_args(query.encode()) is None, query


def test_every_request_gets_fastapis_answer(servers: tuple[str, str]) -> None:
    statuses = set()
    for query in PLAIN + NOT_PLAIN:
        a, b = _answers(servers, query)
        _same(a, b)
        statuses.add(a.status_code)
    # the list reaches every kind of answer: a page, a bad query, an unknown name,
    # a validation error
    assert {200, 400, 404, 422} <= statuses
    # and the pages are not empty ones
    assert _answers(servers, "q=kursk")[0].json()["items"]


def test_a_cursor_from_the_plain_path_pages_alike(servers: tuple[str, str]) -> None:
    a, b = _answers(servers, "q=kursk%20OR%20moldova&limit=2")
    _same(a, b)
    cursor = a.json()["next_cursor"]
    assert cursor
    _same(*_answers(servers, f"q=kursk%20OR%20moldova&limit=2&cursor={cursor}"))


NAMES = st.sampled_from(
    ["q", "order", "cursor", "limit", "topic", "feed", "cluster", "lang", "language", "since",
     "until", "other"]
)  # fmt: skip
VALUES = st.one_of(
    st.sampled_from(
        ["kursk", "troops korea", "relevance", "date", "1", "2", "20", "200", "0", "01", "-3",
         "korea", "bbc", "fr", "en", "2024-11-04", "3d", "", " 5", "1e3", "outlet:bbc kursk"]
    ),
    st.text(max_size=12),
)  # fmt: skip


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.tuples(NAMES, VALUES), max_size=5))
def test_random_query_strings_get_fastapis_answer(
    servers: tuple[str, str], pairs: list[tuple[str, str]]
) -> None:
    query = "&".join(f"{name}={quote(value, safe='')}" for name, value in pairs)
    _same(*_answers(servers, query))


def _plain_searches(app: Any) -> Any:
    node = app.middleware_stack
    while not isinstance(node, _PlainSearches):
        node = node.app
    return node


# 1 s, not the daemon's 50 ms: a loaded machine can stall a tiny search past 50 ms
@pytest.mark.parametrize("budget", [1.0, 0.0])
def test_a_search_alone_is_answered_on_the_loop_within_its_budget(
    engine: Engine, servers: tuple[str, str], budget: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "INLINE_BUDGET", budget)
    # progress checked at every step with a budget of 0: it stops any search at once
    archive = Archive(engine, limits=SearchLimits(progress_steps=1 if budget == 0 else 1000))
    app = create_app(archive, ApiSettings(topics=("korea", "quiet")))
    queries = ["q=kursk", "q=kursk&order=date", "q=troops&feed=bbc", "feed=bbc", "q=%22unclosed"]
    with serve_in_thread(app) as base:
        for query in queries:
            answer = httpx.get(f"{base}/api/v1/articles?{query}", timeout=30)
            _same(answer, httpx.get(f"{servers[1]}/api/v1/articles?{query}", timeout=30))
        inline = _plain_searches(app).inline
    if budget > 0:
        assert inline == len(queries) - 1  # all but the one answered with an error
    elif engine.dialect.name == "sqlite":  # every one stopped at once, then from the pool
        assert inline == 0
    else:  # PostgreSQL's least timeout, 1 ms, may or may not stop a search this small
        assert inline <= len(queries) - 1


def test_a_search_past_its_budget_is_stopped(engine: Engine) -> None:
    archive = Archive(engine, limits=SearchLimits(progress_steps=1))
    if engine.dialect.name == "sqlite":
        with pytest.raises(OverBudget):
            archive.search("kursk OR troops", order="date", budget=0.0)
    else:
        # PostgreSQL: on sessions whose statement_timeout is the budget (the others
        # keep the search deadline) ...
        with archive._searching(0.05).connect() as conn:
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "50ms"
        with archive._searching().connect() as conn:
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "3s"
        # ... so a search waiting for a lock past its budget is stopped
        with engine.connect() as locker:
            locker.execute(text("LOCK TABLE articles IN ACCESS EXCLUSIVE MODE"))
            with pytest.raises(OverBudget):
                archive.search("kursk OR troops", order="date", budget=0.05)
            locker.rollback()
    assert archive.search("kursk OR troops", order="date", budget=None).items
    assert archive.search("kursk OR troops", order="date", budget=0.05).items


def test_searches_arriving_together_go_to_the_pool(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests read in one pass of the event loop start in the next, one task after
    another: the first must not count itself alone and hold the loop while the others
    wait (under a thousand connections every search ran that way, one at a time)."""
    monkeypatch.setattr(app_module, "INLINE_BUDGET", 1.0)  # alone: inline even when slow
    app = create_app(Archive(engine), ApiSettings(topics=("korea", "quiet")))
    queries = ["q=kursk", "q=troops", "q=moldova", "q=kursk&order=date"]

    async def ask(together: bool) -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            paths = [f"/api/v1/articles?{q}" for q in queries]
            if together:  # gather: every request's task starts in the same pass
                return list(await asyncio.gather(*(client.get(p) for p in paths)))
            return [await client.get(p) for p in paths]

    alone = asyncio.run(ask(together=False))
    inline_alone = _plain_searches(app).inline
    together = asyncio.run(ask(together=True))
    inline_together = _plain_searches(app).inline - inline_alone
    for a, b in zip(alone, together, strict=True):
        _same(a, b)
    assert all(a.status_code == 200 and a.json()["items"] for a in alone)
    assert inline_alone == len(queries)  # one at a time: each on the loop
    assert inline_together == 0


def test_searches_sent_to_the_pool_run_in_the_search_threads(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Searches that go to the pool run in asyncio's executor of SEARCH_THREADS threads,
    not through anyio's hand-off (~50 µs of the event loop's CPU per search, issue 17)."""
    ran_in: list[str] = []
    search = Archive.search

    def recording(self: Archive, *args: Any, **kwargs: Any) -> Any:
        ran_in.append(threading.current_thread().name)
        return search(self, *args, **kwargs)

    monkeypatch.setattr(Archive, "search", recording)
    app = create_app(Archive(engine), ApiSettings(topics=("korea", "quiet")))
    queries = ["q=kursk", "q=troops", "q=moldova", "q=kursk&order=date"]

    async def ask() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            return list(
                await asyncio.gather(*(client.get(f"/api/v1/articles?{q}") for q in queries))
            )

    answers = asyncio.run(ask())
    assert [a.status_code for a in answers] == [200] * len(queries)
    assert len(ran_in) == len(queries)
    assert all(name.startswith("api-search") for name in ran_in), ran_in
    assert app_module._search_threads()._max_workers == app_module.SEARCH_THREADS == 40


def test_a_safe_link_is_served_from_the_record_as_is() -> None:
    """No copy of a summary whose link is safe (most of them): each copy of a frozen
    record cost as much as building it, twenty per page. Unsafe links still go."""
    base = ArticleSummary(
        id=1, feed="bbc", feed_title=None, title="t", url="https://example.org/a",
        published=datetime(2024, 11, 4, tzinfo=UTC), language="en", summary="s",
        cluster_id=None, score=1.0,
    )  # fmt: skip
    assert app_module._safe_summary(base) is base
    for unsafe in ("javascript:alert(1)", "//example.org/a", ""):
        assert app_module._safe_summary(replace(base, url=unsafe)) == replace(base, url=None)
    assert app_module._safe_summary(replace(base, url=None)).url is None
    decoded = app_module._safe_summary(replace(base, url="https://example.org/a&amp;b"))
    assert decoded == replace(base, url="https://example.org/a&b")


def test_a_feed_the_page_came_from_is_not_looked_up_again(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The names a search's filters give are checked after it (issue 17): a feed an
    # article of the page came from exists, so only the others are looked up, and a
    # failed search checks every name first, so its answer is the 404 it always was.
    lookups: list[str] = []

    def record(_c: object, _cur: object, sql: str, *_: object) -> None:
        if "FROM feeds" in sql and "feeds.name IN" in sql and "articles" not in sql:
            lookups.append(sql)

    # the search's own lookups run on the driver (store.names), a failed one's through
    # SQLAlchemy (store.lookup): both recorded
    driver_rows = DriverStatement.rows

    def rows(self: DriverStatement, conn: Any, params: dict[str, Any]) -> list[Any]:
        record(None, None, self.sql)
        return driver_rows(self, conn, params)

    monkeypatch.setattr(DriverStatement, "rows", rows)
    # every engine: on PostgreSQL the lookups run on the searches' own engine
    event.listen(Engine, "before_cursor_execute", record)
    try:
        with serve_in_thread(create_app(Archive(engine), ApiSettings())) as base:
            url = base + "/api/v1/articles"
            page = httpx.get(url, params={"q": "kursk", "feed": "bbc"}, timeout=30)
            assert page.status_code == 200
            assert page.json()["items"]
            assert {a["feed"] for a in page.json()["items"]} == {"bbc"}
            assert lookups == []
            for params, status in (
                ({"q": "kursk", "feed": ["bbc", "nosuchfeed"]}, 404),
                ({"q": '"unclosed', "feed": "nosuchfeed"}, 404),
                ({"q": '"unclosed', "feed": "bbc"}, 400),
                ({"q": "kursk", "feed": "broken"}, 200),
                ({"q": "kursk", "feed": "nosuchfeed"}, 404),  # an empty page: still a 404
                ({"q": "kursk", "feed": ["nosuchfeed", "bbc"]}, 404),
                ({"q": "moldova", "feed": ["bbc", "nosuchfeed"], "order": "date"}, 404),
                ({"feed": "nosuchfeed"}, 404),  # no words: the general statement
            ):
                lookups.clear()
                answer = httpx.get(url, params=params, timeout=30)
                assert answer.status_code == status, params
                assert len(lookups) == 1, params  # the names the page did not show
    finally:
        event.remove(Engine, "before_cursor_execute", record)
