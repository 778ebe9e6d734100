"""The read side of the archive: search, events, topics, feeds, alerts, export.

Every SQL statement the API, the web page, Atom output and ``aggregator export``
need lives here, behind typed methods returning frozen records. Database failures
leave as ``StorageError``; a query the full-text engine cannot run leaves as
``QueryError`` (a 400 for the API, never a 500).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    or_,
    select,
    tuple_,
)
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from aggregator.errors import OverBudget, QueryError, StorageError
from aggregator.store.engine import first_line, storage_errors
from aggregator.store.feedlist import FeedInfo, FeedList, feed_info, feeds_statement
from aggregator.store.hits import (
    ArticleSummary,
    EventQuery,
    Filters,
    SearchPage,
    article_summary,
    decode_cursor,
    encode_cursor,
    fingerprint,
)
from aggregator.store.names import check_known
from aggregator.store.retention import DELETING
from aggregator.store.schema import (
    alerts,
    articles,
    channel_state,
    clusters,
    feeds,
    matches,
)
from aggregator.store.search import (
    SUMMARY_COLUMNS,
    Cursor,
    DriverStatement,
    FilterShape,
    Order,
    SearchFilters,
    SearchLimits,
    SearchPlan,
    filtered_statement,
    fts_date_statement,
    fts_hits,
    fts_top_statement,
    narrowed_statement,
    rows_by_id_statement,
    search_engine,
    search_plan,
    ts_matches,
    ts_page_statement,
    ts_query,
    ts_score,
)

# The events' and alerts' records (and the models and statements they bring) are
# imported by the methods that make them, when first called: a search needs none of
# them, and `aggregator search` would spend ~30 ms of its start making their
# dataclasses (issue 17; tests/test_cli_imports.py). The API imports them anyway.
if TYPE_CHECKING:
    from aggregator.models import Event
    from aggregator.store.views import (
        AlertInfo,
        AlertPage,
        ArticleDetail,
        Copy,
        DeliveryStats,
        EventArticlePage,
        EventDetail,
        EventOverview,
        EventPage,
        FeedPage,
        TopicMatch,
        TopicSummary,
    )

MAX_LIMIT = 200
# Statements compiled for the driver an archive keeps (a few in everyday use).
DRIVER_STATEMENTS = 256
# More feed names than this in one search take the general statement: each count
# (padded to a power of two) is a statement of its own.
DRIVER_MAX_FEEDS = 8


# -- helpers -----------------------------------------------------------------------


# -- the archive ---------------------------------------------------------------------


DEFAULT_LIMITS = SearchLimits()


@storage_errors
class Archive:
    """Read-only queries over the store's tables (the daemon's Store owns writes)."""

    def __init__(
        self, engine: Engine, *, narrow_first: bool = True, limits: SearchLimits = DEFAULT_LIMITS
    ) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self.limits = limits
        # Off only in tests, to compare the two-step SQLite search with one statement.
        self._narrow_first = narrow_first
        self._search_engine: Engine | None = None  # made at the first search
        # the statements run on the driver, by builder and its arguments
        self._driver_statements: dict[tuple[Any, ...], DriverStatement] = {}

    # -- search ------------------------------------------------------------------

    def plan(self, query_text: str) -> SearchPlan:
        """Parse and translate ``query_text`` for this engine (QueryError if it can't,
        or if it would cost more than ``limits`` allow)."""
        return search_plan(query_text, sqlite=self.sqlite, limits=self.limits)

    def search(
        self,
        query_text: str | None = None,
        filters: Filters = Filters(),
        *,
        order: Order = "relevance",
        cursor: str | None = None,
        limit: int = 20,
        budget: float | None = None,
        configured_topics: Iterable[str] | None = None,
    ) -> SearchPage:
        """Articles matching the query and filters, one page, with the next cursor.

        Without query text (or with only outlet:/lang: in it) nothing is ranked and the
        order is by date. Ties break on id, so pages never overlap or skip. With
        ``budget`` (seconds, below ``limits.timeout``), a search still running after it
        is stopped with OverBudget (the API's searches on its event loop).

        With ``configured_topics``, the topic, feeds and event the filters name must
        exist (NotFoundError otherwise; a configured topic needs no lookup), checked as
        ``store.lookup.require_known`` checks them, after the page is read and on the
        search's own connection: a feed an article of the page came from exists, and
        the others cost no second connection (issue 17). A search that fails raises
        before the check: the caller checks the names itself then, if it must.
        """
        limit = max(1, min(limit, MAX_LIMIT))
        query_text = (query_text or "").strip() or None
        plan = self.plan(query_text) if query_text else None
        if plan is None or plan.match is None:
            order = "date"
        fingerprint = hashlib.sha256(repr((query_text, filters)).encode()).hexdigest()[:16]
        after = Cursor.decode(cursor, order, fingerprint) if cursor else None
        try:
            rows, ranked = self._page_rows(
                plan, filters, order, after, limit, budget, configured_topics
            )
        except DBAPIError as exc:
            if budget is not None and budget < self.limits.timeout and self._is_timeout(exc):
                raise OverBudget(f"the search ran past its budget of {budget:g} s") from exc
            if self._is_timeout(exc):
                raise QueryError(
                    query_text or "",
                    f"the search took longer than {self.limits.timeout:g} s; "
                    "use fewer or more specific words",
                ) from exc
            if plan is not None and self._is_query_error(exc):
                raise QueryError(query_text or "", first_line(exc)) from exc
            raise StorageError(f"search: {first_line(exc)}") from exc
        except SQLAlchemyError as exc:
            raise StorageError(f"search: {first_line(exc)}") from exc
        items = tuple(
            article_summary(r, float(score) if ranked else None) for r, score in rows[:limit]
        )
        next_cursor = None
        if len(rows) > limit:
            last = items[-1]
            key: float | datetime = last.published if order == "date" else float(last.score or 0.0)
            next_cursor = Cursor(order, key, last.id, fingerprint).encode()
        return SearchPage(items, next_cursor)

    def _page_rows(
        self,
        plan: SearchPlan | None,
        filters: Filters,
        order: Order,
        after: Cursor | None,
        limit: int,
        budget: float | None = None,
        configured_topics: Iterable[str] | None = None,
    ) -> tuple[list[tuple[Any, Any]], bool]:
        """The page + 1 as (row, score), and whether it is ranked; with
        ``configured_topics``, the names the filters give checked (see :meth:`search`).

        On PostgreSQL the search engine's connections are not pinged before use: one
        the server dropped fails, and the search runs once more on a new one.
        """
        for attempt in (1, 2):
            try:
                with self._searching(budget).connect() as conn, self._deadline(conn, budget):
                    found = self._page_rows_on(conn, plan, filters, order, after, limit)
                    if configured_topics is not None:
                        self._check_names(conn, filters, configured_topics, found[0])
                    return found
            except DBAPIError as exc:
                if attempt == 1 and exc.connection_invalidated and not self.sqlite:
                    continue
                raise
        raise AssertionError("unreachable")

    def _check_names(
        self,
        conn: Connection,
        filters: Filters,
        configured_topics: Iterable[str],
        rows: Sequence[tuple[Any, Any]],
    ) -> None:
        """NotFoundError for the first topic, feed or event ``filters`` name that does
        not exist (``store.names.check_known``), looked up on ``conn`` through
        statements compiled once and run on the driver."""

        def run(
            build: Callable[..., Select[Any]], args: tuple[Any, ...], params: dict[str, Any]
        ) -> list[Any]:
            return self._driver(build, *args).rows(conn, params)

        # every row found joined its feed's row: that feed exists, no lookup needed
        seen = {r.feed for r, _ in rows} if filters.feeds else ()
        check_known(run, filters, configured_topics, seen)

    def lookup_engine(self) -> Engine:
        """The engine for the lookups a search needs beside it (are the names its filters
        give known?) when it does not check them itself (``configured_topics``), as
        after a failed search: the searches' own. On PostgreSQL its sessions are in autocommit and
        not pinged, so a lookup is one round trip where the daemon's engine takes four
        (the pool's ping, BEGIN, the query, the ROLLBACK at check-in; issue 17)."""
        return self._searching()

    def _searching(self, budget: float | None = None) -> Engine:
        if budget is not None and budget < self.limits.timeout and not self.sqlite:
            # sessions whose statement_timeout is the budget (one engine per budget)
            return search_engine(self.engine, budget)
        if self._search_engine is None:
            self._search_engine = search_engine(self.engine, self.limits.timeout)
        return self._search_engine

    def _page_rows_on(
        self,
        conn: Connection,
        plan: SearchPlan | None,
        filters: Filters,
        order: Order,
        after: Cursor | None,
        limit: int,
    ) -> tuple[list[tuple[Any, Any]], bool]:
        rows: list[tuple[Any, Any]] | None = None  # (row, score), the page + 1
        ranked = True
        fts_only = self._fts_only(plan, filters, order)
        if fts_only is not None:
            params: dict[str, Any] = {"fts_match": fts_only, "k": limit + 1}
            if after is not None:
                params |= {"after_key": after.key, "after_id": after.id}
            top = self._fts_top(after is not None).rows(conn, params)
            # A hit without its article or feed row (an index out of step with
            # the table) would be dropped by the general statement's inner
            # joins, changing which rows make the page: use that one then.
            if all(r.id is not None and r.feed is not None for r in top):
                rows = [(r, r.score) for r in top]
        ts_only = self._ts_only(plan, filters)
        if rows is None and ts_only is not None:
            params = {"ts_match": ts_only, "k": limit + 1}
            if after is not None:
                params |= {"after_key": after.key, "after_id": after.id}
            page = self._ts_page(order, after is not None).rows(conn, params)
            return [(r, r.score) for r in page], order == "relevance"
        fts_date = self._fts_date_only(plan, filters, order)
        if rows is None and fts_date is not None and self._narrow_first:
            params = {"fts_match": fts_date, "k": limit + 1}
            if after is not None:
                params |= {"after_key": after.key, "after_id": after.id}
            top = self._driver(fts_date_statement, after is not None).rows(conn, params)
            return self._rows_of(conn, top), False
        filtered = self._words_filtered(plan, filters)
        if rows is None and filtered is not None:
            match, shape, params = filtered
            params |= {"fts_match" if self.sqlite else "ts_match": match, "k": limit + 1}
            if after is not None:
                params |= {"after_key": after.key, "after_id": after.id}
            statement = self._driver(
                filtered_statement, self.sqlite, order, after is not None, shape
            )
            found = statement.rows(conn, params)
            if self.sqlite:
                return self._rows_of(conn, found), order == "relevance"
            return [(r, r.score) for r in found], order == "relevance"
        if rows is None:
            stmt, ranked = self._search_statement(conn, plan, filters, order, after)
            if self.sqlite and self._narrow_first and plan and plan.match is not None:
                rows = self._narrowed(conn, stmt, limit + 1)
            else:
                rows = [(r, r.score) for r in conn.execute(stmt.limit(limit + 1))]
        return rows, ranked

    def _driver(self, build: Callable[..., Select[Any]], *args: Any) -> DriverStatement:
        """``build(*args)`` compiled for this engine, once, run on the driver."""
        found = self._driver_statements.get((build, *args))
        if found is None:
            found = DriverStatement(build(*args), self.engine.dialect)
            if len(self._driver_statements) >= DRIVER_STATEMENTS:
                # ~30 KB each: requests crafted to ask every shape of filters cannot
                # grow this without end; the ones in use are compiled again
                self._driver_statements.clear()
            self._driver_statements[build, *args] = found
        return found

    def _fts_top(self, with_cursor: bool) -> DriverStatement:
        """:func:`fts_top_statement` compiled for this engine, run on the driver."""
        return self._driver(fts_top_statement, with_cursor)

    def _ts_page(self, order: Order, with_cursor: bool) -> DriverStatement:
        """:func:`ts_page_statement` compiled for this engine, run on the driver."""
        return self._driver(ts_page_statement, order, with_cursor)

    def _ts_only(self, plan: SearchPlan | None, filters: Filters) -> str | None:
        """PostgreSQL: the tsquery text when the page is the full-text match alone,
        by relevance or by date (no outlet:/lang:, no filters)."""
        return None if self.sqlite else _words_alone(plan, filters)

    def _fts_only(self, plan: SearchPlan | None, filters: Filters, order: Order) -> str | None:
        """The MATCH text when the page is the FTS5 ranking alone (SQLite, by relevance,
        nothing but the full-text match narrowing it: no outlet:/lang:, no filters)."""
        return _words_alone(plan, filters) if self.sqlite and order == "relevance" else None

    def _fts_date_only(self, plan: SearchPlan | None, filters: Filters, order: Order) -> str | None:
        """The MATCH text when the page is the FTS5 hits alone newest first (SQLite, by
        date, no outlet:/lang:, no filters): :func:`fts_date_statement`'s case."""
        return _words_alone(plan, filters) if self.sqlite and order == "date" else None

    def _words_filtered(
        self, plan: SearchPlan | None, filters: Filters
    ) -> tuple[str, FilterShape, dict[str, Any]] | None:
        """A full-text match with filters and nothing else (no outlet:/lang: in the
        query): the match, the shape of :func:`filtered_statement` for it and the
        filters' values. None for any other search, for more than DRIVER_MAX_FEEDS
        feeds, and on SQLite when narrowing is off (tests compare with one statement)."""
        if plan is None or plan.match is None or plan.filters != SearchFilters():
            return None
        if filters == Filters() or (self.sqlite and not self._narrow_first):
            return None
        if len(filters.feeds) > DRIVER_MAX_FEEDS:
            return None
        values: dict[str, Any] = {}
        if filters.topic is not None:
            values["topic"] = filters.topic
        names = filters.feeds
        # padded with the last name to a power of two: few statements per archive
        size = 1 << (len(names) - 1).bit_length() if names else 0
        for i, name in enumerate([*names, *[names[-1]] * (size - len(names))] if names else []):
            values[f"feed_{i}"] = name
        for key in ("cluster", "language", "since", "until"):
            if getattr(filters, key) is not None:
                values[key] = getattr(filters, key)
        shape = FilterShape(
            topic=filters.topic is not None,
            feeds=size,
            cluster=filters.cluster is not None,
            language=filters.language is not None,
            since=filters.since is not None,
            until=filters.until is not None,
        )
        return plan.match, shape, values

    def _narrowed(self, conn: Any, stmt: Select[Any], k: int) -> list[tuple[Any, Any]]:
        """SQLite, a full-text match with filters or by date: the page in two steps.

        The general statement sorts every hit with all its summary columns, and reading
        an article's published, language or cluster_id means walking the overflow pages
        past its text and html: at 300,000 articles a broad query with a date filter
        took a second. Here the page's ids and scores are chosen through the covering
        index of what searches filter and order on (same conditions, same order, same
        limit: the same page), then only those rows are read.
        """
        return self._rows_of(conn, conn.execute(narrowed_statement(stmt).limit(k)).all())

    def _rows_of(self, conn: Connection, top: Sequence[Any]) -> list[tuple[Any, Any]]:
        """The second step of :meth:`_narrowed`: the rows of the page's (id, score)s, in
        their order, read by id on the driver (:func:`rows_by_id_statement`)."""
        if not top:
            return []
        # The id list padded with its last id to a power of two: at most 9 statements
        # compiled (about 50 KB each), where one per count (1-201) came to ~10 MB.
        size = 1 << (len(top) - 1).bit_length()
        ids = [t.id for t in top] + [top[-1].id] * (size - len(top))
        page = self._driver(rows_by_id_statement, size)
        found = {r.id: r for r in page.rows(conn, {f"id_{i}": v for i, v in enumerate(ids)})}
        # An article deleted between the two reads leaves the page one row short: the
        # cursor still comes from the last row shown, so nothing is skipped.
        return [(found[t.id], t.score) for t in top if t.id in found]

    @contextlib.contextmanager
    def _deadline(self, conn: Connection, budget: float | None = None) -> Iterator[None]:
        """Stop the engine after ``limits.timeout`` seconds on this connection.

        PostgreSQL: the statement_timeout of the search engine's sessions. SQLite: a progress
        handler, called every few thousand virtual-machine steps, that interrupts
        the statement once the deadline has passed (SQLite has no timeout of its own).
        """
        seconds = self.limits.timeout
        if not self.sqlite:
            # The search engine's connections carry it for their whole session
            # (store.search.search_engine): no statement per search.
            yield
            return
        raw: Any = conn.connection.driver_connection
        if budget is not None:
            seconds = min(seconds, budget)
        deadline = time.monotonic() + seconds
        raw.set_progress_handler(
            lambda: int(time.monotonic() > deadline), self.limits.progress_steps
        )
        try:
            yield
        finally:
            raw.set_progress_handler(None, 0)

    def _is_timeout(self, exc: DBAPIError) -> bool:
        if self.sqlite:
            return "interrupted" in str(exc.orig).lower()
        return getattr(exc.orig, "sqlstate", None) == "57014"  # query_canceled

    def _is_query_error(self, exc: DBAPIError) -> bool:
        message = str(exc.orig).lower()
        if self.sqlite:
            return "fts5" in message
        return "tsquery" in message or "syntax error" in message

    def _search_statement(
        self,
        conn: Any,
        plan: SearchPlan | None,
        filters: Filters,
        order: Order,
        after: Cursor | None,
    ) -> tuple[Select[Any], bool]:
        source: Any = articles.join(feeds, feeds.c.id == articles.c.feed_id)
        score: ColumnElement[Any] | None = None
        conditions: list[ColumnElement[bool]] = []
        if plan is not None and plan.match is not None:
            if self.sqlite:
                hits = fts_hits(plan.match)
                source = hits.join(articles, articles.c.id == hits.c.rid).join(
                    feeds, feeds.c.id == articles.c.feed_id
                )
                score = hits.c.score
            else:
                tsq = ts_query(bindparam("ts_match", plan.match))
                conditions.append(ts_matches(tsq))
                score = ts_score(tsq)
        # outlet:/lang: in the query are boolean expressions over names: turned into
        # IN lists over the names that exist (read only when the query has them).
        if plan is not None and plan.filters.outlet is not None:
            outlets = plan.filters.outlets(self._feed_names(conn)) or []
            conditions.append(feeds.c.name.in_(outlets))
        if plan is not None and plan.filters.lang is not None:
            languages = plan.filters.languages(self._languages(conn)) or []
            known = [x for x in languages if x is not None]
            allowed: ColumnElement[bool] = articles.c.language.in_(known)
            if None in languages:
                allowed = or_(allowed, articles.c.language.is_(None))
            conditions.append(allowed)
        conditions += self._filter_conditions(filters)
        ranked = order == "relevance" and score is not None
        columns: list[Any] = list(SUMMARY_COLUMNS)
        columns.append((score if score is not None else literal_column("NULL")).label("score"))
        stmt = select(*columns).select_from(source)
        if ranked:
            assert score is not None
            if after is not None:
                conditions.append(
                    or_(score < after.key, and_(score == after.key, articles.c.id < after.id))
                )
            stmt = stmt.order_by(score.desc(), articles.c.id.desc())
        else:
            if after is not None:
                conditions.append(
                    tuple_(articles.c.published, articles.c.id) < tuple_(after.key, after.id)
                )
            stmt = stmt.order_by(articles.c.published.desc(), articles.c.id.desc())
        if conditions:
            stmt = stmt.where(*conditions)
        return stmt, ranked

    def _filter_conditions(self, filters: Filters) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if filters.topic is not None:
            out.append(
                articles.c.id.in_(
                    select(matches.c.article_id).where(matches.c.topic == filters.topic)
                )
            )
        if filters.feeds:
            out.append(feeds.c.name.in_(filters.feeds))
        if filters.cluster is not None:
            out.append(articles.c.cluster_id == filters.cluster)
        if filters.language is not None:
            out.append(articles.c.language == filters.language)
        if filters.since is not None:
            out.append(articles.c.published >= filters.since)
        if filters.until is not None:
            out.append(articles.c.published < filters.until)
        return out

    def _feed_names(self, conn: Any) -> list[str]:
        return list(conn.execute(select(feeds.c.name)).scalars())

    def _languages(self, conn: Any) -> list[str | None]:
        """The distinct languages, hopping along ``ix_articles_language_published``: one index probe
        per language (a few dozen), where ``SELECT DISTINCT`` read every article."""
        found: list[str | None] = []
        column = articles.c.language
        step = select(column).order_by(column).limit(1)
        last = conn.execute(step.where(column.is_not(None))).scalar()
        while last is not None:
            found.append(last)
            last = conn.execute(step.where(column > last)).scalar()
        if conn.execute(select(articles.c.id).where(column.is_(None)).limit(1)).first():
            found.append(None)
        return found

    def export(
        self, filters: Filters = Filters(), query_text: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Stream matching articles (oldest first) as plain dicts for ``write_export``.

        Rows come from a server-side cursor in batches, so memory stays flat however
        big the archive is.
        """
        plan = self.plan(query_text) if query_text and query_text.strip() else None
        return self._export(plan, filters)

    def _export(self, plan: SearchPlan | None, filters: Filters) -> Iterator[dict[str, Any]]:
        try:
            with self.engine.connect() as conn:
                stmt, _ = self._search_statement(conn, plan, filters, "date", None)
                stmt = (
                    stmt.with_only_columns(
                        articles.c.id,
                        feeds.c.name.label("feed"),
                        articles.c.title,
                        articles.c.url,
                        articles.c.canonical_url,
                        articles.c.author,
                        articles.c.published,
                        articles.c.language,
                        articles.c.cluster_id,
                        articles.c.summary,
                        articles.c.text,
                        maintain_column_froms=True,
                    )
                    .order_by(None)
                    .order_by(articles.c.published, articles.c.id)
                )
                result = conn.execution_options(stream_results=True, yield_per=500).execute(stmt)
                for row in result:
                    yield dict(row._mapping)
        except SQLAlchemyError as exc:
            raise StorageError(f"export: {first_line(exc)}") from exc

    # -- articles and events -----------------------------------------------------

    def article(self, article_id: int) -> ArticleDetail | None:
        from aggregator.store.events import CopyDetail
        from aggregator.store.views import ArticleDetail

        stmt = (
            select(
                *SUMMARY_COLUMNS,
                articles.c.canonical_url,
                articles.c.author,
                articles.c.text,
                articles.c.html,
                articles.c.duplicate_of,
                articles.c.duplicate_kind,
                articles.c.duplicate_detail,
            )
            .join(feeds, feeds.c.id == articles.c.feed_id)
            .where(articles.c.id == article_id)
        )
        with self.engine.connect() as conn:
            r = conn.execute(stmt).first()
        if r is None:
            return None
        return ArticleDetail(
            id=r.id,
            feed=r.feed,
            feed_title=r.feed_title,
            title=r.title,
            url=r.url,
            canonical_url=r.canonical_url,
            author=r.author,
            published=r.published,
            language=r.language,
            summary=r.summary,
            text=r.text,
            html=r.html,
            cluster_id=r.cluster_id,
            duplicate_of=r.duplicate_of,
            duplicate_kind=r.duplicate_kind,
            copy=CopyDetail.from_json(r.duplicate_detail),
        )

    def events(
        self,
        *,
        topic: str | None = None,
        before: datetime | None = None,
        limit: int = 50,
        with_timelines: bool = True,
    ) -> list[Event]:
        """Events (clusters) newest first by first report; of one topic if given.

        Merged clusters are left out: their articles count in the cluster that
        absorbed them. ``before`` pages on ``first_seen``.
        """
        from aggregator.store.events import event_from_row

        limit = max(1, min(limit, MAX_LIMIT))
        # An event the retention job is deleting is no longer whole: not listed.
        stmt = select(clusters).where(clusters.c.status.not_in(("merged", DELETING)))
        if topic is not None:
            stmt = stmt.where(clusters.c.id.in_(_topic_cluster_ids(topic)))
        if before is not None:
            stmt = stmt.where(clusters.c.first_seen < before)
        stmt = stmt.order_by(clusters.c.first_seen.desc(), clusters.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
            if not with_timelines:
                return [event_from_row(r) for r in rows]
            return _with_timelines(conn, rows)

    def event(self, cluster_id: int) -> EventDetail | None:
        """An event with its articles grouped by outlet; a merged id resolves to its heir."""
        from aggregator.store.events import event_from_row
        from aggregator.store.views import EventDetail, OutletGroup, hourly

        with self.engine.connect() as conn:
            row = _resolve_event(conn, cluster_id)
            if row is None:
                return None
            members = conn.execute(
                select(*SUMMARY_COLUMNS)
                .join(feeds, feeds.c.id == articles.c.feed_id)
                .where(articles.c.cluster_id == row.id)
                .order_by(articles.c.published, articles.c.id)
            ).all()
            absorbed = _absorbed(conn, row.id)
        groups: dict[str, list[ArticleSummary]] = {}
        titles: dict[str, str | None] = {}
        for m in members:
            groups.setdefault(m.feed, []).append(article_summary(m))
            titles[m.feed] = m.feed_title
        outlets = tuple(
            OutletGroup(name, titles[name], tuple(arts)) for name, arts in groups.items()
        )
        timeline = hourly([m.published for m in members], row.first_seen)
        return EventDetail(event_from_row(row, timeline), outlets, absorbed)

    # -- topics --------------------------------------------------------------------

    def topics(self, configured: Sequence[str] = ()) -> list[TopicSummary]:
        """Every topic with matches, plus the configured ones that have none yet."""
        from aggregator.store.views import TopicSummary

        stmt = select(
            matches.c.topic,
            func.count().label("n"),
            func.count(matches.c.cluster_id.distinct()).label("events"),
            func.max(matches.c.created_at).label("last"),
        ).group_by(matches.c.topic)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        found = {r.topic: TopicSummary(r.topic, r.n, r.events, r.last) for r in rows}
        for name in configured:
            found.setdefault(name, TopicSummary(name, 0, 0, None))
        return sorted(found.values(), key=lambda t: t.name)

    def topic_matches(self, topic: str, limit: int = 20) -> list[TopicMatch]:
        from aggregator.store.events import json_terms
        from aggregator.store.views import TopicMatch

        limit = max(1, min(limit, MAX_LIMIT))
        stmt = (
            select(*SUMMARY_COLUMNS, matches.c.terms, matches.c.created_at.label("matched_at"))
            .select_from(
                matches.join(articles, articles.c.id == matches.c.article_id).join(
                    feeds, feeds.c.id == articles.c.feed_id
                )
            )
            .where(matches.c.topic == topic)
            .order_by(matches.c.created_at.desc(), matches.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [
                TopicMatch(article_summary(r), json_terms(r.terms), r.matched_at)
                for r in conn.execute(stmt)
            ]

    # -- feeds and alerts --------------------------------------------------------

    def feeds(self, *, polls_per_feed: int = 0, name: str | None = None) -> list[FeedInfo]:
        """Feeds with their health; with ``polls_per_feed`` > 0 their latest polls."""
        return FeedList(self.engine).feeds(polls_per_feed=polls_per_feed, name=name)

    def alerts(
        self, *, status: str | None = None, alert_id: str | None = None, limit: int = 50
    ) -> list[AlertInfo]:
        """Outbox rows, newest first, with their delivery status."""
        from aggregator.store.views import AlertInfo, alert_from_row

        limit = max(1, min(limit, MAX_LIMIT))
        stmt = select(alerts).order_by(alerts.c.created_at.desc(), alerts.c.id).limit(limit)
        if status is not None:
            stmt = stmt.where(alerts.c.status == status)
        if alert_id is not None:
            stmt = stmt.where(alerts.c.id == alert_id)
        with self.engine.connect() as conn:
            return [alert_from_row(r, AlertInfo) for r in conn.execute(stmt)]

    # -- the web page's lists: keyset pages ----------------------------------------

    def event_page(
        self, query: EventQuery = EventQuery(), *, cursor: str | None = None, limit: int = 30
    ) -> EventPage:
        """One page of events, newest first by ``query.sort``, with the next cursor."""
        from aggregator.store.views import EventPage

        limit = max(1, min(limit, MAX_LIMIT))
        key = clusters.c.last_updated if query.sort == "updated" else clusters.c.first_seen
        digest = fingerprint(query)
        stmt = select(clusters).where(clusters.c.status.not_in(("merged", DELETING)))
        if query.topic is not None:
            stmt = stmt.where(clusters.c.id.in_(_topic_cluster_ids(query.topic)))
        if query.min_outlets > 1:
            stmt = stmt.where(clusters.c.outlet_count >= query.min_outlets)
        if query.since is not None:
            stmt = stmt.where(key >= query.since)
        if cursor:
            when, last_id = decode_cursor(cursor, "events", digest, (datetime, int))
            stmt = stmt.where(tuple_(key, clusters.c.id) < tuple_(when, last_id))
        stmt = stmt.order_by(key.desc(), clusters.c.id.desc()).limit(limit + 1)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
            items = tuple(_with_timelines(conn, rows[:limit]))
        next_cursor = None
        if len(rows) > limit:
            last = items[-1]
            last_key = last.last_updated if query.sort == "updated" else last.first_seen
            next_cursor = encode_cursor("events", digest, (last_key, last.id))
        return EventPage(items, next_cursor)

    def event_overview(self, cluster_id: int) -> EventOverview | None:
        """An event's head for its page (a merged id resolves to its heir): the row,
        report times and outlets, without reading any article's text."""
        from aggregator.store.events import event_from_row
        from aggregator.store.views import EventOverview, OutletCount, hourly

        with self.engine.connect() as conn:
            row = _resolve_event(conn, cluster_id)
            if row is None:
                return None
            times = tuple(
                conn.execute(
                    select(articles.c.published)
                    .where(articles.c.cluster_id == row.id)
                    .order_by(articles.c.published)
                ).scalars()
            )
            outlets = tuple(
                OutletCount(r.name, int(r.n), r.first)
                for r in conn.execute(
                    select(
                        feeds.c.name,
                        func.count().label("n"),
                        func.min(articles.c.published).label("first"),
                    )
                    .join(feeds, feeds.c.id == articles.c.feed_id)
                    .where(articles.c.cluster_id == row.id)
                    .group_by(feeds.c.name)
                    .order_by(func.min(articles.c.published), feeds.c.name)
                )
            )
            absorbed = _absorbed(conn, row.id)
        return EventOverview(
            event_from_row(row, hourly(times, row.first_seen)), times, outlets, absorbed
        )

    def event_articles(
        self,
        cluster_id: int,
        *,
        outlet: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> EventArticlePage:
        """One page of an event's articles, grouped by outlet (configured name).

        Outlets come in the order they first reported (the same order as
        ``event_overview``), each outlet's articles oldest first; the cursor is the
        last (outlet, published, id), so a page boundary inside an outlet continues
        where it stopped. With ``outlet``, that outlet's articles, copies included.
        ``cluster_id`` must be the resolved (not merged) id.
        """
        from aggregator.store.views import Copy, EventArticle, EventArticlePage

        limit = max(1, min(limit, MAX_LIMIT))
        digest = fingerprint(("event-articles", cluster_id, outlet))
        # One outlet's articles are all shown, its copies of others' too: an outlet
        # that only carried copies is listed among the event's outlets, and choosing
        # it must not show nothing.
        shown = articles.c.cluster_id == cluster_id if outlet else _shown_in(cluster_id)
        with self.engine.connect() as conn:
            order = [
                (r.id, r.name)
                for r in conn.execute(
                    select(feeds.c.id, feeds.c.name)
                    .join(articles, articles.c.feed_id == feeds.c.id)
                    .where(shown)
                    .group_by(feeds.c.id, feeds.c.name)
                    .order_by(func.min(articles.c.published), feeds.c.name)
                )
            ]
            if not order:
                return EventArticlePage((), None)
            rank_of = {name: i for i, (_, name) in enumerate(order)}
            rank = case({fid: i for i, (fid, _) in enumerate(order)}, value=articles.c.feed_id)
            stmt = (
                select(*SUMMARY_COLUMNS, articles.c.text, rank.label("outlet_rank"))
                .join(feeds, feeds.c.id == articles.c.feed_id)
                .where(shown)
            )
            if outlet is not None:
                stmt = stmt.where(feeds.c.name == outlet)
            name: object = None
            if cursor:
                name, when, last_id = decode_cursor(
                    cursor, "event-articles", digest, (str, datetime, int)
                )
                if name not in rank_of:
                    raise QueryError(cursor, "this page is out of date: start from the first")
                stmt = stmt.where(
                    tuple_(rank, articles.c.published, articles.c.id)
                    > tuple_(rank_of[str(name)], when, last_id)
                )
            stmt = stmt.order_by(rank, articles.c.published, articles.c.id).limit(limit + 1)
            rows = conn.execute(stmt).all()
            page = rows[:limit]
            copies: dict[int, list[Copy]] = {r.id: [] for r in page}
            if page:
                for c in conn.execute(
                    select(articles.c.id, articles.c.duplicate_of, feeds.c.name, articles.c.url)
                    .join(feeds, feeds.c.id == articles.c.feed_id)
                    .where(
                        articles.c.cluster_id == cluster_id,
                        articles.c.duplicate_of.in_(list(copies)),
                    )
                    .order_by(articles.c.published, articles.c.id)
                ):
                    copies[c.duplicate_of].append(Copy(c.id, c.name, c.url))
        items = tuple(EventArticle(article_summary(r), r.text, tuple(copies[r.id])) for r in page)
        continues = bool(items) and items[0].article.feed == name
        next_cursor = None
        if len(rows) > limit:
            last = items[-1].article
            next_cursor = encode_cursor(
                "event-articles", digest, (last.feed, last.published, last.id)
            )
        return EventArticlePage(items, next_cursor, continues)

    def feed_page(
        self, *, state: str | None = None, cursor: str | None = None, limit: int = 50
    ) -> FeedPage:
        """One page of feeds by name, with their health (no polls)."""
        from aggregator.store.views import FeedPage

        limit = max(1, min(limit, MAX_LIMIT))
        digest = fingerprint(("feeds", state))
        stmt = feeds_statement().order_by(None).order_by(feeds.c.name)
        if state is not None:
            stmt = stmt.where(feeds.c.state == state)
        if cursor:
            (after,) = decode_cursor(cursor, "feeds", digest, (str,))
            stmt = stmt.where(feeds.c.name > after)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt.limit(limit + 1)).all()
        items = tuple(feed_info(r, ()) for r in rows[:limit])
        next_cursor = None
        if len(rows) > limit:
            next_cursor = encode_cursor("feeds", digest, (items[-1].name,))
        return FeedPage(items, next_cursor)

    def delivery_stats(self) -> list[DeliveryStats]:
        """Per rule and channel: deliveries by status, the last success, the last error."""
        from aggregator.store.views import DeliveryStats

        def count(status: str) -> Any:
            return func.sum(case((alerts.c.status == status, 1), else_=0)).label(status)

        stmt = (
            select(
                alerts.c.rule,
                alerts.c.channel,
                count("sent"),
                count("pending"),
                count("dead"),
                count("suppressed"),
                func.max(alerts.c.sent_at).label("last_sent_at"),
            )
            .group_by(alerts.c.rule, alerts.c.channel)
            .order_by(alerts.c.rule, alerts.c.channel)
        )
        out = []
        with self.engine.connect() as conn:
            disabled = {
                r.channel: r.disabled_reason or "disabled"
                for r in conn.execute(
                    select(channel_state).where(channel_state.c.disabled_at.is_not(None))
                )
            }
            for r in conn.execute(stmt).all():
                # Groups are few (rules x channels): one small indexed read each.
                failed = conn.execute(
                    select(alerts.c.last_error, alerts.c.created_at)
                    .where(
                        alerts.c.rule == r.rule,
                        alerts.c.channel == r.channel,
                        alerts.c.last_error.is_not(None),
                    )
                    .order_by(alerts.c.created_at.desc(), alerts.c.id.desc())
                    .limit(1)
                ).first()
                out.append(
                    DeliveryStats(
                        rule=r.rule,
                        channel=r.channel,
                        sent=int(r.sent or 0),
                        pending=int(r.pending or 0),
                        dead=int(r.dead or 0),
                        suppressed=int(r.suppressed or 0),
                        last_sent_at=r.last_sent_at,
                        last_error=failed.last_error if failed else None,
                        last_error_at=failed.created_at if failed else None,
                        disabled_reason=disabled.get(r.channel),
                    )
                )
        return out

    def alert_page(
        self,
        *,
        rule: str | None = None,
        channel: str | None = None,
        status: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> AlertPage:
        """One page of the outbox, newest first, each with the headline it was about."""
        from aggregator.store.views import AlertPage, AlertRow, alert_from_row

        limit = max(1, min(limit, MAX_LIMIT))
        digest = fingerprint(("alerts", rule, channel, status))
        stmt = (
            select(
                alerts,
                func.coalesce(clusters.c.headline, articles.c.title).label("subject"),
            )
            .select_from(
                alerts.outerjoin(clusters, clusters.c.id == alerts.c.cluster_id).outerjoin(
                    articles, articles.c.id == alerts.c.article_id
                )
            )
            .order_by(alerts.c.created_at.desc(), alerts.c.id.desc())
        )
        for column, value in ((alerts.c.rule, rule), (alerts.c.channel, channel)):
            if value is not None:
                stmt = stmt.where(column == value)
        if status is not None:
            stmt = stmt.where(alerts.c.status == status)
        if cursor:
            when, last_id = decode_cursor(cursor, "alerts", digest, (datetime, str))
            stmt = stmt.where(tuple_(alerts.c.created_at, alerts.c.id) < tuple_(when, last_id))
        with self.engine.connect() as conn:
            rows = conn.execute(stmt.limit(limit + 1)).all()
        items = tuple(alert_from_row(r, AlertRow, subject=r.subject) for r in rows[:limit])
        next_cursor = None
        if len(rows) > limit:
            next_cursor = encode_cursor("alerts", digest, (items[-1].created_at, items[-1].id))
        return AlertPage(items, next_cursor)

    # -- health and metrics ----------------------------------------------------------

    def ping(self) -> None:
        """Raise StorageError unless the database answers."""
        with self.engine.connect() as conn:
            conn.execute(select(1))

    def feed_state_counts(self) -> dict[str, int]:
        stmt = select(feeds.c.state, func.count()).group_by(feeds.c.state)
        with self.engine.connect() as conn:
            return {str(r.state): int(r[1]) for r in conn.execute(stmt)}

    def outbox_depth(self) -> int:
        """Alerts waiting to be delivered."""
        stmt = select(func.count()).select_from(alerts).where(alerts.c.status == "pending")
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())


def _absorbed(conn: Connection, cluster_id: int) -> tuple[int, ...]:
    """Ids of the events merged into ``cluster_id``, through any chain of merges."""
    found: set[int] = set()
    frontier = {cluster_id}
    while frontier:
        frontier = (
            {
                int(i)
                for i in conn.execute(
                    select(clusters.c.id).where(clusters.c.merged_into.in_(frontier))
                ).scalars()
            }
            - found
            - {cluster_id}
        )
        found |= frontier
    return tuple(sorted(found))


def _topic_cluster_ids(topic: str) -> Select[Any]:
    """Ids of the events a topic matched.

    A match recorded against a cluster that was merged later counts for the cluster
    that absorbed it (one level: the clusterer re-points chains).
    """
    old = clusters.alias("old")
    return (
        select(func.coalesce(old.c.merged_into, matches.c.cluster_id))
        .select_from(
            matches.outerjoin(old, and_(old.c.id == matches.c.cluster_id, old.c.status == "merged"))
        )
        .where(matches.c.topic == topic, matches.c.cluster_id.is_not(None))
    )


def _with_timelines(conn: Connection, rows: Sequence[Any]) -> list[Event]:
    """Event rows as summaries with their articles per hour (one query for all)."""
    from aggregator.store.events import event_from_row
    from aggregator.store.views import hourly

    times: dict[int, list[datetime]] = {r.id: [] for r in rows}
    if rows:
        for cid, published in conn.execute(
            select(articles.c.cluster_id, articles.c.published).where(
                articles.c.cluster_id.in_(list(times))
            )
        ):
            times[cid].append(published)
    return [event_from_row(r, hourly(times[r.id], r.first_seen)) for r in rows]


def _resolve_event(conn: Connection, cluster_id: int) -> Any:
    """The cluster row of ``cluster_id``, following merges to the heir; None when there
    is none or the retention job is deleting it."""
    row = None
    seen: set[int] = set()
    # Follow merged_into (bounded: a cycle would be a bug, not a reason to hang).
    while cluster_id not in seen:
        seen.add(cluster_id)
        row = conn.execute(select(clusters).where(clusters.c.id == cluster_id)).first()
        if row is None or row.status != "merged" or row.merged_into is None:
            break
        cluster_id = row.merged_into
    if row is None or row.status == DELETING:
        return None
    return row


def _shown_in(cluster_id: int) -> ColumnElement[bool]:
    """Articles of the event that are not a copy of another article of it: copies are
    folded under their original ("also carried by") instead of shown twice."""
    original = articles.alias("original")
    return and_(
        articles.c.cluster_id == cluster_id,
        or_(
            articles.c.duplicate_of.is_(None),
            articles.c.duplicate_of.not_in(
                select(original.c.id).where(original.c.cluster_id == cluster_id)
            ),
        ),
    )


def _words_alone(plan: SearchPlan | None, filters: Filters) -> str | None:
    """The full-text match when it alone narrows the search (no outlet:/lang:, no
    filters): the searches whose statements run on the driver."""
    if plan is not None and plan.filters == SearchFilters() and filters == Filters():
        return plan.match
    return None
