"""Issue 18, B-D: the API answers only to its own host names and never builds ids from
request headers; a query's cost is bounded; hostile JSON bodies are a 422 with the
reason. Over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import feedparser
import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from aggregator.api import ApiSettings, create_app
from aggregator.api.app import allowed_host_names
from aggregator.store import create_db_engine
from aggregator.store.archive import Archive
from tests.support.archive_data import kursk_archive, serve_in_thread
from tests.test_api import TOKEN, RecordingCommands


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = create_db_engine(database_url)
    kursk_archive(eng)
    yield eng
    eng.dispose()


def serve(engine: Engine, settings: ApiSettings) -> Iterator[tuple[str, RecordingCommands]]:
    commands = RecordingCommands()
    app = create_app(Archive(engine), settings, commands=commands)
    with serve_in_thread(app) as base:
        yield base, commands


@pytest.fixture
def site(engine: Engine) -> Iterator[tuple[str, RecordingCommands]]:
    settings = ApiSettings(token=TOKEN, topics=("korea",), allowed_hosts=("news.proxy.example",))
    yield from serve(engine, settings)


# -- B. the Host header -----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/articles?q=kursk", "/topics/korea.atom", "/"])
def test_unknown_host_header_is_refused(site: tuple[str, RecordingCommands], path: str) -> None:
    base, _ = site
    r = httpx.get(base + path, headers={"Host": "evil.example"}, timeout=30)
    assert r.status_code == 421
    assert "Host" in r.json()["detail"]


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST:8080", "127.0.0.1", "[::1]:80", "news.proxy.example"]
)
def test_own_host_names_are_served(site: tuple[str, RecordingCommands], host: str) -> None:
    base, _ = site
    r = httpx.get(f"{base}/api/v1/articles?q=kursk", headers={"Host": host}, timeout=30)
    assert r.status_code == 200, r.text


def test_atom_ids_never_follow_request_headers(site: tuple[str, RecordingCommands]) -> None:
    base, _ = site
    headers = {"Host": "news.proxy.example", "X-Forwarded-Proto": "https"}
    r = httpx.get(f"{base}/topics/korea.atom", headers=headers, timeout=30)
    assert r.status_code == 200
    feed = feedparser.parse(r.content)
    ids = [feed.feed.id, *(e.id for e in feed.entries)]
    assert ids
    # The address the server listens on, as without the headers.
    assert all(i.startswith(base + "/") for i in ids), ids


def test_base_url_decides_ids_and_its_host_is_allowed(engine: Engine) -> None:
    settings = ApiSettings(topics=("korea",), base_url="https://monitor.example/news")
    for base, _ in serve(engine, settings):
        r = httpx.get(f"{base}/topics/korea.atom", headers={"Host": "monitor.example"}, timeout=30)
        assert r.status_code == 200
        entry = feedparser.parse(r.content).entries[0]
        assert entry.id.startswith("https://monitor.example/news/events/")


def test_a_wildcard_bind_allows_any_address_but_no_other_name() -> None:
    hosts, any_ip = allowed_host_names(ApiSettings(host="0.0.0.0"))
    assert any_ip
    assert "localhost" in hosts
    assert "evil.example" not in hosts
    hosts, any_ip = allowed_host_names(ApiSettings(host="192.0.2.7"))
    assert not any_ip
    assert "192.0.2.7" in hosts


# -- C. a search's cost is bounded ----------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (" ".join(f"word{i}" for i in range(100)), "too many words"),
        (" ".join(["kursk"] * 142), "repeated 142 times"),
        (" OR ".join(f"k{chr(97 + i % 26)}{i}*" for i in range(50)), "prefix terms"),
        ("kursk " + " -x" * 210, "too many excluded words"),  # within the 1000 characters
    ],
)
def test_a_costly_search_is_a_400_with_the_reason(
    site: tuple[str, RecordingCommands], query: str, reason: str
) -> None:
    base, _ = site
    for path in ("/api/v1/articles", "/search.atom"):
        r = httpx.get(base + path, params={"q": query}, timeout=30)
        assert r.status_code == 400, (path, r.text[:200])
        assert reason in r.text


def test_searches_within_the_bounds_still_run(site: tuple[str, RecordingCommands]) -> None:
    base, _ = site
    query = '(kursk OR "north korean troops" OR troop*) outlet:bbc'
    r = httpx.get(f"{base}/api/v1/articles", params={"q": query}, timeout=30)
    assert r.status_code == 200
    assert r.json()["items"]


def test_a_search_past_its_deadline_is_stopped_with_a_clear_error(engine: Engine) -> None:
    from aggregator.errors import QueryError
    from aggregator.query.limits import SearchLimits

    if engine.dialect.name == "postgresql":
        # The deadline is the statement_timeout of the connections searches run on.
        archive = Archive(engine, limits=SearchLimits(timeout=2.5))
        assert archive.search("kursk").items
        with archive._searching().connect() as conn:
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "2500ms"
        with engine.connect() as conn:  # and only there: never on a write
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "0"
        # Past it, the server cancels the statement: the search's clear error.
        past = Archive(engine, limits=SearchLimits(timeout=0.2))
        with past._searching().connect() as conn, pytest.raises(DBAPIError) as caught:
            conn.exec_driver_sql("SELECT pg_sleep(1)")
        assert past._is_timeout(caught.value)
        return
    # SQLite: a deadline already past interrupts the engine at its first check.
    archive = Archive(engine, limits=SearchLimits(timeout=0.0, progress_steps=1))
    with pytest.raises(QueryError, match="took longer than 0 s"):
        archive.search("kursk OR troops OR korea*", order="date")
    # The handler is removed afterwards: the pooled connection searches normally.
    assert Archive(engine).search("kursk").items


# -- D. hostile JSON bodies -----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": NaN, "url": "https://wire.example/feed"}',
        b'{"name": "wire", "url": Infinity}',
        b'{"name": "w\\ud800ire", "url": "https://wire.example/feed"}',
        b'{"name": "wire", "url": "https://wire.example/fe\\u0000ed"}',
        b'{"name": "wire", "url": "https://wire.example/\\ud83dfeed"}',
    ],
)
def test_hostile_json_is_a_422_with_the_reason(
    site: tuple[str, RecordingCommands], body: bytes
) -> None:
    base, commands = site
    r = httpx.post(
        f"{base}/api/v1/feeds",
        content=body,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail
    assert all(d["msg"] for d in detail)
    assert commands.calls == []  # nothing reached the daemon


def test_a_search_on_a_connection_the_server_dropped_runs_again(engine: Engine) -> None:
    archive = Archive(engine)
    first = archive.search("kursk")
    assert first.items
    if engine.dialect.name == "postgresql":
        # The search connections are not pinged before use: end the pooled one's
        # backend, as a server restart would, and search again.
        with archive._searching().connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with engine.connect() as admin:
            assert admin.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})").scalar()
    assert archive.search("kursk") == first
