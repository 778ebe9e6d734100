"""Hostile HTTP servers against the real fetcher and poller (127.0.0.1 only).

Each case here once escaped the fetcher as a raw exception (aiohttp's, httpx's or
Python's), crashing the poll instead of becoming a recorded, named failure; or it left
something stored that broke every later poll of the feed.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType

import pytest

from aggregator.compose import user_agent
from aggregator.errors import FetchError, NetworkError
from aggregator.models import FetchRequest, FetchSettings
from aggregator.poll.fetch import Fetcher, parse_retry_after
from aggregator.store import FeedSpec, Store
from aggregator.store.archive import Archive
from tests.support.httpserver import LocalServer, Response
from tests.support.poller import local_poller

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


def settings() -> FetchSettings:
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
        async with Fetcher(settings()) as fetcher:
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
        async with Fetcher(settings()) as fetcher:
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
        async with Fetcher(settings()) as fetcher:
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
