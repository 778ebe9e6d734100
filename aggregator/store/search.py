"""Full-text search per backend: a parsed query translated for SQLite FTS5 and
PostgreSQL tsquery, the engine objects of migration 0003, the SQLite ranking
statements, cursors. The query language itself (``aggregator.query``) has no SQL.

SQLite keeps an FTS5 external-content table ``articles_fts`` (title, text) in step
with ``articles`` through triggers; PostgreSQL has a generated ``search_vector``
column (title weight A, text weight B) with a GIN index. Neither is part of
``schema.metadata`` (FTS5 is SQLite-only, the column PostgreSQL-only), so a
comparison of migrations and models must skip them: :func:`include_name`.
"""

from __future__ import annotations

import base64
import binascii
import collections
import functools
import json
import re
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

from sqlalchemy import (
    Connection,
    Dialect,
    Double,
    Engine,
    Integer,
    Select,
    String,
    Subquery,
    and_,
    bindparam,
    cast,
    create_engine,
    event,
    func,
    literal_column,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.selectable import Alias
from sqlalchemy.sql.util import ClauseAdapter

from aggregator.errors import QueryError
from aggregator.query import (
    And,
    Document,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Query,
    Term,
    parse_query,
    requires_presence,
    walk,
)

# SearchLimits re-exported: the archive takes them without importing the query language.
from aggregator.query.limits import SearchLimits as SearchLimits
from aggregator.query.limits import search_cost_problem
from aggregator.query.nodes import MAX_QUERY_LENGTH
from aggregator.store.schema import SEARCH_FILTER_INDEX, articles, feeds, matches

Order = Literal["relevance", "date"]

FTS_TABLE = "articles_fts"
# FTS5 creates these shadow tables beside the virtual one.
_FTS_TABLES = frozenset(
    {FTS_TABLE} | {f"{FTS_TABLE}_{s}" for s in ("data", "idx", "content", "docsize", "config")}
)
SEARCH_COLUMN = "search_vector"
SEARCH_INDEX = "ix_articles_search_vector"

# bm25 column weights (title, text): a word in the headline counts ten times as much,
# close to PostgreSQL's default A (1.0) vs B (0.4) ratio with length normalisation.
BM25_WEIGHTS = (10.0, 1.0)


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """For ``compare_metadata(..., opts={"include_name": include_name})``.

    Skips the full-text objects that migration 0003 creates with raw SQL.
    """
    if type_ == "table":
        return name not in _FTS_TABLES
    if type_ == "column":
        return name != SEARCH_COLUMN
    if type_ == "index":
        return name != SEARCH_INDEX
    return True


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the previous page ended: its last (key, id), for keyset pagination.

    ``key`` is the relevance score (higher first) or the publication time (newest
    first); ties are broken by id, descending. ``fingerprint`` ties the cursor to
    the query and order that made it, so it cannot be replayed against another.
    """

    order: Order
    key: float | datetime
    id: int
    fingerprint: str

    def encode(self) -> str:
        key = self.key.isoformat() if isinstance(self.key, datetime) else self.key
        raw = json.dumps([self.order, key, self.id, self.fingerprint], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, order: Order, fingerprint: str) -> Cursor:
        bad = QueryError(text, "invalid cursor: pass next_cursor from the previous page as is")
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            got_order, key, ident, got_fingerprint = json.loads(raw)
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
            raise bad from exc
        if got_order != order or got_fingerprint != fingerprint or type(ident) is not int:
            raise QueryError(text, "this cursor belongs to another query or order")
        if order == "date":
            if not isinstance(key, str):
                raise bad
            try:
                when = datetime.fromisoformat(key)
            except ValueError as exc:
                raise bad from exc
            if when.tzinfo is None:
                raise bad
            return cls(order, when, ident, fingerprint)
        if type(key) not in (int, float):
            raise bad
        return cls(order, float(key), ident, fingerprint)


# -- PostgreSQL: searches on connections of their own ------------------------------

_SEARCH_ENGINES: weakref.WeakKeyDictionary[Engine, dict[int, Engine]] = weakref.WeakKeyDictionary()
_SEARCH_ENGINES_LOCK = threading.Lock()


def search_engine(engine: Engine, timeout: float) -> Engine:
    """PostgreSQL: the engine searches run on, one per (``engine``, timeout).

    A search on the daemon's engine took five round trips to the server: the pool's
    pre-ping, BEGIN, the transaction's statement_timeout, the search, the ROLLBACK
    at check-in. Each is a wake-up of the server process and of the waiting thread,
    and on a busy machine those wake-ups, not the search, made the API's p95 (issue
    17). These connections are in autocommit with the timeout (and the time zone,
    UTC) set once for the session, when they connect, so a search is one round
    trip, as the raw query is. Nothing else runs on them (the searches and the
    lookups of the names they give): the timeout cannot reach a write.

    No pre-ping: a connection the server dropped fails its next search, which
    :meth:`Archive.search` runs once more on a new connection (SQLAlchemy empties the
    pool on a disconnect). Disposed with ``engine``. Other backends: ``engine`` itself.
    """
    if engine.dialect.name != "postgresql":
        return engine
    ms = max(1, int(timeout * 1000))
    with _SEARCH_ENGINES_LOCK:
        per_timeout = _SEARCH_ENGINES.setdefault(engine, {})
        found = per_timeout.get(ms)
        if found is None:
            found = per_timeout[ms] = create_engine(
                engine.url,
                isolation_level="AUTOCOMMIT",
                # In autocommit no transaction is left to roll back at check-in: the
                # pool's reset was a rollback call that did nothing, ~8 µs of CPU a
                # search (issue 17).
                pool_reset_on_return=None,
                pool_size=5,
                max_overflow=5,
                # TimeZone UTC: psycopg then gives each timestamptz with
                # datetime.UTC, which UTCDateTime's astimezone(UTC) returns as is;
                # in the server's zone (ZoneInfo, "Etc/UTC" here) the conversion
                # cost ~1 µs a row (issue 17). The statements run here compare
                # aware values and read them; none formats or truncates a time.
                connect_args={"options": f"-c statement_timeout={ms} -c TimeZone=UTC"},
            )
            event.listen(engine, "engine_disposed", _disposer(found))
        return found


def _disposer(searching: Engine) -> Any:
    # Not a closure over the daemon's engine: the registry's weak key must stay weak.
    def dispose(_engine: Engine) -> None:
        searching.dispose()

    return dispose


# -- SQLite ranking ----------------------------------------------------------------

SUMMARY_COLUMNS = (
    articles.c.id,
    feeds.c.name.label("feed"),
    feeds.c.title.label("feed_title"),
    articles.c.title,
    articles.c.url,
    articles.c.published,
    articles.c.language,
    articles.c.summary,
    articles.c.cluster_id,
)


def fts_hits(match: str | None = None) -> Subquery:
    """SQLite: the FTS5 hits of ``match`` as (rid, score), score higher is better.

    Without ``match`` the statement leaves the ``fts_match`` parameter to execution.
    """
    w_title, w_text = BM25_WEIGHTS
    condition = text(f"{FTS_TABLE} MATCH :fts_match")
    return (
        select(
            literal_column("rowid").label("rid"),
            # bm25 is "lower is better"; negated so both engines rank alike.
            literal_column(f"-bm25({FTS_TABLE}, {w_title}, {w_text})").label("score"),
        )
        .select_from(text(FTS_TABLE))
        .where(condition if match is None else condition.bindparams(fts_match=match))
        .subquery("hits")
    )


@functools.cache
def fts_top_statement(with_cursor: bool) -> Select[Any]:
    """SQLite, ranked by relevance with no other filter: the page ranked inside FTS5.

    Only the ``k`` best hits (after the cursor ``after_key``, ``after_id``) are looked
    up in ``articles``: the general statement joins every hit before sorting, and
    reading an article row means walking its overflow pages past text and html
    (published, language, cluster_id come after them), for thousands of hits at a
    million articles. Same score expression, same (score, id) order and cursor
    condition, so the same page. Outer joins: the caller checks that every hit found
    its article and feed. Built once per shape (parameters bound at execution): its
    construction costs about as much as the engine's query on a small archive.
    """
    hits = fts_hits()
    top = select(hits.c.rid, hits.c.score)
    if with_cursor:
        key, after = bindparam("after_key", type_=Double), bindparam("after_id", type_=Integer)
        top = top.where(or_(hits.c.score < key, and_(hits.c.score == key, hits.c.rid < after)))
    ranked = (
        top.order_by(hits.c.score.desc(), hits.c.rid.desc())
        .limit(bindparam("k", type_=Integer))
        .subquery("top")
    )
    source = ranked.outerjoin(articles, articles.c.id == ranked.c.rid).outerjoin(
        feeds, feeds.c.id == articles.c.feed_id
    )
    return (
        select(*SUMMARY_COLUMNS, ranked.c.score.label("score"))
        .select_from(source)
        .order_by(ranked.c.score.desc(), ranked.c.rid.desc())
    )


@functools.cache
def fts_date_statement(with_cursor: bool) -> Select[Any]:
    """SQLite, newest first, a full-text match with no other filter: the page's (id, score).

    The first of the two steps the archive takes for such a search (``_narrowed``): the
    statement the general path builds for it (:meth:`Archive._search_statement`, narrowed
    by :func:`narrowed_statement`), with every value a parameter (``fts_match``, ``k``,
    the cursor's ``after_key`` and ``after_id``), so that it is built and compiled once
    and run on the driver (:class:`DriverStatement`), as the ranked page is. The same
    SQL text (tests/test_archive.py compares the two compilations), so the same plan.
    """
    hits = fts_hits()
    stmt = select(*SUMMARY_COLUMNS, hits.c.score.label("score")).select_from(
        hits.join(articles, articles.c.id == hits.c.rid).join(
            feeds, feeds.c.id == articles.c.feed_id
        )
    )
    if with_cursor:
        after_key = bindparam("after_key", type_=articles.c.published.type)
        after_id = bindparam("after_id", type_=articles.c.id.type)
        stmt = stmt.where(tuple_(articles.c.published, articles.c.id) < tuple_(after_key, after_id))
    stmt = stmt.order_by(articles.c.published.desc(), articles.c.id.desc())
    return narrowed_statement(stmt).limit(bindparam("k", type_=Integer))


@functools.cache
def rows_by_id_statement(n: int) -> Select[Any]:
    """SQLite: the summary columns of ``n`` articles by id (parameters ``id_0`` ...).

    The second step of the two-step searches (``Archive._narrowed``): the general path's
    ``articles.id IN (...)`` with one parameter per id, as SQLAlchemy expands a list;
    compiled once per ``n``, run on the driver. The archive pads its ids to a power of
    two (a repeated id changes nothing an IN finds), so few counts are ever compiled.
    """
    ids = [bindparam(f"id_{i}", type_=articles.c.id.type) for i in range(n)]
    return (
        select(*SUMMARY_COLUMNS)
        .select_from(articles.join(feeds, feeds.c.id == articles.c.feed_id))
        .where(articles.c.id.in_(ids))
    )


class FilterShape(NamedTuple):
    """Which of a search's filters are set (and how many feed names, padded to a power
    of two): what :func:`filtered_statement` is built for, one statement per shape."""

    topic: bool = False
    feeds: int = 0
    cluster: bool = False
    language: bool = False
    since: bool = False
    until: bool = False


@functools.lru_cache(maxsize=128)  # shapes are few in use; a crafted mix stays bounded
def filtered_statement(
    sqlite: bool, order: Order, with_cursor: bool, shape: FilterShape
) -> Select[Any]:
    """A full-text match with filters (``shape``), by relevance or by date: the page.

    The statement :meth:`Archive._search_statement` builds for such a search (its
    conditions in its order: the match, topic, feeds, cluster, language, since, until,
    the cursor), with every value a parameter (``fts_match`` / ``ts_match``, ``topic``,
    ``feed_0``..., ``cluster``, ``language``, ``since``, ``until``, ``after_key``,
    ``after_id``, ``k``), so that it is built and compiled once per shape and run on the
    driver (:class:`DriverStatement`): built per search, SQLite's narrowing of it
    (``ClauseAdapter``) and its compilation cost 1.2-2 ms of CPU against the engine's
    0.4 (issue 17). SQLite: the first of the two steps, (id, score) through the covering
    index (:func:`narrowed_statement`), as ``Archive._narrowed`` runs it; PostgreSQL:
    the page itself. A feed list is as long as ``shape.feeds``: the caller pads it
    with its last name (a repeated name changes nothing an ``IN`` finds).
    """
    if sqlite:
        hits = fts_hits()
        source: Any = hits.join(articles, articles.c.id == hits.c.rid).join(
            feeds, feeds.c.id == articles.c.feed_id
        )
        score: Any = hits.c.score
        conditions: list[Any] = []
    else:
        tsq = ts_query(bindparam("ts_match", type_=String))
        source = articles.join(feeds, feeds.c.id == articles.c.feed_id)
        score = ts_score(tsq)
        conditions = [ts_matches(tsq)]
    if shape.topic:
        topic = bindparam("topic", type_=matches.c.topic.type)
        conditions.append(
            articles.c.id.in_(select(matches.c.article_id).where(matches.c.topic == topic))
        )
    if shape.feeds:
        names = [bindparam(f"feed_{i}", type_=feeds.c.name.type) for i in range(shape.feeds)]
        conditions.append(feeds.c.name.in_(names))
    if shape.cluster:
        conditions.append(
            articles.c.cluster_id == bindparam("cluster", type_=articles.c.cluster_id.type)
        )
    if shape.language:
        conditions.append(
            articles.c.language == bindparam("language", type_=articles.c.language.type)
        )
    if shape.since:
        conditions.append(
            articles.c.published >= bindparam("since", type_=articles.c.published.type)
        )
    if shape.until:
        conditions.append(
            articles.c.published < bindparam("until", type_=articles.c.published.type)
        )
    stmt: Select[Any] = select(*SUMMARY_COLUMNS, score.label("score")).select_from(source)
    after_id = bindparam("after_id", type_=articles.c.id.type)
    if order == "relevance":
        if with_cursor:
            after_key = bindparam("after_key", type_=Double if sqlite else score.type)
            tie = and_(score == after_key, articles.c.id < after_id)
            conditions.append(or_(score < after_key, tie))
        stmt = stmt.order_by(score.desc(), articles.c.id.desc())
    else:
        if with_cursor:
            after_key = bindparam("after_key", type_=articles.c.published.type)
            conditions.append(
                tuple_(articles.c.published, articles.c.id) < tuple_(after_key, after_id)
            )
        stmt = stmt.order_by(articles.c.published.desc(), articles.c.id.desc())
    if conditions:
        stmt = stmt.where(*conditions)
    if sqlite:
        stmt = narrowed_statement(stmt)
    return stmt.limit(bindparam("k", type_=Integer))


def ts_query(match: Any) -> Any:
    """PostgreSQL: ``to_tsquery('simple', match)``, the query's text as the archive
    translated it (``tsquery_plan``)."""
    # SQLAlchemy gives to_tsquery its PostgreSQL types only once that dialect is
    # imported; a construct made before cannot be compiled for PostgreSQL, and
    # ts_page_statement keeps what it built for the process's life (a search would
    # fail until a restart). A PostgreSQL engine imports the dialect, so this is a
    # no-op in the daemon; it makes the order of construction not matter.
    import sqlalchemy.dialects.postgresql  # noqa: F401

    return func.to_tsquery(literal_column("'simple'::regconfig"), match)


def ts_score(tsq: Any) -> Any:
    """PostgreSQL: the relevance of an article for ``tsq``, higher is better.

    ts_rank is a float4 that travels as rounded text: as float8 the value a cursor
    carries back compares equal to the one the database computes.
    """
    return cast(func.ts_rank(literal_column(f"articles.{SEARCH_COLUMN}"), tsq), Double)


def ts_matches(tsq: Any) -> Any:
    """PostgreSQL: the articles whose ``search_vector`` matches ``tsq`` (its GIN index)."""
    return literal_column(f"articles.{SEARCH_COLUMN}").op("@@")(tsq)


@functools.cache
def ts_page_statement(order: Order, with_cursor: bool) -> Select[Any]:
    """PostgreSQL, a full-text match with no other filter: the page, ``k`` rows.

    The statement :meth:`Archive._search_statement` builds for such a search, with
    every value a parameter (``ts_match``, ``k``, the cursor's ``after_key`` and
    ``after_id``), so that it is built and compiled once and run on the driver
    (:class:`DriverStatement`), as SQLite's ranked page is. By relevance: (score, id)
    descending; by date: (published, id) descending, the score still selected.
    """
    tsq = ts_query(bindparam("ts_match", type_=String))
    score = ts_score(tsq)
    conditions = [ts_matches(tsq)]
    key: Any = articles.c.published if order == "date" else score
    if with_cursor:
        after_key = bindparam("after_key", type_=key.type)
        after_id = bindparam("after_id", type_=articles.c.id.type)
        if order == "date":
            conditions.append(tuple_(key, articles.c.id) < tuple_(after_key, after_id))
        else:
            tie = and_(key == after_key, articles.c.id < after_id)
            conditions.append(or_(key < after_key, tie))
    return (
        select(*SUMMARY_COLUMNS, score.label("score"))
        .select_from(articles.join(feeds, feeds.c.id == articles.c.feed_id))
        .where(*conditions)
        .order_by(key.desc(), articles.c.id.desc())
        .limit(bindparam("k", type_=Integer))
    )


class DriverStatement:
    """A statement compiled once for one dialect and run on the DB-API cursor itself.

    For the hottest reads, the API's searches with no filter (issue 17): through
    SQLAlchemy each execution builds an execution context, looks the statement up in
    the compiled cache and makes a ``Row`` per result row, about 0.1 ms of Python per
    search beside the engine's 0.4-0.5 ms, all of it holding the GIL the event loop
    and the other searches need. Here the SQL text, the parameters and each column's
    converters come from SQLAlchemy's own compilation, once, so the statement sent and
    the values returned are the ones ``Connection.execute`` gives (tests/test_archive.py
    compares the two on both backends); a driver error leaves wrapped as SQLAlchemy
    wraps it (``DBAPIError``), a lost connection invalidated as SQLAlchemy does it, so
    callers handle both paths alike.
    """

    def __init__(self, stmt: Select[Any], dialect: Dialect) -> None:
        compiled = stmt.compile(dialect=dialect)
        self.sql = str(compiled)
        # SQLite's driver takes positional parameters (qmark), in this order;
        # psycopg named ones (pyformat), a name once however often the SQL uses it
        self._positional = compiled.positiontup is not None
        names = compiled.positiontup if compiled.positiontup is not None else compiled.binds
        self._names = tuple(names)
        # the values the statement carries itself (the OFFSET 0 SQLAlchemy adds)
        self._defaults = {
            name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
        }
        self._binds = tuple(
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in self._names
        )
        self._dialect = dialect
        self._types = tuple(column.type.dialect_impl(dialect) for column in stmt.selected_columns)
        # Each column's converter, made from the first result's description: as in
        # SQLAlchemy's own result, a converter may depend on the type the driver
        # reports (psycopg's numbers: float8 needs none, numeric does).
        self._results: tuple[tuple[int, Any], ...] | None = None
        self._row: Any = collections.namedtuple(  # type: ignore[misc]
            "DriverRow", list(stmt.selected_columns.keys())
        )
        # The row made by tuple.__new__ itself: ``_make`` is a Python call around it
        # that checks the length, which a row of this statement always has (~0.25 µs
        # a row, up to 201 a search; issue 17).
        self._make: Callable[[Iterable[Any]], Any] = functools.partial(tuple.__new__, self._row)

    def arguments(self, params: dict[str, Any]) -> Any:
        """What the driver is given for ``params``: a list (qmark) or a dict (pyformat)."""
        values = self._defaults | params
        processed = [
            value if bind is None else bind(value)
            for value, bind in zip((values[n] for n in self._names), self._binds, strict=True)
        ]
        return processed if self._positional else dict(zip(self._names, processed, strict=True))

    def rows(self, conn: Connection, params: dict[str, Any]) -> list[Any]:
        """The result rows as named tuples (attribute access, as a ``Row``)."""
        args = self.arguments(params)
        driver = conn.connection.driver_connection
        assert driver is not None  # a checked-out connection has its driver's
        dbapi_error = conn.dialect.loaded_dbapi.Error
        cursor = None
        try:
            cursor = driver.cursor()
            try:
                cursor.execute(self.sql, args)
                fetched = cursor.fetchall()
                results = self._results
                if results is None:
                    # benign race: threads that both get here make the same converters
                    # kept as (position, converter) for the columns that have one:
                    # most have none (one of ten in a summary), and a pass over every
                    # value of every row cost twice the conversions themselves
                    converters = (
                        t.result_processor(self._dialect, d[1])
                        for t, d in zip(self._types, cursor.description, strict=True)
                    )
                    results = self._results = tuple(
                        (i, p) for i, p in enumerate(converters) if p is not None
                    )
            finally:
                cursor.close()
        except dbapi_error as exc:
            # A connection the server dropped is invalidated, as Connection.execute
            # does, so that the pool replaces it and the caller may run the search again.
            lost = conn.dialect.is_disconnect(exc, conn.connection.dbapi_connection, cursor)
            if lost:
                conn.invalidate(exc)
            raise DBAPIError.instance(
                self.sql,
                args,
                exc,
                dbapi_error,
                dialect=conn.dialect,
                connection_invalidated=lost,
            ) from exc
        make = self._make
        if not results:
            return list(map(make, fetched))
        out = []
        for r in fetched:
            values = list(r)
            for i, p in results:
                values[i] = p(values[i])
            out.append(make(values))
        return out


class _IndexedAlias(Alias):
    """``articles AS filtered INDEXED BY ix_articles_search_filter`` on SQLite.

    SQLite looks an article up by rowid in the table itself, even when a covering
    index holds every column the statement needs; ``INDEXED BY`` makes it use the index.
    SQLAlchemy renders no table hint for SQLite, hence this alias.
    """

    inherit_cache = True


@compiles(_IndexedAlias, "sqlite")
def _render_indexed_alias(element: _IndexedAlias, compiler: SQLCompiler, **kw: Any) -> str:
    rendered: str = compiler.visit_alias(element, **kw)  # type: ignore[no-untyped-call]
    if kw.get("asfrom"):
        rendered += " INDEXED BY " + compiler.preparer.quote(SEARCH_FILTER_INDEX)
    return rendered


def narrowed_statement(stmt: Select[Any]) -> Select[Any]:
    """SQLite: ``stmt`` choosing only (id, score), through the covering search index.

    ``stmt`` is a search over ``articles`` (joined with the FTS5 hits and feeds) that
    filters and orders on columns of ``ix_articles_search_filter`` only; the result has
    the same rows in the same order, without reading one article row.
    """
    view = _IndexedAlias._construct(articles, name="filtered")
    adapted = ClauseAdapter(view).traverse(stmt)
    return adapted.with_only_columns(
        view.c.id, adapted.selected_columns.score.label("score"), maintain_column_froms=True
    )


# ---------------------------------------------------------------------------
# A parsed query translated for the engines of migration 0003
# ---------------------------------------------------------------------------
#
# The query arrives tokenized by the query language (``aggregator.query.tokenize``:
# case and accents folded, split on anything not a letter, digit or mark); both
# engines index the raw title and text folding them the same way (see 0003):
#
#   SQLite:      articles_fts, fts5(title, text, tokenize='unicode61 remove_diacritics 2')
#   PostgreSQL:  articles.search_vector, title weight A, text weight B, over the
#                'aggregator_search' configuration (unaccent, then simple)
#
# outlet: and lang: are not full-text columns: they come back as SearchFilters, which
# the archive turns into `feed IN (...)` / `language IN (...)` over the known values.

_WEIGHT = {"title": "A", "text": "B"}
_FILTER_FIELDS = frozenset({"outlet", "lang"})


def _leaves(node: Node) -> Iterator[Term | Phrase]:
    for sub in walk(node):
        if isinstance(sub, Term | Phrase):
            yield sub


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """Outlet and language conditions a search applies beside the full-text match.

    Each is a boolean expression over one field (``outlet:(bbc OR reuters)``,
    ``-lang:ru``); None means no restriction.
    """

    outlet: Node | None = None
    lang: Node | None = None

    def outlet_allowed(self, outlet: str) -> bool:
        if self.outlet is None:
            return True
        return self.outlet.evaluate(Document.build(outlet=outlet), [])

    def language_allowed(self, language: str | None) -> bool:
        if self.lang is None:
            return True
        return self.lang.evaluate(Document.build(language=language), [])

    def outlets(self, known: Iterable[str]) -> list[str] | None:
        """The ``known`` outlets (feed names) allowed, or None when all are."""
        return None if self.outlet is None else [o for o in known if self.outlet_allowed(o)]

    def languages(self, known: Iterable[str | None]) -> list[str | None] | None:
        """The ``known`` language codes allowed, or None when all are."""
        return None if self.lang is None else [x for x in known if self.language_allowed(x)]


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """A query translated for one engine: the full-text condition and the filters."""

    match: str | None  # FTS5 MATCH text / to_tsquery('simple', ...) text; None: filters only
    filters: SearchFilters


def _split_filters(query: Query) -> tuple[Node | None, SearchFilters]:
    """Separate top-level outlet:/lang: conditions from the full-text part."""
    parts = query.root.children if isinstance(query.root, And) else (query.root,)
    body: list[Node] = []
    by_field: dict[str, list[Node]] = {"outlet": [], "lang": []}
    for part in parts:
        fields = {leaf.field for leaf in _leaves(part)}
        if len(fields) == 1 and fields <= _FILTER_FIELDS:
            by_field[fields.pop() or ""].append(part)
            continue
        for leaf in _leaves(part):
            if leaf.field in _FILTER_FIELDS:
                raise QueryError(
                    query.text,
                    f"in a search, {leaf.field}: can only narrow the whole query "
                    f"(like 'korea {leaf.field}:x'), not sit inside OR or mix with other fields",
                    leaf.position,
                )
        body.append(part)

    def joined(nodes: list[Node]) -> Node | None:
        return None if not nodes else nodes[0] if len(nodes) == 1 else And(tuple(nodes))

    filters = SearchFilters(joined(by_field["outlet"]), joined(by_field["lang"]))
    return joined(body), filters


def _fts5_string(tokens: Sequence[str]) -> str:
    # Tokens are letters/digits only, but quote defensively: "" is FTS5's escape.
    return '"' + " ".join(tokens).replace('"', '""') + '"'


def _fts5_leaf(node: Term | Phrase) -> str:
    if isinstance(node, Term):
        return _fts5_string([node.token]) + ("*" if node.prefix else "")
    return _fts5_string(node.tokens)


def _fts5(node: Node, query: Query) -> str:
    scope = ""
    if isinstance(node, Term | Phrase | Near) and node.field is not None:
        scope = f"{node.field} : "
    if isinstance(node, Term | Phrase):
        return scope + _fts5_leaf(node)
    if isinstance(node, Near):
        return f"{scope}NEAR({_fts5_leaf(node.left)} {_fts5_leaf(node.right)}, {node.distance})"
    if isinstance(node, Or):
        for child in node.children:
            if not requires_presence(child):
                raise _fts5_cannot(query, child)
        return "(" + " OR ".join(_fts5(c, query) for c in node.children) + ")"
    if isinstance(node, Not):
        raise _fts5_cannot(query, node)
    # FTS5's NOT is binary ("a NOT b"), so an AND becomes (positives) NOT (n1 OR n2):
    # one flat OR, as `((p NOT n1) NOT n2) ...` nests a level per excluded word and
    # overflows FTS5's parser stack at about a hundred (PostgreSQL runs those queries).
    positives = [c for c in node.children if not isinstance(c, Not)]
    negatives = [c.child for c in node.children if isinstance(c, Not)]
    if not positives:
        raise _fts5_cannot(query, node)
    expr = " AND ".join(_fts5(c, query) for c in positives)
    if negatives:
        excluded = [_fts5(neg, query) for neg in negatives]
        either = excluded[0] if len(excluded) == 1 else "(" + " OR ".join(excluded) + ")"
        expr = f"({expr}) NOT {either}"
    return f"({expr})"


def _fts5_cannot(query: Query, node: Node) -> QueryError:
    return QueryError(
        query.text,
        "SQLite full-text search cannot run this NOT: put it after words that must be "
        "present (like 'korea -missile'), not alone inside OR",
        node.position,
    )


def fts5_plan(query: Query) -> SearchPlan:
    """Translate ``query`` for an FTS5 table with columns ``title`` and ``text``.

    Unscoped words carry no column filter, so the table's only *indexed* columns must
    be ``title`` and ``text`` (others UNINDEXED). Raises QueryError, with the position,
    for a NOT that FTS5's binary ``a NOT b`` cannot express (``a (b OR -c)``).
    """
    body, filters = _split_filters(query)
    return SearchPlan(None if body is None else _fts5(body, query), filters)


def to_fts5(query: Query) -> str:
    """The FTS5 MATCH expression; QueryError if the query has outlet:/lang: filters.

    Use :func:`fts5_plan` to run queries with filters.
    """
    return _only_match(fts5_plan(query), query)


def _only_match(plan: SearchPlan, query: Query) -> str:
    if plan.match is None or plan.filters != SearchFilters():
        raise QueryError(query.text, "the query has outlet:/lang: filters; use a search plan")
    return plan.match


def _ts_lexeme(token: str, weight: str, prefix: bool = False) -> str:
    quoted = "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"
    suffix = ("*" if prefix else "") + weight
    return f"{quoted}:{suffix}" if suffix else quoted


def _ts_leaf(node: Term | Phrase, weight: str) -> str:
    if isinstance(node, Term):
        return _ts_lexeme(node.token, weight, node.prefix)
    return "(" + " <-> ".join(_ts_lexeme(t, weight) for t in node.tokens) + ")"


def _weights(node: Term | Phrase | Near) -> list[str]:
    # An unscoped phrase or NEAR is tried in the title and in the text separately, so
    # it never spans the end of the title and the start of the text.
    return [_WEIGHT[node.field]] if node.field else ["A", "B"]


def _tsquery(node: Node) -> str:
    if isinstance(node, Term):
        return _ts_leaf(node, _WEIGHT[node.field] if node.field else "")
    if isinstance(node, Phrase):
        alts = [_ts_leaf(node, w) for w in _weights(node)]
        return alts[0] if len(alts) == 1 else "(" + " | ".join(alts) + ")"
    if isinstance(node, Near):
        # tsquery has no "within n": `L <k> R` means R starts exactly k positions after
        # L ends, so NEAR/n becomes every k in 1..n+1, in both orders.
        alts = []
        for w in _weights(node):
            left, right = _ts_leaf(node.left, w), _ts_leaf(node.right, w)
            for k in range(1, node.distance + 2):
                alts += [f"{left} <{k}> {right}", f"{right} <{k}> {left}"]
        return "(" + " | ".join(alts) + ")"
    if isinstance(node, Not):
        return f"!{_tsquery(node.child)}"
    glue = " & " if isinstance(node, And) else " | "
    return "(" + glue.join(_tsquery(c) for c in node.children) + ")"


def tsquery_plan(query: Query) -> SearchPlan:
    """Translate ``query`` for ``to_tsquery('simple', ...)`` over ``search_vector``.

    Exact except: NEAR spans that overlap (possible only when both sides share a
    word) do not match, and PostgreSQL stops counting positions at 16,383, so phrases
    and NEAR beyond that word of a field are unreliable.
    """
    body, filters = _split_filters(query)
    return SearchPlan(None if body is None else _tsquery(body), filters)


def to_tsquery(query: Query) -> str:
    """The ``to_tsquery('simple', ...)`` text; QueryError if the query has filters."""
    return _only_match(tsquery_plan(query), query)


def search_plan(query_text: str, *, sqlite: bool, limits: SearchLimits | None = None) -> SearchPlan:
    """Parse ``query_text`` and translate it for the archive's engine (QueryError with
    the position when it does not parse or the engine cannot run it, or when it would
    cost more than ``limits`` allow)."""
    plain = _plain_words_plan(query_text, sqlite, limits)
    if plain is not None:
        return plain
    return parsed_search_plan(query_text, sqlite=sqlite, limits=limits)


# Words of ASCII letters and digits, one space apart: what nearly every search typed
# or linked is. None of them is an operator (AND, OR, NOT, NEAR are excluded below;
# "-", "+", "*", ":", quotes and parentheses are not in the class), so the parser
# reads each as a term whose one token is the word lowercased, ANDed in order.
_PLAIN_WORDS = re.compile(r"(?:[A-Za-z0-9]+ )*[A-Za-z0-9]+")
_OPERATOR_WORDS = frozenset({"AND", "OR", "NOT", "NEAR"})


def _plain_words_plan(
    query_text: str, sqlite: bool, limits: SearchLimits | None
) -> SearchPlan | None:
    """The plan :func:`parsed_search_plan` gives a query of plain words, made without
    the lexer, the parser's nodes and the translation's walk over them (~30 of a
    search's ~35 µs there, issue 17); None for any other query, and for one whose
    bounds a limit would refuse (the parser then gives the same plan or error).
    tests/test_store_search_fast_plan.py holds the two alike on random queries."""
    if len(query_text) > MAX_QUERY_LENGTH or not _PLAIN_WORDS.fullmatch(query_text):
        return None
    words = query_text.split(" ")
    if not _OPERATOR_WORDS.isdisjoint(words):
        return None
    tokens = query_text.lower().split(" ")
    if limits is not None and not _plain_words_within(tokens, limits):
        return None
    if sqlite:
        leaves = ['"' + token + '"' for token in tokens]
        glue = " AND "
    else:
        leaves = ["'" + token + "'" for token in tokens]
        glue = " & "
    match = leaves[0] if len(leaves) == 1 else "(" + glue.join(leaves) + ")"
    return SearchPlan(match, _NO_FILTERS)


def _plain_words_within(tokens: list[str], limits: SearchLimits) -> bool:
    """Whether :func:`search_cost_problem` finds nothing in these words ANDed (no
    prefix, nothing excluded)."""
    if limits.max_prefixes < 0 or limits.max_excluded < 0 or len(tokens) > limits.max_words:
        return False
    if len(tokens) <= limits.max_repeats:
        return True  # no word can occur more often than there are words
    return max(collections.Counter(tokens).values()) <= limits.max_repeats


_NO_FILTERS = SearchFilters()


def parsed_search_plan(
    query_text: str, *, sqlite: bool, limits: SearchLimits | None = None
) -> SearchPlan:
    """:func:`search_plan` through the parser, for any query."""
    query = parse_query(query_text)
    if limits is not None:
        problem = search_cost_problem(query, limits)
        if problem is not None:
            raise QueryError(query_text, problem)
    return fts5_plan(query) if sqlite else tsquery_plan(query)
