"""Is the topic, feed or event a request names there at all? And events by the filters
the CLI and the API share (topic, since, minimum outlets).

An unknown name must not look like "nothing yet": the API answers 404 and the CLI
exits 1 with the same NotFoundError. Each check is one indexed lookup, cheap enough to
run before every filtered read.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Select
from sqlalchemy.exc import SQLAlchemyError

from aggregator.errors import StorageError
from aggregator.store import names as checks
from aggregator.store.hits import Filters

if TYPE_CHECKING:
    from aggregator.models import Event
    from aggregator.store.archive import Archive


def require_topic(engine: Engine, name: str, configured: Iterable[str]) -> None:
    """A topic is known when it is configured or has matches (one since removed from
    the file still has its history)."""
    checks.check_topic(_runner(engine), name, configured)


def require_feeds(engine: Engine, names: Sequence[str]) -> None:
    """Every named feed is in the database (removed feeds too: their articles stay)."""
    checks.check_feeds(_runner(engine), names)


def require_event(engine: Engine, event_id: int) -> None:
    """The event exists (a merged id counts: it resolves to the event that absorbed it)."""
    checks.check_event(_runner(engine), event_id)


def require_known(
    engine: Engine,
    filters: Filters,
    configured_topics: Iterable[str],
    known_feeds: Collection[str] = (),
) -> None:
    """Every topic, feed and event the filters name exists; NotFoundError otherwise.

    ``known_feeds``: names already seen in the database (a feed that an article of the
    page came from), not looked up again. The rule and the statements are the ones
    ``Archive.search(configured_topics=...)`` checks on its own connection
    (``store.names``)."""
    checks.check_known(_runner(engine), filters, configured_topics, known_feeds)


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


def _runner(engine: Engine) -> checks.Run:
    """``store.names``' statements run through SQLAlchemy, a connection each: the
    lookups of the CLI and of the pages beside a search (not on a hot path)."""

    def run(
        build: Callable[..., Select[Any]], args: tuple[Any, ...], params: dict[str, Any]
    ) -> Any:
        try:
            with engine.connect() as conn:
                return conn.execute(build(*args), params).all()
        except SQLAlchemyError as exc:
            what = "feed lookup" if build is checks.feeds_statement else "lookup"
            raise StorageError(f"{what}: {exc}") from exc

    return run
