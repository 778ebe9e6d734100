"""What a search's trip through the web stack gives, message by message (issue 17).

The stack's per-search work was cut (a link judged by one match, the query string read
without Starlette's multidict, shared reads told from clock-bound ones without a parse):
every kind of search, its HEAD, its errors and a shared read must still get the status,
the headers (in order, the security headers once) and the body they got before, on both
backends. The reference is FastAPI's own route (``plain_searches=False``) and, for the
links, ``safety._judged``: the step-by-step rule the one-match shortcut must agree with.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from aggregator.api import ApiSettings, create_app
from aggregator.api.app import _HEADERS
from aggregator.api.safety import _judged, safe_url
from aggregator.store import create_db_engine
from aggregator.store.archive import Archive
from tests.support.archive_data import T0, kursk_archive

# Stored links of every shape the rule tells apart: plain ones (the shortcut), and ones
# it must leave to the full rule (entities, noise, other schemes, no host, brackets,
# a backslash, non-ASCII, an upper-case scheme).
LINKS = [
    "https://example.org/kursk/1?utm=rss#top",
    "HTTP://Example.org/kursk/2",
    "https://example.org/a?b=1&amp;c=2",
    "&#104;ttps://example.org/encoded",
    "java\tscript:alert(1)",
    "javascript:alert(1)",
    "https:/no-host",
    "//example.org/protocol-relative",
    "https://[::1]/bracketed",
    "https://[::1/broken-bracket",
    "https://example.org\\kursk",
    "https://bücher.example/kursk",
    " https://example.org/padded ",
    "https://example.org/kursk/%20space",
]

# One request of each kind the benchmark measures, and the answers a search can get.
TARGETS = [
    "q=kursk",  # plain
    "q=kursk+troops&feed=bbc",  # feed
    "q=kursk&feed=bbc&feed=reuters",
    "q=kursk&since=2024-11-04",  # since
    "q=kursk&lang=en",  # lang
    "q=kursk+OR+links&order=date",  # by date
    "q=links&limit=50",  # every stored link above
    "q=kursk&limit=2",  # a page with a cursor
    "q=%22unclosed",  # 400
    "q=kursk&feed=nosuchfeed",  # 404
    "q=kursk&topic=nosuchtopic",
    "q=kursk&limit=0",  # 422 (FastAPI's validation)
    "q=kursk&lang=fr&language=en",
    "q=kursk%00",  # NUL: 400 before any route
]


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = create_db_engine(database_url)
    b = kursk_archive(eng)
    for i, link in enumerate(LINKS):
        b.article(
            "reuters",
            f"Links {i}",
            f"An article about links, number {i}.",
            published=T0 + timedelta(minutes=i),
            url=link,
        )
    yield eng
    eng.dispose()


@pytest.fixture
def apps(engine: Engine) -> tuple[FastAPI, FastAPI]:
    """(the app as served, the same app with every search through FastAPI's route)."""
    archive = Archive(engine)
    settings_ = ApiSettings(topics=("korea",))
    return create_app(archive, settings_), create_app(archive, settings_, plain_searches=False)


Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


async def _ask(
    app: FastAPI, target: str, method: str = "GET", host: bytes = b"127.0.0.1"
) -> Answer:
    path, _, query = target.partition("?")
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", host + b":8080"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    return sent[0]["status"], list(sent[0]["headers"]), sent[1]["body"]


def _asked(app: FastAPI, target: str, method: str = "GET", host: bytes = b"127.0.0.1") -> Answer:
    return asyncio.run(_ask(app, target, method, host))


@pytest.mark.parametrize("target", TARGETS)
def test_each_kind_gets_the_routes_answer_and_its_head(
    apps: tuple[FastAPI, FastAPI], target: str
) -> None:
    served, route = apps
    path = "/api/v1/articles?" + target
    status, headers, body = _asked(served, path)
    assert (status, headers, body) == _asked(route, path)
    # the security headers once each, last, after what the response itself set
    assert headers[-len(_HEADERS) :] == _HEADERS
    names = [name for name, _ in headers]
    assert len(names) == len(set(names))
    assert dict(headers)[b"content-length"] == str(len(body)).encode()
    assert dict(headers)[b"content-type"] == b"application/json"
    # HEAD: GET's status and headers, no body
    assert _asked(served, path, "HEAD") == (status, headers, b"")


def test_the_targets_reach_every_answer(apps: tuple[FastAPI, FastAPI]) -> None:
    statuses = {_asked(apps[0], "/api/v1/articles?" + t)[0] for t in TARGETS}
    assert statuses == {200, 400, 404, 422}


def test_each_link_is_served_as_the_full_rule_judges_it(apps: tuple[FastAPI, FastAPI]) -> None:
    status, _, body = _asked(apps[0], "/api/v1/articles?q=links&limit=50")
    assert status == 200
    served = {item["title"]: item["url"] for item in json.loads(body)["items"]}
    expected = {f"Links {i}": _judged(link) for i, link in enumerate(LINKS)}
    assert served == expected
    # the list holds links of both outcomes, through the shortcut and past it
    assert "https://example.org/kursk/1?utm=rss#top" in served.values()
    assert "https://example.org/a?b=1&c=2" in served.values()
    assert None in served.values()


def test_a_refused_host_is_answered_with_the_security_headers(
    apps: tuple[FastAPI, FastAPI],
) -> None:
    for app in apps:
        status, headers, body = _asked(app, "/api/v1/articles?q=kursk", host=b"evil.example")
        assert status == 421
        assert headers[-len(_HEADERS) :] == _HEADERS
        assert json.loads(body)["error"] == "misdirected_request"


def test_a_shared_read_gets_the_lone_answer(apps: tuple[FastAPI, FastAPI]) -> None:
    served = apps[0]
    for target in ("q=kursk+troops&feed=bbc", "q=kursk&lang=en", "q=kursk+OR+links&order=date"):
        path = "/api/v1/articles?" + target
        alone = _asked(served, path)

        async def together(path: str = path) -> list[Answer]:
            return list(await asyncio.gather(*(_ask(served, path) for _ in range(4))))

        assert asyncio.run(together()) == [alone] * 4


# Links built from the characters that decide the rule: scheme letters of either case,
# separators, entities, noise, brackets, a backslash, non-ASCII.
_PIECES = st.sampled_from(
    ["http", "https", "HTTPS", "hTtP", "s", ":", "//", "/", "?", "#", "[", "]", "::1", "&",
     "&amp;", "&#106;", ";", "%", "%20", "\\", " ", "\t", "\x00", "\x7f", "é", "@", "a.b",
     "example.org", "x", "="]
)  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(st.lists(_PIECES, max_size=10).map("".join))
def test_the_shortcut_judges_every_link_as_the_full_rule(link: str) -> None:
    assert safe_url(link) == (_judged(link) if link else None)


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=40))
def test_the_shortcut_agrees_on_any_text(text: str) -> None:
    for link in (text, "https://" + text, "http://x" + text):
        assert safe_url(link) == (_judged(link) if link else None)
