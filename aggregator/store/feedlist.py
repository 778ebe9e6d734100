"""The feeds with their health: the records and the one query behind ``aggregator
feeds``, the API's feed list and the web page's.

Apart from ``archive`` and ``views`` (which re-export them) because ``aggregator
feeds`` needs nothing else of the read side: importing the archive brings full-text
search, the query language and every read model, dozens of dataclasses and tables'
worth of a command's start (issue 17; ``tests/test_cli_imports.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Select, func, select

from aggregator.store.engine import storage_errors
from aggregator.store.schema import articles, feeds, polls


@dataclass(frozen=True, slots=True)
class PollInfo:
    started_at: datetime
    duration: float
    outcome: str
    http_status: int | None
    new_entries: int
    updated_entries: int
    error: str | None
    url: str = ""
    bytes_wire: int = 0
    bytes_decoded: int = 0
    etag_sent: str | None = None
    last_modified_sent: str | None = None
    etag_received: str | None = None
    last_modified_received: str | None = None
    warnings: str | None = None
    waited: float | None = None  # seconds queued for the per-host limits (not in duration)


@dataclass(frozen=True, slots=True)
class FeedInfo:
    id: int
    name: str
    title: str | None
    url: str
    site_url: str | None
    state: str
    enabled: bool
    last_outcome: str | None
    last_http_status: int | None
    last_error: str | None
    last_polled_at: datetime | None
    last_success_at: datetime | None
    next_poll_at: datetime
    error_count: int
    article_count: int
    recent_polls: tuple[PollInfo, ...] = field(default=())
    interval_seconds: float | None = None  # the adaptive interval in force
    avg_duration: float | None = None  # seconds, over the last day's polls


@storage_errors
class FeedList:
    """The feeds' health, read-only (``Archive.feeds`` is this)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def feeds(self, *, polls_per_feed: int = 0, name: str | None = None) -> list[FeedInfo]:
        """Feeds with their health; with ``polls_per_feed`` > 0 their latest polls."""
        stmt = feeds_statement()
        if name is not None:
            stmt = stmt.where(feeds.c.name == name)
        out = []
        with self.engine.connect() as conn:
            for r in conn.execute(stmt).all():
                recent: tuple[PollInfo, ...] = ()
                if polls_per_feed > 0:
                    recent = tuple(
                        PollInfo(
                            p.started_at,
                            p.duration,
                            p.outcome,
                            p.http_status,
                            p.new_entries,
                            p.updated_entries,
                            p.error,
                            url=p.url,
                            bytes_wire=p.bytes_wire,
                            bytes_decoded=p.bytes_decoded,
                            etag_sent=p.etag_sent,
                            last_modified_sent=p.last_modified_sent,
                            etag_received=p.etag_received,
                            last_modified_received=p.last_modified_received,
                            warnings=p.warnings,
                            waited=p.waited,
                        )
                        for p in conn.execute(
                            select(polls)
                            .where(polls.c.feed_id == r.id)
                            .order_by(polls.c.started_at.desc(), polls.c.id.desc())
                            .limit(polls_per_feed)
                        )
                    )
                out.append(feed_info(r, recent))
        return out


def feeds_statement() -> Select[Any]:
    """Feeds by name with their article count and the last day's mean poll time."""
    counts = (
        select(articles.c.feed_id, func.count().label("n")).group_by(articles.c.feed_id).subquery()
    )
    day_ago = datetime.now(UTC) - timedelta(days=1)
    speed = (
        select(polls.c.feed_id, func.avg(polls.c.duration).label("avg_duration"))
        .where(polls.c.started_at >= day_ago)
        .group_by(polls.c.feed_id)
        .subquery()
    )
    return (
        select(feeds, func.coalesce(counts.c.n, 0).label("article_count"), speed.c.avg_duration)
        .outerjoin(counts, counts.c.feed_id == feeds.c.id)
        .outerjoin(speed, speed.c.feed_id == feeds.c.id)
        .order_by(feeds.c.name)
    )


def feed_info(r: Any, recent: tuple[PollInfo, ...]) -> FeedInfo:
    """A row of ``feeds_statement`` as its record."""
    return FeedInfo(
        id=r.id,
        name=r.name,
        title=r.title,
        url=r.url,
        site_url=r.site_url,
        state=r.state,
        enabled=r.enabled,
        last_outcome=r.last_outcome,
        last_http_status=r.last_http_status,
        last_error=r.last_error,
        last_polled_at=r.last_polled_at,
        last_success_at=r.last_success_at,
        next_poll_at=r.next_poll_at,
        error_count=r.error_count,
        article_count=r.article_count,
        recent_polls=recent,
        interval_seconds=r.interval_seconds,
        avg_duration=float(r.avg_duration) if r.avg_duration is not None else None,
    )
