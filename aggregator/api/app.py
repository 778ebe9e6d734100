"""The HTTP API (``/api/v1``), health, metrics, and the app factory.

Handlers are plain ``def`` functions: FastAPI runs them in its thread pool, so the
synchronous SQLAlchemy reads of ``Archive`` never block the daemon's event loop.
Write actions go through the ``Commands`` the daemon hands in.
"""

# No `from __future__ import annotations`: FastAPI must see the local `writer`
# dependency in the handlers' annotations, which string annotations would hide.

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Protocol
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, TypeAdapter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aggregator.api.safety import clean_html, safe_url
from aggregator.errors import ConfigError, QueryError, StorageError
from aggregator.metrics import CONTENT_TYPE, Metrics
from aggregator.models import Event
from aggregator.store.archive import Archive
from aggregator.store.views import (
    AlertInfo,
    ArticleDetail,
    ArticleSummary,
    EventDetail,
    FeedInfo,
    Filters,
    SearchPage,
    TopicMatch,
    TopicSummary,
)

log = logging.getLogger(__name__)

_SEARCH_PAGE = TypeAdapter(SearchPage)

MAX_ID = 2**63 - 1  # ids are BIGINT: a larger number cannot exist (and would overflow)


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """How the daemon serves the archive (feeds.yaml ``api:``)."""

    host: str = "127.0.0.1"  # loopback by default: exposing it is a deliberate choice
    port: int = 8080
    # Bearer token for write endpoints; None turns them off (403).
    token: str | None = None
    # Absolute base of links in Atom output (e.g. behind a proxy); None: the request's.
    base_url: str | None = None
    title: str = "News monitor"
    # Configured topic names, so topics without matches yet are listed too.
    topics: tuple[str, ...] = ()
    page_size: int = 20  # articles per page on the web page and Atom search
    recent_polls: int = 10  # polls shown per feed


class Commands(Protocol):
    """Write actions the daemon performs for the API.

    ``add_feed`` raises ConfigError for a bad name or URL; ``remove_feed`` and
    ``retry_alert`` return False when there is no such feed / no retryable alert.
    """

    async def add_feed(self, name: str, url: str) -> None: ...

    async def remove_feed(self, name: str) -> bool: ...

    async def retry_alert(self, alert_id: str) -> bool: ...


class NewFeed(BaseModel):
    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")
    url: str = Field(min_length=1, max_length=2000)


class Problem(BaseModel):
    error: str
    detail: str
    position: int | None = None


class TopicView(BaseModel):
    name: str
    matches: list[TopicMatch]
    events: list[Event]


CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class _SecurityHeaders:
    """Security headers on every response (a plain ASGI middleware: it costs ~µs,
    where Starlette's BaseHTTPMiddleware adds a task and a stream per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # A NUL cannot be stored or searched (PostgreSQL rejects it in text): a client
        # error, caught here before it can become a database error.
        if b"%00" in scope.get("query_string", b"") or "\x00" in scope.get("path", ""):
            response = _problem(400, "bad_request", "NUL characters are not allowed")
            await response(scope, receive, self._with_headers(send))
            return
        await self.app(scope, receive, self._with_headers(send))

    @staticmethod
    def _with_headers(send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in {name for name, _ in _HEADERS}
                ]
                message = {**message, "headers": headers + _HEADERS}
            await send(message)

        return wrapped


def _problem(status: int, error: str, detail: str, position: int | None = None) -> JSONResponse:
    body = Problem(error=error, detail=detail, position=position).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status)


def _utc(value: datetime | None, name: str) -> datetime | None:
    """Query-string times without a zone are UTC."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError as exc:
        # 0001-01-01T00:00+01:00 is a valid ISO time whose UTC instant is in year 0.
        raise HTTPException(422, f"{name}: the time is out of range once in UTC") from exc


def _safe_summary(a: ArticleSummary) -> ArticleSummary:
    return replace(a, url=safe_url(a.url))


def _safe_detail(a: ArticleDetail) -> ArticleDetail:
    return replace(
        a, url=safe_url(a.url), canonical_url=safe_url(a.canonical_url), html=clean_html(a.html)
    )


async def search_filters(
    topic: str | None = None,
    feed: Annotated[list[str] | None, Query(description="feed (outlet) name; repeat")] = None,
    cluster: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    language: str | None = None,
    since: Annotated[datetime | None, Query(description="published at or after")] = None,
    until: Annotated[datetime | None, Query(description="published before")] = None,
) -> Filters:
    # async: no I/O here, and a sync dependency would cost a trip through the thread
    # pool per request (~1 ms at the p50 of bench_search on a busy machine).
    return Filters(
        topic=topic,
        feeds=tuple(feed or ()),
        cluster=cluster,
        language=language,
        since=_utc(since, "since"),
        until=_utc(until, "until"),
    )


def create_app(
    archive: Archive,
    settings: ApiSettings,
    *,
    health: Callable[[], Awaitable[dict[str, Any]]] | None = None,
    metrics: Metrics | None = None,
    commands: Commands | None = None,
) -> FastAPI:
    """The daemon's web application: JSON API, web page, Atom feeds, health, metrics.

    ``health`` adds the daemon's own checks (scheduler alive...) to ``/healthz``: a
    dict with ``"ok": False`` makes it answer 503. ``commands`` performs writes.
    """
    app = FastAPI(
        title=f"{settings.title} API",
        version="1",
        docs_url=None,  # Swagger UI loads scripts from a CDN: not under our CSP
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.add_middleware(_SecurityHeaders)
    app.state.archive = archive
    app.state.settings = settings

    @app.exception_handler(QueryError)
    async def _query_error(request: Request, exc: QueryError) -> JSONResponse:
        return _problem(400, "query", str(exc), exc.position)

    @app.exception_handler(StorageError)
    async def _storage_error(request: Request, exc: StorageError) -> JSONResponse:
        log.error("storage error serving %s: %s", request.url.path, exc)
        return _problem(503, "storage", "the database is unavailable; try again later")

    api = APIRouter(prefix="/api/v1")
    responses: dict[int | str, dict[str, Any]] = {400: {"model": Problem}}

    @api.get("/articles", responses=responses, response_model=SearchPage)
    def list_articles(
        filters: Annotated[Filters, Depends(search_filters)],
        q: Annotated[str | None, Query(max_length=1000, description="query language")] = None,
        order: Literal["relevance", "date"] = "relevance",
        cursor: Annotated[str | None, Query(max_length=500)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 20,
    ) -> Response:
        page = archive.search(q, filters, order=order, cursor=cursor, limit=limit)
        page = replace(page, items=tuple(_safe_summary(a) for a in page.items))
        # Serialized here, in the worker thread: for a returned SearchPage FastAPI would
        # validate it again in another trip through the thread pool, then serialize it.
        return Response(_SEARCH_PAGE.dump_json(page), media_type="application/json")

    @api.get("/articles/{article_id}", responses={404: {"model": Problem}})
    def get_article(article_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> ArticleDetail:
        found = archive.article(article_id)
        if found is None:
            raise HTTPException(404, "no such article")
        return _safe_detail(found)

    @api.get("/events")
    def list_events(
        topic: str | None = None,
        before: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> list[Event]:
        return archive.events(topic=topic, before=_utc(before, "before"), limit=limit)

    @api.get("/events/{event_id}", responses={404: {"model": Problem}})
    def get_event(event_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> EventDetail:
        found = archive.event(event_id)
        if found is None:
            raise HTTPException(404, "no such event")
        outlets = tuple(
            replace(g, articles=tuple(_safe_summary(a) for a in g.articles)) for g in found.outlets
        )
        return replace(found, outlets=outlets)

    @api.get("/topics")
    def list_topics() -> list[TopicSummary]:
        return archive.topics(settings.topics)

    @api.get("/topics/{name}", responses={404: {"model": Problem}})
    def get_topic(name: str, limit: Annotated[int, Query(ge=1, le=200)] = 20) -> TopicView:
        known = {t.name for t in archive.topics(settings.topics)}
        if name not in known:
            raise HTTPException(404, "no such topic")
        found = [
            replace(m, article=_safe_summary(m.article)) for m in archive.topic_matches(name, limit)
        ]
        return TopicView(name=name, matches=found, events=archive.events(topic=name, limit=limit))

    @api.get("/feeds")
    def list_feeds() -> list[FeedInfo]:
        return archive.feeds(polls_per_feed=1)

    @api.get("/feeds/{name}", responses={404: {"model": Problem}})
    def get_feed(name: str) -> FeedInfo:
        found = archive.feeds(polls_per_feed=settings.recent_polls, name=name)
        if not found:
            raise HTTPException(404, "no such feed")
        return found[0]

    @api.get("/alerts")
    def list_alerts(
        status: Literal["pending", "sent", "dead", "suppressed"] | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> list[AlertInfo]:
        return archive.alerts(status=status, limit=limit)

    def writer(authorization: Annotated[str | None, Header()] = None) -> Commands:
        """Bearer-token gate of the write endpoints."""
        if settings.token is None:
            raise HTTPException(403, "write endpoints are off: no API token is configured")
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), settings.token.encode()
        ):
            raise HTTPException(
                401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"}
            )
        if commands is None:
            raise HTTPException(503, "this server cannot perform write actions")
        return commands

    write_responses: dict[int | str, dict[str, Any]] = {
        401: {"model": Problem},
        403: {"model": Problem},
        404: {"model": Problem},
    }

    @api.post("/feeds", status_code=201, responses={**write_responses, 400: {"model": Problem}})
    async def add_feed(body: NewFeed, cmd: Annotated[Commands, Depends(writer)]) -> dict[str, str]:
        if safe_url(body.url) is None:
            raise HTTPException(400, "the feed URL must be an absolute http(s) URL")
        if "@" in urlsplit(body.url).netloc:
            # As in feeds.yaml: the URL is stored, listed and logged, so a password in it
            # would leak everywhere (and the answer must not repeat it).
            raise HTTPException(400, "a user name or password in the feed URL is not allowed")
        try:
            await cmd.add_feed(body.name, body.url)
        except ConfigError as exc:
            raise HTTPException(400, str(exc)) from exc
        return {"name": body.name, "url": body.url}

    @api.delete(
        "/feeds/{name}", status_code=204, responses={**write_responses, 409: {"model": Problem}}
    )
    async def remove_feed(name: str, cmd: Annotated[Commands, Depends(writer)]) -> Response:
        try:
            removed = await cmd.remove_feed(name)
        except ConfigError as exc:
            # e.g. a feed declared in feeds.yaml: it is removed by editing the file
            raise HTTPException(409, str(exc)) from exc
        if not removed:
            raise HTTPException(404, "no such feed")
        return Response(status_code=204)

    @api.post("/alerts/{alert_id}/retry", status_code=202, responses=write_responses)
    async def retry_alert(
        alert_id: str, cmd: Annotated[Commands, Depends(writer)]
    ) -> dict[str, str]:
        if not await cmd.retry_alert(alert_id):
            raise HTTPException(404, "no such alert to retry")
        return {"id": alert_id, "status": "pending"}

    app.include_router(api)

    @app.get("/healthz", responses={503: {"description": "unhealthy"}})
    async def healthz() -> JSONResponse:
        checks: dict[str, Any] = {}
        ok = True
        try:
            await asyncio.to_thread(archive.ping)
            checks["database"] = "ok"
        except StorageError as exc:
            checks["database"] = str(exc)
            ok = False
        if health is not None:
            extra = await health()
            ok = ok and bool(extra.get("ok", True))
            checks.update({k: v for k, v in extra.items() if k != "ok"})
        return JSONResponse({"ok": ok, **checks}, status_code=200 if ok else 503)

    if metrics is not None:
        registered = metrics

        @app.get("/metrics", response_class=Response)
        def metrics_endpoint() -> Response:
            return Response(registered.render(), media_type=CONTENT_TYPE)

    from aggregator.api.web import add_web_routes  # the page depends on the API module

    add_web_routes(app, archive, settings)
    return app
