"""A fetched body into normalized articles: parse + normalize, and nothing else.

What a parse worker runs, kept apart from ``aggregator.poll.poller`` so that a worker
importing it imports only the parse stack (feedparser, lxml, nh3, pycld2), not the
store, the fetcher or numpy: the burst worker (``aggregator.poll.burst_worker``)
starts with about half the modules and memory of a process that imports the poller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aggregator.models import Article, ParsedFeed
from aggregator.poll.normalize import NormalizeSettings, normalize_entry
from aggregator.poll.parse import parse_feed


@dataclass(frozen=True, slots=True)
class ProcessedFeed:
    """What the worker process returns: the feed's metadata and its normalized articles."""

    feed: ParsedFeed
    articles: tuple[Article, ...]


def process_body(
    body: bytes,
    *,
    url: str,
    headers: dict[str, str],
    fetched_at: datetime,
    feed_name: str,
    settings: NormalizeSettings,
) -> ProcessedFeed:
    """Parse and normalize in one go; runs in a worker process (top level: picklable).

    Returning normalized articles rather than the parsed feed keeps the CPU work off the
    event loop and means the HTML is sanitized once, on its way out, by normalize.
    """
    parsed = parse_feed(body, url=url, headers=headers, fetched_at=fetched_at)
    articles = tuple(
        normalize_entry(entry, feed=feed_name, fetched_at=fetched_at, settings=settings)
        for entry in parsed.entries
    )
    # The entries travel as articles; keep only the feed-level metadata.
    meta = ParsedFeed(
        kind=parsed.kind,
        title=parsed.title,
        link=parsed.link,
        entries=(),
        ttl_minutes=parsed.ttl_minutes,
        skip_hours=parsed.skip_hours,
        skip_days=parsed.skip_days,
        hub_url=parsed.hub_url,
        warnings=parsed.warnings,
    )
    return ProcessedFeed(feed=meta, articles=articles)


@dataclass(frozen=True, slots=True)
class ProcessCall:
    """A picklable call of ``process_body``: what the poller hands its parse executor,
    and what the burst executor (``aggregator.workers.BurstExecutor``) may send to its
    worker process (it sends nothing else there)."""

    body: bytes
    url: str
    headers: dict[str, str]
    fetched_at: datetime
    feed_name: str
    settings: NormalizeSettings

    def __call__(self) -> ProcessedFeed:
        return process_body(
            self.body,
            url=self.url,
            headers=self.headers,
            fetched_at=self.fetched_at,
            feed_name=self.feed_name,
            settings=self.settings,
        )
