"""Tests for the local test server (tests/support/httpserver.py) and the fetcher."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.support.httpserver import LocalServer, Response


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        yield srv


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# -- the test server itself ------------------------------------------------------------


def test_server_static_route_answers_304_on_matching_validators(server: LocalServer) -> None:
    resp = server.static("/feed", b"<rss/>", content_type="application/rss+xml")
    assert resp.etag is not None
    assert resp.last_modified is not None
    assert _get(server.url("/feed")) == (200, b"<rss/>")
    assert _get(server.url("/feed"), {"If-None-Match": resp.etag})[0] == 304
    assert _get(server.url("/feed"), {"If-Modified-Since": resp.last_modified})[0] == 304
    assert _get(server.url("/feed"), {"If-None-Match": '"other"'})[0] == 200
    # Publishing a new version changes the ETag, so the old one no longer matches.
    server.static("/feed", b"<rss>2</rss>", content_type="application/rss+xml")
    assert _get(server.url("/feed"), {"If-None-Match": resp.etag}) == (200, b"<rss>2</rss>")


def test_server_records_requests_and_runs_handlers(server: LocalServer) -> None:
    server.route("/ua", lambda req: Response(body=(req.header("User-Agent") or "").encode()))
    status, body = _get(server.url("/ua?x=1"), {"User-Agent": "probe/1"})
    assert (status, body) == (200, b"probe/1")
    assert _get(server.url("/missing"))[0] == 404
    recorded = server.requests
    assert [(r.method, r.path, r.query) for r in recorded] == [
        ("GET", "/ua", "x=1"),
        ("GET", "/missing", ""),
    ]
    assert recorded[0].header("user-agent") == "probe/1"
    assert recorded[0].query_params == [("x", "1")]


def test_server_reports_broken_handlers_as_500(server: LocalServer) -> None:
    def broken(_: object) -> Response:
        raise RuntimeError("boom")

    server.route("/broken", broken)
    assert _get(server.url("/broken"))[0] == 500
    assert len(server.errors) == 1
