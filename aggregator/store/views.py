"""The archive's read models: the frozen records its queries return, and their builders.

Kept apart from ``archive.py`` (the queries) so that the API, the web page, Atom output
and the CLI can name the records without the SQL, and the two files stay readable.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any, Literal, TypeVar

from aggregator.models import Event, HourCount
from aggregator.store.events import CopyDetail
from aggregator.store.feedlist import FeedInfo as FeedInfo
from aggregator.store.feedlist import PollInfo as PollInfo
from aggregator.store.hits import ArticleSummary as ArticleSummary
from aggregator.store.hits import EventQuery as EventQuery
from aggregator.store.hits import EventSort as EventSort
from aggregator.store.hits import Filters as Filters
from aggregator.store.hits import SearchPage as SearchPage
from aggregator.store.hits import article_summary as article_summary
from aggregator.store.hits import decode_cursor as decode_cursor
from aggregator.store.hits import encode_cursor as encode_cursor
from aggregator.store.hits import fingerprint as fingerprint

# An event's timeline stops after this many hours: a sparkline, not a history.
TIMELINE_HOURS = 72


# -- records -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArticleDetail:
    id: int
    feed: str
    feed_title: str | None
    title: str
    url: str | None
    canonical_url: str | None
    author: str | None
    published: datetime
    language: str | None
    summary: str
    text: str
    html: str  # sanitized at ingest; sanitize again before rendering
    cluster_id: int | None
    duplicate_of: int | None
    duplicate_kind: str | None = None  # "url", "exact", "near"
    # what the copy decision shared and set aside as boilerplate (None: nothing to say)
    copy: CopyDetail | None = None


@dataclass(frozen=True, slots=True)
class OutletGroup:
    feed: str
    feed_title: str | None
    articles: tuple[ArticleSummary, ...]  # oldest first: who reported it when


@dataclass(frozen=True, slots=True)
class EventDetail:
    event: Event
    outlets: tuple[OutletGroup, ...]  # the first to report first
    # Events merged into this one (directly or through another), oldest id first: a
    # report matched both and showed they were one event; their ids resolve here.
    absorbed: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class TopicSummary:
    name: str
    match_count: int
    event_count: int
    last_match_at: datetime | None


@dataclass(frozen=True, slots=True)
class TopicMatch:
    article: ArticleSummary
    terms: tuple[str, ...]
    matched_at: datetime


@dataclass(frozen=True, slots=True)
class AlertInfo:
    id: str
    rule: str
    channel: str
    topic: str
    trigger: str
    cluster_id: int | None
    article_id: int | None
    status: str
    attempts: int
    due_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


# -- the web page's pages (keyset pagination) ---------------------------------------


@dataclass(frozen=True, slots=True)
class EventPage:
    items: tuple[Event, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class OutletCount:
    """One outlet's part in an event, by its configured (feeds.yaml) name."""

    feed: str
    articles: int  # copies of another outlet's article included
    first_report: datetime


@dataclass(frozen=True, slots=True)
class EventOverview:
    """An event's head: its row, every report time (for the timeline), its outlets."""

    event: Event
    times: tuple[datetime, ...]  # each article's publication time, oldest first
    outlets: tuple[OutletCount, ...]  # the first to report first
    absorbed: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Copy:
    """An article another outlet carried word for word (a syndicated copy)."""

    id: int
    feed: str
    url: str | None


@dataclass(frozen=True, slots=True)
class EventArticle:
    article: ArticleSummary  # feed is the configured name
    text: str  # paragraphs separated by a blank line
    copies: tuple[Copy, ...]  # folded under this original


@dataclass(frozen=True, slots=True)
class EventArticlePage:
    """Articles of an event by outlet (first to report first), each outlet's oldest
    first; copies of an article of the same event are folded under it."""

    items: tuple[EventArticle, ...]
    next_cursor: str | None
    continues: bool = False  # the first item's outlet began on the previous page


@dataclass(frozen=True, slots=True)
class FeedPage:
    items: tuple[FeedInfo, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    """Deliveries of one rule through one channel."""

    rule: str
    channel: str
    sent: int
    pending: int
    dead: int
    suppressed: int
    last_sent_at: datetime | None
    last_error: str | None  # of the newest alert that has one
    last_error_at: datetime | None
    disabled_reason: str | None  # the channel is off (e.g. the endpoint answered 410)


@dataclass(frozen=True, slots=True)
class AlertRow(AlertInfo):
    """An outbox row with what it was about."""

    subject: str | None = None  # the event's headline or the article's title


@dataclass(frozen=True, slots=True)
class AlertPage:
    items: tuple[AlertRow, ...]
    next_cursor: str | None


# -- builders ---------------------------------------------------------------------


A = TypeVar("A", bound=AlertInfo)


def alert_from_row(r: Any, kind: type[A], **extra: Any) -> A:
    """An ``alerts`` row as ``kind`` (AlertInfo, or a subclass given its own fields)."""
    return kind(
        id=r.id,
        rule=r.rule,
        channel=r.channel,
        topic=r.topic,
        trigger=r.trigger,
        cluster_id=r.cluster_id,
        article_id=r.article_id,
        status=r.status,
        attempts=r.attempts,
        due_at=r.due_at,
        last_error=r.last_error,
        created_at=r.created_at,
        sent_at=r.sent_at,
        **extra,
    )


def _hour(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hourly(times: Sequence[datetime], start: datetime) -> tuple[HourCount, ...]:
    """Counts per hour from ``start``'s hour to the last time (at most TIMELINE_HOURS).

    Empty hours are kept, so the sequence plots directly as a timeline.
    """
    if not times:
        return ()
    first = _hour(start)
    last = min(_hour(max(times)), first + timedelta(hours=TIMELINE_HOURS - 1))
    n = max(0, int((last - first) / timedelta(hours=1))) + 1
    counts = [0] * n
    for t in times:
        i = int((_hour(t) - first) / timedelta(hours=1))
        if 0 <= i < n:
            counts[i] += 1
    return tuple(HourCount(first + timedelta(hours=i), c) for i, c in enumerate(counts))


EXPORT_FIELDS = (
    "id",
    "feed",
    "title",
    "url",
    "canonical_url",
    "author",
    "published",
    "language",
    "cluster_id",
    "summary",
    "text",
)


def write_export(rows: Iterator[dict[str, Any]], fmt: Literal["jsonl", "csv"], out: IO[str]) -> int:
    """Write export rows as JSON lines or CSV (with a header); return the row count."""
    n = 0
    if fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False, default=_json_default) + "\n")
            n += 1
        return n
    if fmt != "csv":
        raise ValueError(f"unknown export format {fmt!r}")
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
        )
        n += 1
    return n


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
