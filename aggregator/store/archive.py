"""The read side of the archive: search, events, topics, feeds, alerts, export.

Every SQL statement the API, the web page, Atom output and ``aggregator export``
need lives here, behind typed methods returning frozen records. Database failures
leave as ``StorageError``; a query the full-text engine cannot run leaves as
``QueryError`` (a 400 for the API, never a 500).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Double,
    Engine,
    Select,
    and_,
    bindparam,
    cast,
    func,
    literal_column,
    or_,
    select,
    tuple_,
)
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from aggregator.errors import QueryError, StorageError
from aggregator.models import Event
from aggregator.store.engine import first_line, storage_errors
from aggregator.store.events import event_from_row, json_terms
from aggregator.store.retention import DELETING
from aggregator.store.schema import alerts, articles, clusters, feeds, matches, polls
from aggregator.store.search import (
    SEARCH_COLUMN,
    SUMMARY_COLUMNS,
    Cursor,
    Order,
    SearchFilters,
    SearchPlan,
    fts_hits,
    fts_top_statement,
    narrowed_statement,
    search_plan,
)
from aggregator.store.views import (
    AlertInfo,
    ArticleDetail,
    ArticleSummary,
    EventDetail,
    FeedInfo,
    Filters,
    OutletGroup,
    PollInfo,
    SearchPage,
    TopicMatch,
    TopicSummary,
    alert_from_row,
    article_summary,
    hourly,
)

MAX_LIMIT = 200


# -- helpers -----------------------------------------------------------------------


# -- the archive ---------------------------------------------------------------------


@storage_errors
class Archive:
    """Read-only queries over the store's tables (the daemon's Store owns writes)."""

    def __init__(self, engine: Engine, *, narrow_first: bool = True) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        # Off only in tests, to compare the two-step SQLite search with one statement.
        self._narrow_first = narrow_first

    # -- search ------------------------------------------------------------------

    def plan(self, query_text: str) -> SearchPlan:
        """Parse and translate ``query_text`` for this engine (QueryError if it can't)."""
        return search_plan(query_text, sqlite=self.sqlite)

    def search(
        self,
        query_text: str | None = None,
        filters: Filters = Filters(),
        *,
        order: Order = "relevance",
        cursor: str | None = None,
        limit: int = 20,
    ) -> SearchPage:
        """Articles matching the query and filters, one page, with the next cursor.

        Without query text (or with only outlet:/lang: in it) nothing is ranked and the
        order is by date. Ties break on id, so pages never overlap or skip.
        """
        limit = max(1, min(limit, MAX_LIMIT))
        query_text = (query_text or "").strip() or None
        plan = self.plan(query_text) if query_text else None
        if plan is None or plan.match is None:
            order = "date"
        fingerprint = hashlib.sha256(repr((query_text, filters)).encode()).hexdigest()[:16]
        after = Cursor.decode(cursor, order, fingerprint) if cursor else None
        try:
            with self.engine.connect() as conn:
                rows: list[tuple[Any, Any]] | None = None  # (row, score), the page + 1
                ranked = True
                fts_only = self._fts_only(plan, filters, order)
                if fts_only is not None:
                    params: dict[str, Any] = {"fts_match": fts_only, "k": limit + 1}
                    if after is not None:
                        params |= {"after_key": after.key, "after_id": after.id}
                    stmt = fts_top_statement(after is not None)
                    top = conn.execute(stmt, params).all()
                    # A hit without its article or feed row (an index out of step with
                    # the table) would be dropped by the general statement's inner
                    # joins, changing which rows make the page: use that one then.
                    if all(r.id is not None and r.feed is not None for r in top):
                        rows = [(r, r.score) for r in top]
                if rows is None:
                    stmt, ranked = self._search_statement(conn, plan, filters, order, after)
                    if self.sqlite and self._narrow_first and plan and plan.match is not None:
                        rows = self._narrowed(conn, stmt, limit + 1)
                    else:
                        rows = [(r, r.score) for r in conn.execute(stmt.limit(limit + 1))]
        except DBAPIError as exc:
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

    def _fts_only(self, plan: SearchPlan | None, filters: Filters, order: Order) -> str | None:
        """The MATCH text when the page is the FTS5 ranking alone (SQLite, by relevance,
        nothing but the full-text match narrowing it: no outlet:/lang:, no filters)."""
        if (
            self.sqlite
            and order == "relevance"
            and plan is not None
            and plan.filters == SearchFilters()
            and filters == Filters()
        ):
            return plan.match
        return None

    def _narrowed(self, conn: Any, stmt: Select[Any], k: int) -> list[tuple[Any, Any]]:
        """SQLite, a full-text match with filters or by date: the page in two steps.

        The general statement sorts every hit with all its summary columns, and reading
        an article's published, language or cluster_id means walking the overflow pages
        past its text and html: at 300,000 articles a broad query with a date filter
        took a second. Here the page's ids and scores are chosen through the covering
        index of what searches filter and order on (same conditions, same order, same
        limit: the same page), then only those rows are read.
        """
        top = conn.execute(narrowed_statement(stmt).limit(k)).all()
        if not top:
            return []
        page = select(*SUMMARY_COLUMNS).select_from(
            articles.join(feeds, feeds.c.id == articles.c.feed_id)
        )
        found = {r.id: r for r in conn.execute(page.where(articles.c.id.in_([t.id for t in top])))}
        # An article deleted between the two reads leaves the page one row short: the
        # cursor still comes from the last row shown, so nothing is skipped.
        return [(found[t.id], t.score) for t in top if t.id in found]

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
                vector: ColumnElement[Any] = literal_column(f"articles.{SEARCH_COLUMN}")
                tsq = func.to_tsquery(
                    literal_column("'simple'::regconfig"), bindparam("ts_match", plan.match)
                )
                conditions.append(vector.op("@@")(tsq))
                # ts_rank is a float4 that travels as rounded text: as float8 the value
                # a cursor carries back compares equal to the one the database computes.
                score = cast(func.ts_rank(vector, tsq), Double)
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
        """The distinct languages, hopping along ``ix_articles_language``: one index probe
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
        stmt = (
            select(
                *SUMMARY_COLUMNS,
                articles.c.canonical_url,
                articles.c.author,
                articles.c.text,
                articles.c.html,
                articles.c.duplicate_of,
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
        limit = max(1, min(limit, MAX_LIMIT))
        # An event the retention job is deleting is no longer whole: not listed.
        stmt = select(clusters).where(clusters.c.status.not_in(("merged", DELETING)))
        if topic is not None:
            # A match recorded against a cluster that was merged later counts for the
            # cluster that absorbed it (one level: the clusterer re-points chains).
            old = clusters.alias("old")
            stmt = stmt.where(
                clusters.c.id.in_(
                    select(func.coalesce(old.c.merged_into, matches.c.cluster_id))
                    .select_from(
                        matches.outerjoin(
                            old, and_(old.c.id == matches.c.cluster_id, old.c.status == "merged")
                        )
                    )
                    .where(matches.c.topic == topic, matches.c.cluster_id.is_not(None))
                )
            )
        if before is not None:
            stmt = stmt.where(clusters.c.first_seen < before)
        stmt = stmt.order_by(clusters.c.first_seen.desc(), clusters.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
            times: dict[int, list[datetime]] = {r.id: [] for r in rows}
            if with_timelines and rows:
                for cid, published in conn.execute(
                    select(articles.c.cluster_id, articles.c.published).where(
                        articles.c.cluster_id.in_(list(times))
                    )
                ):
                    times[cid].append(published)
        return [event_from_row(r, hourly(times[r.id], r.first_seen)) for r in rows]

    def event(self, cluster_id: int) -> EventDetail | None:
        """An event with its articles grouped by outlet; a merged id resolves to its heir."""
        with self.engine.connect() as conn:
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
        counts = (
            select(articles.c.feed_id, func.count().label("n"))
            .group_by(articles.c.feed_id)
            .subquery()
        )
        day_ago = datetime.now(UTC) - timedelta(days=1)
        speed = (
            select(polls.c.feed_id, func.avg(polls.c.duration).label("avg_duration"))
            .where(polls.c.started_at >= day_ago)
            .group_by(polls.c.feed_id)
            .subquery()
        )
        stmt = (
            select(feeds, func.coalesce(counts.c.n, 0).label("article_count"), speed.c.avg_duration)
            .outerjoin(counts, counts.c.feed_id == feeds.c.id)
            .outerjoin(speed, speed.c.feed_id == feeds.c.id)
            .order_by(feeds.c.name)
        )
        if name is not None:
            stmt = stmt.where(feeds.c.name == name)
        out = []
        with self.engine.connect() as conn:
            for r in conn.execute(stmt).all():
                recent: tuple[PollInfo, ...] = ()
                if polls_per_feed > 0:
                    recent = tuple(
                        PollInfo(
                            p.started_at,
                            p.duration,
                            p.outcome,
                            p.http_status,
                            p.new_entries,
                            p.updated_entries,
                            p.error,
                            url=p.url,
                            bytes_wire=p.bytes_wire,
                            bytes_decoded=p.bytes_decoded,
                            etag_sent=p.etag_sent,
                            last_modified_sent=p.last_modified_sent,
                            etag_received=p.etag_received,
                            last_modified_received=p.last_modified_received,
                            warnings=p.warnings,
                        )
                        for p in conn.execute(
                            select(polls)
                            .where(polls.c.feed_id == r.id)
                            .order_by(polls.c.started_at.desc(), polls.c.id.desc())
                            .limit(polls_per_feed)
                        )
                    )
                out.append(
                    FeedInfo(
                        id=r.id,
                        name=r.name,
                        title=r.title,
                        url=r.url,
                        site_url=r.site_url,
                        state=r.state,
                        enabled=r.enabled,
                        last_outcome=r.last_outcome,
                        last_http_status=r.last_http_status,
                        last_error=r.last_error,
                        last_polled_at=r.last_polled_at,
                        last_success_at=r.last_success_at,
                        next_poll_at=r.next_poll_at,
                        error_count=r.error_count,
                        article_count=r.article_count,
                        recent_polls=recent,
                        interval_seconds=r.interval_seconds,
                        avg_duration=(
                            float(r.avg_duration) if r.avg_duration is not None else None
                        ),
                    )
                )
        return out

    def alerts(
        self, *, status: str | None = None, alert_id: str | None = None, limit: int = 50
    ) -> list[AlertInfo]:
        """Outbox rows, newest first, with their delivery status."""
        limit = max(1, min(limit, MAX_LIMIT))
        stmt = select(alerts).order_by(alerts.c.created_at.desc(), alerts.c.id).limit(limit)
        if status is not None:
            stmt = stmt.where(alerts.c.status == status)
        if alert_id is not None:
            stmt = stmt.where(alerts.c.id == alert_id)
        with self.engine.connect() as conn:
            return [alert_from_row(r, AlertInfo) for r in conn.execute(stmt)]

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
