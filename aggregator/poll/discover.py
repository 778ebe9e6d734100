"""Feed discovery: from a website's address to the feeds it publishes.

Two halves. ``find_feed_links`` is pure: HTML bytes and the page's URL in, the feeds the
page names in ``<link rel="alternate">`` out, in document order. ``discover`` does the
I/O through a :class:`~aggregator.poll.fetch.Fetcher` handed in (so the SSRF guard, the size
caps, the timeouts and the User-Agent of polling all apply) and checks every candidate
by fetching and parsing it, the way a poll would.

What counts as a feed link: ``rel`` holding the token ``alternate`` (any case, among
others) and a ``type`` of RSS, Atom, RDF or JSON Feed. The generic types
``application/json``, ``application/xml`` and ``text/xml`` count only when the link's
title says feed, RSS or Atom: WordPress marks every page's REST API document
``rel="alternate" type="application/json" title="JSON"``, which is not a feed, while
JSON Feed 1.0 and older RSS sites used the generic types with titles such as "JSON Feed"
or "RSS". A candidate that is not a feed after all costs one request and is reported.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urldefrag, urlsplit

from lxml import etree  # type: ignore[import-untyped]

from aggregator.errors import (
    BlockedAddress,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    NetworkError,
    ParseError,
)
from aggregator.links import safe_link, strip_control
from aggregator.models import FetchRequest, FetchResult
from aggregator.poll.fetch import Fetcher, HostBackingOff
from aggregator.poll.parse import parse_feed

__all__ = [
    "MAX_CHECKED",
    "PROBE_PATHS",
    "Candidate",
    "Discovery",
    "FeedLink",
    "discover",
    "find_feed_links",
    "probe_urls",
]

FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/feed+json",
    }
)
# Also used for things that are not feeds; accepted only with a title that says feed.
GENERIC_TYPES = frozenset({"application/json", "application/xml", "text/xml"})
_TITLE_HINTS = ("feed", "rss", "atom")

# Where feeds conventionally live when a page names none: WordPress (/feed), Ghost and
# many CMSes (/rss), Jekyll (/feed.xml), generic (/rss.xml, /atom.xml), Hugo
# (/index.xml), JSON Feed (/feed.json). Probed one at a time, stopping at the first
# feed: each probe is a request to a site that did not advertise a feed, and a longer
# list or parallel probes looks like a vulnerability scanner to its operator.
PROBE_PATHS = ("/feed", "/rss", "/feed.xml", "/rss.xml", "/atom.xml", "/index.xml", "/feed.json")

# Linked feeds checked at most: a page naming dozens (one per category) would otherwise
# cost as many requests to one host.
MAX_CHECKED = 10

Source = Literal["direct", "link", "probe"]


@dataclass(frozen=True, slots=True)
class FeedLink:
    """A feed a page names: absolute http(s) URL, declared type, title if any."""

    url: str
    type: str
    title: str | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """One URL checked by fetching and parsing it.

    ``url`` is where it was found; ``permanent_url`` where it moved, when every
    redirect on the way was permanent (as polling would move it). ``error`` says why it
    is not usable, ``error_type`` names the error (``HTTPStatusError``, ``ParseError``…).
    """

    url: str
    source: Source
    permanent_url: str | None = None
    title: str | None = None
    format: str | None = None  # ParsedFeed.kind: "rss20", "atom10", "json11"…
    entries: int = 0
    error: str | None = None
    error_type: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def feed_url(self) -> str:
        """The URL to subscribe to."""
        return self.permanent_url or self.url


@dataclass(frozen=True, slots=True)
class Discovery:
    """What one address yielded. ``page_error`` says why the address itself is not a
    feed (or could not be fetched, with ``fetch_failed``)."""

    url: str
    final_url: str
    candidates: tuple[Candidate, ...] = ()
    page_error: str | None = None
    page_error_type: str | None = None
    fetch_failed: bool = False
    unchecked: tuple[str, ...] = ()  # linked feeds beyond MAX_CHECKED, not fetched

    @property
    def valid(self) -> tuple[Candidate, ...]:
        return tuple(c for c in self.candidates if c.ok)


# -- the pure half -----------------------------------------------------------------


def find_feed_links(
    body: bytes, url: str, *, content_type: str | None = None
) -> tuple[FeedLink, ...]:
    """The feeds an HTML page names, in document order, without repeats.

    ``url`` is the page's final URL (after redirects); relative hrefs resolve against
    it, or against the first ``<base href>``. Only absolute http(s) results are kept.
    ``content_type`` is the response's Content-Type, for its charset.
    """
    text, encoding, certain = _decode(body, content_type)
    scan = _scan(text)
    if not certain and scan.meta_charset is not None:
        declared = _codec(scan.meta_charset)
        # A page cannot declare itself UTF-16 in a <meta> it could be read in as ASCII:
        # browsers take such a declaration to mean UTF-8.
        if declared is not None and declared.startswith("utf-16"):
            declared = "utf-8"
        if declared is not None and declared != encoding:
            redone = _decode_as(body, declared)
            if redone is not None:
                scan = _scan(redone)
    return _resolve(scan, url)


def probe_urls(url: str) -> tuple[str, ...]:
    """The conventional feed locations on ``url``'s origin, in probing order."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    return tuple(origin + path for path in PROBE_PATHS)


def _codec(label: str) -> str | None:
    """Python's name for a charset label, or None if unknown."""
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name
    except (LookupError, ValueError):
        return None
    # Browsers read pages labelled Latin-1 or ASCII as windows-1252 (the WHATWG
    # Encoding Standard); so do we, or curly quotes in titles turn into C1 controls.
    return "cp1252" if name in ("iso8859-1", "ascii") else name


def _decode_as(body: bytes, codec: str) -> str | None:
    """``body`` in ``codec`` with bad bytes replaced; None for the codecs a page may
    name that cannot decode text that way (base64, idna, …)."""
    try:
        return body.decode(codec, errors="replace")
    except (LookupError, UnicodeError):
        return None


def _charset_param(content_type: str | None) -> str | None:
    if not content_type:
        return None
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip()
    return None


def _decode(body: bytes, content_type: str | None) -> tuple[str, str, bool]:
    """The page as text, the codec used, and whether that choice is certain (a BOM or
    the HTTP charset) or a guess a ``<meta charset>`` may overrule."""
    for bom, name in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if body.startswith(bom):
            return body.decode(name, errors="replace"), name, True
    header = _codec(_charset_param(content_type) or "")
    text = _decode_as(body, header) if header is not None else None
    if header is not None and text is not None:
        return text, header, True
    try:
        return body.decode("utf-8"), "utf-8", False
    except UnicodeDecodeError:
        return body.decode("cp1252", errors="replace"), "cp1252", False


@dataclass
class _RawLink:
    href: str
    type: str
    title: str | None


@dataclass
class _Scan:
    """The feed ``<link>``s, the first ``<base href>`` and a ``<meta>`` charset."""

    links: list[_RawLink] = field(default_factory=list)
    base_href: str | None = None
    meta_charset: str | None = None


def _scan(text: str) -> _Scan:
    """What the page says. ``<script>`` and ``<style>`` content is text and comments are
    comments, so a link written by a script or commented out is not taken; a repeated
    attribute keeps its first value, as in browsers."""
    scan = _Scan()
    # libxml2's HTML parser, as extract.page_metadata uses: linear on hostile markup,
    # where html.parser was quadratic ("<a" repeated 100 000 times took 25 s). It is
    # handed UTF-8 with that encoding stated, so a <meta charset> in the page cannot
    # make it decode the text again (_decode and find_feed_links choose the charset).
    # One parser per call: an lxml parser must not be shared between threads.
    parser = etree.HTMLParser(
        encoding="utf-8", no_network=True, remove_comments=True, remove_pis=True
    )
    # NUL is not allowed in HTML text: browsers read it as U+FFFD, and libxml2 would
    # stop at it.
    data = text.replace("\x00", "\ufffd").encode("utf-8", errors="replace")
    try:
        root = etree.fromstring(data, parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        return scan
    if root is None:  # nothing but whitespace
        return scan
    for element in root.iter("link", "base", "meta"):
        values = {str(k).lower(): v or "" for k, v in element.attrib.items()}
        if element.tag == "link":
            _link(scan, values)
        elif element.tag == "base":
            if scan.base_href is None and "href" in values:
                scan.base_href = values["href"]
        elif scan.meta_charset is None:
            if "charset" in values:
                scan.meta_charset = values["charset"]
            elif values.get("http-equiv", "").strip().lower() == "content-type":
                scan.meta_charset = _charset_param(values.get("content"))
    return scan


def _link(scan: _Scan, values: Mapping[str, str]) -> None:
    rel = values.get("rel", "").lower().split()
    if "alternate" not in rel or not values.get("href"):
        return
    kind = values.get("type", "").split(";", 1)[0].strip().lower()
    title = " ".join(strip_control(values.get("title", "")).split()) or None
    if kind in FEED_TYPES or (
        kind in GENERIC_TYPES
        and title is not None
        and any(hint in title.lower() for hint in _TITLE_HINTS)
    ):
        scan.links.append(_RawLink(href=values["href"], type=kind, title=title))


def _resolve(scan: _Scan, url: str) -> tuple[FeedLink, ...]:
    base = url
    if scan.base_href is not None:
        base = safe_link(scan.base_href, url) or url
    found: list[FeedLink] = []
    seen: set[str] = set()
    for raw in scan.links:
        absolute = safe_link(raw.href, base)
        if absolute is None:
            continue
        # The fragment never reaches the server: /feed#a and /feed#b are one feed.
        absolute = urldefrag(absolute).url
        if absolute not in seen:
            seen.add(absolute)
            found.append(FeedLink(url=absolute, type=raw.type, title=raw.title))
    return tuple(found)


# -- the I/O half ------------------------------------------------------------------


def _as_candidate(result: FetchResult, url: str, source: Source) -> Candidate:
    if result.error is not None:
        return Candidate(
            url=url,
            source=source,
            error=result.error.reason,
            error_type=type(result.error).__name__,
        )
    try:
        feed = parse_feed(
            result.body or b"",
            url=result.final_url,
            headers=result.headers,
            fetched_at=datetime.now(UTC),
        )
    except ParseError as exc:
        return Candidate(url=url, source=source, error=str(exc), error_type=type(exc).__name__)
    return Candidate(
        url=url,
        source=source,
        permanent_url=result.permanent_url,
        title=feed.title,
        format=feed.kind,
        entries=len(feed.entries),
    )


# A probe that fails like this says the host (not the path) is unusable: the other
# paths would fail the same way, each after its own timeout.
_HOST_FAILURES = (NetworkError, FetchTimeout, BlockedAddress, HostBackingOff)
# Statuses by which a host asks us to slow down or says it is overloaded: more
# probes would be the very requests it does not want.
_HOST_BUSY = frozenset({429, 503})


def _host_unusable(error: FetchError | None) -> bool:
    if isinstance(error, HTTPStatusError):
        return error.status in _HOST_BUSY
    return isinstance(error, _HOST_FAILURES)


async def discover(url: str, fetcher: Fetcher) -> Discovery:
    """Find and check the feeds at ``url``: the address itself if it is a feed, else the
    feeds its page names, else the first feed at a conventional path on its origin."""
    page = await fetcher.fetch_page(url)
    if page.error is not None:
        return Discovery(
            url=url,
            final_url=page.final_url,
            page_error=page.error.reason,
            page_error_type=type(page.error).__name__,
            fetch_failed=True,
        )
    itself = _as_candidate(page, url, "direct")
    if itself.ok:
        return Discovery(url=url, final_url=page.final_url, candidates=(itself,))
    links = find_feed_links(
        page.body or b"", page.final_url, content_type=page.headers.get("content-type")
    )
    # The page was just fetched and is not a feed: asking again cannot change that.
    links = tuple(link for link in links if link.url not in (url, page.final_url))
    candidates: list[Candidate] = []
    if links:
        for link in links[:MAX_CHECKED]:
            result = await fetcher.fetch(FetchRequest(url=link.url))
            candidates.append(_as_candidate(result, link.url, "link"))
    else:
        for probe in probe_urls(page.final_url):
            if probe in (url, page.final_url):
                continue
            result = await fetcher.fetch(FetchRequest(url=probe))
            candidates.append(_as_candidate(result, probe, "probe"))
            if candidates[-1].ok or _host_unusable(result.error):
                break
    return Discovery(
        url=url,
        final_url=page.final_url,
        candidates=tuple(candidates),
        page_error=itself.error,
        page_error_type=itself.error_type,
        unchecked=tuple(link.url for link in links[MAX_CHECKED:]),
    )
