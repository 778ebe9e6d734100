"""OPML import and export: feed lists in the format every feed reader speaks.

Import reads nested outlines (folders become tags) and produces feeds.yaml entries;
export writes the configured feeds. feeds.yaml stays the one source of truth: import
appends to it (keeping its comments), it never writes feeds to the database directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

from lxml import etree  # type: ignore[import-untyped]

from aggregator.errors import ConfigError


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    title: str
    xml_url: str
    html_url: str | None = None
    tags: tuple[str, ...] = ()


def read_opml(data: bytes) -> list[OpmlFeed]:
    """Every outline with an http(s) ``xmlUrl``, in document order, deduplicated by URL."""
    # No entities, no DTDs, no network: an OPML file is untrusted input. libxml2 still
    # expands internal entities inside attribute values (a "billion laughs" fits in a
    # title), so entity declarations are refused outright.
    if re.search(rb"<!ENTITY", data[:65536], re.IGNORECASE):
        raise ConfigError(["not an OPML file we accept: it declares XML entities"])
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ConfigError([f"not an OPML file: {exc}"]) from exc
    if root.tag != "opml":
        raise ConfigError([f"not an OPML file: the root element is <{root.tag}>"])
    body = root.find("body")
    if body is None:
        return []
    found: list[OpmlFeed] = []
    seen: set[str] = set()

    def walk(node: etree._Element, folders: tuple[str, ...]) -> None:
        for child in node.findall("outline"):
            url = (child.get("xmlUrl") or child.get("xmlurl") or "").strip()
            title = (child.get("title") or child.get("text") or "").strip()
            if url:
                if urlsplit(url).scheme in ("http", "https") and url not in seen:
                    seen.add(url)
                    found.append(
                        OpmlFeed(
                            title=title or urlsplit(url).hostname or url,
                            xml_url=url,
                            html_url=(child.get("htmlUrl") or "").strip() or None,
                            tags=folders,
                        )
                    )
            else:
                walk(child, (*folders, title) if title else folders)

    walk(body, ())
    return found


def write_opml(feeds: list[OpmlFeed], *, title: str, now: datetime | None = None) -> str:
    stamp = format_datetime((now or datetime.now(UTC)).astimezone(UTC), usegmt=True)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        "  <head>",
        f"    <title>{_text(title)}</title>",
        f"    <dateCreated>{stamp}</dateCreated>",
        "  </head>",
        "  <body>",
    ]
    for feed in feeds:
        attrs = f'type="rss" text={quoteattr(feed.title)} title={quoteattr(feed.title)}'
        attrs += f" xmlUrl={quoteattr(feed.xml_url)}"
        if feed.html_url:
            attrs += f" htmlUrl={quoteattr(feed.html_url)}"
        lines.append(f"    <outline {attrs}/>")
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _yaml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def feeds_yaml_entries(
    feeds: list[OpmlFeed],
    *,
    taken: set[str],
    interval: str | None = None,
    fulltext: bool = False,
) -> str:
    """feeds.yaml list items for these feeds; names made unique against ``taken``.

    ``interval`` (a duration as written, e.g. ``"30m"``) and ``fulltext`` are set on
    every entry when given (``aggregator feeds add`` passes its options through).
    """
    used = set(taken)
    out = []
    for feed in feeds:
        name = re.sub(r"[\x00-\x1f]+", " ", feed.title).strip()[:190] or feed.xml_url[:190]
        base, n = name, 2
        while name in used:
            name = f"{base} ({n})"
            n += 1
        used.add(name)
        out.append(f"  - name: {_yaml_string(name)}\n    url: {_yaml_string(feed.xml_url)}\n")
        if interval is not None:
            out.append(f"    interval: {_yaml_string(interval)}\n")
        if fulltext:
            out.append("    fulltext: true\n")
        if feed.tags:
            out.append(f"    tags: [{', '.join(_yaml_string(t) for t in feed.tags)}]\n")
    return "".join(out)


def append_feeds(config_text: str, entries: str) -> str:
    """Insert feed entries at the end of the top-level ``feeds:`` list, keeping every
    comment and the rest of the file as it is."""
    lines = config_text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if re.match(r"feeds:\s*(#.*)?$", line)), None)
    if start is None:
        inline = next(
            (i for i, line in enumerate(lines) if re.match(r"feeds:\s*\[\s*\]\s*(#.*)?$", line)),
            None,
        )
        if inline is not None:
            lines[inline] = "feeds:\n" + entries
            return "".join(lines)
        sep = "" if config_text.endswith("\n") or not config_text else "\n"
        return config_text + sep + "feeds:\n" + entries
    end = len(lines)
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if line.strip() and not line.startswith((" ", "\t", "#", "-")):
            end = i
            break
    # Keep a comment block that introduces the next section with that section.
    while end > start + 1 and lines[end - 1].lstrip().startswith("#"):
        end -= 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    return "".join(lines[:end]) + entries + "".join(lines[end:])
