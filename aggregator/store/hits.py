"""What a search returns, and what pages a list: ``Filters``, ``ArticleSummary``,
``SearchPage``, ``EventQuery`` (the events list's), and the opaque cursors of keyset
pages.

Apart from ``views`` (which re-exports them), whose events' and alerts' records bring
the models and the events' statements with them: ``aggregator search`` needs only
these (issue 17: a command's start is mostly imports, and each frozen dataclass costs
about a millisecond to make; ``tests/test_cli_imports.py``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from aggregator.errors import QueryError


@dataclass(frozen=True, slots=True)
class Filters:
    """Conditions beside the full-text query. Empty means "everything"."""

    topic: str | None = None  # articles that matched this topic
    feeds: tuple[str, ...] = ()  # feed (outlet) names; any of them
    cluster: int | None = None
    language: str | None = None
    since: datetime | None = None  # published at or after
    until: datetime | None = None  # published before


@dataclass(frozen=True, slots=True)
class ArticleSummary:
    id: int
    feed: str
    feed_title: str | None
    title: str
    url: str | None
    published: datetime
    language: str | None
    summary: str
    cluster_id: int | None
    score: float | None  # relevance, higher is better; None when not ranked


@dataclass(frozen=True, slots=True)
class SearchPage:
    items: tuple[ArticleSummary, ...]
    next_cursor: str | None


EventSort = Literal["updated", "first"]


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Which events a list shows, and in which order."""

    topic: str | None = None
    min_outlets: int = 0  # at least this many outlets reporting
    # Events whose sort key (last update, or first report) is at or after this time.
    since: datetime | None = None
    # "updated": the event that just grew comes first; "first": newest first report.
    sort: EventSort = "updated"


def encode_cursor(kind: str, fingerprint: str, key: Sequence[str | int | datetime]) -> str:
    """An opaque cursor: where a page ended (its last row's sort key), for keyset pages.

    ``kind`` and ``fingerprint`` (of the filters) tie it to the list that made it, so
    a cursor pasted into another list or filter is refused instead of skipping rows.
    """
    values = [v.isoformat() if isinstance(v, datetime) else v for v in key]
    raw = json.dumps([kind, fingerprint, values], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(
    text: str, kind: str, fingerprint: str, shape: Sequence[type]
) -> tuple[str | int | datetime, ...]:
    """The key of ``encode_cursor``, each value of the type ``shape`` gives; QueryError
    for anything else."""
    bad = QueryError(text, "invalid cursor: follow the page's own link")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        got_kind, got_fingerprint, values = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise bad from exc
    if got_kind != kind or got_fingerprint != fingerprint:
        raise QueryError(text, "this cursor belongs to another list or filter")
    if not isinstance(values, list) or len(values) != len(shape):
        raise bad
    out: list[str | int | datetime] = []
    for value, want in zip(values, shape, strict=True):
        if want is datetime:
            try:
                when = datetime.fromisoformat(value) if isinstance(value, str) else None
            except ValueError:
                when = None
            if when is None or when.tzinfo is None:
                raise bad
            out.append(when)
        elif (want is int and type(value) is int) or (want is str and isinstance(value, str)):
            out.append(value)
        else:
            raise bad
    return tuple(out)


def fingerprint(value: object) -> str:
    """A short digest of a list's filters (their repr: frozen dataclasses, tuples)."""
    return hashlib.sha256(repr(value).encode()).hexdigest()[:16]


def article_summary(row: Any, score: float | None = None) -> ArticleSummary:
    # Positional, in the fields' order: a search makes up to 200 of these, and keyword
    # arguments cost a quarter more per record (tests/test_archive.py checks the order).
    return ArticleSummary(
        row.id,
        row.feed,
        row.feed_title,
        row.title,
        row.url,
        row.published,
        row.language,
        row.summary,
        row.cluster_id,
        score,
    )
