"""Article builders shared by the benchmarks (no I/O, no randomness hidden)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from aggregator.models import Article


def make_article(
    *,
    title: str,
    published: datetime,
    feed: str = "bench",
    url: str | None = None,
    text: str = "",
    content_hash: str | None = None,
) -> Article:
    """An ``Article`` as normalize would hand it on, built from the given fields.

    ``content_hash``: the clustering benchmarks need any digest unique to the text;
    dedup's exact match needs normalize's own (``aggregator.text.content_hash``).
    """
    digest = content_hash or hashlib.sha1(f"{title}\n{text}".encode()).hexdigest()
    return Article(
        feed=feed,
        guid=url,
        url=url,
        canonical_url=url,
        title=title,
        title_raw=title,
        summary="",
        text=text,
        html="",
        author=None,
        published=published,
        published_estimated=False,
        fetched_at=published,
        language="en",
        content_hash=digest,
        fulltext=text or None,
    )
