"""Identical searches in flight share one response (api/coalesce.py), and the write
generation that decides when they may (store/engine.py), on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select, update

from aggregator.api import ApiSettings, create_app
from aggregator.api.coalesce import SharedReads
from aggregator.store import create_db_engine
from aggregator.store.archive import Archive
from aggregator.store.engine import write_generation
from aggregator.store.schema import feeds
from tests.support.archive_data import T0, ArchiveBuilder, kursk_archive, serve_in_thread

# -- the middleware alone, with an app that answers when the test says so ----------


class GatedApp:
    """An ASGI app that counts its calls and answers each once its gate opens."""

    def __init__(self, fail_first: bool = False) -> None:
        self.calls = 0
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()
        self.fail_first = fail_first

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        call = self.calls
        self.entered.set()
        await self.gate.wait()
        if self.fail_first and call == 1:
            raise RuntimeError("the first read failed")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": f"answer {call}".encode()})


def _scope(query: bytes, path: str = "/api/v1/articles", method: str = "GET") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "query_string": query}


async def _request(mw: SharedReads, scope: dict[str, Any]) -> bytes:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    await mw(scope, receive, send)
    assert sent[0]["type"] == "http.response.start"
    return b"".join(m.get("body", b"") for m in sent[1:])


async def _two(
    mw: SharedReads, app: GatedApp, first: dict[str, Any], second: dict[str, Any], between: Any
) -> tuple[bytes, bytes]:
    """``first`` is running inside the app when ``between()`` runs and ``second`` comes."""
    a = asyncio.create_task(_request(mw, first))
    await app.entered.wait()
    between()
    b = asyncio.create_task(_request(mw, second))
    for _ in range(5):  # let the second request reach its wait (or the app)
        await asyncio.sleep(0)
    app.gate.set()
    return await a, await b


def _run_two(
    first: bytes | dict[str, Any],
    second: bytes | dict[str, Any] | None = None,
    *,
    write_between: bool = False,
    fail_first: bool = False,
) -> tuple[GatedApp, SharedReads, bytes, bytes]:
    app = GatedApp(fail_first=fail_first)
    generation = [0]
    mw = SharedReads(app, lambda: generation[0])
    s1 = first if isinstance(first, dict) else _scope(first)
    s2 = s1 if second is None else second if isinstance(second, dict) else _scope(second)

    def between() -> None:
        if write_between:
            generation[0] += 1

    async def main() -> tuple[bytes, bytes]:
        if fail_first:
            a = asyncio.create_task(_request(mw, s1))
            await app.entered.wait()
            b = asyncio.create_task(_request(mw, s2))
            for _ in range(5):
                await asyncio.sleep(0)
            app.gate.set()
            with pytest.raises(RuntimeError):
                await a
            return b"", await b
        return await _two(mw, app, s1, s2, between)

    one, two = asyncio.run(main())
    return app, mw, one, two


def test_identical_searches_in_flight_share_one_response() -> None:
    app, mw, one, two = _run_two(b"q=korea")
    assert app.calls == 1
    assert one == two == b"answer 1"
    assert mw.shared == 1


def test_a_write_in_between_means_a_read_of_its_own() -> None:
    app, mw, one, two = _run_two(b"q=korea", write_between=True)
    assert app.calls == 2
    assert (one, two) == (b"answer 1", b"answer 2")
    assert mw.shared == 0


@pytest.mark.parametrize(
    "second",
    [
        _scope(b"q=korean"),  # another query
        _scope(b"q=korea", path="/api/v1/events"),  # another path
        _scope(b"q=korea", method="POST"),  # not a read
    ],
)
def test_only_the_same_search_is_shared(second: dict[str, Any]) -> None:
    app, mw, _, _ = _run_two(b"q=korea", second)
    assert app.calls == 2
    assert mw.shared == 0


@pytest.mark.parametrize(
    "query",
    [
        b"q=korea&since=3d",
        b"until=2024-11-05&q=korea",
        b"q=korea&sinc%65=3d",
        b"q=korea+troops&since=3d",  # a two-word query: the names read without a parse
        b"q=korea+troops&until",
    ],
)
def test_a_search_read_against_the_clock_is_never_shared(query: bytes) -> None:
    app, mw, _, _ = _run_two(query)
    assert app.calls == 2
    assert mw.shared == 0


def test_a_failed_first_read_leaves_the_waiting_request_to_read_alone() -> None:
    app, mw, _, two = _run_two(b"q=korea", fail_first=True)
    assert app.calls == 2
    assert two == b"answer 2"
    assert mw.shared == 0


def test_a_finished_response_is_not_reused() -> None:
    app = GatedApp()
    app.gate.set()
    mw = SharedReads(app, lambda: 0)

    async def main() -> tuple[bytes, bytes]:
        return await _request(mw, _scope(b"q=x")), await _request(mw, _scope(b"q=x"))

    assert asyncio.run(main()) == (b"answer 1", b"answer 2")
    assert app.calls == 2


# -- the write generation, on both backends ------------------------------------------


def test_the_write_generation_counts_commits_not_reads(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        generation = write_generation(engine)
        assert write_generation(engine) is generation
        before = generation.value
        with engine.connect() as conn:
            conn.execute(select(feeds.c.id)).all()
        with engine.begin() as conn:
            conn.execute(select(feeds.c.id)).all()  # a transaction that commits
        assert generation.value == before + 1
        ArchiveBuilder(engine).feed("reuters")
        assert generation.value == before + 2
        with engine.connect() as conn:
            conn.execute(update(feeds).values(title="Reuters"))
            conn.rollback()
        assert generation.value == before + 2
    finally:
        engine.dispose()


# -- through the daemon's app over HTTP, on both backends ------------------------------


@pytest.fixture
def archive_engine(database_url: str) -> Iterator[tuple[Engine, ArchiveBuilder]]:
    eng = create_db_engine(database_url)
    builder = kursk_archive(eng)
    yield eng, builder
    eng.dispose()


def test_concurrent_identical_searches_all_get_the_lone_answer(
    archive_engine: tuple[Engine, ArchiveBuilder],
) -> None:
    engine, _ = archive_engine
    app = create_app(Archive(engine), ApiSettings(topics=("korea",)))
    params = {"q": "kursk OR korea", "limit": "3"}
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        lone = client.get("/api/v1/articles", params=params)
        assert lone.status_code == 200
        assert lone.json()["items"]

        def get(_: int) -> httpx.Response:
            with httpx.Client(base_url=base, timeout=30) as own:
                return own.get("/api/v1/articles", params=params)

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(get, range(48)))
    for r in answers:
        assert r.status_code == 200
        assert r.content == lone.content
        assert r.headers["content-type"] == "application/json"
        assert r.headers["x-content-type-options"] == "nosniff"  # each its own headers


def test_a_new_article_is_found_by_the_next_search(
    archive_engine: tuple[Engine, ArchiveBuilder],
) -> None:
    engine, builder = archive_engine
    app = create_app(Archive(engine), ApiSettings(topics=("korea",)))
    params = {"q": "zaporizhzhia", "order": "date"}
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        assert client.get("/api/v1/articles", params=params).json()["items"] == []
        builder.article("bbc", "Zaporizhzhia plant loses power", published=T0 + timedelta(hours=9))
        found = client.get("/api/v1/articles", params=params).json()["items"]
        assert [a["title"] for a in found] == ["Zaporizhzhia plant loses power"]
