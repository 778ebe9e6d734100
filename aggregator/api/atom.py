"""Atom 1.0 output (RFC 4287): a topic's events and a saved search's articles.

Built with ElementTree, so every value from a feed is escaped by the serializer, and
control characters XML cannot carry are removed first.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aggregator.api.safety import safe_url
from aggregator.models import Event
from aggregator.store.views import ArticleSummary

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
        _el(node, "updated", _time(e.updated))
        if e.published is not None:
            _el(node, "published", _time(e.published))
        if e.summary:
            _el(node, "summary", e.summary, type="text")
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def event_entries(base: str, events: Sequence[Event]) -> list[Entry]:
    """One entry per event; ``updated`` moves when the event grows, so readers refresh it."""
    return [
        Entry(
            id=f"{base}/events/{ev.id}",
            title=ev.headline,
            link=f"{base}/events/{ev.id}",
            updated=ev.last_updated,
            published=ev.first_seen,
            summary=(
                f"{ev.article_count} article{'s' if ev.article_count != 1 else ''} "
                f"from {ev.outlet_count} outlet{'s' if ev.outlet_count != 1 else ''}"
                + (f"; terms: {', '.join(ev.top_terms)}" if ev.top_terms else "")
            ),
        )
        for ev in events
    ]


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
