"""The demo's sample news: loading it, and what each outlet's feed holds at a moment.

Each item belongs to one made-up outlet and is released at a ``step``: step 0 is the
backlog every feed lists from the start (dated ``age_minutes`` before the demo began),
later steps are the stories that develop while you watch. The functions here are pure:
the replay server asks them what to serve, the tests ask them what to expect.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path
from urllib.parse import quote

from aggregator.errors import ConfigError

_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class DemoItem:
    id: str
    outlet: str
    title: str
    step: int
    source: str  # the data set it comes from (credited in demo/data/README.md)
    story: str = ""  # the data set's own story label; not shown, not used to cluster
    age_minutes: int = 0  # backlog items only: how long before the start they appeared
    text: str = ""
    link: str | None = None  # the original article (UCI items); None: our own page
    publisher: str | None = None


def slug(outlet: str) -> str:
    """The outlet's path segment: ``Harbour Herald`` → ``harbour-herald``."""
    return _SLUG.sub("-", outlet.lower()).strip("-")


def load_items(path: Path) -> tuple[DemoItem, ...]:
    """Read the JSON-lines file; ConfigError naming every bad line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    items: list[DemoItem] = []
    problems: list[str] = []
    fields = set(DemoItem.__dataclass_fields__)
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            if not isinstance(raw, dict):
                raise ValueError("not an object")
            unknown = set(raw) - fields
            if unknown:
                raise ValueError(f"unknown keys {sorted(unknown)}")
            item = DemoItem(**raw)
            if not item.title.strip() or not item.outlet.strip() or item.step < 0:
                raise ValueError("needs a title, an outlet and a step of 0 or more")
        except (ValueError, TypeError) as exc:
            problems.append(f"{path}:{number}: {exc}")
            continue
        items.append(item)
    if not problems and not items:
        problems.append(f"{path}: no items")
    if problems:
        raise ConfigError(problems)
    return tuple(items)


def outlets(items: Iterable[DemoItem]) -> list[str]:
    """Outlet names in the order they first appear."""
    return list(dict.fromkeys(i.outlet for i in items))


def last_step(items: Iterable[DemoItem]) -> int:
    return max((i.step for i in items), default=0)


def released(items: Iterable[DemoItem], outlet: str, step: int) -> list[DemoItem]:
    """What ``outlet``'s feed lists once ``step`` steps have passed, newest first."""
    mine = [i for i in items if i.outlet == outlet and i.step <= step]
    # Same-step backlog items: the younger (smaller age) is newer.
    return sorted(mine, key=lambda i: (i.step, -i.age_minutes, i.id), reverse=True)


def published(item: DemoItem, start: datetime, step_seconds: float) -> datetime:
    if item.step == 0:
        return start - timedelta(minutes=item.age_minutes)
    return start + timedelta(seconds=item.step * step_seconds)


def article_url(base: str, item: DemoItem) -> str:
    return item.link or f"{base}/articles/{quote(item.id, safe='')}"


def paragraphs_html(text: str) -> str:
    """The text as escaped ``<p>`` paragraphs (blank lines separate them)."""
    parts = [p.strip() for p in text.split("\n\n") if p.strip()]
    return "".join(f"<p>{escape(p)}</p>" for p in parts)


def render_rss(
    outlet: str,
    items: Sequence[DemoItem],
    *,
    base: str,
    start: datetime,
    step_seconds: float,
) -> bytes:
    """An RSS 2.0 document for the items (ElementTree escapes every value)."""
    rss = ET.Element("rss", version="2.0")
    channel = ET.SubElement(rss, "channel")
    ET.SubElement(channel, "title").text = outlet
    ET.SubElement(channel, "link").text = f"{base}/outlets/{slug(outlet)}"
    ET.SubElement(channel, "description").text = f"{outlet}: a demo outlet replaying real news"
    for item in items:
        node = ET.SubElement(channel, "item")
        ET.SubElement(node, "title").text = item.title
        ET.SubElement(node, "link").text = article_url(base, item)
        ET.SubElement(node, "guid", isPermaLink="false").text = item.id
        when = published(item, start, step_seconds)
        ET.SubElement(node, "pubDate").text = format_datetime(when, usegmt=True)
        if item.text:
            ET.SubElement(node, "description").text = paragraphs_html(item.text)
    return bytes(ET.tostring(rss, encoding="utf-8", xml_declaration=True))
