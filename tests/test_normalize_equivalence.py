"""normalize gives main's articles, byte for byte, with fewer instructions (issue 17).

- html_paragraphs checks a body's characters once (``_plain_spaces``) and then only
  collapses the spaces of each line (``_collapse_line``), where ``_clean_line`` checked
  every line with ``isprintable`` and ``is_normalized``;
- a paragraph key's runs of spaces are collapsed by one substitution, not a split and
  a join;
- ``clean_author`` is cached per author string.

The articles are held to digests that main wrote before the change
(``tests/data/normalize/main_digests.json``, see ``tests/support/normalize_digests.py``)
on the farm, every fixture feed, every entry case and every HTML fixture; random input
is held to copies of main's functions kept below.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator import text as text_module
from aggregator.models import ParsedEntry
from aggregator.poll import normalize as normalize_module
from aggregator.poll.normalize import NormalizeSettings, normalize_entry
from tests.support.farm import farm_entries
from tests.support.normalize_digests import (
    FETCHED_AT,
    all_digests,
    article_fields,
    random_entry,
)

DATA = Path(__file__).parent / "data"
t = text_module


# ------------------------------------------------------- main's code, kept as it was


def main_clean_line(line: str, *, hint: bool = True) -> str:
    printable = line.isprintable()
    if not printable or "  " in line or line[:1] == " " or line[-1:] == " ":
        line = " ".join(line.split())
        printable = line.isprintable()
    if printable and line.isascii():
        return line
    if hint and t._MOJIBAKE_HINT_RE.search(line) and t._is_mojibake(line):
        line = t._fix_mojibake(line)
    elif printable and unicodedata.is_normalized("NFC", line):
        return line
    return t._tidy_line(line)


def main_html_paragraphs(html: str) -> list[str]:
    if not html or not html.strip():
        return []
    html = html.replace("\x00", "")
    if not t.looks_like_html(html):
        return t.html_paragraphs(html)  # the plain-text branch did not change
    try:
        root = t._html_body(html)
    except (t.etree.ParserError, ValueError):
        return list(t.paragraphs(t.clean_text(html)))
    if root is None:
        return []
    raw = "".join(t._text_pieces(root))
    hint = not raw.isascii() and (
        t._MOJIBAKE_HINT_UTF8_RE.search(raw.encode("utf-8", "surrogatepass")) is not None
    )
    if t._BREAK not in raw:
        return [
            line
            for block in raw.split(t._BLOCK)
            if not block.isspace() and (line := main_clean_line(block, hint=hint))
        ]
    found: list[str] = []
    lines: list[str] = []
    for block in raw.split(t._BLOCK):
        for line in block.split(t._BREAK):
            line = "" if line.isspace() else main_clean_line(line, hint=hint)
            if line:
                lines.append(line)
            elif lines:
                found.append("\n".join(lines))
                lines = []
        if lines:
            found.append("\n".join(lines))
            lines = []
    return found


def main_latin1_key(paragraph: str) -> str | None:
    text = paragraph
    if not text.isascii():
        for mark in t._KEY_PUNCTUATION:
            if mark in text:
                text = text.replace(mark, " ")
    try:
        folded = text.encode("latin-1").translate(t._LATIN1_KEY)
    except UnicodeEncodeError:
        return None
    if 0 in folded:
        return None
    return " ".join(folded.decode("latin-1").split())


# ------------------------------------------------------------- main's stored outputs


def test_articles_are_byte_identical_to_the_digests_main_wrote() -> None:
    stored = json.loads((DATA / "normalize" / "main_digests.json").read_text())
    # (main had no cache here: this test passes on main too, as it should)
    getattr(normalize_module.clean_author, "cache_clear", lambda: None)()
    now = all_digests()
    assert now["farm"] == stored["farm"]
    assert now["feeds"] == stored["feeds"]
    assert now["entries"] == stored["entries"]
    assert now["html"] == stored["html"]
    assert sum(len(v) for v in stored["feeds"].values()) > 100  # the fixtures were read


def test_every_farm_body_takes_the_collapse_only_path(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counted(line: str, *, hint: bool = True) -> str:
        calls.append(line)
        return main_clean_line(line, hint=hint)

    monkeypatch.setattr(text_module, "_clean_line", counted)
    bodies = 0
    for entry in farm_entries(FETCHED_AT):
        html = entry.content_html or entry.summary_html
        root = t._html_body(html)
        data = "".join(t._text_pieces(root)).encode("utf-8", "surrogatepass")
        assert t._plain_spaces(data) is not None
        assert t.html_paragraphs(html) == main_html_paragraphs(html)
        bodies += 1
    assert bodies >= 100
    assert calls == []  # no line needed _clean_line


# ------------------------------------------------------------------- random input

# Markup and text around what the checks look at: spaces of every kind inside and
# between lines, characters that NFC composes, marks, jamo, invisible and control
# characters, mojibake, the punctuation keys make spaces of.
_PIECES = st.sampled_from(
    [
        "<p>", "</p>", "<br>", "<br/>", "<div>", "</div>", "<li>", "<td>", " ", "  ", "\n",
        "\t", "\r", "\u00a0", "\u3000", "\u2028", "\u2009", "\x1c", "\x85", "caf\u00e9",
        "cafe\u0301", "\u0301", "\u00c3\u00a9t\u00c3\u00a9", "\u200b", "\u200d", "\x07",
        "\ufeff", "\u00ad", "\u1100\u1161", "\u1161", "\uac00", "\uac00\u11a8", "\u0b47\u0b3e",
        "\u212b", "\u0344", "\ue000", "\u2014", "\u201c", "\u2026", "\u00df", "\u00b5",
        "\u0416\u0443\u043a", "\U0001d400", "&nbsp;", "&#150;", "&#x2003;", "**bold**",
        "<script>x</script>", "<!-- c -->", "Same paragraph with words.", "A, b; c.",
        "\ud800", "\udfff", "&#xd800;",
    ]
)  # fmt: skip
_HTML = st.lists(_PIECES | st.text(max_size=6), max_size=20).map("".join)


@settings(derandomize=True, database=None, max_examples=600, deadline=None)
@given(_HTML)
def test_random_html_gives_mains_paragraphs(html: str) -> None:
    assert t.html_paragraphs(html) == main_html_paragraphs(html)
    assert t.html_paragraphs("<p>" + html + "</p>") == main_html_paragraphs("<p>" + html + "</p>")


_LATIN = st.text(
    alphabet=st.sampled_from([*map(chr, range(256)), *t._KEY_PUNCTUATION, "\u0416", " "]),
    max_size=40,
)


@settings(derandomize=True, database=None, max_examples=600, deadline=None)
@given(_LATIN | st.text(max_size=40))
def test_random_text_keys_as_main_keyed_it(text: str) -> None:
    assert t._latin1_key(text) == main_latin1_key(text)
    assert t.paragraph_key.__wrapped__(text) == (
        main_latin1_key(text) if main_latin1_key(text) is not None else t._unicode_key(text)
    )


@settings(derandomize=True, database=None, max_examples=150, deadline=None)
@given(title=st.text(max_size=30) | _HTML, summary=_HTML, content=_HTML, same=st.booleans())
def test_random_entries_normalize_as_main_did(
    title: str, summary: str, content: str, same: bool
) -> None:
    entry = random_entry(title, summary, content, same, author=title)
    args = {"feed": "Outlet", "fetched_at": FETCHED_AT, "settings": NormalizeSettings()}
    fast = _outcome(entry, args)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(normalize_module, "html_paragraphs", main_html_paragraphs)
        m.setattr(text_module, "_latin1_key", main_latin1_key)
        m.setattr(normalize_module, "clean_author", normalize_module.clean_author.__wrapped__)
        text_module.paragraph_key.cache_clear()
        slow = _outcome(entry, args)
    text_module.paragraph_key.cache_clear()
    assert fast == slow


def _outcome(entry: ParsedEntry, args: dict[str, Any]) -> object:
    """The article's fields, or the error (nh3 refuses a lone surrogate, as on main)."""
    try:
        return article_fields(normalize_entry(entry, **args))
    except UnicodeError as e:
        return repr(e)


# ------------------------------------------------------------ why collapsing is enough


def test_every_second_character_of_a_composition_is_a_mark_or_a_jamo() -> None:
    # What _inert relies on: NFC joins a character to the one before it only when the
    # pair is a canonical decomposition, and every second character of one is here.
    seconds = set()
    for code in range(sys.maxunicode + 1):
        decomposition = unicodedata.decomposition(chr(code))
        if decomposition and not decomposition.startswith("<"):
            parts = decomposition.split()
            if len(parts) == 2:
                seconds.add(chr(int(parts[1], 16)))
    assert len(seconds) > 50
    for ch in seconds:
        assert unicodedata.category(ch).startswith("M") or "\u1100" <= ch <= "\u11ff", ch
        assert not t._inert(ch)
    # Hangul syllables compose algorithmically, with a vowel or a final jamo second.
    for code in [*range(0x1161, 0x1176), *range(0x11A8, 0x11C3)]:
        assert not t._inert(chr(code))


_INERT_OR_NOT = st.sampled_from(
    [chr(c) for c in [*range(0xA0, 0x250), *range(0x300, 0x370), *range(0x2000, 0x2070)]]
    + ["\u1100", "\u1161", "\u11a8", "\uac00", "\u0b47", "\u0b3e", "\u212b", "\ue000", "a", " "]
)


@settings(derandomize=True, database=None, max_examples=800, deadline=None)
@given(st.lists(_INERT_OR_NOT, max_size=12).map("".join))
def test_a_line_of_inert_characters_and_spaces_only_wants_its_spaces_collapsed(
    line: str,
) -> None:
    data = line.encode("utf-8", "surrogatepass")
    spaces = t._plain_spaces(data)
    if spaces is None:
        return
    for space in spaces:
        line = line.replace(space, "\n")
    assert t._collapse_line(line) == main_clean_line(line, hint=False)
    assert unicodedata.is_normalized("NFC", t._collapse_line(line))


def test_spaces_of_every_kind_are_collapsed_on_the_fast_path() -> None:
    html = "<p>a\u00a0b\tc\u3000\u3000d </p>\n<p> caf\u00e9\u2009\u2014 x</p><div>\u2028</div>"
    data = "".join(t._text_pieces(t._html_body(html))).encode("utf-8", "surrogatepass")
    assert t._plain_spaces(data) == {"\u00a0", "\t", "\u3000", "\u2009", "\u2028"}
    assert (
        t.html_paragraphs(html) == main_html_paragraphs(html) == ["a b c d", "caf\u00e9 \u2014 x"]
    )
    # an invisible character or a mark takes the full path
    assert t._plain_spaces("a\u200bb".encode()) is None
    assert t._plain_spaces("e\u0301".encode()) is None


def test_clean_author_is_cached_and_gives_what_it_gave() -> None:
    normalize_module.clean_author.cache_clear()
    for author in ("By JOHN SMITH and jane doe", "jsmith@example.com (John Smith)", None, ""):
        first = normalize_module.clean_author(author)
        assert first == normalize_module.clean_author.__wrapped__(author)
        assert normalize_module.clean_author(author) is first
    assert normalize_module.clean_author.cache_info().hits == 4
    normalize_module.forget_texts()  # after a burst of polls, with the texts' caches
    assert normalize_module.clean_author.cache_info().currsize == 0
