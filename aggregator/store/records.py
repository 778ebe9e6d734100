"""The frozen values that go into and come out of the Store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """A feed as the configuration declares it."""

    name: str
    url: str
    fixed_interval: float | None = None
    fulltext: bool = False
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class FeedState:
    """What a poll needs to know about a feed (claimed with a lease)."""

    id: int
    name: str
    url: str
    etag: str | None
    last_modified: str | None
    validators_url: str | None
    body_hash: str | None
    interval_seconds: float | None
    fixed_interval: float | None
    fulltext: bool
    error_count: int
    state: str
    next_poll_at: datetime
    last_new_at: datetime | None

    def validators_for(self, url: str) -> tuple[str | None, str | None]:
        """Validators are specific to the URL that sent them (never reused across URLs)."""
        if self.validators_url == url:
            return self.etag, self.last_modified
        return None, None


@dataclass(frozen=True, slots=True)
class PollRecord:
    """Everything a finished poll changes on its feed, written in one transaction."""

    feed_id: int
    owner: str
    started_at: datetime
    duration: float
    outcome: str  # ok | not_modified | unchanged | failed | deferred
    url: str  # the URL requested
    http_status: int | None
    bytes_wire: int
    bytes_decoded: int
    etag_sent: str | None
    last_modified_sent: str | None
    etag_received: str | None
    last_modified_received: str | None
    error: str | None
    warnings: tuple[str, ...]
    # feed updates
    new_url: str | None  # a permanent redirect moved the feed
    validators_url: str
    body_hash: str | None
    next_poll_at: datetime
    interval_seconds: float | None
    error_count: int
    state: str
    title: str | None = None
    site_url: str | None = None
    # Seconds queued for the per-host limits before the fetch; ``duration`` excludes
    # them, so that a feed is judged slow on its own time, not on its neighbours'.
    waited: float = 0.0


@dataclass(frozen=True, slots=True)
class StoreCounts:
    new: int
    updated: int
    stored: bool = True  # False when the lease had passed to another daemon
    # Entries of the document not stored because an earlier one had the same identity
    # (parse tells different entries apart, so these are repeats; counted, not silent).
    collapsed: int = 0
