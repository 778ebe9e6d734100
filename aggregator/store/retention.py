"""Statements of the retention job: forget poll history and old events.

Mixed into ``Store``. Everything is deleted in small batches, each in its own
transaction of at most BATCH polls or articles: on SQLite a long delete would hold the
one write lock and stall every poll, and on either backend a crash loses nothing but
the batch in flight, which the next run deletes again. An event being deleted is
marked first (DELETING) and hidden, so no page shows it half gone.

Articles go by **event**, not one by one: an event whose last report is older than the
cutoff is deleted with all its articles, their matches, its alerts that are done (sent,
dead or suppressed) and the stubs of the events merged into it; settled digest alerts
(of no single event) older than the cutoff go too. An event that is still being
reported keeps every article, however old, so an event's page, counts and timeline
never show half of it. Articles outside any event (not yet clustered) are never
deleted here. The identities of undated entries among the deleted articles are kept
(``forgotten_entries``), so a feed that still lists one does not bring it back as news.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    and_,
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection

from aggregator.store.engine import dialect_insert, storage_errors
from aggregator.store.schema import (
    alerts,
    articles,
    clusters,
    feeds,
    forgotten_entries,
    id_high_water,
    polls,
)

BATCH = 500  # rows per transaction: short write locks on SQLite

# The status of an event the retention job is deleting: hidden from every listing and
# page while its articles go, batch by batch.
DELETING = "deleting"


@dataclass(frozen=True, slots=True)
class PruneCounts:
    """What one retention run deleted (or, for a dry run, would delete)."""

    polls: int = 0
    events: int = 0
    articles: int = 0
    alerts: int = 0

    def __add__(self, other: PruneCounts) -> PruneCounts:
        return PruneCounts(
            self.polls + other.polls,
            self.events + other.events,
            self.articles + other.articles,
            self.alerts + other.alerts,
        )


@storage_errors
class RetentionStatements:
    engine: Engine

    def prune(
        self,
        now: datetime,
        *,
        polls_age: timedelta,
        polls_per_feed: int,
        articles_age: timedelta | None,
        dry_run: bool = False,
    ) -> PruneCounts:
        """One retention run: poll history, then (when an age is set) old events."""
        if dry_run:
            counts = PruneCounts(
                polls=self.prune_polls(now - polls_age, keep_per_feed=polls_per_feed, dry_run=True)
            )
            if articles_age is not None:
                counts += self.prune_events(now - articles_age, dry_run=True)
            return counts
        total = PruneCounts()
        for step in self.prune_batches(
            now, polls_age=polls_age, polls_per_feed=polls_per_feed, articles_age=articles_age
        ):
            total += step
        return total

    def prune_batches(
        self,
        now: datetime,
        *,
        polls_age: timedelta,
        polls_per_feed: int,
        articles_age: timedelta | None,
    ) -> Generator[PruneCounts]:
        """A retention run one transaction at a time: each step deletes at most BATCH
        polls or articles and yields what it did, so the daemon runs each step as its
        own unit of work on the writer thread, and can stop between any two."""
        for n in self._poll_steps(now - polls_age, polls_per_feed):
            yield PruneCounts(polls=n)
        if articles_age is not None:
            yield from self._event_steps(now - articles_age)

    def _poll_steps(self, before: datetime, keep: int) -> Iterator[int]:
        for feed_id in self._feed_ids():
            while n := self._delete_feed_polls(feed_id, before, keep):
                yield n

    def _event_steps(self, before: datetime) -> Iterator[PruneCounts]:
        while (step := self._event_step(before)) is not None:
            yield step
        while n := self._delete_digest_alerts(before):
            yield PruneCounts(alerts=n)

    def prune_polls(self, before: datetime, *, keep_per_feed: int, dry_run: bool = False) -> int:
        """Delete polls started before ``before``, except each feed's ``keep_per_feed``
        newest (a feed polled rarely, or disabled, keeps the history its page shows)."""
        if dry_run:
            return sum(self._count_feed_polls(f, before, keep_per_feed) for f in self._feed_ids())
        return sum(self._poll_steps(before, keep_per_feed))

    def _feed_ids(self) -> list[int]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(feeds.c.id).order_by(feeds.c.id)).scalars())

    def _count_feed_polls(self, feed_id: int, before: datetime, keep: int) -> int:
        with self.engine.connect() as conn:
            cut = _polls_cutoff(conn, feed_id, before, keep)
            if cut is None:
                return 0
            return int(
                conn.execute(
                    select(func.count()).where(polls.c.feed_id == feed_id, polls.c.started_at < cut)
                ).scalar_one()
            )

    def _delete_feed_polls(self, feed_id: int, before: datetime, keep: int) -> int:
        """Delete up to BATCH of one feed's old polls, in one transaction."""
        with self.engine.begin() as conn:
            cut = _polls_cutoff(conn, feed_id, before, keep)
            if cut is None:
                return 0
            ids = list(
                conn.execute(
                    select(polls.c.id)
                    .where(polls.c.feed_id == feed_id, polls.c.started_at < cut)
                    .limit(BATCH)
                ).scalars()
            )
            if ids:
                conn.execute(delete(polls).where(polls.c.id.in_(ids)))
            return len(ids)

    def prune_events(self, before: datetime, *, dry_run: bool = False) -> PruneCounts:
        """Delete events last updated before ``before``, with their articles (their
        matches follow by cascade, their search entries by trigger or column), their
        finished alerts and the stubs of events merged into them."""
        if dry_run:
            return self._count_expired(before)
        return sum(self._event_steps(before), PruneCounts())

    def _delete_digest_alerts(self, before: datetime) -> int:
        """Settled alerts of no single event (digests) created before ``before``, up to
        BATCH in one transaction: no event deletion takes them along."""
        with self.engine.begin() as conn:
            ids = list(
                conn.execute(
                    select(alerts.c.id)
                    .where(alerts.c.cluster_id.is_(None), _finished(), alerts.c.created_at < before)
                    .limit(BATCH)
                ).scalars()
            )
            if ids:
                conn.execute(delete(alerts).where(alerts.c.id.in_(ids)))
            return len(ids)

    def _event_step(self, before: datetime) -> PruneCounts | None:
        """One transaction of event deletion; None when nothing is left to do.

        An event is first marked DELETING (hidden from listings and its page), then its
        articles go BATCH at a time, then the event row with its settled alerts and
        merge stubs. A process that dies between steps leaves marked events, which the
        next run finishes first: never a half-deleted event shown as whole.
        """
        marked = select(clusters.c.id).where(clusters.c.status == DELETING)
        with self.engine.begin() as conn:
            chunk = list(
                conn.execute(
                    select(articles.c.id)
                    .where(articles.c.cluster_id.in_(marked))
                    .order_by(articles.c.id)
                    .limit(BATCH)
                ).scalars()
            )
            if chunk:
                _raise_high_water(conn, "articles", max(chunk))
                _forget_undated(conn, chunk)
                conn.execute(delete(articles).where(articles.c.id.in_(chunk)))
                return PruneCounts(articles=len(chunk))
            emptied = list(conn.execute(marked.order_by(clusters.c.id).limit(BATCH)).scalars())
            if emptied:
                return _delete_event_rows(conn, emptied)
            ids = list(conn.execute(_expired(before).limit(BATCH)).scalars())
            if not ids:
                return None
            conn.execute(update(clusters).where(clusters.c.id.in_(ids)).values(status=DELETING))
            return PruneCounts()

    def _count_expired(self, before: datetime) -> PruneCounts:
        ids_q = select(clusters.c.id).where(
            or_(clusters.c.status == DELETING, clusters.c.id.in_(_expired(before)))
        )
        with self.engine.connect() as conn:
            n_events = conn.execute(select(func.count()).select_from(ids_q.subquery())).scalar_one()
            n_articles = conn.execute(
                select(func.count()).where(articles.c.cluster_id.in_(ids_q))
            ).scalar_one()
            n_alerts = conn.execute(
                select(func.count()).where(
                    or_(
                        alerts.c.cluster_id.in_(ids_q),
                        and_(alerts.c.cluster_id.is_(None), alerts.c.created_at < before),
                    ),
                    _finished(),
                )
            ).scalar_one()
        return PruneCounts(events=int(n_events), articles=int(n_articles), alerts=int(n_alerts))


def _expired(before: datetime) -> Select[tuple[int]]:
    """Events whose last report is older than ``before``."""
    return (
        select(clusters.c.id)
        .where(clusters.c.status.not_in(("merged", DELETING)), clusters.c.last_updated < before)
        .order_by(clusters.c.id)
    )


def _forget_undated(conn: Connection, article_ids: list[int]) -> None:
    """Remember the undated entries among ``article_ids``, about to be deleted, so that
    a feed still listing one does not bring it back as news (schema.forgotten_entries).
    Undated entries are few; dated ones are refused by the age check instead."""
    rows = conn.execute(
        select(articles.c.feed_id, articles.c.identity).where(
            articles.c.id.in_(article_ids), articles.c.published_estimated.is_(True)
        )
    ).all()
    if not rows:
        return
    now = datetime.now(UTC)
    insert = dialect_insert(conn.dialect.name)
    conn.execute(
        insert(forgotten_entries).on_conflict_do_nothing(index_elements=["feed_id", "identity"]),
        [{"feed_id": r.feed_id, "identity": r.identity, "forgotten_at": now} for r in rows],
    )


def _polls_cutoff(conn: Connection, feed_id: int, before: datetime, keep: int) -> datetime | None:
    """Polls of the feed started before this go: ``before``, or the start of its
    ``keep``-th newest poll if that is earlier. None when it has no more than ``keep``."""
    # One probe along ix_polls_feed_started; counting newer polls per row instead was
    # quadratic (10 feeds x 8,760 polls: 10 s on SQLite, 30 s on PostgreSQL).
    nth = conn.execute(
        select(polls.c.started_at)
        .where(polls.c.feed_id == feed_id)
        .order_by(polls.c.started_at.desc())
        .offset(keep - 1)
        .limit(1)
    ).scalar()
    return None if nth is None else min(before, nth)


def high_water(conn: Connection, name: str) -> int:
    """The highest id of ``name`` ("clusters", "articles") the retention job deleted."""
    return int(conn.execute(select(high_water_value(name))).scalar_one())


def high_water_value(name: str) -> ColumnElement[int]:
    """:func:`high_water` as an expression (0 when none), for a statement that reads it
    beside other values."""
    found = select(id_high_water.c.value).where(id_high_water.c.name == name).scalar_subquery()
    return func.coalesce(found, 0)


def _raise_high_water(conn: Connection, name: str, value: int) -> None:
    """Remember ``value`` as handed out before its row goes (see schema.id_high_water)."""
    insert = dialect_insert(conn.dialect.name)
    conn.execute(
        insert(id_high_water)
        .values(name=name, value=value)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    conn.execute(
        update(id_high_water)
        .where(id_high_water.c.name == name)
        .values(value=case((id_high_water.c.value < value, value), else_=id_high_water.c.value))
    )


def _finished() -> ColumnElement[bool]:
    # A pending alert is still owed to someone; only settled ones are history.
    return alerts.c.status.in_(("sent", "dead", "suppressed"))


def _delete_event_rows(conn: Connection, ids: list[int]) -> PruneCounts:
    """The rows of events whose articles are gone: settled alerts, merge stubs, events."""
    n_alerts = conn.execute(
        delete(alerts).where(alerts.c.cluster_id.in_(ids), _finished())
    ).rowcount
    # Merge stubs point at the event that absorbed them; follow chains (a→b→c) down.
    doomed = list(ids)
    while doomed:
        stubs = list(
            conn.execute(select(clusters.c.id).where(clusters.c.merged_into.in_(doomed))).scalars()
        )
        _raise_high_water(conn, "clusters", max(doomed))
        conn.execute(delete(clusters).where(clusters.c.id.in_(doomed)))
        doomed = stubs
    return PruneCounts(events=len(ids), alerts=int(n_alerts or 0))
