"""The web page: server-rendered HTML (Jinja2, autoescaped), no scripts, and Atom.

Pages: topics and latest events (``/``), a topic's events (``/topics/{name}``), an
event with its articles by outlet (``/events/{id}``), an article (``/articles/{id}``),
search (``/search``), feed health (``/feeds``); Atom at ``/topics/{name}.atom`` and
``/search.atom?q=``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from aggregator.api import atom
from aggregator.api.safety import clean_html, safe_url
from aggregator.errors import QueryError
from aggregator.models import HourCount
from aggregator.store.archive import Archive
from aggregator.store.views import Filters, SearchPage

HERE = Path(__file__).parent
MAX_ID = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


def sparkline(timeline: tuple[HourCount, ...], width: int = 144, height: int = 28) -> list[Bar]:
    """Bars of an articles-per-hour sparkline, scaled to the busiest hour."""
    if not timeline:
        return []
    peak = max(h.count for h in timeline) or 1
    step = width / len(timeline)
    bars = []
    for i, h in enumerate(timeline):
        tall = 0.0 if h.count == 0 else max(2.0, height * h.count / peak)
        bars.append(
            Bar(
                x=round(i * step, 2),
                y=round(height - tall, 2),
                width=round(max(step - 1, 1), 2),
                height=round(tall, 2),
                title=f"{h.hour:%d %b %H}:00 UTC — {h.count}",
            )
        )
    return bars


def _when(value: datetime | None) -> str:
    return "—" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def adds_to(summary: str | None, title: str) -> bool:
    """Whether a summary says more than the headline it would sit under.

    Many feeds (news aggregators, link blogs) repeat the title as the description;
    showing it twice on every line only doubles the page.
    """
    if not summary:
        return False
    return " ".join(summary.split()).casefold() != " ".join(title.split()).casefold()


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.globals["safe_url"] = safe_url
    env.globals["sparkline"] = sparkline
    env.tests["adding_to"] = adds_to
    return env


def add_web_routes(app: FastAPI, archive: Archive, settings: Any) -> None:
    env = _environment()
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = env.get_template(name).render(site_title=settings.title, **context)
        return HTMLResponse(html, status_code=status)

    def base_url(request: Request) -> str:
        return (settings.base_url or str(request.base_url)).rstrip("/")

    def not_found(what: str) -> HTMLResponse:
        return page("error.html", 404, title="Not found", message=f"No such {what}.")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home() -> HTMLResponse:
        return page(
            "home.html",
            title=settings.title,
            topics=archive.topics(settings.topics),
            events=archive.events(limit=30),
        )

    @app.get("/topics/{name}.atom", include_in_schema=True, response_class=Response)
    def topic_atom(request: Request, name: str) -> Response:
        base = base_url(request)
        # The name arrives decoded: quoted again, a space, '?' or '#' in it stays part
        # of the path instead of breaking the feed's id and links.
        path = f"{base}/topics/{quote(name, safe='')}"
        body = atom.render_feed(
            feed_id=path,
            title=f"{settings.title}: {name}",
            self_url=f"{path}.atom",
            alternate=path,
            entries=atom.event_entries(base, archive.events(topic=name, limit=50)),
        )
        return Response(body, media_type=atom.CONTENT_TYPE)

    @app.get("/topics/{name}", response_class=HTMLResponse, include_in_schema=False)
    def topic_page(name: str) -> HTMLResponse:
        events = archive.events(topic=name, limit=100)
        if not events and name not in {t.name for t in archive.topics(settings.topics)}:
            return not_found("topic")
        return page("topic.html", title=name, topic=name, events=events)

    @app.get("/events/{event_id}", response_class=HTMLResponse, include_in_schema=False)
    def event_page(event_id: Annotated[int, PathParam(ge=1, le=MAX_ID)]) -> HTMLResponse:
        detail = archive.event(event_id)
        if detail is None:
            return not_found("event")
        return page("event.html", title=detail.event.headline, detail=detail)

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
        cursor: Annotated[str | None, Query(max_length=500)] = None,
    ) -> HTMLResponse:
        results, error = (None, None)
        if q and q.strip():
            results, error = run_search(q, order, cursor, settings.page_size)
        return page(
            "search.html",
            400 if error else 200,
            title=f"Search: {q}" if q else "Search",
            q=q or "",
            order=order,
            results=results,
            error=error,
        )

    @app.get("/search.atom", response_class=Response, responses={400: {"description": "bad query"}})
    def search_atom(
        request: Request, q: Annotated[str, Query(min_length=1, max_length=1000)]
    ) -> Response:
        # Newest first: a subscription wants what is new, not what is most relevant.
        found = archive.search(q, Filters(), order="date", limit=settings.page_size)
        base = base_url(request)
        query = urlencode({"q": q})
        body = atom.render_feed(
            feed_id=f"{base}/search?{query}",
            title=f"{settings.title}: {q}",
            self_url=f"{base}/search.atom?{query}",
            alternate=f"{base}/search?{query}",
            entries=atom.article_entries(base, found.items),
        )
        return Response(body, media_type=atom.CONTENT_TYPE)

    @app.get("/feeds", response_class=HTMLResponse, include_in_schema=False)
    def feeds_page() -> HTMLResponse:
        return page("feeds.html", title="Feeds", feeds=archive.feeds(polls_per_feed=5))
