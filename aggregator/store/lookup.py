"""Is the topic, feed or event a request names there at all? And events by the filters
the CLI and the API share (topic, since, minimum outlets).

An unknown name must not look like "nothing yet": the API answers 404 and the CLI
exits 1 with the same NotFoundError. Each check is one indexed lookup, cheap enough to
run before every filtered read.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Select, select
from sqlalchemy.exc import SQLAlchemyError

from aggregator.errors import NotFoundError, StorageError
from aggregator.models import Event
from aggregator.store.archive import Archive
from aggregator.store.retention import DELETING
from aggregator.store.schema import clusters, feeds, matches
from aggregator.store.views import Filters


def require_topic(engine: Engine, name: str, configured: Iterable[str]) -> None:
    """A topic is known when it is configured or has matches (one since removed from
    the file still has its history)."""
    if name in set(configured):
        return
    stmt = select(matches.c.id).where(matches.c.topic == name).limit(1)
    if _first(engine, stmt) is None:
        raise NotFoundError("topic", name)


def require_feeds(engine: Engine, names: Sequence[str]) -> None:
    """Every named feed is in the database (removed feeds too: their articles stay)."""
    if not names:
        return
    stmt = select(feeds.c.name).where(feeds.c.name.in_(sorted(set(names))))
    try:
        with engine.connect() as conn:
            found = set(conn.scalars(stmt))
    except SQLAlchemyError as exc:
        raise StorageError(f"feed lookup: {exc}") from exc
    for name in names:
        if name not in found:
            raise NotFoundError("feed", name)


def require_event(engine: Engine, event_id: int) -> None:
    """The event exists (a merged id counts: it resolves to the event that absorbed it)."""
    stmt = select(clusters.c.id).where(clusters.c.id == event_id, clusters.c.status != DELETING)
    if _first(engine, stmt) is None:
        raise NotFoundError("event", event_id)


def require_known(
    engine: Engine,
    filters: Filters,
    configured_topics: Iterable[str],
    known_feeds: Collection[str] = (),
) -> None:
    """Every topic, feed and event the filters name exists; NotFoundError otherwise.

    ``known_feeds``: names already seen in the database (a feed that an article of the
    page came from), not looked up again."""
    if filters.topic is not None:
        require_topic(engine, filters.topic, configured_topics)
    require_feeds(engine, [name for name in filters.feeds if name not in known_feeds])
    if filters.cluster is not None:
        require_event(engine, filters.cluster)


def events_matching(
    archive: Archive,
    *,
    topic: str | None = None,
    since: datetime | None = None,
    min_sources: int | None = None,
    before: datetime | None = None,
    limit: int = 50,
) -> list[Event]:
    """Events newest first by first report, first reported at or after ``since``, from
    at least ``min_sources`` outlets: read page by page until ``limit`` pass."""
    if since is None and min_sources is None:
        return archive.events(topic=topic, before=before, limit=limit)
    found: list[Event] = []
    while len(found) < limit:
        page = archive.events(topic=topic, before=before, limit=200)
        for event in page:
            if since is not None and event.first_seen < since:
                return found
            if min_sources is None or event.outlet_count >= min_sources:
                found.append(event)
                if len(found) == limit:
                    return found
        if len(page) < 200:
            break
        before = page[-1].first_seen
    return found


def _first(engine: Engine, stmt: Select[Any]) -> Any:
    try:
        with engine.connect() as conn:
            return conn.execute(stmt).first()
    except SQLAlchemyError as exc:
        raise StorageError(f"lookup: {exc}") from exc
