"""Feed bytes → :class:`ParsedFeed`: feedparser (fed through ``saxdriver``), plus JSON
Feed 1.0/1.1.

``parse_feed`` is a pure, top-level (so picklable, process-pool friendly) function. It
hands feedparser the bytes, the response headers and the feed URL with feedparser's
HTML sanitizer OFF, because normalize sanitizes once, on output, with nh3. Since the
output is not trusted, this module then makes every value safe for the stages after it:

* links are absolute http(s) URLs or None (relative ones resolved against the feed URL;
  ``javascript:`` & co. refused, even when hidden behind character entities);
* NUL, other control characters, lone surrogates and non-characters are stripped;
* dates before ``min_date`` or more than ``max_future`` after the fetch are dropped and
  the entry is flagged (``date_flagged``), as are dates that cannot be parsed;
* results are bounded: at most ``max_entries`` entries, fields cut at ``max_field_chars``,
  bodies over ``max_bytes`` refused.

Bozo triage: what feedparser recovered from becomes a ``warnings`` line; a body that is
not a feed at all (empty, an HTML page, garbage, JSON that is not a JSON Feed) raises
``ParseError`` with the reason.
"""

from __future__ import annotations

import calendar
import codecs
import dataclasses
import functools
import hashlib
import html
import io
import json
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import feedparser.api
import feedparser.mixin
from feedparser.namespaces import admin, cc, dc, georss, itunes, mediarss, psc

from aggregator.errors import ParseError
from aggregator.links import absolutize_html, safe_link, strip_control
from aggregator.models import ParsedEntry, ParsedFeed
from aggregator.poll import fastparse, saxdriver

__all__ = ["ParseSettings", "parse_feed"]

# feedparser parses through expat with buffered character data (see saxdriver).
saxdriver.install()


@dataclass(frozen=True, slots=True)
class ParseSettings:
    """Bounds on what one feed may produce (defaults suit news feeds)."""

    # Bodies larger than this are refused unparsed: feedparser needs ~15x the body in
    # memory and ~1 s per MB. Keep it >= FetchSettings.max_body_bytes (10 MiB).
    max_bytes: int = 16 * 1024 * 1024
    # Entries kept, in feed order (newest first in practice); the rest are dropped
    # with a warning. Real news feeds carry tens to a few hundred items.
    max_entries: int = 5000
    # Longest title/summary/content kept, in characters (HTML may be cut mid-tag:
    # normalize's sanitizer closes it).
    max_field_chars: int = 1_000_000
    min_date: datetime = datetime(1990, 1, 1, tzinfo=UTC)
    max_future: timedelta = timedelta(days=1)
    max_warnings: int = 20


DEFAULT_SETTINGS = ParseSettings()

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")


# feedparser resolves a GUID that looks like a relative URL ("12345") against the feed
# URL, so an item would get a new identity whenever its feed moves (http → https, a
# 301). GUIDs are opaque identifiers: keep them verbatim. This module is the only
# feedparser user, so narrowing this class attribute affects nothing else.
feedparser.mixin._FeedParserMixin.can_be_relative_uri = frozenset(
    feedparser.mixin._FeedParserMixin.can_be_relative_uri
) - {"id"}


# Extension handlers (GeoRSS, Media RSS, iTunes, Dublin Core…) can raise on input they
# do not expect: GeoRSS indexes a point with no coordinates, reads an EPSG code with
# int(), assumes a <where> around a <gml:pos>. Raised inside feedparser, that loses
# the whole document, every entry with it. An extension element is decoration: the
# handler that raises is skipped, the element is lost, and the document says so under
# ``_EXTENSION_ERRORS`` so that the poll carries a warning.
_EXTENSION_ERRORS = "aggregator_extension_errors"
_EXTENSION_MODULES = (admin, cc, dc, georss, itunes, mediarss, psc)


def _tolerant(name: str, handler: Any) -> Any:
    @functools.wraps(handler)
    def call(self: Any, *args: Any) -> Any:
        try:
            return handler(self, *args)
        except Exception as exc:  # a third-party handler's bug: dropped, reported
            errors = self.feeddata.setdefault(_EXTENSION_ERRORS, [])
            if len(errors) < 5:
                errors.append(f"<{name.split('_', 2)[-1]}> ignored ({type(exc).__name__}: {exc})")
            return None

    return call


def _make_extensions_tolerant() -> None:
    mixin = feedparser.mixin._FeedParserMixin
    for module in _EXTENSION_MODULES:
        for attr in vars(module.Namespace):
            handler = getattr(mixin, attr, None)
            if attr.startswith(("_start_", "_end_")) and callable(handler):
                setattr(mixin, attr, _tolerant(attr, handler))


_make_extensions_tolerant()


# feedparser ends every element by mapping the C1 controls U+0080-U+009F in its text to
# the characters windows-1252 puts there (``mixin.pop``: ``output.translate(_cp1252)``).
# On text that is not pure ASCII, str.translate with a dict goes character by character
# through the mapping protocol: a sixth of feedparser's time on 2-6 KB bodies with one
# accent or curly quote. The translation changes nothing unless the text holds one of
# those code points, which a C-speed regex finds. ``decode_entities`` is the last step
# of ``pop`` before the translation that keeps its object (the strict parser's is the
# identity): it hands the text on as a str whose ``translate`` looks first. Shown
# identical on the farm, the fixtures and random text in tests/test_parse.py.
_C1_CONTROLS = re.compile("[\x80-\x9f]")
_CP1252_TABLE = feedparser.mixin._cp1252


class _C1CheckedText(str):
    __slots__ = ()

    def translate(self, table: Any) -> str:
        if table is _CP1252_TABLE and _C1_CONTROLS.search(self) is None:
            return str(self)
        return str.translate(self, table)


def _checked_for_c1(element: str, data: Any) -> Any:
    return _C1CheckedText(data) if type(data) is str else data


def _check_c1_before_translating(enabled: bool) -> None:
    """Install (or, for the identity tests, remove) the check above."""
    strict: Any = feedparser.api.StrictFeedParser
    if enabled:
        strict.decode_entities = staticmethod(_checked_for_c1)
    elif "decode_entities" in vars(strict):
        del strict.decode_entities


_check_c1_before_translating(True)


def parse_feed(
    body: bytes,
    *,
    url: str,
    headers: Mapping[str, str],
    fetched_at: datetime,
    settings: ParseSettings = DEFAULT_SETTINGS,
) -> ParsedFeed:
    """Parse a feed body (RSS 0.9x/1.0/2.0, Atom 0.3/1.0, JSON Feed 1.0/1.1).

    ``url`` is the URL the body came from (the base for relative links); ``headers``
    are the response headers (any case), used for the encoding and WebSub ``Link``.
    Raises ``ParseError`` when the body is not a feed.
    """
    if fetched_at.tzinfo is None:
        raise ValueError("fetched_at must be timezone-aware")
    if not body.strip(b" \t\r\n\x00\xef\xbb\xbf\xfe\xff"):
        raise ParseError("not a feed: empty body")
    if len(body) > settings.max_bytes:
        raise ParseError(f"feed too large to parse: {len(body)} bytes (limit {settings.max_bytes})")
    lower_headers = {k.lower(): v for k, v in headers.items()}
    base = urljoin(url, lower_headers.get("content-location", ""))
    ctx = _Context(url=url, fetched_at=fetched_at, settings=settings, base=base)
    if _looks_like_json(body):
        feed = _parse_json_feed(body, ctx)
    else:
        feed = _parse_xml_feed(body, lower_headers, ctx)
    http_hub = _hub_from_link_header(lower_headers.get("link", ""), url)
    if http_hub is not None:
        # WebSub: HTTP Link headers take priority over links inside the document.
        feed = _replace_hub(feed, http_hub)
    return feed


# -- shared helpers -----------------------------------------------------------------


class _Context:
    """Per-call state: the inputs and the warnings collected on the way."""

    __slots__ = ("base", "control_free", "fetched_at", "latest", "settings", "url", "warnings")

    def __init__(
        self, *, url: str, fetched_at: datetime, settings: ParseSettings, base: str = ""
    ) -> None:
        self.url = url
        # What relative links in the document resolve against: the URL, or the
        # response's Content-Location resolved against it.
        self.base = base or url
        self.fetched_at = fetched_at.astimezone(UTC)
        self.latest = self.fetched_at + settings.max_future
        self.settings = settings
        self.warnings: list[str] = []
        # True when no text of the document can hold what strip_control removes
        # (fastparse.CONTROL_FREE): the fields are taken as they are.
        self.control_free = False

    def resolve_base(self, rel: object) -> str:
        """An element's ``xml:base`` made absolute; the document's base when it is
        missing or not http(s)."""
        if not isinstance(rel, str) or not rel:
            return self.base
        joined = urljoin(self.base, rel)
        return joined if urlsplit(joined).scheme in ("http", "https") else self.base

    def warn(self, message: str) -> None:
        if len(self.warnings) < self.settings.max_warnings and message not in self.warnings:
            self.warnings.append(strip_control(message)[:500])

    def text(self, value: object) -> str:
        if not isinstance(value, str):
            return ""
        if not self.control_free:
            value = strip_control(value)
        return value[: self.settings.max_field_chars]

    def optional_text(self, value: object, limit: int = 2048) -> str | None:
        cleaned = self.text(value).strip()[:limit]
        return cleaned or None

    def check_date(self, value: datetime | None) -> tuple[datetime | None, bool]:
        """The date if it is plausible, else (None, True) meaning "flag this entry"."""
        if value is None:
            return None, False
        if value < self.settings.min_date or value > self.latest:
            return None, True
        return value, False


def _looks_like_json(body: bytes) -> bool:
    # Sniff rather than trust Content-Type: servers label feeds text/plain,
    # application/octet-stream or even JSON for XML. NULs/BOMs cover UTF-16/32 JSON.
    head = body[:256].replace(b"\x00", b"").lstrip(b" \t\r\n\xef\xbb\xbf\xfe\xff")
    return head.startswith(b"{")


# The prolog before the root element: XML declaration, processing instructions,
# comments, a doctype (with an internal subset), whitespace.
_PROLOG = re.compile(
    rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!doctype(?:[^\[>]|\[[^\]]*\])*>)", re.DOTALL | re.IGNORECASE
)
_ROOT = re.compile(rb"\s*<([A-Za-z_][-\w.:]*)")
_HTML_DOCTYPE = re.compile(rb"<!doctype\s+html\b", re.IGNORECASE)


def _head(body: bytes) -> bytes:
    # NULs are dropped so UTF-16 bodies read as ASCII here too.
    return body[:4096].replace(b"\x00", b"").lstrip(b"\xef\xbb\xbf\xfe\xff")


def _root_element(body: bytes) -> str | None:
    """The name of the document's first element, after the prolog (None if unseen)."""
    head = _head(body)
    pos = 0
    while match := _PROLOG.match(head, pos):
        if match.end() == pos:
            break
        pos = match.end()
    root = _ROOT.match(head, pos)
    return root.group(1).decode("ascii", "replace")[:40] if root else None


def _looks_like_html(body: bytes) -> bool:
    # Only the document's start counts: a feed may quote "<html>" in a CDATA section.
    # The root element decides, not the doctype: some CMSes put an HTML doctype in
    # front of a real <rss> document.
    root = _root_element(body)
    if root is not None:
        return root.lower() in ("html", "head", "body")
    return _HTML_DOCTYPE.search(_head(body)) is not None


def _what_was_seen(body: bytes, headers: Mapping[str, str]) -> str:
    """ "root element <CHANNEL>, Content-Type text/xml": so a user can tell a wrong URL
    (an HTML page, an API) from a broken feed."""
    root = _root_element(body)
    seen = f"root element <{root}>" if root else "no root element"
    content_type = strip_control(headers.get("content-type", "")).split(";")[0].strip()
    return f"{seen}, Content-Type {content_type[:80] or 'missing'}"


def _finish_entries(entries: list[ParsedEntry], ctx: _Context) -> tuple[ParsedEntry, ...]:
    """Drop empty entries and exact repeats; give every other entry its own identity.

    A GUID shared by *different* items (broken CMSes do this) identifies none of them:
    which item comes first changes from poll to poll (a new item on top takes it over),
    and the store would overwrite one story with another. So every item sharing it keeps
    its content but loses the GUID (the store then identifies them by link). When the
    link is shared too (or feedparser copied it from the permalink GUID), the title,
    then the content, tell them apart (``variant``). Every entry dropped is counted in
    a warning with its reason: nothing is dropped in silence.
    """
    variants: dict[str, set[tuple[str | None, str]]] = {}
    for entry in entries:
        if entry.guid is not None:
            variants.setdefault(entry.guid, set()).add((entry.link, entry.title))
    shared = {guid for guid, seen_as in variants.items() if len(seen_as) > 1}
    out: list[ParsedEntry] = []
    seen: set[tuple[str, str | None, str]] = set()
    empty = repeats = reused = 0
    for entry in entries:
        if not (entry.title.strip() or entry.link or entry.summary_html or entry.content_html):
            empty += 1
            continue
        if entry.guid is not None:
            key = (entry.guid, entry.link, entry.title)
            if key in seen:
                repeats += 1
                continue
            seen.add(key)
            if entry.guid in shared:
                reused += 1
                entry = dataclasses.replace(entry, guid=None)
        out.append(entry)
    out, same_key, identical = _tell_apart(out)
    repeats += identical
    if empty:
        ctx.warn(f"{empty} empty entries dropped (no title, link or content)")
    if repeats:
        ctx.warn(f"{repeats} repeated entries dropped (same GUID, link and title)")
    if reused:
        ctx.warn(f"{reused} entries share a GUID with a different entry; kept without it")
    if same_key:
        ctx.warn(f"{same_key} different entries share a GUID or link; told apart by title")
    limit = ctx.settings.max_entries
    if len(out) > limit:
        ctx.warn(f"{len(out)} entries; only the first {limit} kept, {len(out) - limit} dropped")
        del out[limit:]
    return tuple(out)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "replace")).hexdigest()[:16]


def _tell_apart(entries: list[ParsedEntry]) -> tuple[list[ParsedEntry], int, int]:
    """Entries whose identity (GUID, else link) is shared get a ``variant``: a digest of
    the title, or of the title and content when the titles are the same too. Entries
    the same in all of these are repeats and dropped. Returns (entries, how many got a
    variant, how many repeats were dropped)."""
    groups: dict[str, list[int]] = {}
    for i, entry in enumerate(entries):
        key = f"g:{entry.guid}" if entry.guid else f"l:{entry.link}" if entry.link else None
        if key is not None:
            groups.setdefault(key, []).append(i)
    drop: set[int] = set()
    given = 0
    out = list(entries)
    for members in groups.values():
        if len(members) < 2:
            continue
        by_title: dict[str, list[int]] = {}
        for i in members:
            by_title.setdefault(entries[i].title, []).append(i)
        seen: set[str] = set()
        for i in members:
            entry = entries[i]
            variant = _digest(entry.title)
            if len(by_title[entry.title]) > 1:
                variant = _digest(entry.title, entry.summary_html, entry.content_html)
            if variant in seen:
                drop.add(i)
                continue
            seen.add(variant)
            out[i] = dataclasses.replace(entry, variant=variant)
            given += 1
    return [e for i, e in enumerate(out) if i not in drop], given, len(drop)


def _hub_from_link_header(value: str, base: str) -> str | None:
    # Link: <https://hub.example/>; rel="hub", <https://example.com/feed>; rel="self"
    # "[^<>]", not "[^>]": a URL never holds "<", and a value of 128 headers of "<<<…"
    # (1 MB) made "[^>]*" scan to the end from every "<", for hours.
    for part in re.finditer(r"<([^<>]*)>([^<]*)", value):
        params = part.group(2).lower()
        rels = re.search(r"""rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))""", params)
        if rels and "hub" in (rels.group(1) or rels.group(2) or "").split():
            return safe_link(part.group(1), base)
    return None


def _replace_hub(feed: ParsedFeed, hub: str) -> ParsedFeed:
    return ParsedFeed(
        kind=feed.kind,
        title=feed.title,
        link=feed.link,
        entries=feed.entries,
        ttl_minutes=feed.ttl_minutes,
        skip_hours=feed.skip_hours,
        skip_days=feed.skip_days,
        hub_url=hub,
        warnings=feed.warnings,
    )


# -- XML feeds via feedparser ---------------------------------------------------------


def _run_feedparser(body: bytes, headers: Mapping[str, str], base: str) -> Any:
    # Only what feedparser needs: the charset, the language and, for documents using
    # xml:base, the base URI. Given a base, feedparser joins it with the element's
    # xml:base at every start tag, an eighth of its time on 2-6 KB bodies; without
    # one, links stay as written and ``_Context`` resolves the few we keep (GUIDs are
    # identifiers, never resolved). A document using xml:base gets the real base:
    # feedparser drops a relative xml:base nested in another, and it is rare.
    response_headers = {k: headers[k] for k in ("content-type", "content-language") if k in headers}
    # Never an empty dict: feedparser then knows these are HTTP headers and flags a
    # missing Content-Type, as for any response.
    response_headers["content-location"] = base if b"xml:base" in body else ""
    # A BytesIO, never the bytes themselves: feedparser treats a bytes/str argument
    # that looks like a URL or a path as something to open.
    return feedparser.parse(
        io.BytesIO(body),
        response_headers=response_headers,
        sanitize_html=False,
        resolve_relative_uris=False,  # done by absolutize_html, ~3.5x cheaper
    )


def _neutralize_bad_char_refs(body: bytes) -> tuple[bytes, int]:
    """Replace numeric character references no XML text may hold with U+FFFD."""
    count = 0

    def repl(match: re.Match[bytes]) -> bytes:
        nonlocal count
        digits_hex, digits_dec = match.group(1), match.group(2)
        raw = digits_hex if digits_hex is not None else digits_dec
        if len(raw) > 8:
            count += 1
            return b"&#xFFFD;"
        code = int(raw, 16) if digits_hex is not None else int(raw)
        if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            count += 1
            return b"&#xFFFD;"
        return match.group(0)

    return _CHAR_REF.sub(repl, body), count


# -- encodings ------------------------------------------------------------------------

# Longest first: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_DECL_ENCODING = re.compile(rb"""^\s*<\?xml\b[^>]*?\bencoding\s*=\s*["']([^"'>]*)["']""")
_DECL_ENCODING_TEXT = re.compile(r"""^(\s*<\?xml\b[^>]*?\bencoding\s*=\s*)["'][^"'>]*["']""")
_HTTP_CHARSET = re.compile(r"""charset\s*=\s*["']?([^"';\s]*)""", re.IGNORECASE)
# Encodings whose clean decoding is evidence: random bytes are rarely valid in them.
# A single-byte encoding (KOI8-R, windows-1252) decodes nearly anything, so it proves
# nothing and is trusted last.
_MULTIBYTE = frozenset(
    {"utf-8", "shift_jis", "cp932", "euc_jp", "gb2312", "gbk", "gb18030", "big5", "euc_kr"}
    | {"cp949", "big5hkscs", "iso2022_jp", "utf-16", "utf-16-le", "utf-16-be", "utf-32"}
)


def _codec(name: str) -> str | None:
    """Python's name for an encoding label, or None when it is not one."""
    try:
        return codecs.lookup(name.strip()).name if name.strip() else None
    except (LookupError, ValueError, TypeError):
        return None


def _decodes(body: bytes, encoding: str) -> bool:
    if encoding == "utf-8":
        # Checked in pieces, not by one decode: a 255 KB document decoded whole builds a
        # ~0.5 MB text whose fresh pages the kernel faults in and zeroes, on every
        # non-ASCII document _settle_encoding sees (issue 17). The same answer:
        # tests/test_parse_utf8_head.py holds the two alike.
        return fastparse.is_utf8(body)
    try:
        body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


# Ideographs, kana, Hangul, full-width forms; not half-width katakana, which is what
# KOI8-R or windows-1251 bytes turn into when read as Shift-JIS.
_CJK = re.compile("[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff01-\uff60]")
_CJK_CODECS = frozenset({"cp932", "shift_jis", "euc_jp", "gb18030", "gbk", "big5", "cp949"})


def _detect(body: bytes) -> str | None:
    """The encoding a mislabelled body is in, when the evidence is strong: a BOM, clean
    UTF-8, or a CJK multi-byte encoding whose text is all CJK. Statistics on single-byte
    encodings are not trusted (on a short feed they mistake windows-1252 for Baltic,
    KOI8-R for Shift-JIS): None then, and feedparser falls back as it always has."""
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return encoding
    if _decodes(body, "utf-8"):
        return "utf-8"
    # Imported here, on the first body that is neither BOM-marked nor UTF-8: a daemon
    # whose feeds are all UTF-8 never holds its tables (~1.6 MiB, issue 17).
    import charset_normalizer

    best = charset_normalizer.from_bytes(body[:65536]).best()
    guess = _codec(best.encoding) if best is not None else None
    if guess is None or guess not in _CJK_CODECS or not _decodes(body, guess):
        return None
    wide = [ch for ch in body.decode(guess) if ord(ch) > 0x7F]
    cjk = sum(1 for ch in wide if _CJK.match(ch))
    return guess if wide and cjk >= 0.9 * len(wide) else None


def _with_charset(headers: Mapping[str, str], encoding: str) -> dict[str, str]:
    out = dict(headers)
    content_type = out.get("content-type")
    if content_type:
        bare = _HTTP_CHARSET.sub("", content_type).rstrip(" ;")
        out["content-type"] = f"{bare}; charset={encoding}"
    return out


def _transcode(
    body: bytes, encoding: str, headers: Mapping[str, str]
) -> tuple[bytes, dict[str, str]]:
    """The document re-encoded as UTF-8, its declaration and Content-Type saying so,
    so that feedparser has nothing left to guess."""
    text = body.decode(encoding, "replace").lstrip("\ufeff")
    text = _DECL_ENCODING_TEXT.sub(r'\1"utf-8"', text, count=1)
    return text.encode("utf-8"), _with_charset(headers, "utf-8")


def _settle_encoding(
    body: bytes, headers: Mapping[str, str], ctx: _Context
) -> tuple[bytes, Mapping[str, str], bool]:
    """Decide the document's encoding when its labels disagree or lie.

    XML's own rules first: a byte-order mark decides. Otherwise the HTTP charset and
    the XML declaration are the candidates; when they disagree, or the one given does
    not decode the bytes, the encoding under which the bytes decode cleanly wins (a
    multi-byte one first: clean UTF-8 or Shift-JIS is evidence, clean KOI8-R is not),
    then statistics. feedparser then gets UTF-8 and a warning is recorded. When the
    labels agree with the bytes, nothing is touched (feedparser decodes as usual).
    The flag says the body returned untouched was seen to decode as UTF-8 (so the
    fast reader need not check it again).
    """
    if body.isascii():
        return body, headers, True  # every ASCII-compatible label reads it alike
    match = _HTTP_CHARSET.search(headers.get("content-type", ""))
    http_label = match.group(1) if match else ""
    decl_match = _DECL_ENCODING.match(body[:1024])
    decl_label = decl_match.group(1).decode("latin-1") if decl_match else ""
    http, decl = _codec(http_label), _codec(decl_label)
    labels = f"HTTP charset {http_label or '-'}, XML declaration {decl_label or '-'}"
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            if any(c and not c.startswith(encoding[:6]) for c in (http, decl)):
                ctx.warn(
                    f"encoding: byte-order mark says {encoding} ({labels}); read as {encoding}"
                )
                return (*_transcode(body, encoding, headers), False)
            return body, headers, False
    # Without a BOM, a document whose first bytes are ASCII "<" is in an
    # ASCII-compatible encoding (XML 1.0 appendix F): a UTF-16/32 label is wrong, and
    # the declaration naming something that is no encoding at all is too.
    ascii_start = b"\x00" not in body[:4]
    wide = ("utf-16", "utf-32")
    wrong = [c for c in (http, decl) if c and c.startswith(wide) and ascii_start]
    wrong += [label for label, c in ((decl_label, decl),) if label and c is None]
    http, decl = (None if c in wrong else c for c in (http, decl))
    candidates = list(dict.fromkeys(c for c in (http, decl) if c))
    if not wrong:
        if len(candidates) == 1 and _decodes(body, candidates[0]):
            return body, headers, candidates[0] == "utf-8"
        if not candidates and _decodes(body, "utf-8"):
            return body, headers, True
    clean = [c for c in candidates if _decodes(body, c)]
    chosen = next((c for c in clean if c in _MULTIBYTE), None) if len(clean) > 1 else None
    if chosen is None and len(clean) == 1 and len(candidates) == 2:
        chosen = clean[0]
    if chosen is None and len(clean) > 1:
        detected = _detect(body)
        chosen = detected if detected in clean else clean[0]
    if chosen is None and len(candidates) == 1 and clean:
        chosen = clean[0]  # the one label left after dropping a wrong one
    if chosen is None:
        chosen = _detect(body)
    if chosen is None:
        return body, headers, False  # nothing better known: feedparser's own fallbacks
    ctx.warn(f"encoding: {labels}; the bytes read cleanly as {chosen}, used instead")
    return (*_transcode(body, chosen, headers), False)


def _run_leniently(body: bytes, headers: Mapping[str, str], ctx: _Context) -> Any:
    """feedparser's result, retried once with repairs when feedparser itself raises.

    feedparser lets some errors out instead of setting bozo: chr() on a reference like
    &#x110000;, a NUL in the encoding name ("embedded null character"), a
    UnicodeDecodeError when the XML declaration names the wrong encoding. One bad
    byte must not lose every entry: the retry reads the text under the encoding the
    bytes really have, drops NULs, neutralizes bad references, declares UTF-8.
    """
    try:
        return _run_feedparser(body, headers, ctx.base)
    except Exception as first_exc:  # third-party edge: repaired or translated below
        first = _one_line(f"{type(first_exc).__name__}: {first_exc}")
        encoding = _detect(body) or "windows-1252"
        fixed, _ = _transcode(body, encoding, headers)
        fixed = fixed.replace(b"\x00", b"")
        fixed, count = _neutralize_bad_char_refs(fixed)
        try:
            result = _run_feedparser(fixed, _with_charset(headers, "utf-8"), ctx.base)
        except Exception as exc:
            raise ParseError(f"not a feed: parser failed ({first})") from exc
        repaired = f", {count} out-of-range character references replaced" if count else ""
        ctx.warn(f"parser failed ({first}); read again as {encoding}{repaired}")
        return result


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


def _parse_xml_feed(body: bytes, headers: Mapping[str, str], ctx: _Context) -> ParsedFeed:
    body, headers, utf8 = _settle_encoding(body, headers, ctx)
    # The everyday RSS/Atom document is read without feedparser's per-element Python
    # (identical result, tests/test_parse_fastpath.py); anything else, and any doubt,
    # goes to feedparser.
    result = fastparse.parse(body, headers, utf8=utf8)
    if result is None:
        result = _run_leniently(body, headers, ctx)
    else:
        ctx.control_free = result.get(fastparse.CONTROL_FREE) is True

    version = str(result.get("version") or "")
    entries_raw = result.get("entries") or []
    bozo_exc = result.get("bozo_exception") if result.get("bozo") else None
    if _looks_like_html(body) and (not version or not entries_raw):
        raise ParseError(f"not a feed: an HTML page ({_what_was_seen(body, headers)})")
    if not version and not entries_raw:
        seen = _what_was_seen(body, headers)
        reason = f"; {type(bozo_exc).__name__}: {bozo_exc}" if bozo_exc is not None else ""
        raise ParseError(f"not a feed: no RSS or Atom document found ({seen}{reason})")
    if bozo_exc is not None:
        ctx.warn(f"{type(bozo_exc).__name__}: {bozo_exc}")
    if not version:
        ctx.warn("unknown feed format; entries read anyway")

    feed_meta = result.get("feed") or {}
    for note in dict.get(feed_meta, _EXTENSION_ERRORS) or ():
        ctx.warn(f"extension element {note}")
    entries = [_entry_from_feedparser(e, ctx) for e in entries_raw]
    ttl = _ttl_minutes(feed_meta.get("ttl"), ctx)
    skip_hours: frozenset[int] = frozenset()
    skip_days: frozenset[str] = frozenset()
    if "skiphours" in feed_meta or "skipdays" in feed_meta:
        # feedparser keeps only the last <hour>/<day>; read the lists ourselves.
        text = body.decode(str(result.get("encoding") or "utf-8"), "replace")
        skip_hours, skip_days = _skip_lists(text, ctx)
    hub = None
    for link in feed_meta.get("links") or []:
        if link.get("rel") == "hub":
            hub = safe_link(link.get("href"), ctx.base)
            if hub:
                break
    return ParsedFeed(
        kind=version or "unknown",
        title=ctx.optional_text(feed_meta.get("title")),
        link=safe_link(feed_meta.get("link"), ctx.base),
        entries=_finish_entries(entries, ctx),
        ttl_minutes=ttl,
        skip_hours=skip_hours,
        skip_days=skip_days,
        hub_url=hub,
        warnings=tuple(ctx.warnings),
    )


def _struct_to_datetime(value: object) -> datetime | None:
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _entry_date(entry: dict[str, Any], key: str) -> tuple[datetime | None, bool]:
    """(date, unparseable) for feedparser's ``key`` / ``key_parsed`` pair."""
    # dict.get, not FeedParserDict.get: the latter maps a missing "updated" to
    # "published" with a DeprecationWarning; we want each date as the feed gave it.
    parsed = _struct_to_datetime(dict.get(entry, f"{key}_parsed"))
    unparseable = parsed is None and bool(str(dict.get(entry, key) or "").strip())
    return parsed, unparseable


def _as_html(detail: Mapping[str, Any] | None, ctx: _Context) -> str:
    if not detail:
        return ""
    value = ctx.text(detail.get("value"))
    kind = str(detail.get("type") or "text/html")
    if "html" in kind or "xml" in kind:
        # feedparser tracks xml:base per element even with its own resolution off.
        return absolutize_html(value, ctx.resolve_base(detail.get("base")))
    # Plain text: escape it so every *_html field really is HTML for normalize.
    return html.escape(value, quote=False)


def _entry_from_feedparser(entry: dict[str, Any], ctx: _Context) -> ParsedEntry:
    link = safe_link(entry.get("link"), ctx.base)
    if link is None:
        for candidate in entry.get("links") or []:
            if candidate.get("rel", "alternate") == "alternate":
                link = safe_link(candidate.get("href"), ctx.base)
                if link:
                    break
    content_html = ""
    contents = entry.get("content") or []
    for item in contents:  # prefer an HTML body over a plain-text one
        if "html" in str(item.get("type") or ""):
            content_html = _as_html(item, ctx)
            break
    if not content_html and contents:
        content_html = _as_html(contents[0], ctx)
    summary_html = _as_html(entry.get("summary_detail"), ctx)
    raw_summary = entry.get("summary")
    # feedparser copies an Atom <content> into `summary` (without summary_detail) when
    # the entry has no <summary>: that is the body again, as HTML — not a plain-text
    # summary to escape, which would put literal tags in the text and the body twice.
    copied = bool(raw_summary) and any(raw_summary == item.get("value") for item in contents)
    if not summary_html and raw_summary and not copied:
        summary_html = html.escape(ctx.text(raw_summary), quote=False)
    published_raw, bad_published = _entry_date(entry, "published")
    updated_raw, bad_updated = _entry_date(entry, "updated")
    published, flag_p = ctx.check_date(published_raw)
    updated, flag_u = ctx.check_date(updated_raw)
    return ParsedEntry(
        guid=ctx.optional_text(entry.get("id")),
        link=link,
        title=ctx.text(entry.get("title")),
        summary_html=summary_html,
        content_html=content_html,
        author=ctx.optional_text(entry.get("author"), 512),
        published=published,
        updated=updated,
        date_flagged=flag_p or flag_u or bad_published or bad_updated,
    )


_MAX_TTL_MINUTES = 365 * 24 * 60


def _ttl_minutes(value: object, ctx: _Context) -> int | None:
    if value is None:
        return None
    try:
        ttl = int(str(value).strip())
    except ValueError:
        ctx.warn(f"ignored non-numeric <ttl>: {str(value)[:40]!r}")
        return None
    if ttl <= 0:
        return None
    if ttl > _MAX_TTL_MINUTES:
        # Far beyond any polling interval, and large enough to overflow date math
        # downstream; a year still means "rarely".
        ctx.warn(f"<ttl> of {str(ttl)[:20]} minutes capped at one year")
        return _MAX_TTL_MINUTES
    return ttl


_SKIP_OPEN = re.compile(r"<(skipHours|skipDays)\b[^<>]*>")
_SKIP_CLOSE = {name: re.compile(rf"</{name}\s*>") for name in ("skipHours", "skipDays")}
_SKIP_ITEM = re.compile(r"<(?:hour|day)\b[^>]*>\s*([^<]*?)\s*</(?:hour|day)\s*>")


def _skip_blocks(text: str) -> Iterator[tuple[str, str]]:
    """(name, content) of each <skipHours>/<skipDays> block, in one pass.

    Not one regex with "(.*?)</\\1>": from every unclosed opening tag (a CDATA body
    can hold thousands) it scanned to the end of the document, 18 s for 220 KB.
    """
    pos = 0
    unclosed: set[str] = set()  # no closing tag after ``pos``: none after any later one
    while match := _SKIP_OPEN.search(text, pos):
        name = match.group(1)
        pos = match.end()
        if name in unclosed:
            continue
        close = _SKIP_CLOSE[name].search(text, pos)
        if close is None:
            unclosed.add(name)
            continue
        yield name, text[pos : close.start()]
        pos = close.end()


def _skip_lists(text: str, ctx: _Context) -> tuple[frozenset[int], frozenset[str]]:
    hours: set[int] = set()
    days: set[str] = set()
    for name, content in _skip_blocks(text):
        for item in _SKIP_ITEM.finditer(content):
            value = item.group(1)
            if name == "skipHours":
                # RSS 2.0 says 0-23; some feeds write 24 for midnight.
                if value.isascii() and value.isdigit() and int(value) <= 24:
                    hours.add(int(value) % 24)
                else:
                    ctx.warn(f"ignored skipHours value {value[:20]!r}")
            else:
                day = value.capitalize()
                if day in _DAYS:
                    days.add(day)
                else:
                    ctx.warn(f"ignored skipDays value {value[:20]!r}")
    if len(hours) == 24:
        # Skipping every hour would mean "never poll": surely a mistake, ignore it.
        ctx.warn("skipHours lists all 24 hours; ignored")
        hours.clear()
    return frozenset(hours), frozenset(days)


# -- JSON Feed 1.0 / 1.1 ----------------------------------------------------------------

_JSON_VERSIONS = {
    "https://jsonfeed.org/version/1": "json10",
    "https://jsonfeed.org/version/1.1": "json11",
}


def _parse_json_feed(body: bytes, ctx: _Context) -> ParsedFeed:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise ParseError(f"not a feed: invalid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise ParseError("not a feed: JSON but not a JSON Feed object")
    version = doc.get("version")
    kind = _JSON_VERSIONS.get(str(version).rstrip("/")) if isinstance(version, str) else None
    if kind is None:
        if isinstance(version, str) and version.startswith("https://jsonfeed.org/version/"):
            kind = "json"
            ctx.warn(f"unknown JSON Feed version {version[:60]!r}; read as 1.1")
        elif isinstance(doc.get("items"), list):
            kind = "json"
            ctx.warn("JSON Feed without a version; read anyway")
        else:
            raise ParseError("not a feed: JSON without a JSON Feed version")
    items = doc.get("items")
    if not isinstance(items, list):
        ctx.warn("JSON Feed without an items list")
        items = []
    entries: list[ParsedEntry] = []
    skipped = 0
    for item in items:
        if isinstance(item, dict):
            entries.append(_entry_from_json(item, ctx))
        else:
            skipped += 1
    if skipped:
        ctx.warn(f"{skipped} JSON Feed items were not objects; skipped")
    hub = None
    hubs = doc.get("hubs")
    if isinstance(hubs, list):
        for candidate in hubs:
            if isinstance(candidate, dict) and str(candidate.get("type", "")).lower() == "websub":
                hub = safe_link(candidate.get("url"), ctx.url)
                if hub:
                    break
    return ParsedFeed(
        kind=kind,
        title=ctx.optional_text(doc.get("title")),
        link=safe_link(doc.get("home_page_url"), ctx.url),
        entries=_finish_entries(entries, ctx),
        hub_url=hub,
        warnings=tuple(ctx.warnings),
    )


def _json_date(value: object) -> tuple[datetime | None, bool]:
    if value is None:
        return None, False
    if not isinstance(value, str):
        return None, True
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None, bool(text)
    if parsed.tzinfo is None:
        # RFC 3339 requires an offset; a missing one most often means UTC.
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC), False
    except OverflowError:  # year 1 or 9999 pushed past the calendar by the offset
        return None, True


def _json_author(item: Mapping[str, Any]) -> object:
    authors = item.get("authors")  # 1.1
    candidates: Iterable[object] = authors if isinstance(authors, list) else []
    for author in [*candidates, item.get("author")]:  # "author" is 1.0
        if isinstance(author, dict) and isinstance(author.get("name"), str):
            return author["name"]
    return None


def _entry_from_json(item: Mapping[str, Any], ctx: _Context) -> ParsedEntry:
    raw_id = item.get("id")
    guid = str(raw_id) if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else None
    link = safe_link(item.get("url"), ctx.url) or safe_link(item.get("external_url"), ctx.url)
    content_html = absolutize_html(ctx.text(item.get("content_html")), ctx.url)
    if not content_html and isinstance(item.get("content_text"), str):
        content_html = html.escape(ctx.text(item["content_text"]), quote=False)
    summary = item.get("summary")
    summary_html = html.escape(ctx.text(summary), quote=False) if isinstance(summary, str) else ""
    published_raw, bad_p = _json_date(item.get("date_published"))
    updated_raw, bad_u = _json_date(item.get("date_modified"))
    published, flag_p = ctx.check_date(published_raw)
    updated, flag_u = ctx.check_date(updated_raw)
    return ParsedEntry(
        guid=ctx.optional_text(guid),
        link=link,
        title=ctx.text(item.get("title")),
        summary_html=summary_html,
        content_html=content_html,
        author=ctx.optional_text(_json_author(item), 512),
        published=published,
        updated=updated,
        date_flagged=flag_p or flag_u or bad_p or bad_u,
    )
