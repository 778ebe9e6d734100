"""The polite fetcher of feeds and article pages (webhooks have their own httpx client,
built in ``aggregator.compose``).

``Fetcher.fetch`` performs one conditional GET and returns a :class:`FetchResult`; it
never raises for expected failures (network, timeouts, HTTP errors, size caps, SSRF
refusals): the error travels in ``FetchResult.error``. What it does, and why:

* a descriptive User-Agent (from the settings), ``Accept-Encoding: gzip, deflate``
  (no ``br``: we would have to decode it ourselves), the stored validators sent
  verbatim, and nothing else — no cookies kept or sent, no Referer, no cache-busting —
  except what a private feed's configuration asks for (``RequestAuth``: Basic
  credentials and headers, sent to the feed's own origin only);
* the RAW stream is read and decompressed here, under ``max_body_bytes`` counted on the
  *decompressed* bytes, layer by layer in bounded pieces, so a 2 KB ``gzip, gzip``
  bomb stops at the cap using kilobytes of memory (httpx's own decoding can inflate one
  chunk to a gigabyte before anyone can count it);
* redirects are followed by hand (``max_redirects``), every hop checked by the SSRF
  guard; ``permanent_url`` is set only when every hop was 301/308;
* the SSRF guard (``netguard.py``) refuses loopback, private, link-local, multicast,
  reserved and other non-public addresses after DNS resolution, unless
  ``allow_private_networks``;
* connect/read timeouts per operation, plus a total deadline over the whole fetch
  (redirects and body included; armed when the first request is sent, so queueing for
  our own limits does not count), so a server trickling one byte a second cannot hold
  a worker;
* ``Retry-After`` (delta-seconds or HTTP-date) on 429/503 becomes ``retry_after`` and a
  host-wide "not before": other feeds on that host are not sent until then and get a
  :class:`HostBackingOff` error instead;
* a global concurrency bound, a per-host concurrency bound and a minimum gap between
  two requests to one host.

Transport: by default requests go through aiohttp via the ``httpx-aiohttp`` transport
(httpx stays the client API). ``benchmarks/bench_fetch.py`` measured it against httpx's
own pool with 100/200/300 concurrent requests to a server answering in 150 ms: httpx's
pool took 6.6x/19.6x/13.3x longer (it spent ~10 ms of CPU per request at C=100,
aiohttp ~0.5 ms; encode/httpx#3215). aiohttp is told not to decompress
(``auto_decompress=False``), so the raw stream still reaches our capped decoder, and
gets a dummy cookie jar. On that transport the SSRF guard also sits in aiohttp's DNS
resolver, so the connection goes to exactly the addresses that were checked (no
DNS-rebinding window); with any other transport names are resolved and checked just
before each hop.

Article pages: ``fetch_page(url)`` is ``fetch`` with an HTML ``Accept`` header and no
validators; same limits, same guard.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import re
import socket
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from aggregator.errors import (
    BlockedAddress,
    BodyTooLarge,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    NetworkError,
    TooManyRedirects,
)
from aggregator.links import http_url_problem
from aggregator.models import FetchRequest, FetchResult, FetchSettings, RequestAuth
from aggregator.poll.decompress import BodyReader, content_codings
from aggregator.poll.netguard import BlockedAddressOSError, GuardedResolver, is_public_address

__all__ = [
    "FEED_ACCEPT",
    "PAGE_ACCEPT",
    "Fetcher",
    "HostBackingOff",
    "is_public_address",
    "parse_retry_after",
]

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
ACCEPT_ENCODING = "gzip, deflate"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})
_MAX_CODINGS = 4
_YIELD_EVERY = 512 * 1024  # decoded bytes between two event-loop turns


class HostBackingOff(HTTPStatusError):
    """Not sent: the host answered 429/503 with Retry-After and that time has not come.

    ``status`` is the status that started the backoff and ``retry_after`` when it ends.
    (Belongs in errors.py; lives here until the shared tree grows it.)
    """


# The longest a Retry-After may hold back a host (``poll.schedule`` caps feeds the same).
MAX_HOST_BACKOFF = timedelta(days=7)

# -- pure helpers ------------------------------------------------------------------

_FOREVER = datetime.max.replace(tzinfo=UTC)
# Visible ASCII, space and tab: what httpx sends without complaint.
_VALIDATOR = re.compile(r"[\x20-\x7e\t]*")


def parse_retry_after(value: str | None, now: datetime) -> datetime | None:
    """``Retry-After`` as an absolute UTC time: delta-seconds or an HTTP-date.

    A date in the past means "now"; anything unparseable is None (the caller then backs
    off by its own rule).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():  # "²".isdigit() is True; int() refuses it
        try:
            return now + timedelta(seconds=int(text))
        except (OverflowError, ValueError):  # ValueError: over 4300 digits for int()
            return _FOREVER
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" / obsolete forms: HTTP dates are always GMT
        when = when.replace(tzinfo=UTC)
    try:
        return max(when.astimezone(UTC), now)
    except OverflowError:  # "31 Dec 9999 23:59:59 -2359" is past the last datetime
        return _FOREVER


def _sendable_validator(value: str | None) -> str | None:
    """``value`` if it can go back verbatim in If-None-Match / If-Modified-Since.

    A server may send an ETag with non-ASCII bytes or control characters; httpx
    refuses to send such a header, so storing it would make every later poll of the
    feed fail before reaching the server. Such a validator is treated as absent.
    """
    if value is None or not _VALIDATOR.fullmatch(value):
        return None
    return value


def _lower_headers(headers: httpx.Headers) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.multi_items():
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


class _RejectAllCookies(DefaultCookiePolicy):
    """Feeds get no cookies: a poller that replays them is flagged as misbehaving."""

    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False

    def return_ok(self, cookie: Any, request: Any) -> bool:
        return False


# -- per-host politeness -----------------------------------------------------------


@dataclass
class _HostState:
    slots: asyncio.Semaphore
    gap_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_start: float = 0.0  # monotonic time the next request may start
    not_before: datetime | None = None  # from Retry-After, host-wide
    not_before_status: int = 429


@dataclass
class _Progress:
    """How far one fetch got; failures are reported with everything learned so far."""

    request: FetchRequest
    url: str  # the current hop
    started: float | None = None  # monotonic time of the first send
    waited: float = 0.0  # seconds queued for our own per-host limits, over all hops
    response: httpx.Response | None = None
    reader: BodyReader | None = None
    permanent_url: str | None = None

    def _result(self, **fields: Any) -> FetchResult:
        response, reader = self.response, self.reader
        return FetchResult(
            request=self.request,
            final_url=self.url,
            status=response.status_code if response is not None else None,
            headers=_lower_headers(response.headers) if response is not None else {},
            bytes_wire=reader.wire if reader else 0,
            bytes_decoded=reader.decoded if reader else 0,
            elapsed=time.monotonic() - self.started if self.started is not None else 0.0,
            permanent_url=self.permanent_url,
            waited=self.waited,
            **fields,
        )

    def done(
        self, *, body: bytes | None, etag: str | None, last_modified: str | None
    ) -> FetchResult:
        return self._result(body=body, etag=etag, last_modified=last_modified)

    def failed(self, error: FetchError, *, retry_after: datetime | None = None) -> FetchResult:
        # Nothing new was learned: send the same validators next time.
        return self._result(
            body=None,
            etag=self.request.etag,
            last_modified=self.request.last_modified,
            retry_after=retry_after,
            error=error,
        )


class _Stop(Exception):
    """Ends a fetch early with a finished result (internal control flow)."""

    def __init__(self, result: FetchResult) -> None:
        super().__init__(result.final_url)
        self.result = result


class Fetcher:
    """Polite, bounded HTTP fetching for feeds and article pages.

    Use as an async context manager::

        async with Fetcher(settings) as fetcher:
            result = await fetcher.fetch(FetchRequest(url, etag=..., last_modified=...))

    ``transport`` replaces the default aiohttp-backed transport (tests pass
    ``httpx.MockTransport`` to play "the internet"; the benchmark passes httpx's own
    pool). With a custom transport the SSRF guard resolves names itself before each
    hop.
    """

    def __init__(
        self, settings: FetchSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self._custom_transport = transport
        self._client: httpx.AsyncClient | None = None
        self._global = asyncio.Semaphore(settings.max_connections)
        self._hosts: dict[str, _HostState] = {}

    # -- lifecycle ---------------------------------------------------------------
    async def __aenter__(self) -> Fetcher:
        s = self.settings
        transport = self._custom_transport or self._aiohttp_transport()
        self._client = httpx.AsyncClient(
            transport=transport,
            headers={
                "User-Agent": s.user_agent,
                "Accept-Encoding": ACCEPT_ENCODING,
                "Accept": FEED_ACCEPT,
            },
            timeout=httpx.Timeout(
                connect=s.connect_timeout,
                read=s.read_timeout,
                write=s.read_timeout,
                pool=s.total_timeout,
            ),
            follow_redirects=False,
            cookies=CookieJar(policy=_RejectAllCookies()),
            # No proxies, .netrc credentials or SSL_CERT_* from the environment:
            # settings come in as arguments, and .netrc could add Authorization.
            trust_env=False,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _aiohttp_transport(self) -> httpx.AsyncBaseTransport:
        s = self.settings
        resolver: aiohttp.abc.AbstractResolver = (
            aiohttp.ThreadedResolver() if s.allow_private_networks else GuardedResolver()
        )
        connector = aiohttp.TCPConnector(
            limit=s.max_connections,
            limit_per_host=0,  # per-host limits are ours (they also cover waiting)
            resolver=resolver,
            ssl=httpx.create_ssl_context(trust_env=False),
        )
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            trust_env=False,
        )
        return AiohttpTransport(client=session)

    # -- host state (also restorable from the database after a restart) -----------
    def _host(self, host: str) -> _HostState:
        state = self._hosts.get(host)
        if state is None:
            state = _HostState(slots=asyncio.Semaphore(self.settings.per_host_connections))
            self._hosts[host] = state
        return state

    def host_not_before(self, host: str) -> datetime | None:
        """When ``host`` may be contacted again after a 429/503 + Retry-After."""
        state = self._hosts.get(host.lower())
        return state.not_before if state else None

    def set_host_not_before(self, host: str, when: datetime, status: int = 429) -> None:
        """Restore a host-wide backoff (e.g. from stored ``retry_after`` after a restart)."""
        # A lying or broken server must not silence a whole host for years.
        when = min(when, datetime.now(UTC) + MAX_HOST_BACKOFF)
        state = self._host(host.lower())
        if state.not_before is None or when > state.not_before:
            state.not_before = when
            state.not_before_status = status

    # -- public API ----------------------------------------------------------------
    async def fetch(self, request: FetchRequest) -> FetchResult:
        """One polite conditional GET; failures come back in ``result.error``."""
        return await self._fetch(request, FEED_ACCEPT)

    async def fetch_page(self, url: str, auth: RequestAuth | None = None) -> FetchResult:
        """Fetch an article page (HTML Accept, no validators), same limits and guard.

        ``auth`` is the feed's: a paywalled outlet wants the same login for its pages
        (sent only when the page is on the feed's own origin).
        """
        return await self._fetch(FetchRequest(url=url, auth=auth), PAGE_ACCEPT)

    # -- the fetch -----------------------------------------------------------------
    async def _fetch(self, request: FetchRequest, accept: str) -> FetchResult:
        if self._client is None:
            raise RuntimeError("Fetcher used outside 'async with'")
        progress = _Progress(request=request, url=request.url)
        # The total deadline is armed when the first request is sent: time spent
        # queueing for our own limits (per-host slots, the gap) is not the server's.
        deadline = asyncio.timeout(None)
        try:
            async with deadline:
                return await self._follow(progress, accept, deadline)
        except _Stop as stop:
            return stop.result
        except TimeoutError as exc:
            # Our deadline, or a transport timeout that escaped untranslated.
            reason = (
                f"total timeout of {self.settings.total_timeout:g} s exceeded"
                if deadline.expired()
                else "timed out"
            )
            error = FetchTimeout(progress.url, reason)
            error.__cause__ = exc
            return progress.failed(error)

    async def _follow(
        self, progress: _Progress, accept: str, deadline: asyncio.Timeout
    ) -> FetchResult:
        all_permanent = True
        for hops in range(self.settings.max_redirects + 1):
            url = progress.url
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
            if parts.scheme not in ("http", "https") or not host:
                return progress.failed(FetchError(url, "not an http(s) URL"))
            try:
                port = parts.port
            except ValueError as exc:  # a redirect to "http://host:99999/"
                return progress.failed(FetchError(url, f"invalid URL: {exc}"))
            # What httpx would refuse when sending (256.0.0.1, a NUL): a failed fetch
            # with the reason, like any other, not an exception out of the poll.
            problem = http_url_problem(url)
            if problem is not None:
                return progress.failed(FetchError(url, problem))
            await self._guard(progress, host, port, parts.scheme)
            state = self._host(host)
            # Lock order is always host slot, then global slot, and both are released
            # between hops, so chains crossing hosts cannot deadlock. The host slot
            # covers the whole exchange, body included.
            queued = time.monotonic()
            async with state.slots:
                self._check_backoff(progress, host, state)
                await self._wait_gap(state)
                async with self._global:
                    progress.waited += time.monotonic() - queued
                    if progress.started is None:
                        progress.started = time.monotonic()
                        loop = asyncio.get_running_loop()
                        deadline.reschedule(loop.time() + self.settings.total_timeout)
                    response = await self._send(progress, accept)
                    progress.response = response
                    try:
                        status = response.status_code
                        if status not in _REDIRECTS or "location" not in response.headers:
                            return await self._finish(progress, hops, all_permanent)
                        all_permanent = all_permanent and status in _PERMANENT
                        if hops == self.settings.max_redirects:
                            limit = self.settings.max_redirects
                            error = TooManyRedirects(url, f"more than {limit} redirects")
                            return progress.failed(error)
                        progress.url = urljoin(url, response.headers["location"].strip())
                        progress.response = None
                    finally:
                        await response.aclose()
        raise AssertionError("unreachable: the loop returns on its last hop")

    def _check_backoff(self, progress: _Progress, host: str, state: _HostState) -> None:
        if state.not_before is None or state.not_before <= datetime.now(UTC):
            return
        when = state.not_before.isoformat(timespec="seconds")
        error = HostBackingOff(
            progress.url,
            state.not_before_status,
            f"not sent: {host} asked us to wait until {when} (Retry-After)",
            retry_after=state.not_before,
        )
        raise _Stop(progress.failed(error, retry_after=state.not_before))

    async def _send(self, progress: _Progress, accept: str) -> httpx.Response:
        assert self._client is not None
        request = progress.request
        headers = {"Accept": accept}
        # Validators go verbatim, on every hop: a chain normally ends at the URL that
        # produced them, and only the server that made them interprets them.
        # A validator stored before they were checked on arrival may be unsendable.
        etag = _sendable_validator(request.etag)
        last_modified = _sendable_validator(request.last_modified)
        if etag is not None:
            headers["If-None-Match"] = etag
        if last_modified is not None:
            headers["If-Modified-Since"] = last_modified
        # The feed's own headers come last so that they may replace Accept or the
        # User-Agent (the configuration refuses the ones we must own).
        if request.auth is not None and request.auth.applies_to(progress.url):
            for name, value in request.auth.header_items():
                for ours in [k for k in headers if k.lower() == name.lower()]:
                    del headers[ours]
                headers[name] = value
        try:
            httpx_request = self._client.build_request("GET", progress.url, headers=headers)
            return await self._client.send(httpx_request, stream=True)
        except (httpx.HTTPError, aiohttp.ClientError) as exc:
            # httpx-aiohttp maps only some aiohttp errors: a malformed response (bad
            # status line, oversized headers, two Content-Lengths) comes out as
            # aiohttp's own ClientResponseError.
            raise _Stop(progress.failed(_translate(progress.url, exc))) from exc
        except httpx.InvalidURL as exc:  # not an HTTPError: httpx's own URL check
            error = FetchError(progress.url, _one_line(f"invalid URL: {exc}"))
            raise _Stop(progress.failed(error)) from exc
        except UnicodeError as exc:
            # A host name IDNA cannot encode (an empty or 64+ character label), found
            # by httpx or by the resolver's getaddrinfo.
            error = FetchError(progress.url, _one_line(f"invalid host name: {exc}"))
            raise _Stop(progress.failed(error)) from exc

    async def _wait_gap(self, state: _HostState) -> None:
        gap = self.settings.per_host_min_gap
        if gap <= 0:
            return
        async with state.gap_lock:
            delay = state.next_start - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            state.next_start = time.monotonic() + gap

    async def _guard(self, progress: _Progress, host: str, port: int | None, scheme: str) -> None:
        if self.settings.allow_private_networks:
            return
        url = progress.url
        literal = host.strip("[]")
        try:
            ipaddress.ip_address(literal.split("%", 1)[0])
            addresses = [literal]
        except ValueError:
            if self._custom_transport is None:
                return  # the aiohttp transport checks names inside its resolver
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port or (443 if scheme == "https" else 80), type=socket.SOCK_STREAM
                )
            except OSError as exc:
                dns_error = NetworkError(url, f"DNS lookup failed for {host}")
                raise _Stop(progress.failed(dns_error)) from exc
            addresses = [str(info[4][0]) for info in infos]
        for address in addresses:
            if not is_public_address(address):
                error = BlockedAddress(url, f"{host} is a non-public address ({address})")
                raise _Stop(progress.failed(error))

    async def _finish(self, progress: _Progress, hops: int, all_permanent: bool) -> FetchResult:
        request, url, response = progress.request, progress.url, progress.response
        assert response is not None
        status = response.status_code
        headers = _lower_headers(response.headers)
        progress.permanent_url = url if hops and all_permanent else None
        if status == 304:
            # 304 = success, nothing new. A 304 may carry fresh validators (RFC 9111
            # §4.3.4): take them, else keep the ones we sent.
            return progress.done(
                body=None,
                etag=_sendable_validator(headers.get("etag")) or request.etag,
                last_modified=(
                    _sendable_validator(headers.get("last-modified")) or request.last_modified
                ),
            )
        if not 200 <= status < 300:
            retry_after = None
            if status in (429, 503):
                retry_after = parse_retry_after(headers.get("retry-after"), datetime.now(UTC))
                if retry_after is not None:
                    host = (urlsplit(url).hostname or "").lower()
                    self.set_host_not_before(host, retry_after, status)
            error = HTTPStatusError(url, status, _status_reason(status, request, url), retry_after)
            return progress.failed(error, retry_after=retry_after)
        await self._read_body(progress)
        assert progress.reader is not None
        return progress.done(
            body=bytes(progress.reader.body),
            etag=_sendable_validator(headers.get("etag")),
            last_modified=_sendable_validator(headers.get("last-modified")),
        )

    async def _read_body(self, progress: _Progress) -> None:
        url, response = progress.url, progress.response
        assert response is not None
        error: FetchError
        cap = self.settings.max_body_bytes
        declared = response.headers.get("content-encoding")
        codings = content_codings(declared)
        unsupported = [c for c in codings if c not in ("gzip", "x-gzip", "deflate")]
        if unsupported or len(codings) > _MAX_CODINGS:
            raise _Stop(
                progress.failed(FetchError(url, f"unsupported Content-Encoding: {declared}"))
            )
        reader = progress.reader = BodyReader(codings, cap)
        length = response.headers.get("content-length", "")
        if not codings and length.isascii() and length.isdigit() and int(length) > cap:
            error = BodyTooLarge(url, f"Content-Length {length} exceeds the {cap}-byte cap")
            raise _Stop(progress.failed(error))
        try:
            since_yield = 0
            async for chunk in response.aiter_raw():
                for size in reader.feed(chunk):
                    since_yield += size
                    if since_yield >= _YIELD_EVERY:
                        # Inflating is CPU work on the event loop: let other fetches
                        # (and their deadlines) run between megabytes.
                        since_yield = 0
                        await asyncio.sleep(0)
            reader.finish()
        except OverflowError:
            error = BodyTooLarge(url, f"body exceeds the {cap}-byte cap (decompressed)")
            raise _Stop(progress.failed(error)) from None
        except (zlib.error, ValueError) as exc:
            error = NetworkError(url, f"bad {'/'.join(codings)} body: {exc}")
            raise _Stop(progress.failed(error)) from exc
        except (httpx.HTTPError, aiohttp.ClientError) as exc:
            raise _Stop(progress.failed(_translate(url, exc))) from exc


def _status_reason(status: int, request: FetchRequest, url: str) -> str:
    """Say what to do about a 401 (the one status the user can fix in the config)."""
    if status != 401:
        return ""
    if request.auth is not None and request.auth.applies_to(url):
        return "HTTP 401: the server refused the feed's credentials"
    if request.auth is not None:
        return "HTTP 401 from another origin (the feed's credentials are not sent there)"
    return "HTTP 401: the feed needs credentials (username/password or headers)"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _one_line(text: str) -> str:
    """An exception's message as a stored reason: one line, bounded.

    aiohttp quotes the server's bytes in its parse errors over several lines.
    """
    return " ".join(text.split())[:300]


def _translate(url: str, exc: httpx.HTTPError | aiohttp.ClientError) -> FetchError:
    """httpx (and, through the transport, aiohttp) errors → our tree, with a short reason."""
    error: FetchError
    chain = list(_causes(exc))
    for cause in chain:
        if isinstance(cause, aiohttp.ClientConnectorError):
            chain.append(cause.os_error)  # aiohttp keeps the resolver's error here
        if isinstance(cause, BlockedAddressOSError):
            blocked = BlockedAddress(url, f"{cause.host} is a non-public address ({cause.address})")
            blocked.__cause__ = exc
            return blocked
    for cause in chain:
        # httpx-aiohttp maps every aiohttp connection error to ConnectTimeout; look
        # at the aiohttp error itself to tell a timeout from a refusal or a reset.
        if isinstance(cause, aiohttp.ConnectionTimeoutError):
            error = FetchTimeout(url, "connect timeout")
            break
        if isinstance(cause, aiohttp.SocketTimeoutError):
            error = FetchTimeout(url, "read timeout")
            break
        if isinstance(cause, aiohttp.ServerTimeoutError):
            error = FetchTimeout(url, "timeout")
            break
        if isinstance(cause, aiohttp.ClientConnectorDNSError):
            error = NetworkError(url, f"DNS lookup failed: {cause.os_error}")
            break
        if isinstance(cause, aiohttp.ClientConnectorError):
            error = NetworkError(url, f"connection failed: {cause.os_error}")
            break
        if isinstance(cause, aiohttp.ClientResponseError):
            # Raised by aiohttp's parser (we never call raise_for_status): the server
            # answered something that is not HTTP/1.1.
            error = NetworkError(url, _one_line(f"malformed HTTP response: {cause.message}"))
            break
        if isinstance(cause, aiohttp.ClientError):
            error = NetworkError(url, _one_line(f"{type(cause).__name__}: {cause}"))
            break
    else:
        if isinstance(exc, httpx.TimeoutException):
            kind = {
                httpx.ConnectTimeout: "connect",
                httpx.ReadTimeout: "read",
                httpx.WriteTimeout: "write",
                httpx.PoolTimeout: "pool",
            }.get(type(exc), "")
            error = FetchTimeout(url, f"{kind} timeout".strip())
        elif isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            error = FetchError(url, f"invalid URL: {exc}"[:300])
        elif isinstance(exc, httpx.TransportError):
            error = NetworkError(url, f"{type(exc).__name__}: {exc}"[:300])
        else:
            error = FetchError(url, f"{type(exc).__name__}: {exc}"[:300])
    error.__cause__ = exc
    return error
