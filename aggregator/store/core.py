"""The write side, ``Store``: the poll half's statements here, the process half's, the
outbox's and retention's mixed in from one module per aggregate (``events``,
``outbox``, ``retention``). Imported as ``aggregator.store.Store`` (the package's
``__init__`` explains why it is a module of its own).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Dialect,
    Engine,
    Select,
    Table,
    bindparam,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import QueuePool

from aggregator.models import Article, article_identity
from aggregator.store.engine import create_db_engine, storage_errors
from aggregator.store.events import (
    EventStatements,
)
from aggregator.store.leases import lease_rows
from aggregator.store.outbox import OutboxStatements
from aggregator.store.records import (
    FeedSpec,
    FeedState,
    PollRecord,
    StoreCounts,
)
from aggregator.store.retention import RetentionStatements, high_water_value
from aggregator.store.schema import articles, feeds, forgotten_entries, polls

# The package's name, as before this module was split out of it: the log lines keep it.
log = logging.getLogger("aggregator.store")


def _feed_state(row: Any) -> FeedState:
    return FeedState(
        id=row.id,
        name=row.name,
        url=row.url,
        etag=row.etag,
        last_modified=row.last_modified,
        validators_url=row.validators_url,
        body_hash=row.body_hash,
        interval_seconds=row.interval_seconds,
        fixed_interval=row.fixed_interval,
        fulltext=row.fulltext,
        error_count=row.error_count,
        state=row.state,
        next_poll_at=row.next_poll_at,
        last_new_at=row.last_new_at,
    )


@storage_errors
class Store(EventStatements, OutboxStatements, RetentionStatements):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> Store:
        return cls(create_db_engine(url))

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    # -- health -------------------------------------------------------------------

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def shrink_memory(self) -> int:
        """SQLite: empty the page cache of every idle pooled connection (``PRAGMA
        shrink_memory``); how many were shrunk. Other backends: nothing, 0.

        Each SQLite connection keeps the pages it read (up to 2 MiB by default) in the
        process for as long as it lives, and the pool keeps its connections. After a
        burst they are only a head start on the next one, which reads them again from
        the OS's file cache. Every idle connection is checked out at once, so each is
        a different one; one in use elsewhere is left for the next call.
        """
        pool = self.engine.pool
        # a file's pool; an in-memory database's pages are the database itself
        if self.backend != "sqlite" or not isinstance(pool, QueuePool):
            return 0
        with ExitStack() as stack:
            held = [stack.enter_context(self.engine.connect()) for _ in range(pool.checkedin())]
            for conn in held:
                conn.exec_driver_sql("PRAGMA shrink_memory")
        return len(held)

    # -- feeds --------------------------------------------------------------------

    def sync_feeds(self, specs: Sequence[FeedSpec], now: datetime) -> dict[str, int]:
        """Make the feeds table match the configuration.

        New feeds are due at once; a changed URL in the file replaces the stored one
        (and forgets its validators); feeds no longer configured are kept with their
        articles but marked ``removed`` and never polled.
        """
        from aggregator.store.migrate import lock_schema

        counts = {"added": 0, "changed": 0, "removed": 0}
        wanted = {s.name: s for s in specs}
        with self.engine.begin() as conn:
            lock_schema(conn)  # several daemons starting at once: one at a time
            existing = {r.name: r for r in conn.execute(select(feeds))}
            for spec in specs:
                row = existing.get(spec.name)
                if row is None:
                    conn.execute(
                        feeds.insert().values(
                            name=spec.name,
                            url=spec.url,
                            config_url=spec.url,
                            enabled=spec.enabled,
                            state="active",
                            fixed_interval=spec.fixed_interval,
                            fulltext=spec.fulltext,
                            next_poll_at=now,
                            error_count=0,
                            created_at=now,
                        )
                    )
                    counts["added"] += 1
                    continue
                values: dict[str, Any] = {}
                if row.managed_by != "config":
                    values["managed_by"] = "config"  # feeds.yaml now declares it
                if row.config_url != spec.url:
                    values.update(
                        url=spec.url,
                        config_url=spec.url,
                        etag=None,
                        last_modified=None,
                        validators_url=None,
                        body_hash=None,
                        state="active",
                        error_count=0,
                        next_poll_at=now,
                    )
                if row.state == "removed":
                    values["state"] = "active"
                if (
                    row.fixed_interval != spec.fixed_interval
                    or row.fulltext != spec.fulltext
                    or row.enabled != spec.enabled
                ):
                    values.update(
                        fixed_interval=spec.fixed_interval,
                        fulltext=spec.fulltext,
                        enabled=spec.enabled,
                    )
                if values:
                    conn.execute(update(feeds).where(feeds.c.id == row.id).values(**values))
                    counts["changed"] += 1
            for name, row in existing.items():
                if name not in wanted and row.state != "removed" and row.managed_by == "config":
                    conn.execute(update(feeds).where(feeds.c.id == row.id).values(state="removed"))
                    counts["removed"] += 1
        return counts

    def add_api_feed(self, name: str, url: str, now: datetime) -> bool:
        """Add a feed over the API (left alone by the sync); False if the name or URL
        is taken by a feed that is not removed."""
        with self.engine.begin() as conn:
            row = conn.execute(
                select(feeds).where(or_(feeds.c.name == name, feeds.c.url == url))
            ).first()
            if row is not None and row.state != "removed":
                return False
            if row is not None:
                conn.execute(
                    update(feeds)
                    .where(feeds.c.id == row.id)
                    .values(
                        name=name,
                        url=url,
                        config_url=url,
                        state="active",
                        enabled=True,
                        managed_by="api",
                        next_poll_at=now,
                        error_count=0,
                    )
                )
                return True
            conn.execute(
                feeds.insert().values(
                    name=name,
                    url=url,
                    config_url=url,
                    enabled=True,
                    state="active",
                    fulltext=False,
                    next_poll_at=now,
                    error_count=0,
                    created_at=now,
                    managed_by="api",
                )
            )
            return True

    def remove_api_feed(self, name: str) -> str:
        """Stop polling an API-added feed (its articles stay). Returns "removed",
        "config" (declared in feeds.yaml: remove it there) or "missing"."""
        with self.engine.begin() as conn:
            row = conn.execute(select(feeds).where(feeds.c.name == name)).first()
            if row is None or row.state == "removed":
                return "missing"
            if row.managed_by == "config":
                return "config"
            conn.execute(update(feeds).where(feeds.c.id == row.id).values(state="removed"))
            return "removed"

    def claim_due_feeds(
        self,
        now: datetime,
        *,
        owner: str,
        lease_seconds: float,
        limit: int,
        names: Sequence[str] | None = None,
        force: bool = False,
        force_min_gap: float = 0.0,
    ) -> list[FeedState]:
        """Lease up to ``limit`` due feeds to ``owner``.

        On PostgreSQL the rows are locked with ``FOR UPDATE SKIP LOCKED`` while the lease
        is written, so any number of daemons can claim at once and none gets a feed
        another holds. An expired lease (a killed daemon) is free again. ``force``
        ignores ``next_poll_at`` (an explicit one-off poll of named feeds).
        """
        until = now + timedelta(seconds=lease_seconds)
        conds: list[ColumnElement[bool]] = [
            feeds.c.enabled.is_(True),
            feeds.c.state.in_(("active", "broken")),
        ]
        if not force:
            conds.append(feeds.c.next_poll_at <= now)
        elif force_min_gap > 0:
            # A manual refresh is rate-limited too: not again within the gap.
            recent = now - timedelta(seconds=force_min_gap)
            conds.append(or_(feeds.c.last_polled_at.is_(None), feeds.c.last_polled_at < recent))
        if names is not None:
            conds.append(or_(feeds.c.name.in_(names), feeds.c.url.in_(names)))
        with self.engine.begin() as conn:
            rows = lease_rows(
                conn,
                feeds,
                conds,
                (feeds.c.next_poll_at, feeds.c.id),
                now=now,
                limit=limit,
                owner=owner,
                until=until,
            )
            return [_feed_state(r) for r in rows]

    def release_feeds(self, feed_ids: Iterable[int], owner: str) -> None:
        """Give back leases without polling (shutdown before the poll started)."""
        ids = list(feed_ids)
        if not ids:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(feeds)
                .where(feeds.c.id.in_(ids), feeds.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )

    def renew_leases(self, feed_ids: Iterable[int], owner: str, until: datetime) -> int:
        """Extend the leases this owner still holds (polls in flight take their time)."""
        ids = list(feed_ids)
        if not ids:
            return 0
        with self.engine.begin() as conn:
            result = conn.execute(
                update(feeds)
                .where(feeds.c.id.in_(ids), feeds.c.lease_owner == owner)
                .values(lease_until=until)
            )
            return int(result.rowcount)

    # -- polls and articles ------------------------------------------------------

    def record_poll(self, record: PollRecord, new_articles: Sequence[Article]) -> StoreCounts:
        """Write one finished poll: its articles, its log row and the feed's new state,
        in one transaction, so a poll is stored whole or not at all."""
        with (
            self.engine.connect() as conn,
            _statement_journals_in_memory(conn, bool(new_articles)),
            conn.begin(),
        ):
            holder = conn.execute(_LEASE_HOLDER, {"feed_id": record.feed_id}).scalar()
            if holder is not None and holder != record.owner:
                # Our lease expired and another daemon holds the feed now: its poll is the
                # one that counts. Writing ours too would store the period twice.
                log.warning(
                    "poll of feed %s not stored: its lease passed to %s", record.feed_id, holder
                )
                return StoreCounts(0, 0, stored=False)
            counts = self._upsert_articles(conn, record.feed_id, new_articles, record.started_at)
            warnings = record.warnings
            if counts.collapsed:
                warnings += (
                    f"{counts.collapsed} entries not stored: same identity as an earlier "
                    "entry of this document",
                )
            conn.execute(
                _INSERT_POLL,
                {
                    "feed_id": record.feed_id,
                    "started_at": record.started_at,
                    "duration": record.duration,
                    "waited": record.waited,
                    "outcome": record.outcome,
                    "url": record.url,
                    "http_status": record.http_status,
                    "bytes_wire": record.bytes_wire,
                    "bytes_decoded": record.bytes_decoded,
                    "etag_sent": record.etag_sent,
                    "last_modified_sent": record.last_modified_sent,
                    "etag_received": record.etag_received,
                    "last_modified_received": record.last_modified_received,
                    "new_entries": counts.new,
                    "updated_entries": counts.updated,
                    "error": record.error,
                    "warnings": "\n".join(warnings) or None,
                    "next_poll_at": record.next_poll_at,
                },
            )
            values: dict[str, Any] = {
                "last_polled_at": record.started_at,
                "last_outcome": record.outcome,
                "last_http_status": record.http_status,
                "last_error": record.error,
                "error_count": record.error_count,
                "state": record.state,
                "next_poll_at": record.next_poll_at,
                "interval_seconds": record.interval_seconds,
                "lease_owner": None,
                "lease_until": None,
            }
            if record.outcome in ("ok", "not_modified", "unchanged"):
                values["last_success_at"] = record.started_at
                # Validators are stored verbatim, tied to the URL that produced them.
                values["etag"] = record.etag_received
                values["last_modified"] = record.last_modified_received
                values["validators_url"] = record.validators_url
            if record.body_hash is not None:
                values["body_hash"] = record.body_hash
            if record.new_url:
                values["url"] = record.new_url
            if counts.new:
                values["last_new_at"] = record.started_at
            if record.title:
                values["title"] = record.title
            if record.site_url:
                values["site_url"] = record.site_url
            values["poll_feed_id"] = record.feed_id
            conn.execute(_UPDATE_POLLED_FEED, values)
            return counts

    def _upsert_articles(
        self, conn: Connection, feed_id: int, batch: Sequence[Article], now: datetime
    ) -> StoreCounts:
        if not batch:
            return StoreCounts(0, 0)
        # The same entry twice in one document (duplicate GUIDs): the first one wins.
        unique: dict[str, Article] = {}
        for art in batch:
            unique.setdefault(article_identity(art), art)
        collapsed = len(batch) - len(unique)
        existing: dict[str, tuple[int, str]] = {}
        keys = list(unique)
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            for row in conn.execute(_EXISTING_ARTICLES, {"feed_id": feed_id, "identities": chunk}):
                existing[row.identity] = (row.id, row.content_hash)
        # Undated entries the retention job deleted and the feed still lists: old, not
        # news (schema.forgotten_entries).
        forgotten = _identities_in(
            conn,
            forgotten_entries,
            feed_id,
            [i for i, a in unique.items() if a.published_estimated and i not in existing],
        )
        inserts = []
        updated = 0
        for identity, art in unique.items():
            found = existing.get(identity)
            if found is None and identity in forgotten:
                continue
            if found is None:
                inserts.append({"feed_id": feed_id, "identity": identity, **_article_values(art)})
            elif found[1] != art.content_hash:
                # Changed in place (a corrected headline, an updated body): same row.
                values = _article_values(art)
                values.pop("fetched_at")
                # The vector the article was clustered with stays: the start-up
                # replay must rebuild the event as it was decided (and a known
                # entry is not embedded again).
                values.pop("embedding")
                # The consumer matched (or may be matching right now) the old text:
                # have it match this one too, under the event the article is in. Set
                # on unprocessed rows as well: the consumer may have read the old
                # text already and would otherwise commit it as processed.
                values["rematch_at"] = now
                conn.execute(update(articles).where(articles.c.id == found[0]).values(**values))
                updated += 1
        if inserts and conn.dialect.name == "sqlite":
            # SQLite gives a new row max(id) + 1, which after the retention job deleted
            # the newest articles is a deleted article's id (and its every_article alert
            # key); PostgreSQL's sequence never goes back.
            first = int(conn.execute(_NEXT_ARTICLE_ID).scalar_one())
            for offset, values in enumerate(inserts):
                values["id"] = first + offset
        if inserts:
            _insert_articles(conn, inserts)
        return StoreCounts(new=len(inserts), updated=updated, collapsed=collapsed)

    def known_identities(self, feed_id: int, batch: Sequence[Article]) -> set[str]:
        """Which of these articles the feed already has (by identity)."""
        with self.engine.connect() as conn:
            return _identities_in(conn, articles, feed_id, [article_identity(a) for a in batch])

    # -- queries ------------------------------------------------------------------

    def count_articles(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(articles)).scalar_one())


@contextmanager
def _statement_journals_in_memory(conn: Connection, wanted: bool) -> Iterator[None]:
    """SQLite: the connection's statement journals in memory (``PRAGMA temp_store``)
    while the block runs, then its default again; elsewhere, or not ``wanted``, nothing.

    Each multi-row INSERT of a poll's articles may fail halfway (a foreign key, the
    full-text trigger), so SQLite keeps the pages it changes as they were before it
    (~160 pages of a 32-row statement) in a statement journal, which past 64 KiB is a
    temporary file: a third of the writer's file writes on a first poll, two a page,
    and their CPU (issue 17; docs/benchmarks.md, "The statement journal"). In
    memory it is the same ~0.7 MB for the statement's length, freed when it ends. Not
    the connection's setting for good: ``temp_store`` also keeps sorts and temporary
    tables in memory, which the pool's readers could grow without bound. Set before
    the transaction writes (SQLite decides where the journal goes when it begins).
    """
    if not wanted or conn.dialect.name != "sqlite":
        yield
        return
    conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
    conn.commit()  # SQLAlchemy's autobegun transaction (nothing written): the block begins its own
    try:
        yield
    finally:
        conn.exec_driver_sql("PRAGMA temp_store=DEFAULT")
        conn.commit()


# The statements of ``record_poll``, built once: building them for every poll (the
# clauses, their coercions, the cache key SQLAlchemy derives from them at each
# execution) was a third of the writer's Python work on a first poll (issue 17). The
# SQL sent is the same; the values travel as parameters.
_LEASE_HOLDER = (
    select(feeds.c.lease_owner).where(feeds.c.id == bindparam("feed_id")).with_for_update()
)
_EXISTING_ARTICLES = select(articles.c.identity, articles.c.id, articles.c.content_hash).where(
    articles.c.feed_id == bindparam("feed_id"),
    articles.c.identity.in_(bindparam("identities", expanding=True)),
)
# SQLite's next article id (see _upsert_articles) in one statement, not two: each is
# one more time the writer thread gives the GIL away and waits to get it back.
_NEXT_ARTICLE_ID = select(
    # max() of two arguments is SQLite's larger-of; this runs on SQLite only.
    func.max(
        select(func.coalesce(func.max(articles.c.id), 0)).scalar_subquery(),
        high_water_value("articles"),
    )
    + 1
)
_INSERT_POLL = polls.insert()
# Which columns it sets is the keys of its parameters (the outcome decides them); the
# feed's id is a parameter of another name, so it is not taken for a column to set.
_UPDATE_POLLED_FEED = update(feeds).where(feeds.c.id == bindparam("poll_feed_id"))


# Rows per INSERT statement on SQLite. Each statement is one sqlite3_step, and the
# driver lets go of the GIL around it (and its reset): with a row per step, the
# writer thread asked for the GIL back ~60 times a feed, waiting up to the switch
# interval (5 ms) each time behind the parse threads, and was busy waiting for most
# of a first poll (issue 17). 32 rows of 22 columns is 704 parameters, under the 999
# of SQLite builds older than 3.32.
_ROWS_PER_INSERT = 32


@dataclass(frozen=True, slots=True)
class _PreparedInsert:
    """A multi-row INSERT into articles compiled for one dialect, one set of columns
    and one number of rows."""

    sql: str
    keys: tuple[str, ...]  # each row's values, in this order (the table's)
    names: tuple[str, ...]  # the parameters: ``keys`` for row 0, then row 1, ...
    processors: tuple[Callable[[Any], Any] | None, ...]  # each key's type's, for the dialect
    positional: bool


@lru_cache(maxsize=2 * _ROWS_PER_INSERT)
def _prepared_insert(dialect: Dialect, keys: tuple[str, ...], rows: int) -> _PreparedInsert | None:
    """The INSERT of ``rows`` rows of exactly ``keys``; None when SQLAlchemy would send
    other parameters (a column's Python default the rows leave out)."""
    # SQLAlchemy writes a multi-row INSERT's columns in the table's order.
    keys = tuple(c.key for c in articles.columns if c.key in keys)
    values = [
        {k: bindparam(f"{k}__{i}", type_=articles.c[k].type) for k in keys} for i in range(rows)
    ]
    compiled = articles.insert().values(values).compile(dialect=dialect)
    names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(compiled.params)
    expected = tuple(f"{k}__{i}" for i in range(rows) for k in keys)
    # Row after row, each in ``keys`` order: what the flattened values below rely on.
    if names != expected if compiled.positional else sorted(names) != sorted(expected):
        return None
    # What SQLAlchemy applies to each value itself (TypeEngine._cached_bind_processor):
    # the type's implementation for this dialect, then its bind processor.
    processors = tuple(
        articles.c[k].type.dialect_impl(dialect).bind_processor(dialect) for k in keys
    )
    return _PreparedInsert(compiled.string, keys, expected, processors, compiled.positional)


def _chunk_sizes(count: int) -> list[int]:
    """``count`` rows as statements of ``_ROWS_PER_INSERT`` rows and one of the rest
    (50: 32, 18): as few steps as the bound allows, and at most ``_ROWS_PER_INSERT``
    statements to compile and prepare per column set."""
    full, rest = divmod(count, _ROWS_PER_INSERT)
    return [_ROWS_PER_INSERT] * full + ([rest] if rest else [])


def _insert_articles(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """``conn.execute(articles.insert(), rows)``: the same rows and values, sent on the
    driver's cursor; on SQLite as a few multi-row INSERTs instead of a statement per row.

    Every row has the same keys. On a first poll of 50-entry feeds SQLAlchemy's
    per-row work (construct_params, a dict per row, type look-ups) cost about as much
    CPU as SQLite's insert without the full-text index, and a step per row kept the
    writer waiting for the GIL (issue 17); tests/test_store_insert.py checks that the
    stored rows and the full-text index are the same as SQLAlchemy's executemany's.
    """
    keys = tuple(rows[0])
    if conn.dialect.name != "sqlite":
        # PostgreSQL: psycopg's executemany sends the rows in one pipeline already, and
        # a multi-row statement of ~700 named parameters cost the client more CPU than
        # ~20 a row (0.085 against 0.054 ms an entry, 20 farm feeds, 3 runs each) for
        # the same wall time: one row's statement, the rows in one executemany.
        one = _prepared_insert(conn.dialect, keys, 1)
        if one is None:
            conn.execute(articles.insert(), list(rows))
            return
        named = tuple(zip(one.names, one.keys, one.processors, strict=True))
        conn.exec_driver_sql(
            one.sql,
            [{n: row[k] if p is None else p(row[k]) for n, k, p in named} for row in rows],
        )
        return
    start = 0
    for size in _chunk_sizes(len(rows)):
        chunk = rows[start : start + size]
        start += size
        prepared = _prepared_insert(conn.dialect, keys, size)
        if prepared is None:
            conn.execute(articles.insert(), list(chunk))
            continue
        pairs = tuple(zip(prepared.keys, prepared.processors, strict=True))
        flat = [row[k] if p is None else p(row[k]) for row in chunk for k, p in pairs]
        if prepared.positional:
            conn.exec_driver_sql(prepared.sql, tuple(flat))
        else:
            conn.exec_driver_sql(prepared.sql, dict(zip(prepared.names, flat, strict=True)))


def _article_values(art: Article) -> dict[str, Any]:
    return {
        "guid": art.guid,
        "url": art.url,
        "canonical_url": art.canonical_url,
        "title": art.title,
        "title_raw": art.title_raw,
        "summary": art.summary,
        "text": art.text,
        "html": art.html,
        "fulltext": art.fulltext,
        "author": art.author,
        "published": art.published,
        "published_estimated": art.published_estimated,
        "fetched_at": art.fetched_at,
        "updated_at": art.fetched_at,
        "language": art.language,
        "content_hash": art.content_hash,
        "embedding": art.embedding,
        # Fingerprints are unsigned 64-bit; BIGINT is signed on both backends.
        "fingerprint": art.fingerprint - (1 << 64)
        if art.fingerprint >= 1 << 63
        else art.fingerprint,
    }


class ConsumerLock:
    """Elects the one consumer among all daemons sharing a database.

    PostgreSQL: a session advisory lock held on a dedicated connection; if that
    connection dies the lock is gone and another daemon takes over. SQLite serves a
    single daemon (a file lock enforces it), which is always the consumer.
    """

    KEY = 0x61676772_65676174  # "aggregat"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None

    def acquire(self) -> bool:
        """True while this process is the consumer (call before each unit of work)."""
        if self.engine.dialect.name != "postgresql":
            return True
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                self._conn.commit()
                return True
            except SQLAlchemyError:
                self._drop()
        try:
            conn = self.engine.connect()
        except SQLAlchemyError:
            return False
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.KEY}).scalar()
            conn.commit()
        except SQLAlchemyError:
            conn.close()
            return False
        if got:
            self._conn = conn
            return True
        conn.close()
        return False

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except SQLAlchemyError:
                pass
            self._conn = None

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.KEY})
                self._conn.commit()
            except SQLAlchemyError:
                pass
            self._drop()


def _identities_in(
    conn: Connection, table: Table, feed_id: int, identities: Sequence[str]
) -> set[str]:
    """Which of ``identities`` ``table`` (articles, forgotten_entries) holds for the feed,
    500 to a statement (SQLite's bound on parameters)."""
    found: set[str] = set()
    statement = _identities_statement(table)
    for i in range(0, len(identities), 500):
        chunk = identities[i : i + 500]
        found.update(conn.execute(statement, {"feed_id": feed_id, "identities": chunk}).scalars())
    return found


@lru_cache(maxsize=4)
def _identities_statement(table: Table) -> Select[Any]:
    return select(table.c.identity).where(
        table.c.feed_id == bindparam("feed_id"),
        table.c.identity.in_(bindparam("identities", expanding=True)),
    )
