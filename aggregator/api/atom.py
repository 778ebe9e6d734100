"""Atom 1.0 output (RFC 4287): a topic's events and a saved search's articles, served
with ETag and Last-Modified so readers polling them get 304 Not Modified.

Built with ElementTree, so every value from a feed is escaped by the serializer, and
control characters XML cannot carry are removed first.
"""

from __future__ import annotations

import hashlib
import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Query, Request
from fastapi.responses import Response

from aggregator.api.safety import safe_url
from aggregator.models import Event
from aggregator.store.archive import Archive
from aggregator.store.lookup import require_topic
from aggregator.store.views import ArticleSummary, EventDetail, Filters

ATOM_NS = "http://www.w3.org/2005/Atom"
CONTENT_TYPE = "application/atom+xml; charset=utf-8"
# An empty feed still needs <updated>: a fixed instant keeps its output stable.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

ET.register_namespace("", ATOM_NS)


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    title: str
    link: str
    updated: datetime
    published: datetime | None = None
    summary: str = ""
    related: str | None = None  # the original article, when its URL is safe
    # an event's articles (original links, when safe), as more rel="related" links
    more_related: tuple[str, ...] = ()
    content_html: str = ""  # already escaped HTML; the serializer escapes it again


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    # Attributes too: a link can carry what the request's path did (a topic name).
    clean = {name: _NOT_XML.sub("", value) for name, value in attrs.items()}
    node = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", clean)
    if text is not None:
        node.text = _NOT_XML.sub("", text)
    return node


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def render_feed(
    *, feed_id: str, title: str, self_url: str, alternate: str, entries: Sequence[Entry]
) -> bytes:
    root = ET.Element(f"{{{ATOM_NS}}}feed")
    _el(root, "id", feed_id)
    _el(root, "title", title)
    _el(root, "updated", _time(max((e.updated for e in entries), default=EPOCH)))
    _el(root, "link", rel="self", href=self_url, type="application/atom+xml")
    _el(root, "link", rel="alternate", href=alternate, type="text/html")
    author = _el(root, "author")
    _el(author, "name", "aggregator")
    _el(root, "generator", "aggregator")
    for e in entries:
        node = _el(root, "entry")
        _el(node, "id", e.id)
        _el(node, "title", e.title, type="text")
        _el(node, "link", rel="alternate", href=e.link, type="text/html")
        if e.related:
            _el(node, "link", rel="related", href=e.related)
        for href in e.more_related:
            _el(node, "link", rel="related", href=href)
        _el(node, "updated", _time(e.updated))
        if e.published is not None:
            _el(node, "published", _time(e.published))
        if e.summary:
            _el(node, "summary", e.summary, type="text")
        if e.content_html:
            _el(node, "content", e.content_html, type="html")
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


# Per entry: outlets named, and article links; a larger event is summed up.
MAX_OUTLETS = 20
MAX_ARTICLE_LINKS = 20


def event_entries(
    base: str,
    events: Sequence[Event],
    details: Mapping[int, EventDetail] | None = None,
) -> list[Entry]:
    """One entry per event; ``updated`` moves when the event grows, so readers refresh it.

    With ``details`` an entry also names the outlets (with their article counts) and
    links each article: a reader sees who carries the story, not only how many."""
    entries = []
    for ev in events:
        detail = (details or {}).get(ev.id)
        summary = (
            f"{ev.article_count} article{'s' if ev.article_count != 1 else ''} "
            f"from {ev.outlet_count} outlet{'s' if ev.outlet_count != 1 else ''}"
        )
        related: list[str] = []
        content = ""
        if detail is not None:
            groups = detail.outlets
            named = ", ".join(
                f"{g.feed_title or g.feed} ({len(g.articles)})" for g in groups[:MAX_OUTLETS]
            )
            if len(groups) > MAX_OUTLETS:
                named += f" and {len(groups) - MAX_OUTLETS} more"
            summary += f": {named}"
            items: list[str] = []
            for g in groups:
                for a in g.articles:
                    link = safe_url(a.url)
                    if link and len(related) < MAX_ARTICLE_LINKS:
                        related.append(link)
                    if len(items) < MAX_ARTICLE_LINKS:
                        title = html.escape(a.title)
                        outlet = html.escape(g.feed_title or g.feed)
                        if link:
                            title = f'<a href="{html.escape(link, quote=True)}">{title}</a>'
                        items.append(f"<li>{title} ({outlet})</li>")
            content = "<ul>" + "".join(items) + "</ul>"
        if ev.top_terms:
            summary += f"; terms: {', '.join(ev.top_terms)}"
        entries.append(
            Entry(
                id=f"{base}/events/{ev.id}",
                title=ev.headline,
                link=f"{base}/events/{ev.id}",
                updated=ev.last_updated,
                published=ev.first_seen,
                summary=summary,
                more_related=tuple(dict.fromkeys(related)),
                content_html=content,
            )
        )
    return entries


def article_entries(base: str, items: Sequence[ArticleSummary]) -> list[Entry]:
    return [
        Entry(
            id=f"{base}/articles/{a.id}",
            title=a.title,
            link=f"{base}/articles/{a.id}",
            updated=a.published,
            published=a.published,
            summary=f"{a.feed_title or a.feed}: {a.summary}",
            related=safe_url(a.url),
        )
        for a in items
    ]


def validators(body: bytes, updated: datetime | None) -> dict[str, str]:
    """ETag (of the bytes: any change shows) and Last-Modified (the newest entry)."""
    headers = {"ETag": f'"{hashlib.sha256(body).hexdigest()[:32]}"', "Cache-Control": "no-cache"}
    if updated is not None:
        headers["Last-Modified"] = format_datetime(updated.astimezone(UTC), usegmt=True)
    return headers


def not_modified(request: Mapping[str, str], etag: str, updated: datetime | None) -> bool:
    """Whether the reader's copy is current (RFC 9110 §13.2.2: If-None-Match wins over
    If-Modified-Since when both are sent)."""
    tags = request.get("if-none-match")
    if tags is not None:
        given = {t.strip().removeprefix("W/") for t in tags.split(",")}
        return "*" in given or etag in given
    since = request.get("if-modified-since")
    if since is None or updated is None:
        return False
    try:
        when = parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False  # an unreadable date is ignored, as the RFC says
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    # HTTP dates have whole seconds.
    return updated.astimezone(UTC).replace(microsecond=0) <= when


def _answer(request: Request, body: bytes, entries: Sequence[Entry]) -> Response:
    updated = max((e.updated for e in entries), default=None)
    headers = validators(body, updated)
    if not_modified(request.headers, headers["ETag"], updated):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=CONTENT_TYPE, headers=headers)


def add_atom_routes(app: FastAPI, archive: Archive, settings: Any) -> None:
    """``/topics/{name}.atom`` (404 for a topic that does not exist) and
    ``/search.atom?q=``, both with validators: a reader polling them gets 304s."""
    responses: dict[int | str, dict[str, Any]] = {
        304: {"description": "the reader's copy is current"},
        404: {"description": "no such topic"},
    }

    def base_url(request: Request) -> str:
        # Ids and links never follow the request's Host or X-Forwarded-* headers
        # (Host: evil.example made <id>http://evil.example/events/10</id>): the
        # configured base_url, else the address this connection came in on.
        if settings.base_url:
            return str(settings.base_url).rstrip("/")
        server = request.scope.get("server") or (settings.host, settings.port)
        host = str(server[0])
        netloc = f"[{host}]:{server[1]}" if ":" in host else f"{host}:{server[1]}"
        scheme = "https" if request.scope.get("scheme") == "https" else "http"
        return f"{scheme}://{netloc}"

    @app.get("/topics/{name}.atom", response_class=Response, responses=responses)
    def topic_atom(request: Request, name: str) -> Response:
        # app.state: a reloaded configuration's topics count at once.
        require_topic(archive.engine, name, app.state.settings.topics)
        base = base_url(request)
        # The name arrives decoded: quoted again, a space, '?' or '#' in it stays part
        # of the path instead of breaking the feed's id and links.
        path = f"{base}/topics/{quote(name, safe='')}"
        events = archive.events(topic=name, limit=50)
        # Outlets and article links per entry (issue 15): one read per event, at most 50.
        details = {ev.id: d for ev in events if (d := archive.event(ev.id)) is not None}
        entries = event_entries(base, events, details)
        body = render_feed(
            feed_id=path,
            title=f"{settings.title}: {name}",
            self_url=f"{path}.atom",
            alternate=path,
            entries=entries,
        )
        return _answer(request, body, entries)

    @app.get(
        "/search.atom",
        response_class=Response,
        responses={304: responses[304], 400: {"description": "bad query"}},
    )
    def search_atom(
        request: Request, q: Annotated[str, Query(min_length=1, max_length=1000)]
    ) -> Response:
        # Newest first: a subscription wants what is new, not what is most relevant.
        found = archive.search(q, Filters(), order="date", limit=settings.page_size)
        base = base_url(request)
        query = urlencode({"q": q})
        entries = article_entries(base, found.items)
        body = render_feed(
            feed_id=f"{base}/search?{query}",
            title=f"{settings.title}: {q}",
            self_url=f"{base}/search.atom?{query}",
            alternate=f"{base}/search?{query}",
            entries=entries,
        )
        return _answer(request, body, entries)
