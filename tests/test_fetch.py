"""Tests for the local test server (tests/support/httpserver.py) and the fetcher."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import itertools
import socket
import threading
import time
import tracemalloc
import urllib.error
import urllib.request
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType

import httpx
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from aggregator.compose import user_agent
from aggregator.errors import (
    BlockedAddress,
    BodyTooLarge,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    NetworkError,
    TooManyRedirects,
)
from aggregator.models import FetchRequest, FetchResult, FetchSettings
from aggregator.poll.decompress import BodyReader
from aggregator.poll.fetch import (
    Fetcher,
    HostBackingOff,
    is_public_address,
    parse_retry_after,
)
from aggregator.store import FeedSpec, Store
from aggregator.store.archive import Archive
from tests.support.httpserver import LocalServer, RecordedRequest, Response, http_date
from tests.support.poller import local_poller

FEEDS = Path(__file__).parent / "data" / "feeds"


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


def test_server_wait_for_requests_and_post_bodies(server: LocalServer) -> None:
    server.route("/hook", Response(status=204))
    assert not server.wait_for_requests(1, "/hook", timeout=0.05)

    def post() -> None:
        req = urllib.request.Request(server.url("/hook"), data=b'{"a": 1}', method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 204

    sender = threading.Thread(target=post)
    sender.start()
    assert server.wait_for_requests(1, "/hook", timeout=10)
    sender.join()
    (hook,) = server.requests_for("/hook")
    assert (hook.method, hook.body) == ("POST", b'{"a": 1}')


def test_server_reports_broken_handlers_as_500(server: LocalServer) -> None:
    def broken(_: object) -> Response:
        raise RuntimeError("boom")

    server.route("/broken", broken)
    assert _get(server.url("/broken"))[0] == 500
    assert len(server.errors) == 1


def test_server_serves_a_directory_with_validators(server: LocalServer) -> None:
    server.directory("/feeds", FEEDS)
    status, body = _get(server.url("/feeds/rss20.xml"))
    assert (status, body) == (200, (FEEDS / "rss20.xml").read_bytes())
    (req,) = server.requests
    assert req.path == "/feeds/rss20.xml"
    with urllib.request.urlopen(server.url("/feeds/atom10.xml"), timeout=10) as resp:
        etag = resp.headers["ETag"]
        assert resp.headers["Content-Type"] == "application/xml"
    assert _get(server.url("/feeds/atom10.xml"), {"If-None-Match": etag})[0] == 304


# -- the fetcher -------------------------------------------------------------------------

UA = "aggregator-test/0.1 (+https://example.org/aggregator)"


def settings(**overrides: object) -> FetchSettings:
    base: dict[str, object] = {
        "user_agent": UA,
        "connect_timeout": 5.0,
        "read_timeout": 5.0,
        "total_timeout": 10.0,
        "allow_private_networks": True,  # the test server is on 127.0.0.1
    }
    base.update(overrides)
    return FetchSettings(**base)  # type: ignore[arg-type]


TRANSPORTS = ["aiohttp", "httpx"]


def make_fetcher(s: FetchSettings, transport: str = "aiohttp") -> Fetcher:
    if transport == "httpx":
        return Fetcher(s, transport=httpx.AsyncHTTPTransport(trust_env=False))
    return Fetcher(s)


async def fetch_one(url: str, transport: str = "aiohttp", **overrides: object) -> FetchResult:
    async with make_fetcher(settings(**overrides), transport) as fetcher:
        return await fetcher.fetch(FetchRequest(url))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_first_fetch_sends_only_polite_headers(server: LocalServer, transport: str) -> None:
    server.static("/feed.xml", b"<rss/>", content_type="application/rss+xml")
    result = await fetch_one(server.url("/feed.xml"), transport)
    assert result.ok
    assert (result.status, result.body) == (200, b"<rss/>")
    (req,) = server.requests
    assert req.header("user-agent") == UA
    assert req.header("accept-encoding") == "gzip, deflate"
    assert "rss+xml" in (req.header("accept") or "")
    assert req.query == ""  # no cache-busting
    names = req.header_names()
    for unwanted in ("cookie", "referer", "if-none-match", "if-modified-since", "authorization"):
        assert unwanted not in names


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_conditional_get_round_trip(server: LocalServer, transport: str) -> None:
    published = server.static("/feed.xml", b"<rss>v1</rss>", content_type="application/rss+xml")
    async with make_fetcher(settings(), transport) as fetcher:
        first = await fetcher.fetch(FetchRequest(server.url("/feed.xml")))
        assert (first.etag, first.last_modified) == (published.etag, published.last_modified)
        again = await fetcher.fetch(
            FetchRequest(first.final_url, etag=first.etag, last_modified=first.last_modified)
        )
        assert again.not_modified
        assert again.ok
        assert again.body is None
        assert (again.etag, again.last_modified) == (first.etag, first.last_modified)
        # A new version: full body, new validators.
        v2 = server.static("/feed.xml", b"<rss>v2</rss>", content_type="application/rss+xml")
        third = await fetcher.fetch(
            FetchRequest(first.final_url, etag=again.etag, last_modified=again.last_modified)
        )
    assert (third.status, third.body, third.etag) == (200, b"<rss>v2</rss>", v2.etag)
    second_req = server.requests[1]
    assert second_req.header("if-none-match") == published.etag
    assert second_req.header("if-modified-since") == published.last_modified


async def test_validators_are_sent_verbatim(server: LocalServer) -> None:
    server.route("/odd", Response(status=304))
    etag, modified = 'W/"a b; c"', "Thu, 01 Jan 1970 00:00:00 GMT; odd"
    async with make_fetcher(settings()) as fetcher:
        result = await fetcher.fetch(
            FetchRequest(server.url("/odd"), etag=etag, last_modified=modified)
        )
    assert result.not_modified
    (req,) = server.requests
    assert (req.header("if-none-match"), req.header("if-modified-since")) == (etag, modified)
    assert (result.etag, result.last_modified) == (etag, modified)  # kept for next time


async def test_304_with_new_validators_updates_them(server: LocalServer) -> None:
    server.route("/f", Response(status=304, headers={"ETag": '"new"'}))
    async with make_fetcher(settings()) as fetcher:
        result = await fetcher.fetch(
            FetchRequest(
                server.url("/f"), etag='"old"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT"
            )
        )
    assert (result.etag, result.last_modified) == ('"new"', "Mon, 01 Jan 2024 00:00:00 GMT")


async def test_cookies_are_never_kept_or_sent(server: LocalServer) -> None:
    server.route("/c", Response(body=b"x", headers={"Set-Cookie": "session=abc; Path=/"}))
    async with make_fetcher(settings()) as fetcher:
        await fetcher.fetch(FetchRequest(server.url("/c")))
        await fetcher.fetch(FetchRequest(server.url("/c")))
    assert [r.header("cookie") for r in server.requests] == [None, None]


@pytest.mark.parametrize(
    ("statuses", "permanent"),
    [
        ((301,), True),
        ((308,), True),
        ((301, 308), True),
        ((302,), False),
        ((307,), False),
        ((301, 302), False),
        ((307, 301), False),
    ],
)
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_redirect_chains(
    server: LocalServer, statuses: tuple[int, ...], permanent: bool, transport: str
) -> None:
    for i, status in enumerate(statuses):
        target = f"/hop{i + 1}" if i + 1 < len(statuses) else "/final"
        # Relative Location on purpose: it must resolve against the current hop.
        server.route(f"/hop{i}", Response(status=status, headers={"Location": target}))
    server.static("/final", b"<rss/>", content_type="application/rss+xml")
    result = await fetch_one(server.url("/hop0"), transport)
    assert result.ok
    assert result.body == b"<rss/>"
    assert result.final_url == server.url("/final")
    assert result.permanent_url == (server.url("/final") if permanent else None)
    assert [r.path for r in server.requests][-1] == "/final"
    assert len(server.requests) == len(statuses) + 1


async def test_no_redirect_means_no_permanent_url(server: LocalServer) -> None:
    server.static("/f", b"<rss/>")
    assert (await fetch_one(server.url("/f"))).permanent_url is None


async def test_redirect_limit(server: LocalServer) -> None:
    for i in range(3):
        server.route(f"/r{i}", Response(status=301, headers={"Location": f"/r{i + 1}"}))
    server.static("/r3", b"ok")
    ok = await fetch_one(server.url("/r0"), max_redirects=3)
    assert ok.ok
    assert ok.body == b"ok"
    server.clear_requests()
    too_many = await fetch_one(server.url("/r0"), max_redirects=2)
    assert isinstance(too_many.error, TooManyRedirects)
    assert too_many.body is None
    assert len(server.requests) == 3  # the redirect past the limit is not followed


async def test_redirect_loop_stops(server: LocalServer) -> None:
    server.route("/loop", Response(status=302, headers={"Location": "/loop"}))
    result = await fetch_one(server.url("/loop"))
    assert isinstance(result.error, TooManyRedirects)
    assert len(server.requests) == settings().max_redirects + 1


async def test_redirect_to_other_scheme_is_refused(server: LocalServer) -> None:
    server.route("/r", Response(status=301, headers={"Location": "file:///etc/passwd"}))
    result = await fetch_one(server.url("/r"))
    assert isinstance(result.error, FetchError)
    assert "not an http(s) URL" in result.error.reason


async def test_410_gone(server: LocalServer) -> None:
    server.route("/gone", Response(status=410, body=b"gone"))
    async with make_fetcher(settings()) as fetcher:
        result = await fetcher.fetch(FetchRequest(server.url("/gone"), etag='"e"'))
    assert isinstance(result.error, HTTPStatusError)
    assert (result.status, result.error.status, result.body) == (410, 410, None)
    assert result.etag == '"e"'  # nothing learned: keep the validators


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_delta_seconds(server: LocalServer, status: int) -> None:
    server.route("/busy", Response(status=status, headers={"Retry-After": "120"}))
    before = datetime.now(UTC)
    result = await fetch_one(server.url("/busy"))
    after = datetime.now(UTC)
    assert isinstance(result.error, HTTPStatusError)
    assert result.error.status == status
    assert result.retry_after is not None
    assert before + timedelta(seconds=120) <= result.retry_after <= after + timedelta(seconds=120)
    assert result.error.retry_after == result.retry_after


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_http_date(server: LocalServer, status: int) -> None:
    when = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    server.route("/busy", Response(status=status, headers={"Retry-After": http_date(when)}))
    result = await fetch_one(server.url("/busy"))
    assert result.retry_after == when


async def test_retry_after_is_host_wide(server: LocalServer) -> None:
    server.route("/a", Response(status=429, headers={"Retry-After": "3600"}))
    server.static("/b", b"<rss/>")
    async with make_fetcher(settings()) as fetcher:
        first = await fetcher.fetch(FetchRequest(server.url("/a")))
        second = await fetcher.fetch(FetchRequest(server.url("/b")))
        assert fetcher.host_not_before("127.0.0.1") == first.retry_after
    assert isinstance(second.error, HostBackingOff)
    assert "Retry-After" in second.error.reason
    assert second.retry_after == first.retry_after
    assert second.status is None  # nothing was sent
    assert [r.path for r in server.requests] == ["/a"]


async def test_restored_host_backoff_and_429_without_retry_after(server: LocalServer) -> None:
    server.route("/plain429", Response(status=429))
    server.static("/b", b"<rss/>")
    async with make_fetcher(settings()) as fetcher:
        plain = await fetcher.fetch(FetchRequest(server.url("/plain429")))
        # Without Retry-After the scheduler backs this feed off; the host stays open.
        assert plain.retry_after is None
        assert (await fetcher.fetch(FetchRequest(server.url("/b")))).ok
        fetcher.set_host_not_before("127.0.0.1", datetime.now(UTC) + timedelta(minutes=5))
        blocked = await fetcher.fetch(FetchRequest(server.url("/b")))
    assert isinstance(blocked.error, HostBackingOff)
    assert [r.path for r in server.requests] == ["/plain429", "/b"]


async def test_per_host_concurrency_limit(server: LocalServer) -> None:
    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def slow(_: RecordedRequest) -> Response:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.1)
        with lock:
            in_flight -= 1
        return Response(body=b"<rss/>")

    server.route("/slow", slow)
    async with make_fetcher(settings(per_host_connections=2)) as fetcher:
        results = await asyncio.gather(
            *(fetcher.fetch(FetchRequest(server.url(f"/slow?i={i}"))) for i in range(6))
        )
    assert all(r.ok for r in results)
    assert peak == 2


async def test_global_concurrency_limit(server: LocalServer) -> None:
    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def slow(_: RecordedRequest) -> Response:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.1)
        with lock:
            in_flight -= 1
        return Response(body=b"<rss/>")

    server.route("/slow", slow)
    async with make_fetcher(settings(per_host_connections=10, max_connections=3)) as fetcher:
        results = await asyncio.gather(
            *(fetcher.fetch(FetchRequest(server.url(f"/slow?i={i}"))) for i in range(8))
        )
    assert all(r.ok for r in results)
    assert peak == 3


async def test_minimum_gap_between_requests_to_one_host(server: LocalServer) -> None:
    server.static("/f", b"<rss/>")
    gap = 0.3
    async with make_fetcher(settings(per_host_min_gap=gap, per_host_connections=4)) as fetcher:
        await asyncio.gather(*(fetcher.fetch(FetchRequest(server.url("/f"))) for _ in range(3)))
    arrivals = [r.at for r in server.requests]
    # A lower bound only: the gap is a sleep we impose, so it cannot come out shorter.
    assert all(b - a >= gap * 0.95 for a, b in itertools.pairwise(arrivals))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_total_timeout_against_a_trickling_body(server: LocalServer, transport: str) -> None:
    # 1 byte every 0.2 s never trips the read timeout; only the total deadline can.
    server.route("/trickle", Response(body=b"x" * 1000, trickle=(1, 0.2)))
    result = await fetch_one(server.url("/trickle"), transport, read_timeout=2.0, total_timeout=1.0)
    assert isinstance(result.error, FetchTimeout)
    assert "total timeout" in result.error.reason
    assert result.body is None
    # The poll record still says what arrived before the deadline.
    assert result.status == 200
    assert 1 <= result.bytes_wire < 1000


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_read_timeout_before_headers(server: LocalServer, transport: str) -> None:
    server.route("/stall", Response(body=b"late", delay=3.0))
    result = await fetch_one(server.url("/stall"), transport, read_timeout=0.5)
    assert isinstance(result.error, FetchTimeout)
    assert result.error.reason == "read timeout"
    assert result.status is None


def gzip_bomb() -> bytes:
    """~2.5 KB on the wire, 1 GiB after two rounds of gunzip."""
    member = gzip.compress(bytes(1 << 20), 9)  # 1 MiB of zeros → ~1 KB
    return gzip.compress(member * 1024, 9)  # 1024 members = 1 GiB, compressed again


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_gzip_bomb_stops_at_the_cap_in_bounded_memory(
    server: LocalServer, transport: str
) -> None:
    bomb = gzip_bomb()
    assert len(bomb) < 4096
    server.route("/bomb", Response(body=bomb, headers={"Content-Encoding": "gzip, gzip"}))
    cap = 2 * 1024 * 1024
    tracemalloc.start()
    try:
        result = await fetch_one(server.url("/bomb"), transport, max_body_bytes=cap)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(result.error, BodyTooLarge)
    assert result.body is None
    assert result.bytes_wire <= len(bomb)
    assert cap <= result.bytes_decoded <= cap + 1
    assert peak < 8 * cap  # the cap, not the 1 GiB the bomb promises


async def test_stacked_and_multi_member_gzip_and_deflate(server: LocalServer) -> None:
    feed = (FEEDS / "rss20.xml").read_bytes()
    raw_deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    variants = {
        "/gz": (gzip.compress(feed), "gzip"),
        "/xgz": (gzip.compress(feed), "x-gzip"),
        "/gzgz": (gzip.compress(gzip.compress(feed)), "gzip, gzip"),
        "/members": (gzip.compress(feed[:500]) + gzip.compress(feed[500:]), "gzip"),
        "/zlib": (zlib.compress(feed), "deflate"),
        "/rawdeflate": (raw_deflate.compress(feed) + raw_deflate.flush(), "deflate"),
        "/deflate-gzip": (gzip.compress(zlib.compress(feed)), "deflate, gzip"),
        "/identity": (feed, "identity"),
    }
    for path, (body, coding) in variants.items():
        server.route(path, Response(body=body, headers={"Content-Encoding": coding}))
    async with make_fetcher(settings()) as fetcher:
        for path, (body, _) in variants.items():
            result = await fetcher.fetch(FetchRequest(server.url(path)))
            assert result.ok, (path, result.error)
            assert result.body == feed, path
            assert (result.bytes_wire, result.bytes_decoded) == (len(body), len(feed)), path


async def test_truncated_or_corrupt_gzip_is_an_error(server: LocalServer) -> None:
    compressed = gzip.compress(b"<rss>" + b"x" * 10_000 + b"</rss>")
    server.route("/cut", Response(body=compressed[:-20], headers={"Content-Encoding": "gzip"}))
    server.route("/junk", Response(body=b"not gzip at all", headers={"Content-Encoding": "gzip"}))
    async with make_fetcher(settings()) as fetcher:
        cut = await fetcher.fetch(FetchRequest(server.url("/cut")))
        junk = await fetcher.fetch(FetchRequest(server.url("/junk")))
    assert isinstance(cut.error, NetworkError)
    assert isinstance(junk.error, NetworkError)


async def test_unsupported_content_encoding(server: LocalServer) -> None:
    server.route("/br", Response(body=b"\x0b\x02\x80", headers={"Content-Encoding": "br"}))
    result = await fetch_one(server.url("/br"))
    assert result.error is not None
    assert "unsupported Content-Encoding" in result.error.reason


async def test_oversize_plain_body(server: LocalServer) -> None:
    server.route("/big", Response(body=b"x" * 300_000))
    result = await fetch_one(server.url("/big"), max_body_bytes=100_000)
    assert isinstance(result.error, BodyTooLarge)
    assert result.bytes_wire == 0  # refused on Content-Length, before reading
    assert result.status == 200


async def test_oversize_body_without_truthful_length(server: LocalServer) -> None:
    # Compressed, so Content-Length says nothing about the decoded size.
    body = gzip.compress(b"x" * 300_000)
    server.route("/big", Response(body=body, headers={"Content-Encoding": "gzip"}))
    result = await fetch_one(server.url("/big"), max_body_bytes=100_000)
    assert isinstance(result.error, BodyTooLarge)
    assert result.bytes_decoded == 100_001


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_ssrf_guard_refuses_loopback(server: LocalServer, transport: str) -> None:
    server.static("/f", b"<rss/>")
    for url in (server.url("/f"), server.url("/f").replace("127.0.0.1", "localhost")):
        result = await fetch_one(url, transport, allow_private_networks=False)
        assert isinstance(result.error, BlockedAddress), (url, result.error)
        assert result.status is None
    assert server.requests == []


class _Body(httpx.AsyncByteStream):
    """A streamed body for MockTransport (bytes content would be pre-read by httpx)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.data


async def test_ssrf_guard_checks_every_redirect_hop() -> None:
    # httpx.MockTransport plays "the internet": a public server redirecting inward.
    seen: list[str] = []

    def internet(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        targets = {
            "/to-private": "http://10.0.0.7/feed",
            "/to-mapped": "http://[::ffff:127.0.0.1]/feed",
            "/to-metadata": "http://169.254.169.254/latest/meta-data/",
            "/to-public": "http://93.184.216.34/ok",
        }
        if request.url.path in targets:
            return httpx.Response(302, headers={"Location": targets[request.url.path]})
        return httpx.Response(200, stream=_Body(b"<rss/>"))

    s = settings(allow_private_networks=False)
    async with Fetcher(s, transport=httpx.MockTransport(internet)) as fetcher:
        results = {
            path: await fetcher.fetch(FetchRequest(f"http://93.184.216.34{path}"))
            for path in ("/to-private", "/to-mapped", "/to-metadata", "/to-public")
        }
    for path in ("/to-private", "/to-mapped", "/to-metadata"):
        assert isinstance(results[path].error, BlockedAddress), path
    assert results["/to-public"].ok
    assert not any(u.startswith(("http://10.", "http://[", "http://169.")) for u in seen)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:93.184.216.34", True),
        ("2002:7f00:1::", False),  # 6to4 wrapping 127.0.0.1
        ("not an ip", False),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(address) is public


NOW = datetime(2024, 11, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", NOW + timedelta(seconds=120)),
        ("0", NOW),
        (" 60 ", NOW + timedelta(seconds=60)),
        ("Fri, 01 Nov 2024 14:00:00 GMT", datetime(2024, 11, 1, 14, 0, tzinfo=UTC)),
        ("Friday, 01-Nov-24 14:00:00 GMT", datetime(2024, 11, 1, 14, 0, tzinfo=UTC)),
        ("Fri Nov  1 14:00:00 2024", datetime(2024, 11, 1, 14, 0, tzinfo=UTC)),
        ("Thu, 01 Jan 2015 00:00:00 GMT", NOW),  # past dates mean "now"
        ("-5", None),
        ("²", None),  # a Unicode digit, not delta-seconds
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: datetime | None) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.fixture
def unaccepting_port() -> Iterator[int]:
    """A port whose accept queue is full, so new connections hang in SYN-SENT."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.1)
    yield port
    for sock in [*fillers, listener]:
        sock.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_connect_timeout(unaccepting_port: int, transport: str) -> None:
    url = f"http://127.0.0.1:{unaccepting_port}/feed"
    result = await fetch_one(url, transport, connect_timeout=0.3)
    assert isinstance(result.error, FetchTimeout)
    assert result.error.reason == "connect timeout"
    assert result.status is None


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_connection_refused(transport: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port now.
    result = await fetch_one(f"http://127.0.0.1:{port}/feed", transport)
    assert isinstance(result.error, NetworkError)
    assert result.status is None
    assert result.body is None


async def test_not_an_http_url() -> None:
    result = await fetch_one("ftp://example.org/feed")
    assert isinstance(result.error, FetchError)
    assert result.error.reason == "not an http(s) URL"


async def test_fetch_page_asks_for_html(server: LocalServer) -> None:
    server.static("/article", b"<html></html>", content_type="text/html")
    async with make_fetcher(settings()) as fetcher:
        result = await fetcher.fetch_page(server.url("/article"))
    assert result.ok
    assert result.body == b"<html></html>"
    assert (server.requests[0].header("accept") or "").startswith("text/html")


async def test_one_bad_feed_does_not_disturb_the_others(server: LocalServer) -> None:
    server.static("/good", b"<rss/>")
    server.route("/bomb", Response(body=gzip_bomb(), headers={"Content-Encoding": "gzip, gzip"}))
    server.route("/slow", Response(body=b"x" * 100, trickle=(1, 0.5)))
    server.route("/gone", Response(status=410))
    urls = ["/good", "/bomb", "/slow", "/gone", "/good"]
    # Generous for the good feeds even on a loaded machine; the trickle needs 50 s.
    s = settings(total_timeout=6.0, per_host_connections=5, max_body_bytes=1 << 20)
    async with make_fetcher(s) as fetcher:
        results = await asyncio.gather(*(fetcher.fetch(FetchRequest(server.url(u))) for u in urls))
    assert [type(r.error).__name__ if r.error else "ok" for r in results] == [
        "ok",
        "BodyTooLarge",
        "FetchTimeout",
        "HTTPStatusError",
        "ok",
    ]


def test_fetcher_outside_context_manager_is_a_bug() -> None:
    fetcher = Fetcher(settings())
    with pytest.raises(RuntimeError, match="async with"):
        asyncio.run(fetcher.fetch(FetchRequest("http://127.0.0.1/")))


# -- the bounded decoder, without I/O ---------------------------------------------------


def _encode(data: bytes, coding: str) -> bytes:
    if coding == "gzip":
        return gzip.compress(data)
    if coding == "deflate":
        return zlib.compress(data)
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return raw.compress(data) + raw.flush()


@hsettings(derandomize=True, database=None, max_examples=150, deadline=None)
@given(
    data=st.binary(max_size=200_000) | st.builds(lambda n: b"\0" * n, st.integers(0, 3_000_000)),
    codings=st.lists(st.sampled_from(["gzip", "deflate", "rawdeflate"]), max_size=3),
    chunk=st.integers(1, 70_000),
    cap=st.integers(0, 2_000_000),
)
def test_body_reader_decodes_any_stack_or_stops_exactly_at_the_cap(
    data: bytes, codings: list[str], chunk: int, cap: int
) -> None:
    wire = data
    for coding in codings:
        wire = _encode(wire, coding)
    header = [("deflate" if c == "rawdeflate" else c) for c in codings]
    reader = BodyReader(header, cap)
    try:
        for start in range(0, len(wire), chunk):
            for _ in reader.feed(wire[start : start + chunk]):
                pass
        body = reader.finish()
    except OverflowError:
        assert len(data) > cap
        assert reader.decoded == cap + 1
        assert bytes(reader.body) == data[: cap + 1]
    else:
        assert len(data) <= cap
        assert body == data
    assert reader.wire <= len(wire)


async def test_a_lying_retry_after_holds_a_host_back_a_week_at_most() -> None:
    async with Fetcher(settings()) as fetcher:
        fetcher.set_host_not_before("example.org", datetime.now(UTC) + timedelta(days=3650))
        until = fetcher.host_not_before("example.org")
    assert until is not None
    assert until <= datetime.now(UTC) + timedelta(days=7, seconds=5)


# --------------------------------------------------------------------------------------
# Hostile HTTP servers against the real fetcher and poller (127.0.0.1 only).
#
# Each case here once escaped the fetcher as a raw exception (aiohttp's, httpx's or
# Python's), crashing the poll instead of becoming a recorded, named failure; or it left
# something stored that broke every later poll of the feed.
# --------------------------------------------------------------------------------------


RSS = (Path(__file__).parent / "data" / "e2e" / "rss20.xml").read_bytes()


class RawServer:
    """Answers every connection on 127.0.0.1 with ``payload`` bytes, verbatim, then
    closes it: for responses no HTTP server library would send."""

    def __init__(self, payload: bytes | Callable[[], bytes]) -> None:
        self._payload = payload
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def url(self, path: str = "/feed") -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}{path}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:  # closed by __exit__
                return
            with conn:
                try:
                    head = b""
                    while b"\r\n\r\n" not in head:
                        data = conn.recv(65536)
                        if not data:
                            break
                        head += data
                    payload = self._payload() if callable(self._payload) else self._payload
                    conn.sendall(payload)
                except OSError:  # the client gave up first
                    pass

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # shutdown() wakes the accept() that close() alone would leave blocked.
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(5)


def hostile_settings() -> FetchSettings:
    return FetchSettings(
        user_agent=user_agent(),
        allow_private_networks=True,
        per_host_min_gap=0.0,
        connect_timeout=5.0,
        read_timeout=5.0,
        total_timeout=15.0,
    )


OK_TAIL = b"Content-Length: 2\r\n\r\nhi"

MALFORMED = {
    "status line is not a number": b"HTTP/1.1 abc OK\r\n\r\n",
    "no status line (HTTP/0.9 style)": b"<rss version='2.0'></rss>",
    "binary garbage": b"\x00\x01\x02 hello\r\n\r\n",
    "header over 8 KB": b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 20_000 + b"\r\n" + OK_TAIL,
    "endless headers": b"HTTP/1.1 200 OK\r\n"
    + b"".join(b"X-%d: a\r\n" % i for i in range(20_000))
    + OK_TAIL,
    "NUL in a header": b'HTTP/1.1 200 OK\r\nETag: "a\x00b"\r\n' + OK_TAIL,
    "two Content-Lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi!",
    "negative Content-Length": b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nhi",
    "Content-Length shorter than the body": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
    b"<rss version='2.0'><channel><title>x</title></channel></rss>",
    "bad chunk size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhi\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("payload", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_malformed_http_response_is_a_named_network_error(payload: bytes) -> None:
    with RawServer(payload) as raw:
        async with Fetcher(hostile_settings()) as fetcher:
            result = await fetcher.fetch(FetchRequest(raw.url()))
    assert isinstance(result.error, NetworkError)
    assert result.body is None
    reason = result.error.reason
    assert reason.startswith("malformed HTTP response: ")
    # Shown in `feeds show` and stored: one line, bounded, whatever the server sent.
    assert "\n" not in reason
    assert len(reason) <= 300


async def test_a_malformed_response_is_a_recorded_failure_and_other_feeds_go_on(
    store: Store,
) -> None:
    with LocalServer() as server, RawServer(MALFORMED["header over 8 KB"]) as raw:
        server.static("/good", RSS, content_type="application/rss+xml")
        store.sync_feeds(
            [FeedSpec("good", server.url("/good")), FeedSpec("liar", raw.url())], datetime.now(UTC)
        )
        async with local_poller(store) as poller:
            feeds = await poller.claim(10, names=["good", "liar"], force=True)
            results = {f.name: await poller.poll(f) for f in feeds}
    assert (results["good"].outcome, results["good"].new) == ("ok", 3)
    assert results["liar"].outcome == "failed"
    assert "malformed HTTP response" in (results["liar"].error or "")
    info = {f.name: f for f in Archive(store.engine).feeds()}
    assert info["liar"].error_count == 1
    assert "malformed HTTP response" in (info["liar"].last_error or "")


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://127.0.0.1:99999/feed", "invalid URL"),
        ("http://a..b/feed", "invalid host name"),  # IDNA: an empty label
        ("http://" + "a" * 300 + ".example/feed", "invalid host name"),  # a 300-char label
    ],
)
async def test_a_redirect_to_an_impossible_address_is_a_named_error(
    location: str, reason: str
) -> None:
    # These fail while the name is encoded, before any DNS query or connection.
    payload = f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
    with RawServer(payload.encode()) as raw:
        async with Fetcher(hostile_settings()) as fetcher:
            result = await fetcher.fetch(FetchRequest(raw.url()))
    assert isinstance(result.error, FetchError)
    assert result.error.reason.startswith(reason)


# Header values as a server may send them: Latin-1 / UTF-8 bytes and control characters.
BAD_VALIDATORS = {
    "latin-1": b'"caf\xe9"',
    "utf-8": '"caf\u00e9"'.encode(),
    "control": b'"a\x01b"',
    "DEL": b'"a\x7fb"',
}


@pytest.mark.parametrize("raw_value", BAD_VALIDATORS.values(), ids=BAD_VALIDATORS.keys())
async def test_an_unsendable_etag_is_not_kept_and_does_not_wedge_the_feed(
    store: Store, raw_value: bytes
) -> None:
    # Stored verbatim, such an ETag made every later poll fail inside httpx (it will
    # not send the header back), before a poll record could be written: the feed was
    # stuck for good, with the bad validator never replaced.
    payload = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nETag: " + raw_value + b"\r\n"
        b"Last-Modified: " + raw_value + b"\r\n"
        b"Content-Length: " + str(len(RSS)).encode() + b"\r\n\r\n" + RSS
    )
    with RawServer(payload) as raw:
        store.sync_feeds([FeedSpec("odd", raw.url())], datetime.now(UTC))
        async with local_poller(store) as poller:
            summaries = []
            for _ in range(2):
                (feed,) = await poller.claim(10, names=["odd"], force=True)
                summaries.append(await poller.poll(feed))
    assert [s.outcome for s in summaries] == ["ok", "unchanged"]
    (info,) = Archive(store.engine).feeds(polls_per_feed=2)
    assert [p.etag_received for p in info.recent_polls] == [None, None]
    assert [p.etag_sent for p in info.recent_polls] == [None, None]


@pytest.mark.parametrize("stored", ['"caf\u00e9"', '"a\nb"', '"\u2603"'])
async def test_an_unsendable_validator_stored_earlier_is_not_sent(stored: str) -> None:
    # Databases written before the check may hold one: the fetch must still happen.
    with LocalServer() as server:
        server.route("/feed", Response(body=b"<rss/>"))
        async with Fetcher(hostile_settings()) as fetcher:
            result = await fetcher.fetch(
                FetchRequest(server.url("/feed"), etag=stored, last_modified=stored)
            )
        (request,) = server.requests
    assert (result.status, result.error, result.body) == (200, None, b"<rss/>")
    assert request.header("if-none-match") is None
    assert request.header("if-modified-since") is None


@pytest.mark.parametrize(
    "value",
    [
        "9" * 5000,  # int() refuses more than 4300 digits
        "Fri, 31 Dec 9999 23:59:59 -2359",  # past datetime.max once in UTC
    ],
)
def test_an_absurd_retry_after_means_as_late_as_possible(value: str) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after(value, now) == datetime.max.replace(tzinfo=UTC)


async def test_an_absurd_retry_after_is_a_recorded_429(store: Store) -> None:
    payload = b"HTTP/1.1 429 Slow down\r\nRetry-After: " + b"9" * 5000 + b"\r\n"
    payload += b"Content-Length: 0\r\n\r\n"
    with RawServer(payload) as raw:
        store.sync_feeds([FeedSpec("slow", raw.url())], datetime.now(UTC))
        async with local_poller(store) as poller:
            (feed,) = await poller.claim(10, names=["slow"], force=True)
            summary = await poller.poll(feed)
            host_wait = poller.fetcher.host_not_before("127.0.0.1")
    assert (summary.outcome, summary.http_status) == ("failed", 429)
    # The host-wide hold is capped at a week, whatever the server asked for.
    assert host_wait is not None
    assert host_wait <= datetime.now(UTC) + timedelta(days=7)
