"""The web page: server-rendered HTML (Jinja2, autoescaped), one small static script
for keyboard navigation.

Pages: events (``/``, filters and cursor pages), a topic's events
(``/topics/{name}``), an event with its timeline and its articles by outlet
(``/events/{id}``), an article (``/articles/{id}``), search (``/search``), alert
deliveries (``/alerts``), feed health (``/feeds``); the Atom feeds are in ``atom.py``.
Every list pages with an opaque ``cursor`` and takes its page
size as ``limit``; HEAD answers wherever GET does (``app._HeadAsGet``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import quote

from fastapi import FastAPI, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from markupsafe import Markup

from aggregator.api.render import (
    Bar,
    clock,
    highlight,
    highlight_terms,
    page_url,
    paragraphs,
    parse_count,
    parse_since,
    plural,
    rest,
    snippet,
    sparkline,
    timeline_chart,
    when,
)
from aggregator.api.safety import clean_html, safe_url
from aggregator.errors import QueryError
from aggregator.store.archive import Archive
from aggregator.store.views import EventArticle, EventQuery, Filters, SearchPage

if TYPE_CHECKING:
    from jinja2 import Environment

__all__ = ["Bar", "add_web_routes", "adds_to", "outlet_runs", "sparkline"]

HERE = Path(__file__).parent
MAX_ID = 2**63 - 1
FEED_STATES = ("active", "broken", "gone", "removed")
ALERT_STATES = ("pending", "sent", "dead", "suppressed")

Limit = Annotated[int | None, Query(ge=1, le=200, description="page size")]
Cursor = Annotated[str | None, Query(max_length=1000)]


def adds_to(summary: str | None, title: str) -> bool:
    """Whether a summary says more than the headline it would sit under.

    Many feeds (news aggregators, link blogs) repeat the title as the description;
    showing it twice on every line only doubles the page.
    """
    if not summary:
        return False
    return " ".join(summary.split()).casefold() != " ".join(title.split()).casefold()


@dataclass(frozen=True, slots=True)
class OutletRun:
    """Consecutive articles of one outlet on a page of an event's articles."""

    feed: str
    articles: tuple[EventArticle, ...]
    continued: bool  # began on the previous page


def outlet_runs(items: Sequence[EventArticle], continues: bool) -> list[OutletRun]:
    """The page's articles as one section per outlet, in the order they come."""
    runs: list[OutletRun] = []
    for item in items:
        if runs and runs[-1].feed == item.article.feed:
            last = runs[-1]
            runs[-1] = OutletRun(last.feed, (*last.articles, item), last.continued)
        else:
            runs.append(OutletRun(item.article.feed, (item,), continues and not runs))
    return runs


def _environment() -> Environment:
    # jinja2 is imported with the first page asked for, not with the API: a daemon whose
    # web page nobody opens never holds it (~3 MiB, issue 17).
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["clock"] = clock
    env.filters["plural"] = plural
    env.filters["snippet"] = snippet
    env.filters["paragraphs"] = paragraphs
    env.filters["rest"] = rest
    env.globals["safe_url"] = safe_url
    env.globals["sparkline"] = sparkline
    env.globals["highlight"] = highlight
    env.globals["url"] = page_url
    env.tests["adding_to"] = adds_to
    return env


def add_web_routes(app: FastAPI, archive: Archive, settings: Any) -> None:
    made: list[Environment] = []  # the template environment, made by the first page
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def page(name: str, code: int = 200, /, **context: Any) -> HTMLResponse:
        if not made:
            # two first pages at once may both make one: the same, and one is kept
            made.append(_environment())
        html = made[0].get_template(name).render(site_title=settings.title, **context)
        return HTMLResponse(html, status_code=code)

    def not_found(what: str) -> HTMLResponse:
        return page("error.html", 404, title="Not found", message=f"No such {what}.")

    def bad_request(exc: QueryError) -> HTMLResponse:
        return page("error.html", 400, title="Bad request", message=exc.reason)

    def configured_topics() -> Sequence[str]:
        # app.state: a daemon reloading its configuration (SIGHUP) replaces the settings,
        # so a topic added by a reload shows at once.
        return tuple(app.state.settings.topics)

    def topic_names() -> list[str]:
        return [t.name for t in archive.topics(configured_topics())]

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        # Browsers ask for /favicon.ico whatever the page links; an SVG serves both.
        return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml")

    def event_list(
        path: str,
        *,
        topic: str | None,
        fixed_topic: bool,
        min_outlets: str | None,
        since: str | None,
        sort: Literal["updated", "first"],
        cursor: str | None,
        limit: int | None,
        **context: Any,
    ) -> HTMLResponse:
        try:
            start = parse_since(since, datetime.now(UTC)) if since and since.strip() else None
            least = parse_count(min_outlets, "min_outlets")
            query = EventQuery(topic=topic, min_outlets=least, since=start, sort=sort)
            found = archive.event_page(query, cursor=cursor, limit=limit or 30)
        except QueryError as exc:
            return bad_request(exc)
        params: dict[str, Any] = {
            "topic": None if fixed_topic else topic,
            "min_outlets": least if least > 1 else None,
            "since": since,
            "sort": None if sort == "updated" else sort,
            "limit": limit,
        }
        return page(
            "events.html",
            events=found.items,
            next_url=page_url(path, **params, cursor=found.next_cursor)
            if found.next_cursor
            else None,
            first_url=page_url(path, **params) if cursor else None,
            path=path,
            topic=topic,
            fixed_topic=fixed_topic,
            min_outlets=least or "",
            since=since or "",
            sort=sort,
            limit=limit,
            topics=topic_names(),
            **context,
        )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(
        topic: Annotated[str | None, Query(max_length=200)] = None,
        min_outlets: Annotated[str | None, Query(max_length=10)] = None,
        since: Annotated[str | None, Query(max_length=40)] = None,
        sort: Literal["updated", "first"] = "updated",
        cursor: Cursor = None,
        limit: Limit = None,
    ) -> HTMLResponse:
        return event_list(
            "/",
            topic=topic or None,
            fixed_topic=False,
            min_outlets=min_outlets,
            since=since,
            sort=sort,
            cursor=cursor,
            limit=limit,
            title="Events" if not cursor else "Events (more)",
            heading="Events",
            topic_summaries=archive.topics(configured_topics()) if not cursor else (),
        )

    @app.get("/topics/{name}", response_class=HTMLResponse, include_in_schema=False)
    def topic_page(
        name: str,
        min_outlets: Annotated[str | None, Query(max_length=10)] = None,
        since: Annotated[str | None, Query(max_length=40)] = None,
        sort: Literal["updated", "first"] = "updated",
        cursor: Cursor = None,
        limit: Limit = None,
    ) -> HTMLResponse:
        if name not in topic_names():
            return not_found("topic")
        return event_list(
            f"/topics/{quote(name, safe='')}",
            topic=name,
            fixed_topic=True,
            min_outlets=min_outlets,
            since=since,
            sort=sort,
            cursor=cursor,
            limit=limit,
            title=f"Topic: {name}",
            heading=name,
            atom_url=f"/topics/{quote(name, safe='')}.atom",
        )

    @app.get("/events/{event_id}", response_class=HTMLResponse, include_in_schema=False)
    def event_page(
        event_id: Annotated[int, PathParam(ge=1, le=MAX_ID)],
        outlet: Annotated[str | None, Query(max_length=200)] = None,
        cursor: Cursor = None,
        limit: Limit = None,
    ) -> HTMLResponse:
        overview = archive.event_overview(event_id)
        if overview is None:
            return not_found("event")
        ev = overview.event
        outlet = outlet or None
        try:
            found = archive.event_articles(ev.id, outlet=outlet, cursor=cursor, limit=limit or 50)
        except QueryError as exc:
            return bad_request(exc)
        path = f"/events/{ev.id}"
        return page(
            "event.html",
            title=ev.headline,
            overview=overview,
            ev=ev,
            chart=timeline_chart(overview.times),
            runs=outlet_runs(found.items, found.continues),
            outlet=outlet,
            path=path,
            limit=limit,
            next_url=page_url(path, outlet=outlet, limit=limit, cursor=found.next_cursor)
            if found.next_cursor
            else None,
            first_url=page_url(path, outlet=outlet, limit=limit) if cursor else None,
        )

    @app.get("/articles/{article_id}", response_class=HTMLResponse, include_in_schema=False)
    def article_page(article_id: Annotated[int, PathParam(ge=1, le=MAX_ID)]) -> HTMLResponse:
        found = archive.article(article_id)
        if found is None:
            return not_found("article")
        # Markup() only after nh3 has cleaned it: the one place HTML is not escaped.
        return page("article.html", title=found.title, a=found, body=Markup(clean_html(found.html)))

    def run_search(
        q: str | None, order: Literal["relevance", "date"], cursor: str | None, limit: int
    ) -> tuple[SearchPage | None, str | None]:
        try:
            return archive.search(q, Filters(), order=order, cursor=cursor, limit=limit), None
        except QueryError as exc:
            return None, str(exc)

    @app.get("/search", response_class=HTMLResponse, include_in_schema=False)
    def search_page(
        q: Annotated[str | None, Query(max_length=1000)] = None,
        order: Literal["relevance", "date"] = "relevance",
        cursor: Cursor = None,
        limit: Limit = None,
    ) -> HTMLResponse:
        results, error = (None, None)
        if q and q.strip():
            results, error = run_search(q, order, cursor, limit or settings.page_size)
        relevance = None if order == "relevance" else order
        next_url = None
        if results is not None and results.next_cursor:
            next_url = page_url(
                "/search", q=q, order=relevance, limit=limit, cursor=results.next_cursor
            )
        return page(
            "search.html",
            400 if error else 200,
            title=f"Search: {q}" if q else "Search",
            q=q or "",
            order=order,
            results=results,
            error=error,
            terms=highlight_terms(q),
            next_url=next_url,
            first_url=page_url("/search", q=q, order=relevance, limit=limit) if cursor else None,
            by_date_url=page_url("/search", q=q, order="date", limit=limit),
            by_relevance_url=page_url("/search", q=q, limit=limit),
        )

    @app.get("/feeds", response_class=HTMLResponse, include_in_schema=False)
    def feeds_page(
        state: Literal["active", "broken", "gone", "removed"] | None = None,
        cursor: Cursor = None,
        limit: Limit = None,
    ) -> HTMLResponse:
        try:
            found = archive.feed_page(state=state, cursor=cursor, limit=limit or 50)
        except QueryError as exc:
            return bad_request(exc)
        counts = archive.feed_state_counts()
        return page(
            "feeds.html",
            title="Feeds",
            wide=True,
            feeds=found.items,
            state=state,
            states=[(s, counts.get(s, 0)) for s in FEED_STATES if counts.get(s, 0) or s == state],
            total=sum(counts.values()),
            next_url=page_url("/feeds", state=state, limit=limit, cursor=found.next_cursor)
            if found.next_cursor
            else None,
            first_url=page_url("/feeds", state=state, limit=limit) if cursor else None,
        )

    @app.get("/alerts", response_class=HTMLResponse, include_in_schema=False)
    def alerts_page(
        rule: Annotated[str | None, Query(max_length=200)] = None,
        channel: Annotated[str | None, Query(max_length=200)] = None,
        status: Literal["pending", "sent", "dead", "suppressed"] | None = None,
        cursor: Cursor = None,
        limit: Limit = None,
    ) -> HTMLResponse:
        rule, channel = rule or None, channel or None
        try:
            found = archive.alert_page(
                rule=rule, channel=channel, status=status, cursor=cursor, limit=limit or 50
            )
        except QueryError as exc:
            return bad_request(exc)
        filtered = {"rule": rule, "channel": channel, "status": status, "limit": limit}
        return page(
            "alerts.html",
            title="Alerts",
            wide=True,
            stats=archive.delivery_stats(),
            alerts=found.items,
            rule=rule,
            channel=channel,
            status=status,
            statuses=ALERT_STATES,
            next_url=page_url("/alerts", **filtered, cursor=found.next_cursor)
            if found.next_cursor
            else None,
            first_url=page_url("/alerts", **filtered) if cursor else None,
            all_url=page_url("/alerts", limit=limit),
        )
