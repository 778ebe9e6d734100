"""Small builders of stage values for tests."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aggregator.models import Article
from aggregator.store import PollRecord

NOW = datetime(2024, 11, 4, 12, 0, tzinfo=UTC)


def article(title: str = "North Korean troops arrive in Kursk", **kw: Any) -> Article:
    text = kw.pop("text", f"{title}. Body text.")
    base = Article(
        feed="Test Feed",
        guid=kw.pop("guid", None),
        url=kw.pop("url", None),
        canonical_url=None,
        title=title,
        title_raw=title,
        summary=text[:100],
        text=text,
        html=f"<p>{text}</p>",
        author=None,
        published=kw.pop("published", NOW),
        published_estimated=False,
        fetched_at=NOW,
        language="en",
        content_hash=hashlib.sha256((title + "\n" + text).encode()).hexdigest(),
        fingerprint=kw.pop("fingerprint", 0),
    )
    return replace(base, **kw)


def bare_article(
    title: str, *, text: str, feed: str, url: str | None, published: datetime, content_hash: str
) -> Article:
    """An article as dedup and the clusterer see it: its text only (no summary or
    HTML), the canonical URL its URL, fetched when it was published."""
    return article(
        title,
        text=text,
        feed=feed,
        url=url,
        canonical_url=url,
        summary="",
        html="",
        published=published,
        fetched_at=published,
        content_hash=content_hash,
    )


def poll_record(feed_id: int, **kw: Any) -> PollRecord:
    values: dict[str, Any] = {
        "feed_id": feed_id,
        "owner": "test",
        "started_at": NOW,
        "duration": 0.1,
        "outcome": "ok",
        "url": "http://127.0.0.1/feed",
        "http_status": 200,
        "bytes_wire": 100,
        "bytes_decoded": 200,
        "etag_sent": None,
        "last_modified_sent": None,
        "etag_received": '"v1"',
        "last_modified_received": "Mon, 04 Nov 2024 11:00:00 GMT",
        "error": None,
        "warnings": (),
        "new_url": None,
        "validators_url": "http://127.0.0.1/feed",
        "body_hash": "abc",
        "next_poll_at": NOW,
        "interval_seconds": 3600.0,
        "error_count": 0,
        "state": "active",
    }
    values.update(kw)
    return PollRecord(**values)


def reports(titles: Sequence[str], start: int) -> list[tuple[str, Article]]:
    """One report per title, each from its own outlet ("Outlet N"), a minute apart."""
    return [
        (
            f"Outlet {start + i}",
            article(
                t,
                guid=f"g{start + i}",
                feed=f"Outlet {start + i}",
                text=t,
                published=NOW + timedelta(minutes=start + i),
            ),
        )
        for i, t in enumerate(titles)
    ]
