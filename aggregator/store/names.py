"""Do the topic, feeds and event a request names exist? The statements and the rule,
shared by the CLI's and the web's checks (``store.lookup``) and by a search that
checks its own filters on its own connection (``Archive.search(configured_topics=)``).

Each statement is built once, every value a parameter, so that the archive compiles
it once and runs it on the driver (``store.search.DriverStatement``): the API's feed
searches looked their names up through a second connection and SQLAlchemy's
statement path, ~150-300 µs of CPU per request beside the search (issue 17). Nothing
here is kept between calls: a feed row may be added or renamed by another process
(the CLI, ``Store.add_api_feed``) at any time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import Select, bindparam, select

from aggregator.errors import NotFoundError
from aggregator.store.hits import Filters
from aggregator.store.retention import DELETING
from aggregator.store.schema import clusters, feeds, matches

# (statement builder, its arguments, the parameters) -> the rows it finds
Run = Callable[[Callable[..., Select[Any]], tuple[Any, ...], dict[str, Any]], Sequence[Any]]


@functools.cache
def topic_statement() -> Select[Any]:
    """One match of the topic ``topic``, if any (a topic with history is known)."""
    topic = bindparam("topic", type_=matches.c.topic.type)
    return select(matches.c.id).where(matches.c.topic == topic).limit(1)


@functools.cache
def feeds_statement(n: int) -> Select[Any]:
    """The names among ``feed_0``...``feed_{n-1}`` that are feed rows (removed feeds
    too: their articles stay). Callers pad their names to a power of two with the last
    one (a repeated name changes nothing an ``IN`` finds): few statements are built."""
    names = [bindparam(f"feed_{i}", type_=feeds.c.name.type) for i in range(n)]
    return select(feeds.c.name).where(feeds.c.name.in_(names))


@functools.cache
def event_statement() -> Select[Any]:
    """The event ``cluster``, unless retention is deleting it (a merged id counts: it
    resolves to the event that absorbed it)."""
    ident = bindparam("cluster", type_=clusters.c.id.type)
    return select(clusters.c.id).where(clusters.c.id == ident, clusters.c.status != DELETING)


def feed_params(names: Sequence[str]) -> tuple[int, dict[str, Any]]:
    """:func:`feeds_statement`'s size and parameters for ``names`` (not empty)."""
    unique = sorted(set(names))
    size = 1 << (len(unique) - 1).bit_length()
    padded = [*unique, *[unique[-1]] * (size - len(unique))]
    return size, {f"feed_{i}": name for i, name in enumerate(padded)}


def check_topic(run: Run, name: str, configured: Iterable[str]) -> None:
    """A topic is known when it is configured or has matches (one since removed from
    the file still has its history); NotFoundError otherwise."""
    if name in set(configured):
        return
    if not run(topic_statement, (), {"topic": name}):
        raise NotFoundError("topic", name)


def check_feeds(run: Run, names: Sequence[str]) -> None:
    """Every named feed is a feed row; NotFoundError for the first that is not."""
    if not names:
        return
    size, params = feed_params(names)
    found = {row[0] for row in run(feeds_statement, (size,), params)}
    for name in names:
        if name not in found:
            raise NotFoundError("feed", name)


def check_event(run: Run, event_id: int) -> None:
    """The event exists; NotFoundError otherwise."""
    if not run(event_statement, (), {"cluster": event_id}):
        raise NotFoundError("event", event_id)


def check_known(
    run: Run,
    filters: Filters,
    configured_topics: Iterable[str],
    known_feeds: Collection[str] = (),
) -> None:
    """Every topic, feed and event ``filters`` name exists, checked in that order;
    NotFoundError for the first that does not. ``known_feeds``: names already seen in
    the database (a feed an article of the page came from), not looked up again."""
    if filters.topic is not None:
        check_topic(run, filters.topic, configured_topics)
    check_feeds(run, [name for name in filters.feeds if name not in known_feeds])
    if filters.cluster is not None:
        check_event(run, filters.cluster)
