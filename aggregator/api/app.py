"""The HTTP API (``/api/v1``), health, metrics, and the app factory.

Handlers are plain ``def`` functions: FastAPI runs them in its thread pool, so the
synchronous SQLAlchemy reads of ``Archive`` never block the daemon's event loop.
Write actions go through the ``Commands`` the daemon hands in.
"""

# No `from __future__ import annotations`: FastAPI must see the local `writer`
# dependency in the handlers' annotations, which string annotations would hide.

import asyncio
import functools
import hmac
import ipaddress
import logging
import math
import re
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Protocol
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, TypeAdapter, field_validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aggregator.api.coalesce import SharedReads
from aggregator.api.safety import clean_html, safe_url
from aggregator.errors import ConfigError, NotFoundError, OverBudget, QueryError, StorageError
from aggregator.metrics import CONTENT_TYPE, Metrics
from aggregator.models import Event
from aggregator.store.archive import Archive
from aggregator.store.engine import write_generation
from aggregator.store.lookup import events_matching, require_known, require_topic
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
from aggregator.when import HINT, parse_when

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
    # Absolute base of links and ids in Atom output (e.g. behind a proxy); None: the
    # address the connection came in on (never the request's Host header).
    base_url: str | None = None
    # More host names the Host header may carry (a proxy's public name), beside the
    # bind address, localhost and base_url's host. Anything else is refused: a page
    # the operator visits could otherwise read the API through DNS rebinding.
    allowed_hosts: tuple[str, ...] = ()
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

    @field_validator("name", "url")
    @classmethod
    def _storable(cls, value: str) -> str:
        # A lone surrogate cannot be encoded for the database, a NUL PostgreSQL
        # refuses: they were a 500, or a 503 "database unavailable".
        if any("\ud800" <= ch <= "\udfff" for ch in value):
            raise ValueError("lone surrogate characters (unpaired \\uD800-\\uDFFF) are not text")
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
            raise ValueError("control characters (NUL, TAB, newline…) are not allowed")
        return value


class Problem(BaseModel):
    error: str
    detail: str
    position: int | None = None


class TopicView(BaseModel):
    name: str
    matches: list[TopicMatch]
    events: list[Event]


# script-src 'self': the page's one script is a static file (keyboard navigation);
# nothing inline, nothing from elsewhere, so injected markup still cannot run.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


_HEADER_NAMES = frozenset(name for name, _ in _HEADERS)

_WILDCARDS = frozenset({"", "0.0.0.0", "::"})


def allowed_host_names(settings: ApiSettings) -> tuple[frozenset[str], bool]:
    """(names the Host header may carry, whether any IP address may be given).

    An IP literal cannot be rebound by DNS, so when the API listens on every
    interface (0.0.0.0 / ::) any address of the machine is fine; names must be known.
    """
    names = {"localhost", "127.0.0.1", "::1", settings.host.strip("[]").lower()}
    if settings.base_url:
        names.add((urlsplit(settings.base_url).hostname or "").lower())
    names.update(h.strip().strip("[]").lower() for h in settings.allowed_hosts)
    return frozenset(names - {""}), settings.host.strip("[]") in _WILDCARDS


def _host_of(header: str) -> str:
    """The host part of a Host header value ("[::1]:8080" -> "::1")."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class _SecurityHeaders:
    """Security headers on every response, and the Host allow-list (a plain ASGI
    middleware: it costs ~µs, where Starlette's BaseHTTPMiddleware adds a task and a
    stream per request)."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str], any_ip: bool) -> None:
        self.app = app
        self.hosts = hosts
        self.any_ip = any_ip

    def _host_allowed(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"host":
                host = _host_of(value.decode("latin-1"))
                if host in self.hosts:
                    return True
                try:
                    ipaddress.ip_address(host)
                except ValueError:
                    return False
                return self.any_ip
        return True  # HTTP/1.0 without Host: no browser sends that, nothing to rebind

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self._host_allowed(scope):
            detail = (
                "this Host is not one the server answers to; add it to http.allowed_hosts "
                "if a proxy uses it"
            )
            response = _problem(421, "misdirected_request", detail)
            await response(scope, receive, self._with_headers(send))
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
                    (k, v) for k, v in message.get("headers", []) if k.lower() not in _HEADER_NAMES
                ]
                message = {**message, "headers": headers + _HEADERS}
            await send(message)

        return wrapped


def _json_safe(value: Any) -> Any:
    """``value`` with every string made encodable (lone surrogates replaced) and every
    float finite, so that a response can always be written."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(_json_safe(k)): _json_safe(v) for k, v in value.items()}
    return value


class _HeadAsGet:
    """HEAD answers wherever GET does, with GET's status and headers and no body.

    FastAPI routes declare GET only (Starlette would add HEAD, FastAPI does not), so
    a monitor's or a feed reader's HEAD got 405. uvicorn drops a HEAD body itself;
    dropping it here too keeps every ASGI server (and the test client) honest.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def no_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, no_body)


def _problem(status: int, error: str, detail: str, position: int | None = None) -> JSONResponse:
    body = Problem(error=error, detail=detail, position=position).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status)


def _error_answer(exc: Exception, path: str) -> Response | None:
    """The answer to a known failure of a handler (the app's exception handlers and
    _PlainSearches give the same); None for any other exception."""
    if isinstance(exc, QueryError):
        return _problem(400, "query", str(exc), exc.position)
    if isinstance(exc, NotFoundError):
        return _problem(404, "not_found", str(exc))
    if isinstance(exc, StorageError):
        log.error("storage error serving %s: %s", path, exc)
        return _problem(503, "storage", "the database is unavailable; try again later")
    return None


def _when(value: str | None, name: str) -> datetime | None:
    """A query-string time as the CLI reads it: a date, an ISO time (UTC unless it has
    a zone) or an age such as ``3d``."""
    if value is None:
        return None
    try:
        return parse_when(value, datetime.now(UTC))
    except ValueError as exc:
        raise HTTPException(422, f"{name}: {exc}") from exc


_TIME = f"a time: {HINT}"


def _safe_summary(a: ArticleSummary) -> ArticleSummary:
    # Most links are safe as stored: no copy of the record for them (a frozen
    # dataclass copy costs as much as building it; twenty per page of a search).
    url = safe_url(a.url)
    return a if url == a.url else replace(a, url=url)


def _safe_detail(a: ArticleDetail) -> ArticleDetail:
    return replace(
        a, url=safe_url(a.url), canonical_url=safe_url(a.canonical_url), html=clean_html(a.html)
    )


async def search_filters(
    topic: str | None = None,
    feed: Annotated[list[str] | None, Query(description="feed (outlet) name; repeat")] = None,
    cluster: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    lang: Annotated[str | None, Query(description="language code, e.g. en")] = None,
    language: Annotated[str | None, Query(deprecated=True, description="use lang")] = None,
    since: Annotated[str | None, Query(description=f"published at or after; {_TIME}")] = None,
    until: Annotated[str | None, Query(description=f"published before; {_TIME}")] = None,
) -> Filters:
    # async: no I/O here, and a sync dependency would cost a trip through the thread
    # pool per request (~1 ms at the p50 of bench_search on a busy machine).
    if lang is not None and language is not None and lang != language:
        raise HTTPException(422, "lang and language disagree: give lang only")
    return Filters(
        topic=topic,
        feeds=tuple(feed or ()),
        cluster=cluster,
        language=lang if lang is not None else language,
        since=_when(since, "since"),
        until=_when(until, "until"),
    )


SEARCH_PATH = "/api/v1/articles"
# How long a search alone may hold the event loop before it is stopped and run in the
# thread pool instead (SQLite: a progress handler; PostgreSQL: sessions with this
# statement_timeout): most searches take a few ms at 100,000 articles; this bounds
# what the daemon's other work on the loop can wait.
INLINE_BUDGET = 0.05
# The plain decimal forms of an int parameter: anything else (a sign, spaces, leading
# zeros, underscores...) goes through FastAPI, whatever pydantic would make of it.
_PLAIN_LIMIT = re.compile(r"[1-9][0-9]{0,2}")
_PLAIN_ID = re.compile(r"[1-9][0-9]{0,18}")


@dataclass(frozen=True, slots=True)
class SearchArgs:
    """The arguments of ``GET /api/v1/articles``, as its FastAPI handler receives them."""

    filters: Filters
    q: str | None = None
    order: Literal["relevance", "date"] = "relevance"
    cursor: str | None = None
    limit: int = 20


def plain_search_args(query_string: bytes) -> SearchArgs | None:
    """The request's arguments when each is of the plain shape that FastAPI's
    validation passes as is; None when any is not (the request then goes through
    FastAPI, which validates it and answers an error as before).

    The query string is read as FastAPI reads it (Starlette's ``QueryParams``: the
    last value of a repeated name, every ``feed``; unknown names ignored), and each
    check is one of the handler's declared bounds, so an accepted request gets the
    arguments, hence the response, FastAPI would have given it (``test_api_fast``).
    The pairs are ``QueryParams``' own (``parse_qsl`` of the latin-1 text, blanks
    kept), read through a plain dict: its multidict cost ~3 µs more a search.
    """
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    params = dict(pairs)  # as QueryParams: the last value of a repeated name
    q, order, cursor = params.get("q"), params.get("order", "relevance"), params.get("cursor")
    if (q is not None and len(q) > 1000) or (cursor is not None and len(cursor) > 500):
        return None
    if order not in ("relevance", "date"):
        return None
    limit, cluster = params.get("limit"), params.get("cluster")
    if limit is not None and not (_PLAIN_LIMIT.fullmatch(limit) and int(limit) <= 200):
        return None
    if cluster is not None and not (_PLAIN_ID.fullmatch(cluster) and int(cluster) <= MAX_ID):
        return None
    lang, language = params.get("lang"), params.get("language")
    if lang is not None and language is not None and lang != language:
        return None
    try:
        since = _when(params.get("since"), "since")
        until = _when(params.get("until"), "until")
    except HTTPException:
        return None
    filters = Filters(
        topic=params.get("topic"),
        feeds=tuple(value for name, value in pairs if name == "feed"),
        cluster=int(cluster) if cluster is not None else None,
        language=lang if lang is not None else language,
        since=since,
        until=until,
    )
    ordered: Literal["relevance", "date"] = "date" if order == "date" else "relevance"
    return SearchArgs(filters, q, ordered, cursor, int(limit) if limit is not None else 20)


# As many as FastAPI's thread pool has (anyio's 40): searches run as concurrently as
# before; the pool is asyncio's own because anyio's hand-off (a capacity limiter, a
# cancel scope, a checkpoint per call) cost ~50 µs of CPU per search against ~16 µs
# here, on the event loop the searches' answers wait for (issue 17).
SEARCH_THREADS = 40


@functools.cache
def _search_threads() -> ThreadPoolExecutor:
    """The threads plain searches run in, shared by every app of the process (threads
    start when first needed and end with the interpreter, as anyio's do)."""
    return ThreadPoolExecutor(SEARCH_THREADS, thread_name_prefix="api-search")


class _PlainSearches:
    """``GET /api/v1/articles`` with plain arguments answered without FastAPI's
    parameter parsing and dependency solving (issue 17): under a thousand different
    searches at once those took about half of the event loop's time per request, and
    the event loop shares one interpreter with the searches. Same handler, same thread
    pool, same error answers; any other request (or argument) goes on to FastAPI.
    """

    def __init__(
        self,
        app: ASGIApp,
        answer: Callable[[SearchArgs, float | None], Response],
        errors: Callable[[Exception, str], Response | None],
        inline_budget: float | None = None,
    ) -> None:
        self.app = app
        self.answer = answer
        self.errors = errors
        self.inline_budget = inline_budget
        self.in_flight = 0  # searches of this middleware being answered
        self.inline = 0  # answered on the event loop (tests read it)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] == SEARCH_PATH:
            args = plain_search_args(scope.get("query_string", b""))
            if args is not None:
                self.in_flight += 1
                try:
                    response = await self._answer(args, scope["path"])
                finally:
                    self.in_flight -= 1
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _answer(self, args: SearchArgs, path: str) -> Response:
        try:
            # Alone, a search runs here, on the event loop, within its budget: two
            # thread switches fewer (to a worker and back), which on a busy machine
            # cost more than the search itself (on PostgreSQL the loop waits for the
            # server as the worker would). Past the budget it stops and runs in the
            # pool like any other; with others in flight it goes to the pool at once,
            # so concurrent searches still use both the pool and the cores.
            if self.inline_budget is not None and await self._alone():
                try:
                    answered = self.answer(args, self.inline_budget)
                except OverBudget:
                    pass
                else:
                    self.inline += 1
                    return answered
            pool = _search_threads()
            return await asyncio.get_running_loop().run_in_executor(pool, self.answer, args, None)
        except (QueryError, NotFoundError, StorageError) as exc:
            failed = self.errors(exc, path)
            if failed is None:  # the three are all answered
                raise
            return failed

    async def _alone(self) -> bool:
        """Whether this is the only search being answered, others that arrived with it
        counted. Requests read in one pass of the event loop become tasks that start in
        the next: counted right away, the first of them was always alone, ran on the
        loop (which reads nothing meanwhile) and finished before the next one started,
        so under a thousand connections every search ran inline, one at a time, on
        one core (issue 17). One pass later, all of them have counted themselves."""
        await asyncio.sleep(0)
        return self.in_flight == 1


def create_app(
    archive: Archive,
    settings: ApiSettings,
    *,
    health: Callable[[], Awaitable[dict[str, Any]]] | None = None,
    metrics: Metrics | None = None,
    commands: Commands | None = None,
    plain_searches: bool = True,
) -> FastAPI:
    """The daemon's web application: JSON API, web page, Atom feeds, health, metrics.

    ``health`` adds the daemon's own checks (scheduler alive...) to ``/healthz``: a
    dict with ``"ok": False`` makes it answer 503. ``commands`` performs writes.
    ``plain_searches`` off (only in tests, to compare) sends every search through
    FastAPI's validation.
    """
    app = FastAPI(
        title=f"{settings.title} API",
        version="1",
        docs_url=None,  # Swagger UI loads scripts from a CDN: not under our CSP
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    hosts, any_ip = allowed_host_names(settings)
    # Innermost: a shared response still gets each request's own security headers.
    generation = write_generation(archive.engine)
    if plain_searches:
        app.add_middleware(
            _PlainSearches,
            answer=lambda a, budget: search_response(a, budget),
            errors=_error_answer,
            inline_budget=INLINE_BUDGET,
        )
    app.add_middleware(SharedReads, generation=lambda: generation.value)
    app.add_middleware(_SecurityHeaders, hosts=hosts, any_ip=any_ip)
    app.add_middleware(_HeadAsGet)
    app.state.archive = archive
    app.state.settings = settings

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes each bad input, and JSON cannot hold what
        # made it bad (NaN, Infinity, a lone surrogate): that became a 500. The
        # reasons are what the client needs; the input is its own.
        detail = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        body = {"error": "validation", "detail": _json_safe(detail)}
        return JSONResponse(body, status_code=422)

    def configured_topics() -> tuple[str, ...]:
        # From app.state: a daemon reloading its configuration replaces the settings.
        return tuple(app.state.settings.topics)

    @app.exception_handler(QueryError)
    @app.exception_handler(NotFoundError)
    @app.exception_handler(StorageError)
    async def _known_error(request: Request, exc: Exception) -> Response:
        answer = _error_answer(exc, request.url.path)
        assert answer is not None  # registered for the three _error_answer answers
        return answer

    api = APIRouter(prefix="/api/v1")
    responses: dict[int | str, dict[str, Any]] = {400: {"model": Problem}}

    def search_response(args: SearchArgs, budget: float | None = None) -> Response:
        # Identical requests in flight together get one response (SharedReads above).
        # The names the filters give are checked after the search, not before, by the
        # search itself on its own connection: a feed an article of the page came from
        # exists, so a search for one feed that finds something needs no lookup of it,
        # and the others no second connection (issue 17). A failed search checks them
        # all first, so an unknown name is answered 404 whatever else is wrong, as before.
        topics = configured_topics()
        try:
            page = archive.search(
                args.q,
                args.filters,
                order=args.order,
                cursor=args.cursor,
                limit=args.limit,
                budget=budget,
                configured_topics=topics,
            )
        except (QueryError, StorageError):
            require_known(archive.lookup_engine(), args.filters, topics)
            raise
        # built, not replace()d: replace() reads the fields' list first (~1 µs a search)
        page = SearchPage(tuple(map(_safe_summary, page.items)), page.next_cursor)
        # Serialized here, in the worker thread: for a returned SearchPage FastAPI would
        # validate it again in another trip through the thread pool, then serialize it.
        return Response(_SEARCH_PAGE.dump_json(page), media_type="application/json")

    # Requests with plain arguments are answered by _PlainSearches before reaching
    # this route; it validates the others (and documents the endpoint).
    @api.get("/articles", responses=responses, response_model=SearchPage)
    def list_articles(
        filters: Annotated[Filters, Depends(search_filters)],
        q: Annotated[str | None, Query(max_length=1000, description="query language")] = None,
        order: Literal["relevance", "date"] = "relevance",
        cursor: Annotated[str | None, Query(max_length=500)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 20,
    ) -> Response:
        return search_response(SearchArgs(filters, q, order, cursor, limit))

    @api.get("/articles/{article_id}", responses={404: {"model": Problem}})
    def get_article(article_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> ArticleDetail:
        found = archive.article(article_id)
        if found is None:
            raise HTTPException(404, "no such article")
        return _safe_detail(found)

    @api.get("/events", responses={404: {"model": Problem}})
    def list_events(
        topic: str | None = None,
        since: Annotated[str | None, Query(description=f"first reported since; {_TIME}")] = None,
        min_sources: Annotated[int | None, Query(ge=1, le=100_000, description="outlets")] = None,
        before: Annotated[str | None, Query(description=f"first reported before; {_TIME}")] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> list[Event]:
        if topic is not None:
            require_topic(archive.engine, topic, configured_topics())
        return events_matching(
            archive,
            topic=topic,
            since=_when(since, "since"),
            min_sources=min_sources,
            before=_when(before, "before"),
            limit=limit,
        )

    @api.get("/events/{event_id}", responses={404: {"model": Problem}})
    def get_event(event_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> EventDetail:
        found = archive.event(event_id)
        if found is None:
            raise NotFoundError("event", event_id)
        outlets = tuple(
            replace(g, articles=tuple(_safe_summary(a) for a in g.articles)) for g in found.outlets
        )
        return replace(found, outlets=outlets)

    @api.get("/topics")
    def list_topics() -> list[TopicSummary]:
        return archive.topics(configured_topics())

    @api.get("/topics/{name}", responses={404: {"model": Problem}})
    def get_topic(name: str, limit: Annotated[int, Query(ge=1, le=200)] = 20) -> TopicView:
        require_topic(archive.engine, name, configured_topics())
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
            raise NotFoundError("feed", name)
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

    from aggregator.api.atom import add_atom_routes
    from aggregator.api.web import add_web_routes  # the page depends on the API module

    # Atom first: /topics/{name}.atom must be matched before the page's /topics/{name}.
    add_atom_routes(app, archive, settings)
    add_web_routes(app, archive, settings)
    return app
