"""normalize's fast paths give what the slow ones gave (issue 17): on the benchmark
farm, on the test fixtures and on random entries.

The slow paths are kept here as references, as the code was before:

- ``html_to_text`` cleaned every piece between two markers, whitespace included;
- ``_clean_line`` always finished with ``_tidy_line`` (NFC, drop, collapse again);
- ``detect_language`` mapped controls to spaces with ``str.translate`` and a dict;
- ``normalize_entry`` removed repeats from the merged text even when it was the
  summary or the body alone;
- ``_clean_line`` collapsed every line's spaces with a split and a join;
- ``paragraph_key`` found the words with a regular expression in every text, Latin-1
  ones included;
- ``canonical_url`` split, parsed and joined every URL, plain ones included (the slow
  path is the function with ``_PLAIN_ARTICLE_URL_RE`` matching nothing).
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ftfy
import ftfy.badness
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator import text as text_module
from aggregator.models import Article, ParsedEntry
from aggregator.poll import normalize as normalize_module
from aggregator.poll.normalize import NormalizeSettings, normalize_entry
from aggregator.poll.parse import parse_feed
from aggregator.text import remove_repeats
from tests.support.farm import FIXTURE_FEEDS, farm_entries, fixture_feed_entries, load_farm
from tests.support.normalize_digests import random_entry

DATA = Path(__file__).parent / "data"
FETCHED_AT = datetime(2024, 11, 1, 12, 0, tzinfo=UTC)
FAST_HTML_TO_TEXT = text_module.html_to_text
_CONTROLS_TO_SPACE = dict.fromkeys([*range(9), 11, 12, *range(14, 32), *range(127, 160)], " ")


_WORD_RE = re.compile(r"\w+")
_NOTHING = re.compile(r"(?!)")


def reference_paragraph_key(paragraph: str) -> str:
    return " ".join(_WORD_RE.findall(unicodedata.normalize("NFKC", paragraph).casefold()))


def reference_clean_line(line: str) -> str:
    line = " ".join(line.split())
    if line.isascii() and line.isprintable():
        return line
    if text_module._MOJIBAKE_HINT_RE.search(line) and ftfy.badness.is_bad(line):
        line = ftfy.fix_text(line, text_module._ftfy_config())
    return text_module._tidy_line(line)


def reference_html_to_text(html: str) -> str:
    t = text_module
    if not html or not html.strip():
        return ""
    html = html.replace("\x00", "")
    if not t.looks_like_html(html):
        return FAST_HTML_TO_TEXT(html)  # the plain-text branch did not change
    try:
        root = t._html_body(html)
    except (t.etree.ParserError, ValueError):
        return t.clean_text(html)
    if root is None:
        return ""
    paragraphs: list[str] = []
    lines: list[str] = []
    for block in "".join(t._text_pieces(root)).split(t._BLOCK):
        for line in block.split(t._BREAK):
            line = reference_clean_line(line)
            if line:
                lines.append(line)
            elif lines:
                paragraphs.append("\n".join(lines))
                lines = []
        if lines:
            paragraphs.append("\n".join(lines))
            lines = []
    return "\n\n".join(paragraphs)


@contextmanager
def slow_paths() -> Iterator[None]:
    saved = (
        text_module.html_to_text,
        normalize_module.html_to_text,
        normalize_module.html_paragraphs,
        text_module._controls_to_spaces,
        normalize_module._without_repeats,
        text_module.paragraph_key,
        normalize_module.paragraph_key,
        normalize_module._PLAIN_ARTICLE_URL_RE,
    )
    text_module.html_to_text = reference_html_to_text
    normalize_module.html_to_text = reference_html_to_text  # type: ignore[attr-defined]
    normalize_module.html_paragraphs = lambda html: list(  # type: ignore[attr-defined]
        text_module.paragraphs(reference_html_to_text(html))
    )
    text_module._controls_to_spaces = lambda s: s.translate(_CONTROLS_TO_SPACE)
    normalize_module._without_repeats = lambda merged, *_: remove_repeats(merged)
    text_module.paragraph_key = reference_paragraph_key  # type: ignore[assignment]
    normalize_module.paragraph_key = reference_paragraph_key  # type: ignore[attr-defined]
    normalize_module._PLAIN_ARTICLE_URL_RE = _NOTHING
    try:
        yield
    finally:
        (
            text_module.html_to_text,
            normalize_module.html_to_text,  # type: ignore[attr-defined]
            normalize_module.html_paragraphs,  # type: ignore[attr-defined]
            text_module._controls_to_spaces,
            normalize_module._without_repeats,
            text_module.paragraph_key,  # type: ignore[assignment]
            normalize_module.paragraph_key,  # type: ignore[attr-defined]
            normalize_module._PLAIN_ARTICLE_URL_RE,
        ) = saved


def both_ways(entry: ParsedEntry, settings: NormalizeSettings | None = None) -> None:
    settings = settings or NormalizeSettings()
    fast = normalize_entry(entry, feed="Outlet", fetched_at=FETCHED_AT, settings=settings)
    with slow_paths():
        slow = normalize_entry(entry, feed="Outlet", fetched_at=FETCHED_AT, settings=settings)
    assert isinstance(fast, Article)
    assert fast == slow


def test_the_references_are_what_runs_inside_slow_paths() -> None:
    html = "<p>a</p>\n  <p>b\u00a0 c</p>"
    with slow_paths():
        assert normalize_module.html_to_text is reference_html_to_text  # type: ignore[attr-defined]
        assert text_module._controls_to_spaces("a\x85b") == "a b"
        assert text_module.paragraph_key is reference_paragraph_key
        assert normalize_module.paragraph_key is reference_paragraph_key  # type: ignore[attr-defined]
    assert normalize_module.html_to_text is not reference_html_to_text  # type: ignore[attr-defined]
    assert text_module.html_to_text(html) == reference_html_to_text(html) == "a\n\nb c"


def test_farm_entries_normalize_the_same_both_ways() -> None:
    for entry in farm_entries(FETCHED_AT):
        both_ways(entry)


@pytest.mark.parametrize("path", FIXTURE_FEEDS, ids=[p.name for p in FIXTURE_FEEDS])
def test_fixture_feed_entries_normalize_the_same_both_ways(path: Path) -> None:
    for entry in fixture_feed_entries(path, FETCHED_AT):
        both_ways(entry)


def _resolve(value: Any, base: Path) -> Any:
    if isinstance(value, str) and value.startswith("@"):
        return (base / value[1:]).read_text(encoding="utf-8").strip()
    return value


ENTRY_CASES = sorted((DATA / "normalize" / "entries").glob("*.json"))


@pytest.mark.parametrize("path", ENTRY_CASES, ids=[p.stem for p in ENTRY_CASES])
def test_normalize_fixture_entries_the_same_both_ways(path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    e = case["entry"]
    base = DATA / "normalize"
    entry = ParsedEntry(
        guid=e["guid"],
        link=e["link"],
        title=e["title"],
        summary_html=_resolve(e["summary_html"], base),
        content_html=_resolve(e["content_html"], base),
        author=e["author"],
        published=None,
        updated=None,
        date_flagged=e["date_flagged"],
    )
    both_ways(entry, NormalizeSettings(**case.get("settings", {})))


HTML_FILES = sorted((DATA / "normalize" / "html").glob("*.html"))


@pytest.mark.parametrize("path", HTML_FILES, ids=[p.name for p in HTML_FILES])
def test_html_fixtures_give_the_same_text_both_ways(path: Path) -> None:
    html = path.read_text(encoding="utf-8")
    assert text_module.html_to_text(html) == reference_html_to_text(html)


# Markup and text with what the fast paths look at: whitespace between tags, non-ASCII
# and non-NFC letters, invisible and control characters, mojibake, repeated paragraphs.
_PIECES = st.sampled_from(
    [
        "<p>", "</p>", "<br>", "<div>", "</div>", "<li>", " ", "\n", "\t", "\u00a0",
        "\u3000", "caf\u00e9", "cafe\u0301", "\u00c3\u00a9t\u00c3\u00a9", "\u200b",
        "\u200d", "\x85", "\x07", "\ufeff", "Same paragraph with words.", "\u0416\u0443\u043a",
        "&nbsp;", "&#150;", "**bold**", "<script>x</script>", "<!-- c -->",
    ]
)  # fmt: skip
_HTML = st.lists(_PIECES | st.text(max_size=8), max_size=16).map("".join)


@settings(derandomize=True, database=None, max_examples=200, deadline=None)
@given(_HTML)
def test_random_html_gives_the_same_text_both_ways(html: str) -> None:
    assert text_module.html_to_text(html) == reference_html_to_text(html)
    assert text_module._clean_line(html) == reference_clean_line(html)


@settings(derandomize=True, database=None, max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_controls_become_spaces_as_translate_made_them(text: str) -> None:
    assert text_module._controls_to_spaces(text) == text.translate(_CONTROLS_TO_SPACE)


@settings(derandomize=True, database=None, max_examples=120, deadline=None)
@given(
    title=st.text(max_size=30) | _HTML,
    summary=_HTML,
    content=_HTML,
    same=st.booleans(),
)
def test_random_entries_normalize_the_same_both_ways(
    title: str, summary: str, content: str, same: bool
) -> None:
    entry = random_entry(title, summary, content, same)
    both_ways(entry)


def test_nfc_check_is_what_normalize_does() -> None:
    # The fast path trusts is_normalized: it must agree with normalize on these.
    for s in ("cafe\u0301", "caf\u00e9", "\u1100\u1161", "\uac00"):
        assert unicodedata.is_normalized("NFC", s) == (unicodedata.normalize("NFC", s) == s)


# ------------------------------------------------------------ paragraph keys, lines

_KEY = text_module.paragraph_key.__wrapped__  # uncached: each call computes


def test_every_space_but_the_space_is_unprintable() -> None:
    # _clean_line skips the split/join on a printable line without "  " or outer " ".
    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        if ch.isspace() and ch != " ":
            assert not ch.isprintable(), hex(code)


def test_every_latin1_character_and_pair_keys_as_the_regex_keys_it() -> None:
    latin1 = [chr(c) for c in range(256)]
    marks = list(text_module._KEY_PUNCTUATION)
    for a in latin1 + marks:
        assert _KEY(a) == reference_paragraph_key(a), repr(a)
        for b in latin1 + marks:
            pair = a + b
            assert _KEY(pair) == reference_paragraph_key(pair), repr(pair)


def test_latin1_fast_path_is_taken_on_the_farm_and_agrees() -> None:
    farm = load_farm()
    fast = 0
    for feed in farm.build_farm(farm.FarmSettings(feeds=6, items=10, seed=9)):
        parsed = parse_feed(
            feed.body, url="https://farm.example/f", headers={}, fetched_at=FETCHED_AT
        )
        for entry in parsed.entries:
            text = text_module.html_to_text(entry.content_html or entry.summary_html)
            for para in [text, *text.split("\n\n")]:
                assert _KEY(para) == reference_paragraph_key(para)
                fast += text_module._latin1_key(para) is not None
    assert fast > 100  # the fast path is what runs on accented Latin text


# Latin-1 (with what has no one-character fold: ß, µ, ¼, ¨ …), the punctuation the fast
# path replaces, combining marks, Greek, Cyrillic, Turkish dotted I, Korean, ligatures.
_KEY_TEXT = st.text(
    alphabet=st.characters(max_codepoint=0xFF)
    | st.sampled_from(
        [*text_module._KEY_PUNCTUATION,
         "\u0301", "\u0308", "\u0327", "\u03a3", "\u03c2", "\u0416", "\u0130", "\u1e9e",
         "\uac00", "\u1100", "\u1161", "\ufb01", "\u2126", "\u212b", "\u2044", "\u00b5"]
    ),
    max_size=60,
)  # fmt: skip


@settings(derandomize=True, database=None, max_examples=500, deadline=None)
@given(_KEY_TEXT)
def test_random_text_keys_as_the_regex_keys_it(text: str) -> None:
    assert _KEY(text) == reference_paragraph_key(text)


# ------------------------------------------------------------------ canonical URLs


def reference_canonical_url(url: str) -> str:
    saved = normalize_module._PLAIN_ARTICLE_URL_RE
    normalize_module._PLAIN_ARTICLE_URL_RE = _NOTHING
    try:
        return normalize_module.canonical_url(url)
    finally:
        normalize_module._PLAIN_ARTICLE_URL_RE = saved


def test_plain_urls_take_the_fast_path_and_agree() -> None:
    urls = [
        "https://news.example/f1/2-a-b-c",
        "http://a.b",
        "https://a-b.c-d.example/x/y.html",
        "  https://news.example/a  ",
        "https://news.example//double",
        "https://news.example/caf\u00e9/\u0416",
        "https://123.45.67.89/x",
    ]
    for url in urls:
        assert normalize_module._PLAIN_ARTICLE_URL_RE.fullmatch(url.strip()), url
        assert normalize_module.canonical_url(url) == reference_canonical_url(url), url


_URL_PIECES = st.lists(
    st.sampled_from(
        ["http", "https", "HTTPS", "ftp", "://", ":", "//", "/", ".", "-", "news", "EXAMPLE",
         "example", "com", "a1", "9", "@", "user", ":8080", ":443", "?", "#", "=", "&",
         "utm_source=x", "b=2", " ", "\t", "\n", "\x00", "\x85", "\u00e9", "\u0416", "%20",
         "[", "]", "::1", "\u3002", "."]
    ),
    max_size=14,
).map("".join)  # fmt: skip


@settings(derandomize=True, database=None, max_examples=600, deadline=None)
@given(st.one_of(_URL_PIECES, st.builds(lambda a, b: "https://" + a + b, _URL_PIECES, _URL_PIECES)))
def test_random_urls_canonicalize_as_the_general_path(url: str) -> None:
    assert normalize_module.canonical_url(url) == reference_canonical_url(url)
