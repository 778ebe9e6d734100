"""OPML import and export: feed lists in the format every feed reader speaks.

Import reads nested outlines (folders become tags) and produces feeds.yaml entries;
export writes the configured feeds. feeds.yaml stays the one source of truth: import
appends to it (keeping its comments), it never writes feeds to the database directly.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

import yaml
from lxml import etree  # type: ignore[import-untyped]

from aggregator.compose import config_from_data, load_config
from aggregator.config import LoadedConfig, read_yaml
from aggregator.errors import ConfigError


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    title: str
    xml_url: str
    html_url: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OpmlDocument:
    feeds: tuple[OpmlFeed, ...]
    # One line per feed outline not imported, with the reason: nothing is skipped in
    # silence (an unknown scheme, a repeated URL).
    skipped: tuple[str, ...] = ()


def read_opml(data: bytes) -> list[OpmlFeed]:
    """Every outline with an http(s) ``xmlUrl``, in document order, deduplicated by URL."""
    return list(parse_opml(data).feeds)


def parse_opml(data: bytes) -> OpmlDocument:
    """The feeds of an OPML file and the feed outlines skipped, with their reasons.

    Folders (nested outlines) and ``category`` attributes ("/news,/world") become tags.
    """
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
        return OpmlDocument(())
    found: list[OpmlFeed] = []
    skipped: list[str] = []
    seen: set[str] = set()

    def walk(node: etree._Element, folders: tuple[str, ...]) -> None:
        for child in node.findall("outline"):
            url = (child.get("xmlUrl") or child.get("xmlurl") or "").strip()
            title = (child.get("title") or child.get("text") or "").strip()
            if not url:
                walk(child, (*folders, title) if title else folders)
                continue
            label = _one_line(title or url)
            scheme = urlsplit(url).scheme if "://" in url or ":" in url else ""
            if scheme.lower() not in ("http", "https"):
                skipped.append(f"{label}: not an http(s) URL ({_one_line(url)})")
            elif url in seen:
                skipped.append(f"{label}: the same URL as an earlier outline")
            else:
                seen.add(url)
                categories = [
                    c.strip().strip("/")
                    for c in (child.get("category") or "").split(",")
                    if c.strip().strip("/")
                ]
                found.append(
                    OpmlFeed(
                        title=title or urlsplit(url).hostname or url,
                        xml_url=url,
                        html_url=(child.get("htmlUrl") or "").strip() or None,
                        tags=tuple(dict.fromkeys((*folders, *categories))),
                    )
                )

    walk(body, ())
    return OpmlDocument(tuple(found), tuple(skipped))


def _one_line(text: str) -> str:
    return " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", text).split())[:200]


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
    # Tags travel both ways: the first as the folder (what every reader shows), all
    # of them in OPML 2.0's ``category`` attribute (what a folder cannot hold).
    folders: dict[str, list[OpmlFeed]] = {}
    for feed in feeds:
        folders.setdefault(feed.tags[0] if feed.tags else "", []).append(feed)
    for folder, members in folders.items():
        indent = "    "
        if folder:
            lines.append(f"    <outline text={quoteattr(folder)} title={quoteattr(folder)}>")
            indent = "      "
        for feed in members:
            attrs = f'type="rss" text={quoteattr(feed.title)} title={quoteattr(feed.title)}'
            attrs += f" xmlUrl={quoteattr(feed.xml_url)}"
            if feed.html_url:
                attrs += f" htmlUrl={quoteattr(feed.html_url)}"
            if feed.tags:
                attrs += f" category={quoteattr(','.join('/' + t for t in feed.tags))}"
            lines.append(f"{indent}<outline {attrs}/>")
        if folder:
            lines.append("    </outline>")
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
    comment and the rest of the file as it is.

    ``entries`` are list items indented by two spaces (``feeds_yaml_entries``); they
    are re-indented like the list's first item. A layout this does not understand (a
    flow-style ``feeds: [...]``) comes out wrong: ``appended`` catches that.
    """
    # A BOM is not part of the first line: "feeds:" must still be found after one.
    bom = "\ufeff" if config_text.startswith("\ufeff") else ""
    lines = config_text[len(bom) :].splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if re.match(r"feeds:\s*(#.*)?$", line)), None)
    if start is None:
        inline = next(
            (i for i, line in enumerate(lines) if re.match(r"feeds:\s*\[\s*\]\s*(#.*)?$", line)),
            None,
        )
        if inline is not None:
            lines[inline] = "feeds:\n" + entries
            return bom + "".join(lines)
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
    entries = _indent_like(lines[start + 1 : end], entries)
    return bom + "".join(lines[:end]) + entries + "".join(lines[end:])


def _indent_like(block: list[str], entries: str) -> str:
    """``entries`` (items at two spaces) moved to the indent of the block's first item:
    YAML lets a block list sit at any indent, but every item must share it."""
    first = next((m for line in block if (m := re.match(r"( *)-(\s|$)", line))), None)
    shift = len(first.group(1)) - 2 if first else 0
    if shift == 0:
        return entries
    out = entries.splitlines(keepends=True)
    if shift > 0:
        return "".join(" " * shift + line if line.strip() else line for line in out)
    return "".join(line[-shift:] for line in out)  # every entry line starts with 2 spaces


def _with_entries(raw: Any, entries: str) -> dict[str, Any]:
    """The configuration data ``raw`` with the entries added to its feeds list."""
    data = dict(raw) if isinstance(raw, dict) else {}
    old = data.get("feeds")
    data["feeds"] = [*(old if isinstance(old, list) else []), *yaml.safe_load(entries)]
    return data


def entry_problems(config_text: str, entries: str) -> tuple[str, ...]:
    """What the configuration check would say of the file with these entries in its
    feeds list, however the list is written; () when it would load."""
    try:
        raw = read_yaml(config_text)
        if raw is not None and not isinstance(raw, dict):
            raise ConfigError(["(top level): expected a mapping with feeds, topics, alerts …"])
        config_from_data(_with_entries(raw, entries))
    except ConfigError as err:
        return err.problems
    return ()


def appended(config_text: str, entries: str) -> str:
    """``config_text`` with ``entries`` appended to its feeds list, checked.

    Raises ConfigError when the entries would not be valid there, or when the text
    edit did not do exactly that (the old feeds unchanged and in order, then the new
    ones, nothing else different): writing such a file could lose feeds.
    """
    problems = entry_problems(config_text, entries)
    if problems:
        raise ConfigError(problems)
    wanted = _with_entries(read_yaml(config_text), entries)
    updated = append_feeds(config_text, entries)
    try:
        same = read_yaml(updated) == wanted
    except ConfigError:
        same = False
    if not same:
        raise ConfigError(
            [
                "cannot append to the feeds list as this file writes it (a flow-style "
                "[...] list?); add the entries by hand"
            ]
        )
    return updated


def write_feeds(path: Path, entries: str) -> LoadedConfig:
    """Append ``entries`` to the feeds list of the configuration file at ``path``,
    checked as ``appended`` does, and return the configuration now on disk.

    The file is replaced atomically (a temporary file in the same directory, flushed
    to disk, renamed over it, with the old file's mode): a crash or a full disk leaves
    the old file or the new one, never half of one.
    """
    target = path.resolve()  # a symlinked feeds.yaml stays a symlink
    text = target.read_text(encoding="utf-8")
    updated = appended(text, entries)
    mode = stat.S_IMODE(target.stat().st_mode)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(updated)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)
    # As `config check` does: the file on disk, read and validated afresh.
    return load_config(path)


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (not possible on every platform)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
