from __future__ import annotations

import collections
import csv
import dataclasses
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import UTC, timedelta, timezone
from typing import Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, delete, event, select, text, update
from sqlalchemy.exc import DBAPIError

from aggregator.api import ApiSettings, create_app
from aggregator.errors import NotFoundError, QueryError, StorageError
from aggregator.store import archive as archive_module
from aggregator.store import create_db_engine
from aggregator.store.archive import Archive
from aggregator.store.lookup import require_event, require_feeds, require_known, require_topic
from aggregator.store.names import event_statement, feed_params, feeds_statement, topic_statement
from aggregator.store.schema import articles, feeds, metadata
from aggregator.store.search import (
    DriverStatement,
    SearchLimits,
    fts_top_statement,
    include_name,
    ts_page_statement,
)
from aggregator.store.views import ArticleSummary, Filters, article_summary, hourly, write_export
from tests.support.archive_data import T0, ArchiveBuilder, kursk_archive, serve_in_thread


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = create_db_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def archive(engine: Engine) -> Archive:
    kursk_archive(engine)
    return Archive(engine)


def titles(page_items: object) -> list[str]:
    return [a.title for a in page_items]  # type: ignore[attr-defined]


def test_migrations_agree_with_models_once_fulltext_objects_are_skipped(engine: Engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_name": include_name})
        assert compare_metadata(ctx, metadata) == []


def test_two_terms_ranked_title_first(archive: Archive) -> None:
    page = archive.search("korean troops")
    found = titles(page.items)
    assert found[0] == "North Korean troops arrive in Kursk"  # both words in the title
    assert set(found[1:]) == {"Pyongyang sends soldiers to Russia", "Kursk: what we know"}
    scores = [a.score for a in page.items]
    assert all(s is not None for s in scores)
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
    assert page.next_cursor is None


def test_phrase_prefix_and_not(archive: Archive) -> None:
    assert titles(archive.search('"korean troops"').items) == [
        "North Korean troops arrive in Kursk",
        "Pyongyang sends soldiers to Russia",
    ]
    assert len(archive.search("troop*").items) == 3  # "troupes" is not "troop..."
    assert titles(archive.search("kursk -pyongyang", order="date").items) == [
        "Kursk: what we know",
        "North Korean troops arrive in Kursk",
    ]


def test_accents_are_folded_like_the_query_language(archive: Archive) -> None:
    # "Zürich" in the text is found by "zurich", "Koursk" by "KOURSK", "coréens" by "coreens".
    assert titles(archive.search("zurich coreens KOURSK").items) == [
        "Des soldats nord-coréens à Koursk"
    ]


def test_punctuation_splits_words_like_the_query_language(archive: Archive, engine: Engine) -> None:
    ArchiveBuilder(engine, feed_ids={"bbc": 2}).article(
        "bbc", "U.S. sends F-16s", "Details at example.com: Korea's 3.5% growth, a_b."
    )
    for q in ('"u.s."', "f-16s", "example.com", "korea's", "3.5", "a_b", '"f 16s" "u s"'):
        assert titles(archive.search(q).items) == ["U.S. sends F-16s"], q


def test_index_follows_updates_and_deletes(archive: Archive, engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(articles)
            .where(articles.c.title == "Moldova votes in a tense election")
            .values(title="Moldova recount announced", text="A recount in Chisinau.")
        )
    assert archive.search("tense").items == ()
    assert titles(archive.search("chisinau").items) == ["Moldova recount announced"]
    with engine.begin() as conn:
        conn.execute(delete(articles).where(articles.c.title == "Moldova recount announced"))
    assert archive.search("chisinau").items == ()


def test_filters(archive: Archive) -> None:
    def found(q: str | None, **kw: object) -> set[str]:
        return set(titles(archive.search(q, Filters(**kw)).items))  # type: ignore[arg-type]

    assert found("kursk", feeds=("bbc",)) == {
        "Pyongyang sends soldiers to Russia",
        "Kursk: what we know",
    }
    assert found(None, topic="elections") == {"Moldova votes in a tense election"}
    assert found("kursk", topic="korea", since=T0 + timedelta(hours=2)) == {
        "Pyongyang sends soldiers to Russia",
        "Kursk: what we know",
    }
    assert found("kursk OR koursk", until=T0 + timedelta(hours=2)) == {
        "North Korean troops arrive in Kursk",
        "Des soldats nord-coréens à Koursk",
    }
    assert found(None, cluster=2) == {"Moldova votes in a tense election"}
    assert found(None, language="fr") == {"Des soldats nord-coréens à Koursk"}
    # the query language's own outlet:/lang: filters
    assert found("kursk outlet:reuters") == {"North Korean troops arrive in Kursk"}
    assert found("(koursk OR kursk) -lang:en") == {"Des soldats nord-coréens à Koursk"}
    assert found("outlet:lemonde") == {"Des soldats nord-coréens à Koursk"}


@pytest.mark.parametrize("order", ["relevance", "date"])
def test_cursor_pages_cover_everything_once(archive: Archive, order: str) -> None:
    everything = archive.search(
        None if order == "date" else "kursk OR moldova OR koursk", limit=100
    )
    seen: list[int] = []
    cursor = None
    for _ in range(10):  # a cursor that does not advance must fail, not hang
        page = archive.search(
            None if order == "date" else "kursk OR moldova OR koursk",
            order=order,  # type: ignore[arg-type]
            cursor=cursor,
            limit=2,
        )
        seen += [a.id for a in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == len(everything.items) == 5
    if order == "date":
        assert seen == [a.id for a in everything.items]


def _walk(
    archive: Archive, q: str, filters: Filters, limit: int, order: str = "relevance"
) -> list[tuple[int, float | None]]:
    out: list[tuple[int, float | None]] = []
    cursor = None
    for _ in range(50):
        page = archive.search(q, filters, order=order, cursor=cursor, limit=limit)  # type: ignore[arg-type]
        out += [(a.id, a.score) for a in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return out
    raise AssertionError("the cursor did not advance")


@pytest.mark.parametrize("limit", [1, 3, 7, 100])
def test_unfiltered_ranking_pages_equal_the_filtered_statements(engine: Engine, limit: int) -> None:
    # An unfiltered relevance search ranks inside the full-text engine before reading
    # articles; a filter that keeps everything goes through the general statement.
    # Identical bodies make ties, broken by id; title hits outrank text hits.
    build = ArchiveBuilder(engine)
    for i in range(12):
        build.article("bbc" if i % 2 else "dw", "Harbour report", "Ferry strike at the harbour.")
        build.article("dw", f"Ferry strike day {i}", "Unions and the ferry.")
        build.article("bbc", "Weather", "Rain.")
    archive = Archive(engine)
    keep_all = Filters(since=T0 - timedelta(days=3650))
    for q in ("ferry", "ferry strike", "harbour OR unions", '"ferry strike"'):
        fast = _walk(archive, q, Filters(), limit)
        assert fast == _walk(archive, q, keep_all, limit), q
        assert len(fast) == len({i for i, _ in fast}) > 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # SQLite's two steps
@pytest.mark.parametrize("limit", [1, 4, 100])
def test_filtered_pages_chosen_through_the_index_equal_one_statement(
    engine: Engine, limit: int
) -> None:
    # With a full-text match and filters (or by date), SQLite picks the page's ids
    # through the covering index, then reads those rows: every page, score and cursor
    # must be what the one general statement gives.
    build = ArchiveBuilder(engine)
    for i in range(30):
        build.article(
            ("bbc", "dw", "lemonde")[i % 3],
            "Ferry strike" if i % 4 else f"Harbour day {i}",
            "Unions and the ferry at the harbour." if i % 2 else "The ferry sailed.",
            published=T0 + timedelta(hours=i % 7),  # ties in date, broken by id
            language=(None, "en", "fr", "de")[i % 4],
            cluster=i % 5,
        )
    # What is compared here is the pages, not the deadline (tests/test_nothing_dropped_api.py
    # holds that): a loaded machine must not turn a 30-row search into "took longer than 3 s".
    roomy = SearchLimits(timeout=120.0)
    two_steps = Archive(engine, limits=roomy)
    one = Archive(engine, narrow_first=False, limits=roomy)
    since = T0 + timedelta(hours=2)
    cases: list[tuple[str, Filters]] = [
        ("ferry", Filters(since=since)),
        ("ferry", Filters(feeds=("bbc", "lemonde"), until=T0 + timedelta(hours=6))),
        ("ferry OR harbour", Filters(language="fr")),
        ("ferry", Filters(cluster=3)),
        ("ferry -lang:en", Filters()),
        ("harbour outlet:dw", Filters(since=since)),
        ('"ferry strike" OR unions', Filters(since=since, feeds=("dw",))),
    ]
    for q, filters in cases:
        for order in ("relevance", "date"):
            pages = [_walk(a, q, filters, limit, order) for a in (two_steps, one)]
            assert pages[0] == pages[1], (q, filters, order)
            assert len(pages[0]) == len({i for i, _ in pages[0]}) > 0, (q, order)


def test_lang_filters_see_every_language_including_none(archive: Archive) -> None:
    build = ArchiveBuilder(archive.engine)
    build.article("dw", "Kursk Bericht", "Soldaten in Kursk.", language="de")
    build.article("x", "Kursk note", "Kursk.", language=None)
    build.article("x", "Kursk nota", "Kursk.", language="it")

    def langs(q: str) -> set[str | None]:
        page = archive.search(q, limit=100)
        return {a.language for a in page.items}

    assert langs("kursk lang:de") == {"de"}
    assert langs("kursk (lang:it OR lang:de)") == {"de", "it"}
    assert None in langs("kursk -lang:en")
    assert "en" not in langs("kursk -lang:en")
    assert {"de", "it", "en"} <= langs("kursk -lang:fr")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # FTS5 is SQLite's
def test_hits_without_an_article_never_make_a_page(engine: Engine) -> None:
    build = ArchiveBuilder(engine)
    ids = [build.article("bbc", f"Ferry news {i}", "The ferry sailed.") for i in range(5)]
    # An index entry out of step with the table, ranked first ("ferry" in its title
    # three times): the page must still be five real articles, best first.
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO articles_fts(rowid, title, text) "
                "VALUES (999, 'Ferry ferry ferry', 'ferry')"
            )
        )
    page = Archive(engine).search("ferry", limit=5)
    assert sorted(a.id for a in page.items) == ids
    assert page.next_cursor is None


def test_bad_cursor_and_unrunnable_queries_are_query_errors(archive: Archive) -> None:
    page = archive.search("kursk", limit=1)
    assert page.next_cursor is not None
    with pytest.raises(QueryError, match="another query"):
        archive.search("troops", cursor=page.next_cursor)
    with pytest.raises(QueryError, match="invalid cursor"):
        archive.search("kursk", cursor="!!not-a-cursor")
    with pytest.raises(QueryError):
        archive.search("NOT kursk")
    with pytest.raises(QueryError):
        archive.search('kursk AND ("unclosed')


def test_events_of_a_topic_with_timelines(archive: Archive) -> None:
    events = archive.events(topic="korea")
    assert [e.id for e in events] == [1]
    timeline = events[0].timeline
    assert [h.count for h in timeline] == [1, 1, 1, 1]
    assert timeline[0].hour == T0
    # all events, newest first, merged ones hidden
    assert [e.id for e in archive.events()] == [2, 1]


def test_a_match_on_a_merged_cluster_shows_its_heir(archive: Archive, engine: Engine) -> None:
    b = ArchiveBuilder(engine, feed_ids={"bbc": 2})
    aid = b.article("bbc", "Late report", cluster=3)
    b.match(aid, "late", 3)
    assert [e.id for e in archive.events(topic="late")] == [1]


def test_event_detail_groups_by_outlet_and_follows_merges(archive: Archive) -> None:
    detail = archive.event(3)
    assert detail is not None
    assert detail.event.id == 1
    assert [g.feed for g in detail.outlets] == ["reuters", "lemonde", "bbc"]
    assert [len(g.articles) for g in detail.outlets] == [1, 1, 2]
    assert sum(h.count for h in detail.event.timeline) == 4
    assert detail.absorbed == (3,)
    assert archive.event(999) is None


def test_event_detail_lists_events_merged_in_through_a_chain(
    archive: Archive, engine: Engine
) -> None:
    b = ArchiveBuilder(engine, feed_ids={"bbc": 2})
    b.cluster(4, "Absorbed by the absorbed one", status="merged", merged_into=3)
    b.cluster(5, "Absorbed directly", status="merged", merged_into=1)
    detail = archive.event(4)
    assert detail is not None
    assert detail.event.id == 1
    assert detail.absorbed == (3, 4, 5)
    moldova = archive.event(2)
    assert moldova is not None
    assert moldova.absorbed == ()


def test_topics_feeds_alerts(archive: Archive) -> None:
    topics = {t.name: t for t in archive.topics(configured=["korea", "quiet"])}
    assert topics["korea"].match_count == 3
    assert topics["korea"].event_count == 1
    assert topics["quiet"].match_count == 0
    assert [m.article.feed for m in archive.topic_matches("korea")] == ["bbc", "bbc", "reuters"]
    feeds = {f.name: f for f in archive.feeds(polls_per_feed=5)}
    assert feeds["broken"].state == "broken"
    assert feeds["broken"].recent_polls[0].outcome == "failed"
    assert feeds["bbc"].article_count == 2
    assert archive.feed_state_counts() == {"active": 3, "broken": 1}
    assert {a.id: a.status for a in archive.alerts()} == {
        "a1": "sent",
        "a2": "pending",
        "a3": "dead",
    }
    assert [a.id for a in archive.alerts(status="dead")] == ["a3"]
    assert archive.outbox_depth() == 1


def test_export_streams_jsonl_and_csv(archive: Archive) -> None:
    out = io.StringIO()
    assert write_export(archive.export(Filters(feeds=("bbc",))), "jsonl", out) == 2
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["title"] for r in rows] == [
        "Pyongyang sends soldiers to Russia",
        "Kursk: what we know",
    ]
    assert rows[0]["published"].startswith("2024-11-04T08:00:00")
    out = io.StringIO()
    assert write_export(archive.export(query_text="moldova"), "csv", out) == 1
    parsed = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert parsed[0]["feed"] == "reuters"
    assert parsed[0]["title"] == "Moldova votes in a tense election"


def test_hourly_keeps_empty_hours() -> None:
    times = [T0, T0 + timedelta(minutes=30), T0 + timedelta(hours=3, minutes=5)]
    assert [h.count for h in hourly(times, T0)] == [2, 0, 0, 1]
    assert hourly([], T0) == ()


def test_every_public_method_turns_database_errors_into_storage_errors(tmp_path: object) -> None:
    # An empty database without tables: every query fails inside the engine.
    engine = create_engine(f"sqlite:///{tmp_path}/empty.db")  # type: ignore[str-bytes-safe]
    with engine.begin() as conn:
        conn.execute(text("SELECT 1"))
    archive = Archive(engine)
    calls = {
        "search": lambda: archive.search("kursk"),
        "search_date": lambda: archive.search(None),
        "export": lambda: list(archive.export()),
        "article": lambda: archive.article(1),
        "events": lambda: archive.events(),
        "event": lambda: archive.event(1),
        "topics": lambda: archive.topics(),
        "topic_matches": lambda: archive.topic_matches("x"),
        "feeds": lambda: archive.feeds(),
        "alerts": lambda: archive.alerts(),
        "feed_state_counts": lambda: archive.feed_state_counts(),
        "outbox_depth": lambda: archive.outbox_depth(),
        "event_page": lambda: archive.event_page(),
        "event_overview": lambda: archive.event_overview(1),
        "event_articles": lambda: archive.event_articles(1),
        "feed_page": lambda: archive.feed_page(),
        "delivery_stats": lambda: archive.delivery_stats(),
        "alert_page": lambda: archive.alert_page(),
    }
    public = {
        name
        for name in dir(Archive)
        if not name.startswith("_") and callable(getattr(Archive, name))
    } - {"plan", "ping", "lookup_engine"}
    assert public <= {n.removesuffix("_date") for n in calls}
    # lookup_engine reads no table: checked to answer, not to fail
    assert archive.lookup_engine() is engine  # SQLite's searches run on the engine itself
    for name, call in calls.items():
        with pytest.raises(StorageError, match=name.removesuffix("_date")):
            call()
    engine.dispose()


# --------------------------------------------------------------------------------------
# QA of the archive side: inputs at the edges, on both backends, over real HTTP.
# --------------------------------------------------------------------------------------


ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def kursk_engine(database_url: str) -> Iterator[Engine]:
    eng = create_db_engine(database_url)
    kursk_archive(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def client(kursk_engine: Engine) -> Iterator[httpx.Client]:
    # The odd name is configured: an unknown topic's feed is a 404 (issue 16).
    app = create_app(Archive(kursk_engine), ApiSettings(topics=("korea", "\x01a b?c#d")))
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        yield c


def test_many_excluded_words_run_on_both_backends(kursk_engine: Engine) -> None:
    # SQLite used to nest one level per excluded word, `((kursk NOT w0) NOT w1) ...`,
    # and FTS5's parser stack overflowed near a hundred: a 400 where PostgreSQL answers.
    query = "kursk " + " ".join(f"-w{i}" for i in range(120)) + " -moldova"
    page = Archive(kursk_engine).search(query, limit=50)
    assert sorted(a.id for a in page.items) == [1, 2, 3]
    excluding = Archive(kursk_engine).search(query + " -pyongyang", limit=50)
    assert sorted(a.id for a in excluding.items) == [1, 3]


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/api/v1/articles", "since"),
        ("/api/v1/articles", "until"),
        ("/api/v1/events", "before"),
    ],
)
@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_times_out_of_range_in_utc_are_client_errors(
    client: httpx.Client, path: str, param: str, value: str
) -> None:
    # Valid ISO times whose UTC instant falls in year 0 or 10000: converting them
    # raised OverflowError, a 500.
    r = client.get(path, params={param: value})
    assert r.status_code == 422
    assert param in r.json()["detail"]


def test_topic_atom_is_well_formed_whatever_the_name_in_the_path(client: httpx.Client) -> None:
    # The name comes from the request path: a control character in it went raw into
    # the href attributes (XML 1.0 cannot carry it), and a space, '?' or '#' made
    # links pointing elsewhere.
    r = client.get("/topics/%01a%20b%3Fc%23d.atom")
    assert r.status_code == 200
    root = ET.fromstring(r.content)
    links = {link.get("rel"): link.get("href") for link in root.iter(f"{ATOM}link")}
    base = str(client.base_url).rstrip("/")
    assert links["self"] == f"{base}/topics/%01a%20b%3Fc%23d.atom"
    assert links["alternate"] == f"{base}/topics/%01a%20b%3Fc%23d"
    assert root.findtext(f"{ATOM}id") == f"{base}/topics/%01a%20b%3Fc%23d"
    assert root.findtext(f"{ATOM}title") == "News monitor: a b?c#d"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the driver path is SQLite's
def test_the_ranked_statement_on_the_driver_returns_what_sqlalchemy_returns(
    engine: Engine,
) -> None:
    # The API's ranked search runs fts_top_statement on the DB-API cursor (issue 17):
    # every row, every value and its type must be what Connection.execute gives.
    _driver_archive(engine)
    for with_cursor in (False, True):
        stmt = fts_top_statement(with_cursor)
        driver = DriverStatement(stmt, engine.dialect)
        for match, k, key in [
            ("ferry", 30, 5.0),
            ("harbour OR unions", 4, 1.0),
            ("nothing", 3, 0.0),
        ]:
            params = {"fts_match": match, "k": k}
            if with_cursor:
                params |= {"after_key": key, "after_id": 20}
            with engine.connect() as conn:
                expected = [tuple(r) for r in conn.execute(stmt, params)]
                got = driver.rows(conn, params)
            assert [tuple(r) for r in got] == expected, (match, with_cursor)
            assert [[type(v) for v in r] for r in got] == [[type(v) for v in r] for r in expected]
            assert [r._fields for r in got[:1]] == [tuple(stmt.selected_columns.keys())][: len(got)]
            if match == "ferry" and not with_cursor:
                assert len(got) == 25
                assert all(r.published.tzinfo is UTC for r in got)
    # A driver error leaves as SQLAlchemy's own would (the search makes it a QueryError)
    stmt, bad = fts_top_statement(False), {"fts_match": '"unclosed', "k": 3}
    with engine.connect() as conn, pytest.raises(DBAPIError) as expected_error:
        conn.execute(stmt, bad)
    with engine.connect() as conn, pytest.raises(DBAPIError) as got_error:
        DriverStatement(stmt, engine.dialect).rows(conn, bad)
    assert type(got_error.value) is type(expected_error.value)
    assert str(got_error.value.orig) == str(expected_error.value.orig) == "unterminated string"


def _driver_archive(engine: Engine) -> None:
    build = ArchiveBuilder(engine)
    for i in range(25):
        build.article(
            ("bbc", "dw", "lemonde")[i % 3],
            "Ferry strike" if i % 4 else f"Harbour day {i}",
            "Unions and the ferry at the harbour." if i % 2 else "The ferry sailed.",
            published=T0 + timedelta(hours=i % 7, microseconds=i),
            language=(None, "en", "fr")[i % 3],
            cluster=i % 5,
            url=None if i % 6 == 0 else f"https://example.org/{i}",
        )


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_postgresql_page_on_the_driver_returns_what_sqlalchemy_returns(
    engine: Engine,
) -> None:
    # The API's searches with no filter run ts_page_statement on psycopg's cursor
    # (issue 17): every row, value and type must be what Connection.execute gives.
    _driver_archive(engine)
    archive = Archive(engine)
    ferry, either = archive.plan("ferry").match, archive.plan("harbour OR unions").match
    for order in ("relevance", "date"):
        for with_cursor in (False, True):
            stmt = ts_page_statement(order, with_cursor)  # type: ignore[arg-type]
            driver = DriverStatement(stmt, engine.dialect)
            key = T0 + timedelta(hours=4) if order == "date" else 0.05
            for match, k in [(ferry, 30), (either, 4), (archive.plan("nothing").match, 3)]:
                params = {"ts_match": match, "k": k}
                if with_cursor:
                    params |= {"after_key": key, "after_id": 20}
                with archive._searching().connect() as conn:
                    expected = [tuple(r) for r in conn.execute(stmt, params)]
                    got = driver.rows(conn, params)
                assert [tuple(r) for r in got] == expected, (match, order, with_cursor)
                types = [[type(v) for v in r] for r in got]
                assert types == [[type(v) for v in r] for r in expected]
                if match == ferry and not with_cursor:
                    assert len(got) == 25
                    assert all(r.published.tzinfo is not None for r in got)
                    assert all(type(r.score) is float for r in got)
    stmt, bad = ts_page_statement("relevance", False), {"ts_match": "ferry &", "k": 3}
    with archive._searching().connect() as conn, pytest.raises(DBAPIError) as expected_error:
        conn.execute(stmt, bad)
    with archive._searching().connect() as conn, pytest.raises(DBAPIError) as got_error:
        DriverStatement(stmt, engine.dialect).rows(conn, bad)
    assert type(got_error.value) is type(expected_error.value)
    assert str(got_error.value.orig) == str(expected_error.value.orig)


def test_searches_without_filters_page_as_the_general_statement_does(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pages of the driver statements (SQLite both orders, PostgreSQL both orders)
    # are those of the general statement, cursors included, page after page: the
    # general path's two steps (SQLite) and its one statement alike.
    _driver_archive(engine)
    archive = Archive(engine)

    def pages(query: str, order: str) -> list[object]:
        out: list[object] = []
        cursor = None
        while True:
            page = archive.search(query, order=order, cursor=cursor, limit=4)  # type: ignore[arg-type]
            out.append(page)
            if page.next_cursor is None:
                return out
            cursor = page.next_cursor

    cases = [
        (q, o) for q in ("ferry", "harbour OR unions", "nothing") for o in ("relevance", "date")
    ]
    fast = {case: pages(*case) for case in cases}
    assert len(fast["ferry", "relevance"]) == 7  # 25 articles, 4 a page
    monkeypatch.setattr(Archive, "_ts_only", lambda *_: None)
    monkeypatch.setattr(Archive, "_fts_only", lambda *_: None)
    monkeypatch.setattr(Archive, "_fts_date_only", lambda *_: None)
    assert {case: pages(*case) for case in cases} == fast
    archive = Archive(engine, narrow_first=False)
    assert {case: pages(*case) for case in cases} == fast


def _record_sent(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[tuple[str, tuple[object, ...], bool]], Callable[..., None]]:
    """Every statement sent from now on, as (sql, values, on the driver): SQLAlchemy's
    executions and the archive's DriverStatement rows alike, in order; and the engine's
    listener, for ``event.remove`` when only the driver's are to be recorded."""
    sent: list[tuple[str, tuple[object, ...], bool]] = []

    def record(_c: object, _cur: object, sql: str, values: object, *_: object) -> None:
        sent.append((sql, tuple(values), False))  # type: ignore[call-overload]

    driver_rows = DriverStatement.rows

    def rows(self: DriverStatement, conn: object, params: dict[str, object]) -> list[object]:
        sent.append((self.sql, tuple(self.arguments(params)), True))
        return driver_rows(self, conn, params)  # type: ignore[arg-type]

    monkeypatch.setattr(DriverStatement, "rows", rows)
    event.listen(engine, "before_cursor_execute", record)
    return sent, record


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the driver path is SQLite's
def test_the_date_ordered_search_sends_the_general_statements_on_the_driver(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite's newest-first search with words and no filter runs fts_date_statement and
    # rows_by_id_statement on the DB-API cursor (issue 17): the SQL text and the values
    # sent must be the general path's (its two steps), page after page, so the plan and
    # the page are too.
    _driver_archive(engine)
    archive = Archive(engine)
    sent, record = _record_sent(engine, monkeypatch)

    def walk(query: str) -> list[tuple[str, tuple[object, ...], bool]]:
        sent.clear()
        cursor = None
        while True:
            page = archive.search(query, order="date", cursor=cursor, limit=4)
            cursor = page.next_cursor
            if cursor is None:
                return list(sent)

    queries = ("ferry", "harbour OR unions", "nothing")
    fast = {q: walk(q) for q in queries}
    assert len(fast["ferry"]) == 7 * 2  # 25 articles, 4 a page, two steps a page
    assert all(on_driver for q in queries for _, _, on_driver in fast[q])
    monkeypatch.setattr(Archive, "_fts_date_only", lambda *_: None)
    general = {q: walk(q) for q in queries}
    event.remove(engine, "before_cursor_execute", record)
    # the general path's first step goes through Connection.execute
    assert [on for _, _, on in general["ferry"]] == [False, True] * 7
    assert {q: [s[:2] for s in fast[q]] for q in queries} == {
        q: [s[:2] for s in general[q]] for q in queries
    }


_FILTERED = [
    Filters(feeds=("bbc",)),
    Filters(feeds=("bbc", "lemonde")),
    Filters(feeds=("bbc", "dw", "lemonde")),  # three names, padded to four
    Filters(feeds=("dw", "dw")),
    Filters(feeds=(*(f"other{i}" for i in range(9)), "bbc")),  # past the driver's 8
    Filters(language="fr"),
    # at an article's own time (article 2, article 5): >= and < at their edges
    Filters(since=T0 + timedelta(hours=2, microseconds=2)),
    Filters(until=T0 + timedelta(hours=5, microseconds=5)),
    Filters(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=6), feeds=("dw",)),
    Filters(cluster=3),
    Filters(topic="strikes"),
    Filters(topic="strikes", language="en", feeds=("bbc", "dw")),
    Filters(topic="nothing-matched"),
]


def _filtered_archive(engine: Engine) -> None:
    _driver_archive(engine)
    build = ArchiveBuilder(engine)
    with engine.connect() as conn:
        ids = [row[0] for row in conn.execute(text("SELECT id FROM articles ORDER BY id"))]
    for article_id in ids[::3]:
        build.match(article_id, "strikes", None)


def test_filtered_searches_on_the_driver_page_as_the_general_statement_does(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Words with filters (topic, feeds, cluster, language, since, until) run
    # filtered_statement on the driver, compiled once per shape (issue 17): every page,
    # score and cursor must be the general statement's, page after page, by relevance
    # and by date, on both backends (SQLite: its two steps and its one statement).
    _filtered_archive(engine)
    roomy = SearchLimits(timeout=120.0)  # pages compared here, not the deadline
    queries = ("ferry", "harbour OR unions", '"ferry strike"', "nothing")
    cases = [(q, f, o) for q in queries for f in _FILTERED for o in ("relevance", "date")]

    def walks(archive: Archive, limit: int) -> dict[object, object]:
        return {(q, f, o, limit): _walk(archive, q, f, limit, o) for q, f, o in cases}

    sent: list[str] = []
    driver_rows = DriverStatement.rows

    def rows(self: DriverStatement, conn: object, params: dict[str, object]) -> list[object]:
        sent.append(self.sql)
        return driver_rows(self, conn, params)  # type: ignore[arg-type]

    monkeypatch.setattr(DriverStatement, "rows", rows)
    fast = {
        k: v
        for limit in (1, 4, 100)
        for k, v in walks(Archive(engine, limits=roomy), limit).items()
    }
    assert sent  # the driver path was taken
    assert sum(1 for v in fast.values() if v) > len(fast) // 2  # most cases find something
    monkeypatch.setattr(Archive, "_words_filtered", lambda *_: None)
    sent.clear()
    general = {
        k: v
        for limit in (1, 4, 100)
        for k, v in walks(Archive(engine, limits=roomy), limit).items()
    }
    assert general == fast
    one = Archive(engine, narrow_first=False, limits=roomy)
    assert {k: v for limit in (1, 4, 100) for k, v in walks(one, limit).items()} == fast


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # qmark: the SQL shows
def test_the_filtered_search_sends_the_general_statements_on_the_driver(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SQL text and the values sent on the driver for words with filters must be the
    # general path's two steps, page after page (so the plan is too), wherever no feed
    # list is padded (one, two or four names: the general path sends each name once).
    _filtered_archive(engine)
    archive = Archive(engine)
    sent, record = _record_sent(engine, monkeypatch)
    unpadded = [f for f in _FILTERED if len(f.feeds) in (0, 1, 2, 4)]

    def walk(
        query: str, filters: Filters, order: str
    ) -> list[tuple[str, tuple[object, ...], bool]]:
        sent.clear()
        cursor = None
        while True:
            page = archive.search(query, filters, order=order, cursor=cursor, limit=3)  # type: ignore[arg-type]
            cursor = page.next_cursor
            if cursor is None:
                return list(sent)

    cases = [
        (q, f, o)
        for q in ("ferry", "harbour OR unions")
        for f in unpadded
        for o in ("relevance", "date")
    ]
    fast = {case: walk(*case) for case in cases}
    monkeypatch.setattr(Archive, "_words_filtered", lambda *_: None)
    general = {case: walk(*case) for case in cases}
    event.remove(engine, "before_cursor_execute", record)
    assert all(on for found in fast.values() for _, _, on in found)
    assert sum(len(found) for found in fast.values()) > 2 * len(cases)
    assert {c: [s[:2] for s in fast[c]] for c in cases} == {
        c: [s[:2] for s in general[c]] for c in cases
    }


def test_the_statements_kept_for_the_driver_stay_bounded(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each shape of filters is a statement of its own: requests asking many shapes must
    # not grow the archive's statements without end, and the searches stay right.
    _filtered_archive(engine)
    monkeypatch.setattr(archive_module, "DRIVER_STATEMENTS", 3)
    bounded = Archive(engine)
    for filters in _FILTERED:
        for order in ("relevance", "date"):
            expected = _walk(Archive(engine), "ferry", filters, 4, order)
            assert _walk(bounded, "ferry", filters, 4, order) == expected, (filters, order)
            assert len(bounded._driver_statements) <= 3


def test_a_search_checks_the_names_its_filters_give_on_its_own_connection(
    archive: Archive, engine: Engine
) -> None:
    # The API's searches check their topic, feeds and event themselves (issue 17): an
    # unknown one is a NotFoundError whether the page is empty or not, in the order
    # store.lookup checks them (topic, feeds, event), on the search's one connection.
    checkouts: list[object] = []
    searching = archive._searching()
    event.listen(searching.pool, "checkout", lambda *a: checkouts.append(a))

    def search(filters: Filters, topics: tuple[str, ...] = ("quiet",), **kw: Any) -> object:
        checkouts.clear()
        try:
            page = archive.search("kursk", filters, configured_topics=topics, **kw)
        except NotFoundError as exc:
            assert len(checkouts) == 1, filters
            return (exc.kind, exc.name)
        assert len(checkouts) == 1, filters
        return len(page.items)

    assert search(Filters(feeds=("nosuchfeed",))) == ("feed", "nosuchfeed")  # empty page
    assert search(Filters(feeds=("bbc", "nosuchfeed"))) == ("feed", "nosuchfeed")
    assert search(Filters(feeds=("nosuchfeed", "bbc")), order="date") == ("feed", "nosuchfeed")
    assert search(Filters(feeds=("bbc", "zz", "yy"))) == ("feed", "zz")  # the first unknown
    assert search(Filters(feeds=("bbc",))) == 2
    assert search(Filters(feeds=("broken",))) == 0  # known, nothing from it
    assert search(Filters(feeds=("broken", "bbc", "lemonde"))) == 2  # Le Monde's "Koursk"
    assert search(Filters(topic="nosuchtopic")) == ("topic", "nosuchtopic")
    assert search(Filters(topic="quiet")) == 0  # configured, never matched
    assert search(Filters(topic="korea"), topics=()) == 3  # has matches
    assert search(Filters(topic="elections"), topics=()) == 0  # matches, none of kursk
    assert search(Filters(topic="nosuchtopic", feeds=("zz",))) == ("topic", "nosuchtopic")
    assert search(Filters(feeds=("zz",), cluster=999)) == ("feed", "zz")
    assert search(Filters(cluster=999)) == ("event", 999)
    assert search(Filters(cluster=1)) == 3
    assert search(Filters(cluster=3)) == 0  # a merged id is known
    assert search(Filters(cluster=2)) == 0
    assert search(Filters(feeds=("bbc",), language="fr")) == 0
    # no words: the general statement, the same checks
    checkouts.clear()
    with pytest.raises(NotFoundError):
        archive.search(None, Filters(feeds=("nosuchfeed",)), configured_topics=())
    assert len(checkouts) == 1
    # without configured_topics nothing is checked (the CLI checks before it searches)
    assert archive.search("kursk", Filters(feeds=("nosuchfeed",), cluster=999)).items == ()
    # nothing kept between searches: a feed row another process adds, removes or renames
    assert search(Filters(feeds=("newfeed",))) == ("feed", "newfeed")
    with engine.begin() as conn:
        conn.execute(update(feeds).where(feeds.c.name == "broken").values(name="newfeed"))
        conn.execute(update(feeds).where(feeds.c.name == "bbc").values(state="removed"))
    assert search(Filters(feeds=("newfeed",))) == 0
    assert search(Filters(feeds=("broken",))) == ("feed", "broken")
    assert search(Filters(feeds=("bbc",), cluster=2)) == 0  # a removed feed is still known


def test_the_name_statements_on_the_driver_return_what_sqlalchemy_returns(
    archive: Archive, engine: Engine
) -> None:
    # The search's own name checks run store.names' statements on the driver: every
    # row and value must be what Connection.execute gives, on both backends.
    cases: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = [
        (topic_statement, (), {"topic": "korea"}),
        (topic_statement, (), {"topic": "nosuchtopic"}),
        (event_statement, (), {"cluster": 1}),
        (event_statement, (), {"cluster": 3}),
        (event_statement, (), {"cluster": 999}),
    ]
    for names in (["bbc"], ["nosuchfeed"], ["bbc", "zz", "broken"], ["lemonde", "bbc"] * 3):
        size, params = feed_params(names)
        cases.append((feeds_statement, (size,), params))
    found = 0
    with archive._searching().connect() as conn:
        for build, args, params in cases:
            stmt = build(*args)
            expected = [tuple(r) for r in conn.execute(stmt, params)]
            got = [tuple(r) for r in DriverStatement(stmt, engine.dialect).rows(conn, params)]
            assert got == expected, (build, params)
            assert [[type(v) for v in r] for r in got] == [[type(v) for v in r] for r in expected]
            found += len(got)
    assert found == 1 + 2 + 1 + 2 + 2  # korea; events 1 and 3; bbc; bbc and broken; two
    assert feed_params(["bbc", "zz", "broken"]) == (
        4,
        {"feed_0": "bbc", "feed_1": "broken", "feed_2": "zz", "feed_3": "zz"},
    )


def test_the_cli_checks_names_as_the_search_does(archive: Archive, engine: Engine) -> None:
    # store.lookup (the CLI, the pages, a failed API search) runs the same statements
    # and the same rule as the search's own check, through SQLAlchemy.
    cases = [
        (Filters(feeds=("nosuchfeed",)), ("feed", "nosuchfeed")),
        (Filters(feeds=("bbc", "zz", "yy")), ("feed", "zz")),
        (Filters(feeds=("broken", "bbc")), None),
        (Filters(topic="nosuchtopic", feeds=("zz",)), ("topic", "nosuchtopic")),
        (Filters(topic="quiet", cluster=999), ("event", 999)),
        (Filters(topic="korea", cluster=3), None),
    ]

    def outcome(check: Callable[[], object]) -> tuple[str, str | int] | None:
        try:
            check()
        except NotFoundError as exc:
            return (exc.kind, exc.name)
        return None

    for filters, expected in cases:
        assert outcome(lambda f=filters: require_known(engine, f, ("quiet",))) == expected
        searched = outcome(
            lambda f=filters: archive.search("kursk", f, configured_topics=("quiet",))
        )
        assert searched == expected, filters
    require_known(engine, Filters(feeds=("bbc", "zz")), (), known_feeds=("zz",))
    with pytest.raises(NotFoundError, match="zz"):
        require_feeds(engine, ["bbc", "zz"])
    require_topic(engine, "elections", ())
    require_event(engine, 3)


def test_a_summary_takes_each_field_from_its_column() -> None:
    # article_summary passes its values by position (cheaper): each must land in the
    # field of its own name.
    fields = [f.name for f in dataclasses.fields(ArticleSummary)]
    row = collections.namedtuple("Row", fields[:-1])(*(f"v_{name}" for name in fields[:-1]))
    summary = article_summary(row, 0.5)
    assert {name: getattr(summary, name) for name in fields} == {
        **{name: f"v_{name}" for name in fields[:-1]},
        "score": 0.5,
    }


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_search_connections_are_not_reset_and_stay_usable(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The search engine's sessions are in autocommit: the pool does not roll them back
    # at check-in (a call that did nothing). A search after a failed one, a timed-out
    # one or a name check that failed runs on them as before.
    searching = archive._searching()
    assert len(archive.search("kursk").items) == 3  # connected (the dialect's first rollback)
    rollbacks: list[object] = []
    monkeypatch.setattr(searching.dialect, "do_rollback", lambda c: rollbacks.append(c))
    with searching.connect() as conn:
        assert conn.connection.driver_connection.autocommit  # type: ignore[union-attr]
    assert titles(archive.search("kursk", Filters(feeds=("bbc",)), configured_topics=()).items)
    with pytest.raises(QueryError):
        archive.search("kursk", cursor="garbage")
    with pytest.raises(NotFoundError):
        archive.search("kursk", Filters(feeds=("zz",)), configured_topics=())
    slow = Archive(archive.engine, limits=SearchLimits(timeout=0.05))
    with slow._searching().connect() as conn, pytest.raises(DBAPIError):
        conn.exec_driver_sql("SELECT pg_sleep(0.5)")
    assert len(archive.search("kursk").items) == 3
    assert rollbacks == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_search_sessions_read_times_in_utc_as_the_daemons_engine_does(
    archive: Archive, engine: Engine
) -> None:
    # The search sessions run with TimeZone UTC (cheaper conversions): the times a page
    # shows, and which articles a time filter keeps, are the daemon engine's own.
    with archive._searching().connect() as conn:
        assert conn.exec_driver_sql("SHOW TimeZone").scalar() == "UTC"
    with engine.connect() as conn:
        published = dict(conn.execute(select(articles.c.id, articles.c.published)).all())
    everything = archive.search("kursk OR moldova", limit=50).items
    assert len(everything) == 4
    for item in everything:
        assert item.published == published[item.id]
        assert item.published.tzinfo is UTC
    east = timezone(timedelta(hours=5))
    for hours in (0, 2, 3, 5):
        since = (T0 + timedelta(hours=hours)).astimezone(east)
        for order in ("relevance", "date"):
            page = archive.search(
                "kursk OR moldova",
                Filters(since=since),
                order=order,
                limit=50,  # type: ignore[arg-type]
            )
            assert {a.id for a in page.items} == {
                a.id for a in everything if published[a.id] >= since
            }, (hours, order)
            assert all(a.published.tzinfo is UTC for a in page.items)
