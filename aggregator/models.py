"""Frozen records passed between the stages, and the identity both halves share.

The poll half: fetch → ``FetchResult`` → parse → ``ParsedFeed`` (of ``ParsedEntry``)
→ normalize → ``Article`` → stored by the poller (``article_identity`` keys it per
feed). The process half reads stored articles back: dedup → ``DedupDecision`` →
cluster → ``ClusterDecision`` → match → ``Match`` → outbox rows for the alerts. Every
stage is a function of these values and of state handed in, so each decision can be
tested without I/O; the database between the halves is ``aggregator.store``.

All datetimes are timezone-aware UTC.
"""

from __future__ import annotations

import base64
import hashlib
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from aggregator.errors import FetchError


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """How the fetcher behaves; built from the configuration, never read globally."""

    user_agent: str
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    total_timeout: float = 60.0
    max_body_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    allow_private_networks: bool = False
    max_connections: int = 100
    per_host_connections: int = 2
    per_host_min_gap: float = 0.0  # seconds between two requests to one host


@dataclass(frozen=True, slots=True, repr=False)
class RequestAuth:
    """What a feed's own server wants from us: HTTP Basic credentials, extra headers
    (an API key, a cookie, a User-Agent it insists on).

    They are sent only to ``origin``, the scheme, host and port of the feed's URL as
    configured: not to another origin a redirect points at (as curl and browsers
    drop ``Authorization`` there), nor to the new address of a feed that moved, since
    a 301 from a compromised host must not be able to collect the password.
    """

    origin: str  # "https://wire.example:443", from ``origin_of``
    headers: tuple[tuple[str, str], ...] = ()
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:
        # Secrets never reach a log line or an error message; header names may.
        names = ", ".join(name for name, _ in self.headers)
        basic = " basic" if self.username is not None else ""
        return f"RequestAuth({self.origin}{basic} headers=[{names}])"

    def applies_to(self, url: str) -> bool:
        return origin_of(url) == self.origin

    def header_items(self) -> list[tuple[str, str]]:
        items = list(self.headers)
        if self.username is not None:
            pair = f"{self.username}:{self.password or ''}".encode()
            items.append(("Authorization", "Basic " + base64.b64encode(pair).decode("ascii")))
        return items


# RFC 9110 token: what a header name may be made of.
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def header_problems(headers: Mapping[str, str], reserved: frozenset[str], owner: str) -> list[str]:
    """What is wrong with configured extra request headers (a feed's, a webhook's), one
    line per header. Values are never quoted: they usually carry a token or a key.
    ``reserved`` (lower-case) are the names ``owner`` sets itself."""
    problems = []
    for name, value in headers.items():
        if not _HEADER_NAME.match(name):
            problems.append(f"{name!r} is not a valid header name")
        elif name.lower() in reserved:
            problems.append(f"{name} is set by {owner} itself")
        elif any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value.replace("\t", " ")):
            # A newline would be refused by the HTTP library on every attempt.
            problems.append(f"{name}: control characters in the value")
        elif not value.isascii():
            # httpx sends header values as ASCII; anything else would fail every attempt.
            problems.append(f"{name}: non-ASCII characters in the value")
    return problems


def origin_of(url: str) -> str:
    """``scheme://host:port`` with the default port spelled out, lower-cased."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # a malformed port: an origin nothing else can equal
        return url
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{(parts.hostname or '').lower()}:{port or default}"


@dataclass(frozen=True, slots=True)
class FetchRequest:
    url: str
    etag: str | None = None  # sent verbatim as If-None-Match
    last_modified: str | None = None  # sent verbatim as If-Modified-Since
    auth: RequestAuth | None = None  # the feed's credentials (for its own origin only)


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one conditional GET produced. ``error`` is set when it failed."""

    request: FetchRequest
    final_url: str
    status: int | None  # None when no HTTP response arrived
    headers: Mapping[str, str]  # lower-cased names; repeated headers joined with ", "
    body: bytes | None  # decompressed; None on 304 or error
    etag: str | None  # the validators to send next time (verbatim)
    last_modified: str | None
    bytes_wire: int = 0
    bytes_decoded: int = 0
    elapsed: float = 0.0  # seconds, from the first request sent
    # Seconds spent queueing for our own politeness limits (the per-host slots, the
    # per-host gap) before sending: not the server's time, so not its slowness.
    waited: float = 0.0
    permanent_url: str | None = None  # set when every redirect hop was 301/308
    retry_after: datetime | None = None  # from Retry-After on 429/503
    error: FetchError | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    """One feed item as the feed gave it, made safe but not yet normalized.

    Links are absolute http(s) or None and control characters are stripped, but the
    HTML is *not* sanitized here: normalize sanitizes once, on output, with nh3.
    """

    guid: str | None
    link: str | None  # absolute http(s) only, else None
    title: str
    summary_html: str
    content_html: str
    author: str | None
    published: datetime | None
    updated: datetime | None
    date_flagged: bool = False  # an absurd date was dropped
    # Set when different entries of one document share their GUID or link: what tells
    # this one apart (a digest of its title, or of its title and content), so the
    # store keeps each of them instead of the first.
    variant: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    kind: str  # e.g. "rss20", "rss10", "atom10", "json11"
    title: str | None
    link: str | None
    entries: tuple[ParsedEntry, ...]
    ttl_minutes: int | None = None
    skip_hours: frozenset[int] = frozenset()
    skip_days: frozenset[str] = frozenset()  # "Monday" … "Sunday"
    hub_url: str | None = None  # WebSub hub, when advertised
    warnings: tuple[str, ...] = ()  # recoverable problems (bozo), recorded with the poll


@dataclass(frozen=True, slots=True)
class Article:
    """A normalized article, ready for dedup, clustering, matching and storage."""

    feed: str  # the feed's configured name (the outlet)
    guid: str | None
    url: str | None  # link as given by the feed
    canonical_url: str | None
    title: str  # cleaned: outlet suffixes and UPDATE markers removed
    title_raw: str
    summary: str  # clean text
    text: str  # clean text, paragraphs separated by "\n\n"; the best text we have
    html: str  # sanitized HTML for display
    author: str | None
    published: datetime
    published_estimated: bool  # missing or absurd date replaced by the fetch time
    fetched_at: datetime
    language: str | None  # ISO 639-1
    content_hash: str  # hex digest of the normalized title + text
    fingerprint: int = 0  # reserved: a signed 64-bit fingerprint; 0 (none) for now
    fulltext: str | None = None  # extracted page text, when fetched
    variant: str | None = None  # ParsedEntry.variant: part of the identity when set
    # The semantic vector of title + lead (``aggregator.semantic``: float16 bytes),
    # computed on the poll side for new articles inside the clustering window.
    embedding: bytes | None = None

    def __reduce__(self) -> tuple[Callable[..., Article], tuple[Any, ...]]:
        # Pickled as its values in field order, rebuilt through the slots: a burst
        # worker pickles every article it makes and the daemon unpickles it. The
        # dataclass's own __getstate__/__setstate__ call fields() and go through
        # object.__setattr__ field by field, in Python: ~8 us an article in the worker
        # and ~4 us in the daemon's thread, holding the GIL the writer waits for
        # (issue 17). The same values come back (tests/test_article_pickle.py).
        return _rebuild_article, _article_values(self)


_ARTICLE_FIELDS = tuple(f.name for f in fields(Article))
_article_values: Callable[[Article], tuple[Any, ...]] = operator.attrgetter(*_ARTICLE_FIELDS)
# The slots' own descriptors: they set a field of a frozen instance without its
# __setattr__ (which refuses), as the dataclass's __init__ does through object's.
_ARTICLE_SETTERS: tuple[Callable[[Article, Any], None], ...] = tuple(
    getattr(Article, name).__set__ for name in _ARTICLE_FIELDS
)


def _rebuild_article(*values: Any) -> Article:
    """The ``Article`` whose fields are ``values`` (``Article.__reduce__``)."""
    article: Article = object.__new__(Article)
    for set_field, value in zip(_ARTICLE_SETTERS, values, strict=True):
        set_field(article, value)
    return article


# Identities longer than this are hashed: they are a column of String(512), and a
# GUID has no length limit.
_IDENTITY_MAX = 500


def article_identity(article: Article) -> str:
    """guid, else link, else content hash: what makes an entry the same on the next poll.

    The poller checks it before storing and the store keys articles by it, so it lives
    with the record both halves share. An entry sharing its guid or link with a
    different entry of the same document carries a ``variant`` (parse decides it),
    appended so that both are kept."""
    if article.guid:
        key = "g:" + article.guid
    elif article.url:
        key = "l:" + article.url
    else:
        key = "h:" + article.content_hash
    if article.variant and not key.startswith("h:"):
        key += "#" + article.variant
    if len(key) > _IDENTITY_MAX:
        key = key[:2] + "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


@dataclass(frozen=True, slots=True)
class DedupDecision:
    """``duplicate_of`` names the first-seen original (an article id) or None."""

    duplicate_of: int | None
    kind: str | None = None  # "url", "exact", "near"
    similarity: float = 0.0
    # Why, for a person reading ``cluster show --explain``: the phrases of this text
    # that were ignored as boilerplate (footers, "About X", stock sentences), and an
    # earlier article that shared text with it but was judged not copied, with why.
    boilerplate: tuple[str, ...] = ()
    not_copy_of: int | None = None
    not_copy_reason: str | None = None
    # The text without its boilerplate paragraphs (None: the text as it is): what the
    # clusterer should read, so that shared footers do not make one event of two.
    distinctive_text: str | None = None


@dataclass(frozen=True, slots=True)
class HourCount:
    hour: datetime  # start of the hour, UTC
    count: int


@dataclass(frozen=True, slots=True)
class Event:
    """An event: the reports of one real-world story, clustered. One record for every
    stage that handles one: the clusterer describes the events it holds with it, the
    consumer stores and alerts with it, the archive reads it back (with its timeline)."""

    id: int
    headline: str
    first_seen: datetime
    last_updated: datetime
    article_count: int
    outlet_count: int
    top_terms: tuple[str, ...]
    # "active" (still takes articles), "dormant" (silent too long: only a report that
    # clearly continues it revives it, ``ClusterSettings.revive_quiet``), "merged"
    status: str
    merged_into: int | None = None
    timeline: tuple[HourCount, ...] = ()  # articles per hour from the first report (archive)


@dataclass(frozen=True, slots=True)
class ClusterDecision:
    cluster_id: int
    is_new: bool
    score: float  # similarity to the cluster it joined (0 for a new cluster)
    matched_terms: tuple[str, ...] = ()
    merged: tuple[int, ...] = ()  # cluster ids merged into cluster_id by this article
    # The other signals that decided, in words (names agreement, clusters refused).
    signals: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Match:
    topic: str
    matched_terms: tuple[str, ...] = field(default=())
