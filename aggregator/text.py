"""Plain text and HTML: repair, HTML to text with paragraphs, sanitizing for display.

Shared by normalize (feed entries), extract (full pages) and the web page. Text
conventions: paragraphs are separated by one blank line (``"\\n\\n"``), a line break
inside a paragraph is a single ``"\\n"``, there is no leading or trailing whitespace,
and the text is NFC with no control or invisible characters.
"""

from __future__ import annotations

import hashlib
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache, partial
from html import escape
from typing import TYPE_CHECKING, Any

import nh3
import pycld2  # type: ignore[import-untyped]
from lxml import etree  # type: ignore[import-untyped]

if TYPE_CHECKING:
    # numpy only where shingles are hashed (the consumer's dedup): the parse stack
    # imports this module too, and a parse worker has no use for numpy's ~20 MiB.
    import numpy as np
    import numpy.typing as npt

__all__ = ["clean_text", "html_paragraphs", "html_to_text", "looks_like_html", "sanitize_html"]

# --------------------------------------------------------------------------- text

# Cf (format) characters are invisible; keep ZWJ/ZWNJ, which change how Indic,
# Persian and emoji text renders. Soft hyphens and BOMs are Cf too.
_KEEP_CF = frozenset({"\u200c", "\u200d"})
# UTF-8 read as Latin-1/cp1252 always shows a lead byte (Â…ô) followed by a
# continuation byte's stand-in. ftfy's own check costs ~1 ms an article and fixing
# ~2 ms, so only texts showing this pattern are handed to it.
_MOJIBAKE_LEADS = "\u00c2-\u00f4"
_MOJIBAKE_CONTINUATIONS = (
    "\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192"
    "\u02c6\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a"
    "\u20ac\u2122"
)
_MOJIBAKE_HINT_RE = re.compile(f"[{_MOJIBAKE_LEADS}][{_MOJIBAKE_CONTINUATIONS}]")


def _class_chars(spec: str) -> list[str]:
    """The characters of a regex class body made of characters and ``a-b`` ranges."""
    chars: list[str] = []
    i = 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            chars += map(chr, range(ord(spec[i]), ord(spec[i + 2]) + 1))
            i += 3
        else:
            chars.append(spec[i])
            i += 1
    return chars


def _utf8_class(chars: list[str]) -> bytes:
    """An expression matching the UTF-8 of any of ``chars``: one branch per prefix (all
    bytes but the last), with a class of last bytes."""
    groups: dict[bytes, list[int]] = {}
    for ch in chars:
        data = ch.encode()
        groups.setdefault(data[:-1], []).append(data[-1])
    return b"|".join(
        re.escape(prefix) + b"[" + b"".join(re.escape(bytes([b])) for b in last) + b"]"
        for prefix, last in groups.items()
    )


def _utf8_hint_re() -> re.Pattern[bytes]:
    """``_MOJIBAKE_HINT_RE`` for the UTF-8 bytes of a text: a match there is a match
    in the text (UTF-8 is self-synchronizing: no character's bytes start inside
    another's), and the other way round.

    Every lead (U+00C2-U+00F4) is \\xc3 and one more byte, so the expression starts
    with a literal byte, which re finds with a plain byte loop; the text's character
    classes cost re ~35 instructions a character, and they were searched in each line
    of every body (issue 17).
    """
    leads = _utf8_class(_class_chars(_MOJIBAKE_LEADS))
    continuations = _utf8_class(_class_chars(_MOJIBAKE_CONTINUATIONS))
    return re.compile(b"(?:" + leads + b")(?:" + continuations + b")")


_MOJIBAKE_HINT_UTF8_RE = _utf8_hint_re()
_NEWLINES_RE = re.compile(r"\n{3,}")


# ftfy (and wcwidth, which it imports: 54 modules, ~3 MiB resident) is imported by
# the first text showing the hint, not with this module: most installs' feeds never
# show one, and what the daemon imports stays in its memory while it runs (issue 17).
def _is_mojibake(text: str) -> bool:
    import ftfy.badness

    return bool(ftfy.badness.is_bad(text))


def _fix_mojibake(text: str) -> str:
    import ftfy

    return str(ftfy.fix_text(text, _ftfy_config()))


@cache
def _ftfy_config() -> Any:
    import ftfy

    return ftfy.TextFixerConfig(
        # Curly quotes and dashes are the outlet's typography, not damage.
        uncurl_quotes=False,
        # HTML entities are decoded by the HTML parser, or deliberately left in plain text.
        unescape_html=False,
        normalization="NFC",
    )


@cache
def _invisible_re() -> re.Pattern[str]:
    # One character class of every control, format, surrogate and private-use
    # code point (except tab, newline, ZWJ, ZWNJ), built once: ~0.2 s, and then
    # stripping is a C-speed regex substitution instead of a Python loop.
    ranges: list[tuple[int, int]] = []
    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        if ch in "\n\t" or ch in _KEEP_CF:
            continue
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co"):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    body = "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )
    return re.compile(f"[{body}]+")


def clean_text(text: str) -> str:
    """Repair and tidy plain text, keeping its line structure.

    Mojibake repaired (ftfy), NFC, invisible and control characters dropped,
    runs of spaces collapsed, every line stripped, at most one blank line in a row.
    """
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.isascii() and _MOJIBAKE_HINT_RE.search(text) and _is_mojibake(text):
        text = _fix_mojibake(text)
    text = text.replace("\u2028", "\n").replace("\u2029", "\n")  # line/paragraph separators
    lines = [_tidy_line(line) for line in text.split("\n")]
    return _NEWLINES_RE.sub("\n\n", "\n".join(lines)).strip()


_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "dd",
        "details",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hgroup",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
        "caption",
        "center",
    ]
)
_SKIP_TAGS = frozenset(
    ["script", "style", "noscript", "template", "head", "title", "iframe", "object", "embed", "svg"]
)
_TAG_RE = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>|<!--|&[a-zA-Z#][a-zA-Z0-9]*;")
_MD_WRAP_RE = re.compile(r"^(\*\*|__)(?P<inner>.+?)\1$")


def looks_like_html(text: str) -> bool:
    """Whether ``text`` has any markup (a tag, a comment or an entity)."""
    return _TAG_RE.search(text) is not None


def html_to_text(html: str) -> str:
    """HTML (or plain text) → clean text with paragraphs separated by ``"\\n\\n"``:
    ``html_paragraphs`` joined."""
    return "\n\n".join(html_paragraphs(html))


def html_paragraphs(html: str) -> list[str]:
    """HTML (or plain text) → the paragraphs of its clean text.

    Block elements start paragraphs, ``<br>`` is a line break, scripts and styles
    vanish, entities are decoded (table cells are blocks too). libxml2 drops what
    is nested deeper than 255 elements, which only hostile markup does.
    Input without any markup is read as plain text,
    where each non-empty line is a paragraph (feeds and scrapers write it so);
    a paragraph wrapped whole in Markdown bold (``**…**``) is unwrapped.

    The paragraphs, as a list: ``html_to_text`` joins them, and they are
    ``list(paragraphs(html_to_text(html)))`` (none is empty, none has outer spaces or
    a blank line), so normalize keeps them and does not split the text again to
    remove repeats, drop the title and hash it (issue 17).
    """
    if not html or not html.strip():
        return []
    html = html.replace("\x00", "")  # lxml would turn NUL into U+FFFD
    if not looks_like_html(html):
        paras = []
        for line in clean_text(html).split("\n"):
            line = line.strip()
            m = _MD_WRAP_RE.match(line)
            if m:
                line = m.group("inner").strip()
            if line:
                paras.append(line)
        return paras
    try:
        root = _html_body(html)
    except (etree.ParserError, ValueError):
        return list(paragraphs(clean_text(html)))
    if root is None:  # a page with a head and no body
        return []
    raw = "".join(_text_pieces(root))
    data = raw.encode("utf-8", "surrogatepass")  # the markers are lone surrogates
    # Whether any line may be mojibake: a line's hint is two characters next to each
    # other in ``raw`` too (collapsing spaces only puts " " between characters), so
    # one search of the whole text in UTF-8 stands for one search of each line, at a
    # fraction of its cost (issue 17).
    hint = not raw.isascii() and _MOJIBAKE_HINT_UTF8_RE.search(data) is not None
    spaces = None if hint else _plain_spaces(data)
    clean: Callable[[str], str]
    if spaces is not None:
        # Every line only wants its spaces collapsed (see _plain_spaces): "\n" stands
        # for the other spaces, which the collapse treats alike, so that one search
        # of a line for "\n" tells whether it has one.
        for space in spaces:
            raw = raw.replace(space, "\n")
        clean = _collapse_line
    else:
        clean = partial(_clean_line, hint=hint)
    if _BREAK not in raw:
        # Without a <br> each block is one line, and a paragraph when not empty: the
        # loop below without its split of every block (issue 17).
        return [
            line
            for block in raw.split(_BLOCK)
            # Most blocks are the whitespace between two tags.
            if not block.isspace() and (line := clean(block))
        ]
    found: list[str] = []
    lines: list[str] = []
    for block in raw.split(_BLOCK):
        for line in block.split(_BREAK):
            # Most pieces between two markers are the whitespace between two tags.
            line = "" if line.isspace() else clean(line)
            if line:
                lines.append(line)
            elif lines:  # two <br> in a row end a paragraph, as a block boundary does
                found.append("\n".join(lines))
                lines = []
        if lines:
            found.append("\n".join(lines))
            lines = []
    return found


_FULL_DOCUMENT_RE = re.compile(r"^\s*<(?:html|!doctype)", re.IGNORECASE)


def _html_body(html: str) -> Any:
    """The ``<body>`` of ``html`` parsed as a fragment (or as a page when it is one),
    None when the page has none.

    A plain ``etree.HTMLParser``, not lxml.html's: its elements are plain, so the
    walk does not pay for lxml.html's per-element class lookup. Each call gets its
    own parser: lxml parsers must not be shared between threads.
    """
    if not _FULL_DOCUMENT_RE.match(html):
        html = f"<html><body>{html}</body></html>"
    doc = etree.fromstring(html, etree.HTMLParser())
    return None if doc is None else doc.find("body")


# Markers for block boundaries and <br> in the raw text: lone surrogates, which no
# text from lxml can hold (it decodes libxml2's UTF-8), whatever the input says.
_BLOCK = "\ud800"
_BREAK = "\ud801"


def _text_pieces(root: Any) -> list[str]:
    """The raw text of ``root`` in document order, with block and break markers.

    One C-level walk (``iterwalk``) instead of a recursive Python one: per element,
    Python only looks at the tag and the text. Whitespace is left for the caller,
    which collapses a whole line at once. Skipped elements (scripts, styles …) and
    comments lose their content and keep their tail.
    """
    parts: list[str] = []
    skipping = 0
    # .text and .tail decode libxml2's UTF-8 into a new str at each reading: read once.
    for event, el in etree.iterwalk(root, events=("start", "end", "comment", "pi")):
        if event == "start":
            if skipping:
                skipping += 1
                continue
            tag = el.tag  # the HTML parser gives lower-case tags
            if tag in _SKIP_TAGS:
                skipping = 1
                continue
            if tag in _BLOCK_TAGS:
                parts.append(_BLOCK)
            elif tag == "br":
                parts.append(_BREAK)
            if text := el.text:
                parts.append(text)
        elif event == "end":
            if skipping:
                skipping -= 1
                if skipping:
                    continue
            elif el.tag in _BLOCK_TAGS:
                parts.append(_BLOCK)
            if tail := el.tail:
                parts.append(tail)
        elif not skipping and (tail := el.tail):  # a comment or processing instruction
            parts.append(tail)
    return parts


# What is left of a text's UTF-8 once its printable ASCII bytes are deleted: controls,
# and every other character whole (no byte of a longer sequence is ASCII).
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))
_BLOCK_UTF8 = _BLOCK.encode("utf-8", "surrogatepass")
_BREAK_UTF8 = _BREAK.encode("utf-8", "surrogatepass")


def _plain_spaces(data: bytes) -> set[str] | None:
    """The spaces other than " " in a text given as its UTF-8 (``raw`` of
    ``html_paragraphs``, markers and all), when each of its lines only wants those
    collapsed; None when a line may want more of ``_clean_line``.

    A line wants no more when each of its characters is printable ASCII, a space (of
    any kind) or ``_inert``, and the text has no mojibake hint (the caller's check):
    ``_clean_line`` then collapses its spaces and returns it, printable and NFC. The
    text's characters are checked once, instead of each line's with ``isprintable``
    and ``is_normalized`` (~40 instructions a character, a fifth of normalizing a farm
    entry: issue 17). tests/test_normalize_equivalence.py holds it to ``_clean_line``.
    """
    # The markers out first: decoding them would call "surrogatepass" for each one.
    odd = data.translate(None, _PRINTABLE_ASCII).replace(_BLOCK_UTF8, b"")
    spaces: set[str] = set()
    if not odd:
        return spaces
    for ch in set(odd.replace(_BREAK_UTF8, b"").decode()):
        if ch.isspace():
            if ch != "\n":
                spaces.add(ch)
        elif not _inert(ch):
            return None
    return spaces


@lru_cache(maxsize=4096)
def _inert(ch: str) -> bool:
    """Whether ``ch`` leaves a line it is in printable and NFC whatever its neighbours
    (other such characters, printable ASCII, " "), so that ``_clean_line`` keeps it.

    Printable, combining class 0, NFC by itself, and never the second character of a
    canonical composition (what NFC would compose with the character before it):
    those are all marks (category M) or conjoining Hangul jamo (U+1100-U+11FF), which
    the test checks on every code point. Such a character is "Yes" to Unicode's NFC
    quick check, and a text whose characters all are, with combining class 0, is NFC
    (UAX #15); so is every line made of them.
    """
    return (
        ch.isprintable()
        and unicodedata.combining(ch) == 0
        and not unicodedata.category(ch).startswith("M")
        and not "\u1100" <= ch <= "\u11ff"
        and unicodedata.normalize("NFC", ch) == ch
    )


def _collapse_line(line: str) -> str:
    """``_clean_line`` of a line of a text that ``_plain_spaces`` passed, its spaces
    other than " " made "\n"."""
    if "\n" in line or "  " in line or line[:1] == " " or line[-1:] == " ":
        return " ".join(line.split())  # str.split knows every Unicode space
    return line


def _clean_line(line: str, *, hint: bool = True) -> str:
    """One line of HTML text: what ``clean_text`` does to a line, whitespace first.

    ``hint``: False when the text holding the line has no mojibake hint at all.
    """
    printable = line.isprintable()
    # Every space but " " is unprintable (tests/test_normalize_speed.py checks each
    # code point): a printable line without "  " or an outer " " has nothing to collapse,
    # and most lines of a body are such; the split and join were a tenth of html_to_text.
    if not printable or "  " in line or line[:1] == " " or line[-1:] == " ":
        line = " ".join(line.split())  # str.split knows every Unicode space
        printable = line.isprintable()
    if printable and line.isascii():
        return line
    if hint and _MOJIBAKE_HINT_RE.search(line) and _is_mojibake(line):
        line = _fix_mojibake(line)
    elif printable and unicodedata.is_normalized("NFC", line):
        # What _tidy_line would give: its NFC and its dropping change nothing here,
        # and the spaces are collapsed already.
        return line
    return _tidy_line(line)


def _tidy_line(line: str) -> str:
    """NFC, invisible and control characters dropped, one space between words."""
    if line.isascii() and line.isprintable():
        return " ".join(line.split())  # str.split knows every Unicode space
    line = unicodedata.normalize("NFC", line)
    # isprintable() is a C scan that fails on every character we drop (and on tabs
    # and no-break spaces), so the slow regex only sees the lines needing it.
    if not line.isprintable():
        line = _invisible_re().sub("", line)
    return " ".join(line.split())


# --------------------------------------------------------------------- html


def sanitize_html(html: str, *, allow_images: bool = False) -> str:
    """Display-safe HTML: an allow-list of tags, links and images http(s) only.

    nh3 (ammonia) parses like a browser, so entity-encoded schemes
    (``jav&#x61;script:``) are decoded before the scheme check and dropped.
    ``data:`` URLs are never allowed, not even for images.

    Markup that would keep the browser-style parser busy for seconds (elements left
    open thousands deep, or tens of thousands of tags) is shown as its text, in
    paragraphs: see ``_costly_markup``.
    """
    if _costly_markup(html):
        return _text_as_html(html_to_text(html))
    return _cleaner(allow_images).clean(html).strip()


# html5ever, under nh3, looks through the stack of open elements at most start and end
# tags, so its time grows with (tags x depth): 250 KB of unclosed <div> took 9 s and
# 1 MB over two minutes. libxml2 (html_to_text) stops at 255 levels anyway.
_MAX_DEPTH = 255
# Bounds what the depth estimate below may miss (end tags the parser ignores: 5,000
# of "<div><table></div></table>" take 0.1 s, 25,000 take 6 s).
_MAX_TAGS = 10_000
_TAG_NAME_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)")
# Never left open: void elements, and those the next sibling closes (<p>, <li>, <td> …),
# which html5ever closes cheaply.
_VOID = "area base basefont bgsound br col embed frame hr img input keygen link meta param"
_CLOSED_BY_SIBLING = "p li dt dd option tr td th tbody thead tfoot colgroup caption"
_NOT_NESTING = frozenset(f"{_VOID} source track wbr {_CLOSED_BY_SIBLING}".split())


def _costly_markup(html: str) -> bool:
    """Whether ``html`` nests deeper than ``_MAX_DEPTH`` or opens over ``_MAX_TAGS``
    elements that may nest.

    The depth is an estimate from the tags alone: an end tag closes one open element
    of its name, if any.
    """
    if html.count("<") <= _MAX_DEPTH:
        return False
    open_count: dict[str, int] = {}
    depth = opened = 0
    for match in _TAG_NAME_RE.finditer(html):
        name = match.group(2).lower()
        if name in _NOT_NESTING:
            continue
        if not match.group(1):
            open_count[name] = open_count.get(name, 0) + 1
            depth += 1
            opened += 1
            if depth > _MAX_DEPTH or opened > _MAX_TAGS:
                return True
        elif open_count.get(name):
            open_count[name] -= 1
            depth -= 1
    return False


def _text_as_html(text: str) -> str:
    paragraphs = (p.strip() for p in text.split("\n\n"))
    return "".join(
        "<p>" + escape(p, quote=False).replace("\n", "<br>") + "</p>" for p in paragraphs if p
    )


@cache
def _cleaner(allow_images: bool) -> nh3.Cleaner:
    # Built once: nh3.clean() converts the allow-lists and builds a new cleaner on
    # every call, a third of its cost on a 4 KB body.
    tags = set(nh3.ALLOWED_TAGS) - {"img", "map", "area"}
    attributes: dict[str, set[str]] = {
        "a": {"href", "title"},
        "abbr": {"title"},
        "blockquote": {"cite"},
        "q": {"cite"},
        "time": {"datetime"},
        "td": {"colspan", "rowspan"},
        "th": {"colspan", "rowspan", "scope"},
        "ol": {"start"},
    }
    if allow_images:
        tags.add("img")
        attributes["img"] = {"src", "alt", "title", "width", "height"}
    return nh3.Cleaner(
        tags=tags,
        clean_content_tags={"script", "style"},
        attributes=attributes,
        url_schemes={"http", "https"},
        # Relative URLs would resolve against our own site, not the outlet's.
        url_relative="deny",
        link_rel="noopener noreferrer nofollow",
    )


# -------------------------------------------- words, repeats, language, fingerprints
#
# The units normalize, extract and dedup compare texts by: one definition of a word
# and a paragraph for all three, so a copy found by one is the same copy to the others.

_WORD_RE = re.compile(r"\w+", re.UNICODE)

_MIN_REPEAT_WORDS = 3


# The repeats are within one entry (its summary, body and merged text), and the keys
# of whole bodies are cached too: 1,024 holds the entries the parse threads work on at
# once, where 4,096 kept ~3 MiB of old text for good (issue 17).
@lru_cache(maxsize=1024)
def paragraph_key(paragraph: str) -> str:
    """What two paragraphs must share to count as the same: words, case-folded.

    Punctuation, quotes style, Markdown emphasis and spacing differ between two
    scrapes of one paragraph; the words do not. Cached: normalizing one entry
    keys the same paragraphs several times (summary, body, merged text).
    """
    key = _latin1_key(paragraph)
    return _unicode_key(paragraph) if key is None else key


def _unicode_key(paragraph: str) -> str:
    """``paragraph_key`` for any text: NFKC, case-folded, its ``\\w+`` words."""
    return " ".join(_WORD_RE.findall(unicodedata.normalize("NFKC", paragraph).casefold()))


def _latin1_key_table() -> bytes:
    """Per Latin-1 character: what NFKC and casefold make of it if that is one Latin-1
    word character, a space for one that is not a word character before or after, and
    0 for the rest (ß, µ, ¼, ¨ …: several characters, or one outside Latin-1)."""
    table = bytearray(256)
    for code in range(256):
        folded = unicodedata.normalize("NFKC", chr(code)).casefold()
        word = _WORD_RE.fullmatch(chr(code)) is not None
        if len(folded) != 1 or ord(folded) > 255 or word != bool(_WORD_RE.fullmatch(folded)):
            table[code] = 0
        else:
            table[code] = ord(folded) if word else 32
    table[0] = 32  # NUL is no word character; 0 marks only the characters above
    return bytes(table)


_LATIN1_KEY = _latin1_key_table()
# Punctuation outside Latin-1 that news text is full of: none is a word character, nor
# is anything NFKC makes of it ("…" is "..."), so each stands for a space in a key.
_KEY_PUNCTUATION = "\u2013\u2014\u2018\u2019\u201a\u201c\u201d\u201e\u2022\u2026\u2039\u203a\u20ac"


def _latin1_key(paragraph: str) -> str | None:
    """``_unicode_key`` of a paragraph of Latin-1 text and common punctuation, or None
    for any other.

    With no character outside Latin-1, nothing composes or reorders under NFKC (that
    takes combining marks, none of which is in Latin-1), so NFKC and casefold act
    character by character, and one bytes.translate does both, and the word split:
    a C pass instead of the regular expression's, which was a third of normalizing a
    4 KB entry (issue 17). tests/test_normalize_speed.py holds it to ``_unicode_key``.
    """
    text = paragraph
    if not text.isascii():
        for mark in _KEY_PUNCTUATION:
            if mark in text:
                text = text.replace(mark, " ")
    try:
        folded = text.encode("latin-1").translate(_LATIN1_KEY)
    except UnicodeEncodeError:
        return None
    if 0 in folded:
        return None
    # " " is the only space left (the table makes every other one " "): runs of it
    # collapsed by one substitution instead of a split into words and a join, which
    # made a string of every word (~70 against ~40 instructions a byte, issue 17). find,
    # not "in": ``bytes in bytes`` first tries the needle as an int, and formats and
    # clears a TypeError (~1,400 instructions in CPython 3.11), for each paragraph.
    if folded.find(b"  ") >= 0:
        folded = _SPACE_RUN_RE.sub(b" ", folded)
    return folded.strip(b" ").decode("latin-1")


_SPACE_RUN_RE = re.compile(b"  +")


def remove_repeats(text: str) -> str:
    """Drop every paragraph that repeats an earlier one (anywhere), keeping order.

    Paragraphs of fewer than three words ("Yes.", "* * *") may legitimately recur,
    so they are kept.
    """
    return "\n\n".join(unique_paragraphs(paragraphs(text)))


def unique_paragraphs(paras: Iterable[str]) -> list[str]:
    """``remove_repeats`` of paragraphs: the ones not repeating an earlier one."""
    seen: set[str] = set()
    kept: list[str] = []
    for para in paras:
        key = paragraph_key(para)
        if key.count(" ") >= _MIN_REPEAT_WORDS - 1:
            if key in seen:
                continue
            seen.add(key)
        kept.append(para)
    return kept


def paragraphs(text: str) -> Iterator[str]:
    """The non-empty paragraphs of a text in the conventions above, stripped."""
    for para in text.split("\n\n"):
        para = para.strip()
        if para:
            yield para


def drop_title(text: str, title: str, *, within: int = 3) -> str:
    """Remove paragraphs repeating the title among the first ``within`` paragraphs.

    Scraped bodies often open with the headline (sometimes after a teaser line).
    """
    if not paragraph_key(title):
        return text
    return "\n\n".join(drop_title_paragraphs(list(paragraphs(text)), title, within=within))


def drop_title_paragraphs(paras: list[str], title: str, *, within: int = 3) -> list[str]:
    """``drop_title`` of a text's paragraphs; ``paras`` itself when none repeats the
    title (most texts), so the caller keeps the text it joined from them."""
    tkey = paragraph_key(title)
    if not tkey or all(paragraph_key(p) != tkey for p in paras[:within]):
        return paras
    return [p for i, p in enumerate(paras) if not (i < within and paragraph_key(p) == tkey)]


# CLD2 refuses a text holding a C0 or C1 control character (its "invalid UTF-8"
# error): they become spaces, except tab, newline and carriage return. A regex, not
# str.translate: with a dict, translate goes through Python's mapping protocol for
# each character of any non-ASCII text, ~3x CLD2's own time on a 600-character sample.
_CONTROLS_TO_SPACE_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _controls_to_spaces(text: str) -> str:
    return _CONTROLS_TO_SPACE_RE.sub(" ", text)


# The same controls in UTF-8: a C0 control or DEL is one byte (no longer sequence holds
# a byte below 0x80), a C1 control is C2 80-9F. Most samples hold none, and looking
# for them in the bytes CLD2 needs anyway (one bytes.translate, a memchr) costs a
# fraction of the regex's ~10 ns a character (issue 17).
_C0_ZERO = bytes(
    0 if (b < 0x20 and b not in (0x09, 0x0A, 0x0D)) or b == 0x7F else 1 for b in range(256)
)
_C1_BYTES_RE = re.compile(b"\xc2[\x80-\x9f]")


def _cld2_input(sample: str) -> bytes:
    """``sample`` in UTF-8 with its controls as spaces; a lone surrogate becomes "?"."""
    data = sample.encode("utf-8", "replace")
    if 0 in data.translate(_C0_ZERO) or (data.find(b"\xc2") >= 0 and _C1_BYTES_RE.search(data)):
        return _controls_to_spaces(sample).encode("utf-8", "replace")
    return data


# CLD2 still answers a few codes that ISO 639-1 withdrew.
_CURRENT_CODES = {"iw": "he", "jw": "jv", "in": "id", "ji": "yi", "mo": "ro"}


def detect_language(
    text: str, *, min_chars: int = 20, min_confidence: float = 0.5, sample_chars: int = 600
) -> str | None:
    """ISO 639-1 code of ``text``'s language, or None when too short or unsure.

    CLD2 rather than a Python n-gram model: ~30 µs for 600 characters, and no model
    in memory (py3langid, used before, held ~100 MiB in every process that parsed).
    """
    sample = text[:sample_chars]
    if len(sample.strip()) < min_chars:
        return None
    data = _cld2_input(sample)
    try:
        reliable, _, details = pycld2.detect(data)
    except pycld2.error:  # nothing known is left to refuse; abstain if CLD2 still does
        return None
    code: str = details[0][1]
    percent: int = details[0][2]
    if not reliable or code == "un" or percent < min_confidence * 100:
        return None
    code = code.partition("-")[0]  # "zh-Hant" → "zh"
    return _CURRENT_CODES.get(code, code)


def content_hash(title: str, text: str) -> str:
    """SHA-256 hex of the title and text reduced to case-folded words.

    Two copies that differ only in punctuation, quote style, spacing or
    paragraphing get the same hash (exact duplicates across feeds).
    """
    # The words of the text, as in ``words``, but taken paragraph by paragraph: the
    # paragraphs' keys are already cached (repeat removal made them), and splitting a
    # text at blank lines never splits a word.
    return content_hash_paragraphs(title, paragraphs(text))


def content_hash_paragraphs(title: str, paras: Iterable[str]) -> str:
    """``content_hash`` of a text given as its paragraphs."""
    body = " ".join(key for para in paras if (key := paragraph_key(para)))
    key = paragraph_key(title) + "\n" + body
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def words(text: str) -> tuple[str, ...]:
    """Case-folded NFKC words: the unit of every fingerprint here and in dedup.

    ``content_hash`` gets the same words from the cached paragraph keys.
    """
    return tuple(_WORD_RE.findall(unicodedata.normalize("NFKC", text).casefold()))


@dataclass(frozen=True, slots=True)
class TextWords:
    """A text's paragraphs and their ``words``, split once for every stage that reads
    them (the consumer hands one to dedup and to the topic matcher).

    - ``paragraphs``: the non-blank paragraphs (split at blank lines), as given;
    - ``keys``: each one's ``paragraph_key`` (its words joined by single spaces);
    - ``words``: ``words(text)``, paragraph after paragraph;
    - ``starts``: the index in ``words`` of each paragraph's first word.
    """

    paragraphs: tuple[str, ...]
    keys: tuple[str, ...]
    words: tuple[str, ...]
    starts: tuple[int, ...]


def text_words(text: str) -> TextWords:
    """``TextWords`` of ``text``: exactly ``words`` of each paragraph (a blank line
    never splits a word), from its key: on Latin-1 text one ``bytes.translate`` (C)
    folds and splits it, where the regular expression made a string of every word
    twice (once to split, once to join the words for a paragraph's hash)."""
    paras: list[str] = []
    keys: list[str] = []
    all_words: list[str] = []
    starts: list[int] = []
    for para in text.split("\n\n"):
        if not para.strip():
            continue
        key = _latin1_key(para)
        if key is None:
            key = _unicode_key(para)
        paras.append(para)
        keys.append(key)
        starts.append(len(all_words))
        all_words += key.split(" ") if key else ()
    return TextWords(tuple(paras), tuple(keys), tuple(all_words), tuple(starts))


# The splitmix64 constants of ``shingle_hashes``, as numpy scalars once numpy is loaded.
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_SHINGLE_MUL = 0x9E3779B97F4A7C15


class _WordHashes(dict[str, bytes]):
    """word → the 8 bytes of its blake2b digest, read as a little-endian uint64.

    blake2b, not hash(): stable across processes (PYTHONHASHSEED), so sketches rebuilt
    at start-up equal the ones computed live. A memo: news vocabulary is small and
    hashing every word was most of the fingerprinting cost. A plain dict, looked up by
    ``map`` in C, and cleared when full: ``functools.lru_cache`` cost ~1.3x the
    look-up for its recency list, on every word of every article (the consumer's
    dedup). 32,768 words: the frequent ones come back at once after a clear; the
    131,072 of before held ~15 MiB once full (issue 17). Bytes, joined into one
    buffer for numpy: converting a Python int > 2**63 apiece was slower than the
    look-up.
    """

    def __missing__(self, word: str) -> bytes:
        if len(self) >= WORD_HASHES_MAX:
            self.clear()
        digest = self[word] = hashlib.blake2b(word.encode(), digest_size=8).digest()
        return digest


WORD_HASHES_MAX = 1 << 15
_WORD_HASHES = _WordHashes()
_word_hash = _WORD_HASHES.__getitem__


def shingle_hashes(tokens: Sequence[str], size: int) -> npt.NDArray[np.uint64]:
    """Stable 64-bit hashes of every run of ``size`` consecutive words.

    Each word is hashed once (see ``_word_hash``), shingles are combined and mixed
    (splitmix64 finalizer) with numpy. A text of fewer than ``size`` words is one shingle.
    """
    import numpy as np  # imported once; a look-up in sys.modules afterwards

    if not tokens:
        return np.empty(0, dtype=np.uint64)
    w = np.frombuffer(b"".join(map(_WORD_HASHES.__getitem__, tokens)), dtype="<u8")
    w = w.astype(np.uint64, copy=False)
    size = max(1, min(size, len(w)))
    n = len(w) - size + 1
    h = w[:n].copy()
    mul = np.uint64(_SHINGLE_MUL)
    for j in range(1, size):
        h = h * mul + w[j : j + n]
    h ^= h >> np.uint64(30)
    h *= np.uint64(_MIX1)
    h ^= h >> np.uint64(27)
    h *= np.uint64(_MIX2)
    h ^= h >> np.uint64(31)
    return h
