"""SQLAlchemy Core tables. The migrations in ``migrations/`` create them; a test checks that
the migrations and these definitions agree."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends.

    SQLite has no time zones and returns naive values; storing naive UTC and attaching
    UTC on the way out keeps comparisons and arithmetic correct everywhere.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use UTC-aware values")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, the text SQLAlchemy's chain makes (``process_bind_param``, then
        the dialect's DATETIME formatting a dict of the fields with ``%``) from one
        ``isoformat``: three Python calls a value were ~1.5 us of the writer thread's
        time, three values an article stored (issue 17). Any other dialect, or a
        DATETIME that formats otherwise, keeps SQLAlchemy's.
        tests/test_store_datetimes.py holds the two alike."""
        chain = super().bind_processor(dialect)
        impl = self.impl_instance
        if dialect.name != "sqlite" or getattr(impl, "_storage_format", None) != _SQLITE_FORMAT:
            return chain
        return _sqlite_datetime

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        """On SQLite, the stored text read straight into an aware datetime: SQLAlchemy's
        chain (its ``fromisoformat``, then ``process_result_value``'s
        ``replace(tzinfo=UTC)``, ~1.1 us of keyword parsing alone) was ~1.5 us a value,
        one a row of every search page (issue 17). On PostgreSQL a value already in
        ``datetime.UTC`` (the search sessions' zone) is returned as the chain's
        ``astimezone`` returns it, itself, without its two calls. Any other dialect, or
        a DATETIME that parses otherwise, keeps SQLAlchemy's.
        tests/test_store_datetimes.py holds them alike."""
        chain = super().result_processor(dialect, coltype)
        impl = self.impl_instance
        if chain is not None and dialect.name == "postgresql":
            return functools.partial(_postgresql_utc_datetime, chain)
        if (
            chain is None
            or dialect.name != "sqlite"
            or getattr(impl, "_reg", None) is not None
            or getattr(impl, "_storage_format", None) != _SQLITE_FORMAT
        ):
            return chain
        return functools.partial(_sqlite_utc_datetime, chain)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# SQLAlchemy's SQLite DATETIME text (``sqlalchemy.dialects.sqlite.DATETIME``'s default
# storage format), which ``isoformat(" ", "microseconds")`` of a naive datetime writes
# alike: a four-digit year (datetime's are 1-9999) and always the microseconds.
_SQLITE_FORMAT = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
)


def _sqlite_datetime(value: datetime | None) -> str | None:
    """``UTCDateTime``'s bound value on SQLite: naive UTC as SQLAlchemy's text."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the database; use UTC-aware values")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_utc_datetime(chain: Callable[[Any], Any], value: Any) -> Any:
    """``UTCDateTime``'s value read on SQLite: the text the store writes (naive UTC,
    ``_sqlite_datetime``'s 26 characters) parsed with its zone in one ``fromisoformat``,
    which gives ``datetime.UTC`` itself for "+00:00"; anything else, or anything that
    parses otherwise, through SQLAlchemy's ``chain``."""
    if type(value) is str and len(value) == 26:
        try:
            found = datetime.fromisoformat(value + "+00:00")
        except ValueError:
            return chain(value)
        if found.tzinfo is UTC:
            return found
    return chain(value)


def _postgresql_utc_datetime(chain: Callable[[Any], Any], value: Any) -> Any:
    """``UTCDateTime``'s value read on PostgreSQL: one in ``datetime.UTC`` as it is
    (``astimezone(UTC)`` gives it back itself); any other through SQLAlchemy's ``chain``."""
    if type(value) is datetime and value.tzinfo is UTC:
        return value
    return chain(value)


# 64-bit ids on PostgreSQL; SQLite only auto-increments a column declared INTEGER.
Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

feeds = Table(
    "feeds",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("url", Text, nullable=False),  # current URL; moves on permanent redirects
    Column("config_url", Text, nullable=False),  # as written in feeds.yaml
    Column("title", Text),
    Column("site_url", Text),
    Column("enabled", Boolean, nullable=False, default=True),
    # active | broken (failure streak) | gone (410) | removed (no longer in feeds.yaml)
    Column("state", String(16), nullable=False, default="active"),
    Column("fixed_interval", Float),  # feeds.yaml `interval`; overrides the adaptive one
    Column("fulltext", Boolean, nullable=False, default=False),
    # Validators are kept verbatim and tied to the URL that sent them.
    Column("etag", Text),
    Column("last_modified", Text),
    Column("validators_url", Text),
    Column("body_hash", String(64)),  # of the last body parsed: an unchanged body is not re-parsed
    Column("interval_seconds", Float),  # the adaptive interval in force
    Column("next_poll_at", UTCDateTime, nullable=False),
    Column("last_polled_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("last_new_at", UTCDateTime),
    Column("last_outcome", String(16)),
    Column("last_http_status", Integer),
    Column("last_error", Text),
    Column("error_count", Integer, nullable=False, default=0),
    Column("lease_owner", String(80)),
    Column("lease_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    # "config": declared in feeds.yaml (synced at start); "api": added over the HTTP API
    # and left alone by the sync.
    Column("managed_by", String(16), nullable=False, server_default="config"),
    Index("ix_feeds_due", "enabled", "next_poll_at"),
)

SEARCH_FILTER_INDEX = "ix_articles_search_filter"

articles = Table(
    "articles",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("feed_id", Id, ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False),
    # guid, else link, else content hash: what makes an entry "the same" on re-poll
    Column("identity", String(512), nullable=False),
    Column("guid", Text),
    Column("url", Text),
    Column("canonical_url", Text),
    Column("title", Text, nullable=False),
    Column("title_raw", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("fulltext", Text),
    Column("author", Text),
    Column("published", UTCDateTime, nullable=False),
    Column("published_estimated", Boolean, nullable=False, default=False),
    Column("fetched_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("language", String(16)),
    Column("content_hash", String(64), nullable=False),
    Column("fingerprint", BigInteger, nullable=False, default=0),
    Column("duplicate_of", Id, ForeignKey("articles.id", ondelete="SET NULL")),
    Column("duplicate_kind", String(16)),
    # JSON: what the copy decision shared and ignored as boilerplate (migration 0011)
    Column("duplicate_detail", Text),
    # float16 semantic vector of title + lead (aggregator.semantic; migration 0014)
    Column("embedding", LargeBinary),
    Column("cluster_id", Id),
    Column("cluster_score", Float),
    Column("cluster_terms", Text),  # JSON: terms (list) or {"terms", "signals"}: why
    # Set by the single ordered consumer (dedup → cluster → match → alerts).
    Column("processed_at", UTCDateTime),
    # Set when a poll rewrites the row (a corrected headline or body): the consumer
    # matches the new text against the topics under the article's existing event, then
    # clears it. processed_at stays: processing again would cluster the article twice
    # (migration 0009).
    Column("rematch_at", UTCDateTime),
    UniqueConstraint("feed_id", "identity"),
    Index("ix_articles_published", "published"),
    Index("ix_articles_content_hash", "content_hash"),
    Index("ix_articles_canonical_url", "canonical_url"),
    Index("ix_articles_cluster_id", "cluster_id"),
    Index("ix_articles_processed_at", "processed_at"),
    # The consumer's other look-up every second: the few new rows, in id order
    # (PostgreSQL with statistics walked every id instead; migration 0013).
    Index(
        "ix_articles_unprocessed",
        "id",
        sqlite_where=text("processed_at IS NULL"),
    ),
    # The consumer takes its next batch of them by publication time (a burst is
    # stored outlet by outlet; migration 0017).
    Index(
        "ix_articles_unprocessed_published",
        "published",
        "id",
        sqlite_where=text("processed_at IS NULL"),
    ),
    # The consumer looks for the few rows with rematch_at set every second, in id
    # order: an index of just those rows, already in that order, is what both engines
    # pick with or without statistics (a plain rematch_at index lost to a scan of the
    # table in id order on SQLite; migration 0013).
    Index(
        "ix_articles_rematch_waiting",
        "id",
        sqlite_where=text("rematch_at IS NOT NULL"),
    ),
    # duplicate_of is ON DELETE SET NULL: each deleted article makes the database look
    # up its copies, a full scan per row without this index (migration 0006).
    Index("ix_articles_duplicate_of", "duplicate_of"),
    # An outlet's or a language's articles newest first, as a filtered search pages
    # them (migration 0015). lang: in a query lists the languages that exist with one
    # probe per language along the second, instead of a scan of every article.
    Index("ix_articles_feed_published", "feed_id", "published", "id"),
    Index("ix_articles_language_published", "language", "published", "id"),
    # Covers what a search filters and orders on, so SQLite can choose a filtered
    # page's ids without reading article rows, whose later columns sit in overflow
    # pages past text and html (archive.py; migration 0005).
    Index(SEARCH_FILTER_INDEX, "id", "feed_id", "published", "language", "cluster_id"),
)

polls = Table(
    "polls",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("feed_id", Id, ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("duration", Float, nullable=False),  # fetch and processing, not queueing
    Column("waited", Float),  # seconds queued for the per-host limits (0010)
    # ok | not_modified | unchanged (same body hash) | failed | deferred (host backoff)
    Column("outcome", String(16), nullable=False),
    Column("url", Text, nullable=False),
    Column("http_status", Integer),
    Column("bytes_wire", BigInteger, nullable=False, default=0),
    Column("bytes_decoded", BigInteger, nullable=False, default=0),
    Column("etag_sent", Text),
    Column("last_modified_sent", Text),
    Column("etag_received", Text),
    Column("last_modified_received", Text),
    Column("new_entries", Integer, nullable=False, default=0),
    Column("updated_entries", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("warnings", Text),
    Column("next_poll_at", UTCDateTime),
    Index("ix_polls_feed_started", "feed_id", "started_at"),
)

clusters = Table(
    "clusters",
    metadata,
    # Ids are allocated by the clusterer (deterministic replay), not by the database.
    Column("id", Id, primary_key=True, autoincrement=False),
    Column("headline", Text, nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_updated", UTCDateTime, nullable=False),
    Column("article_count", Integer, nullable=False, default=0),
    Column("outlet_count", Integer, nullable=False, default=0),
    Column("top_terms", Text, nullable=False, default="[]"),  # JSON list
    # active | dormant | merged | deleting (by the retention job, article by article)
    Column("status", String(16), nullable=False, default="active"),
    # A merged cluster points at the one that absorbed it; old ids stay resolvable.
    Column("merged_into", Id),
    Index("ix_clusters_last_updated", "last_updated"),
    # The consumer's start-up reads every merge: the few merged rows only (migration
    # 0016).
    Index(
        "ix_clusters_merged",
        "id",
        sqlite_where=text("merged_into IS NOT NULL"),
    ),
)

matches = Table(
    "matches",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("article_id", Id, ForeignKey("articles.id", ondelete="CASCADE"), nullable=False),
    Column("topic", String(200), nullable=False),
    Column("cluster_id", Id),
    Column("terms", Text, nullable=False, default="[]"),  # JSON list of matched terms
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("article_id", "topic"),
    Index("ix_matches_topic_created", "topic", "created_at"),
    Index("ix_matches_cluster_id", "cluster_id"),
)

# The outbox: one row per (rule, channel, subject). Written in the same transaction as
# the match that caused it; delivered by a job that claims rows with leases.
alerts = Table(
    "alerts",
    metadata,
    # Stable across retries: the webhook-id and the email Message-ID derive from it.
    Column("id", String(40), primary_key=True),
    # rule:channel:trigger:subject — makes "never twice" a database constraint.
    Column("dedupe_key", String(600), nullable=False, unique=True),
    Column("rule", String(200), nullable=False),
    Column("channel", String(200), nullable=False),
    Column("topic", String(200), nullable=False),
    Column("trigger", String(32), nullable=False),
    Column("cluster_id", Id),
    Column("article_id", Id),
    Column("payload", Text, nullable=False),  # JSON of the message, fixed at enqueue time
    # pending | sent | dead (retries exhausted or permanent failure) | suppressed
    Column("status", String(16), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("due_at", UTCDateTime, nullable=False),
    Column("lease_owner", String(80)),
    Column("lease_until", UTCDateTime),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Index("ix_alerts_status_due", "status", "due_at"),
    Index("ix_alerts_rule_created", "rule", "created_at"),
    Index("ix_alerts_cluster_id", "cluster_id"),  # the consumer's per-event questions
    # A rule's throttle clock and hourly count (``rule_recent_alerts``), per batch:
    # by (rule, created_at) it read every alert the rule ever made (migration 0016).
    Index("ix_alerts_rule_due", "rule", "due_at"),
)

# The highest id ever given to an event and to an article, raised by the retention job
# before it deletes rows. Event ids come from the clusterer (max + 1 at start) and
# SQLite gives a new article max(id) + 1, so without this a deleted newest row's id
# would be handed out again: alert keys (c{id}, a{id}) and /events/{id} would then
# name another story (migration 0007).
# Undated entries whose articles the retention job deleted. normalize dates an undated
# entry when it is fetched, so one a feed keeps listing (an "about us" item) would pass
# the age check and come back as news once its copy is gone: its identity is kept here
# and such an entry is not stored again. Dated entries need none: the age check refuses
# them (migration 0008).
forgotten_entries = Table(
    "forgotten_entries",
    metadata,
    Column("feed_id", Id, ForeignKey("feeds.id", ondelete="CASCADE"), primary_key=True),
    Column("identity", String(512), primary_key=True),
    Column("forgotten_at", UTCDateTime, nullable=False),
)

id_high_water = Table(
    "id_high_water",
    metadata,
    Column("name", String(32), primary_key=True),  # "clusters" | "articles"
    Column("value", BigInteger, nullable=False),
)

rule_state = Table(
    "rule_state",
    metadata,
    Column("rule", String(200), primary_key=True),
    Column("last_digest_at", UTCDateTime),
)

channel_state = Table(
    "channel_state",
    metadata,
    Column("channel", String(200), primary_key=True),
    # Set when the endpoint answered 410 Gone: no more deliveries until re-enabled.
    Column("disabled_at", UTCDateTime),
    Column("disabled_reason", Text),
)

# What each feed_health rule last said about each feed: a transition alerts once, the
# state is written in the same transaction as its alert (migration 0012).
feed_health = Table(
    "feed_health",
    metadata,
    Column("rule", String(200), primary_key=True),
    Column("feed_id", Id, ForeignKey("feeds.id", ondelete="CASCADE"), primary_key=True),
    Column("status", String(16), nullable=False),  # ok | broken | gone | quiet
    Column("changed_at", UTCDateTime, nullable=False),
)


def add_postgresql_options() -> None:
    """Give every partial index its PostgreSQL ``WHERE``, the same as SQLite's
    (idempotent). Write a partial index here with ``sqlite_where`` only.

    Naming a ``postgresql_*`` option in a table definition makes SQLAlchemy import its
    PostgreSQL dialect the moment this module loads: some 35 ms of CPU
    of every SQLite command's start. ``create_db_engine`` calls this for a PostgreSQL
    URL, before anything there compiles DDL or compares the schema.
    """
    for index in (i for table in metadata.tables.values() for i in table.indexes):
        where = index.dialect_options["sqlite"]["where"]
        if where is not None and index.dialect_options["postgresql"]["where"] is None:
            index.dialect_options["postgresql"]["where"] = where
