"""normalize keeps each text's paragraphs instead of splitting the text again, and
looks for mojibake once per body instead of once per line (issue 17): the same
articles as before, on the benchmark farm, the test fixtures and random entries.

``reference_normalize_entry`` is ``normalize_entry`` as it was: every step took the
whole text and split it again.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator import text as text_module
from aggregator.models import Article, ParsedEntry
from aggregator.poll import normalize as nm
from aggregator.poll.normalize import NormalizeSettings, normalize_entry
from aggregator.text import (
    content_hash,
    detect_language,
    drop_title,
    html_paragraphs,
    html_to_text,
    looks_like_html,
    paragraph_key,
    paragraphs,
    remove_repeats,
    sanitize_html,
)
from tests.support.farm import FIXTURE_FEEDS, farm_entries, fixture_feed_entries
from tests.support.normalize_digests import case_entry, random_entry

DATA = Path(__file__).parent / "data"
FETCHED_AT = datetime(2024, 11, 1, 12, 0, tzinfo=UTC)


def reference_normalize_entry(
    entry: ParsedEntry, *, feed: str, fetched_at: datetime, settings: NormalizeSettings
) -> Article:
    outlets = (*settings.outlets, feed)
    title = nm.clean_title(entry.title, outlets=outlets)
    summary_text = remove_repeats(html_to_text(entry.summary_html))
    body_text = remove_repeats(html_to_text(entry.content_html))
    if summary_text and body_text and paragraph_key(summary_text) == paragraph_key(body_text):
        summary_text = body_text
    merged = nm._merge_summary(summary_text, body_text)
    text = merged if merged in (summary_text, body_text) else remove_repeats(merged)
    text = drop_title(text, title)
    if title != entry.title:
        text = drop_title(text, html_to_text(entry.title))
    summary = summary_text or nm._truncate(next(paragraphs(text), ""), settings.summary_max_chars)
    summary = drop_title(summary, title) or summary
    html_source = entry.content_html or entry.summary_html
    if html_source and not looks_like_html(html_source):
        html_source = "".join(f"<p>{nm._escape(p)}</p>" for p in paragraphs(text))
    html = sanitize_html(html_source, allow_images=settings.allow_images)
    published, estimated = nm._publication_time(entry, fetched_at, settings)
    language = None
    if settings.detect_language:
        language = detect_language(
            f"{title}\n\n{text}",
            min_chars=settings.min_language_chars,
            min_confidence=settings.min_language_confidence,
            sample_chars=settings.language_sample_chars,
        )
    link = entry.link
    return Article(
        feed=feed,
        guid=entry.guid,
        url=link,
        canonical_url=nm.canonical_url(link) if link else None,
        title=title,
        title_raw=entry.title,
        summary=summary,
        text=text,
        html=html,
        author=nm.clean_author(entry.author),
        published=published,
        published_estimated=estimated,
        fetched_at=nm._utc(fetched_at),
        language=language,
        content_hash=content_hash(title, text),
        variant=entry.variant,
    )


def same_article(entry: ParsedEntry, settings: NormalizeSettings | None = None) -> None:
    settings = settings or NormalizeSettings()
    args = {"feed": "Outlet", "fetched_at": FETCHED_AT, "settings": settings}
    assert normalize_entry(entry, **args) == reference_normalize_entry(entry, **args)


def test_farm_entries_normalize_as_before() -> None:
    for entry in farm_entries(FETCHED_AT):
        same_article(entry)


@pytest.mark.parametrize("path", FIXTURE_FEEDS, ids=[p.name for p in FIXTURE_FEEDS])
def test_fixture_feed_entries_normalize_as_before(path: Path) -> None:
    for entry in fixture_feed_entries(path, FETCHED_AT):
        same_article(entry)


ENTRY_CASES = sorted((DATA / "normalize" / "entries").glob("*.json"))


@pytest.mark.parametrize("path", ENTRY_CASES, ids=[p.stem for p in ENTRY_CASES])
def test_fixture_entries_normalize_as_before(path: Path) -> None:
    entry, fields = case_entry(path)
    same_article(entry, NormalizeSettings(**fields))


# Texts whose paragraphs repeat, repeat the title (plain and branded), come in the
# summary and the body, as HTML and as plain text; with mojibake, spaces and controls.
_PIECES = st.sampled_from(
    [
        "<p>", "</p>", "<br>", "<br><br>", "<div>", "</div>", "\n", "\n\n", " ", "\u00a0",
        "Troops cross the border", "Troops cross the border - BBC News",
        "Same paragraph with words.", "Another paragraph of words here.", "caf\u00c3\u00a9",
        "\u00c3\u00a0", "\u00c3 \u00a9", "\u00e9\u2014", "\u201cquoted\u201d", "**bold**", "…",
        "Read more", "&amp;", "&#150;", "<script>x</script>", "\x85", "\u200b", "cafe\u0301",
    ]
)  # fmt: skip
_TEXT = st.lists(_PIECES | st.text(max_size=6), max_size=14).map("".join)
_TITLES = st.sampled_from(
    ["Troops cross the border", "Troops cross the border - BBC News", "", "Same paragraph"]
)


@settings(derandomize=True, database=None, max_examples=300, deadline=None)
@given(title=_TITLES | _TEXT, summary=_TEXT, content=_TEXT, same=st.booleans())
def test_random_entries_normalize_as_before(
    title: str, summary: str, content: str, same: bool
) -> None:
    entry = random_entry(title, summary, content, same)
    same_article(entry)
    same_article(entry, NormalizeSettings(summary_max_chars=12, language_sample_chars=25))


@settings(derandomize=True, database=None, max_examples=300, deadline=None)
@given(_TEXT)
def test_html_paragraphs_are_the_paragraphs_of_html_to_text(html: str) -> None:
    paras = html_paragraphs(html)
    assert "\n\n".join(paras) == html_to_text(html)
    assert paras == list(paragraphs(html_to_text(html)))


# ------------------------------------------------------------------ mojibake hint


def test_the_utf8_hint_matches_every_pair_the_text_hint_matches() -> None:
    # Every lead and continuation of the hint, and every character up to U+2200 (the
    # hint's last is U+2122) either side of each.
    hint, utf8 = text_module._MOJIBAKE_HINT_RE, text_module._MOJIBAKE_HINT_UTF8_RE
    leads = [chr(c) for c in range(0xC0, 0xF8)]
    for lead in leads:
        for code in range(0x2200):
            pair = lead + chr(code)
            found = utf8.search(pair.encode("utf-8", "surrogatepass")) is not None
            assert found == (hint.search(pair) is not None), repr(pair)
    for code in range(0x2200):
        pair = chr(code) + "\u00a9"
        found = utf8.search(pair.encode("utf-8", "surrogatepass")) is not None
        assert found == (hint.search(pair) is not None), repr(pair)


_HINTY = st.text(
    alphabet=st.sampled_from(
        ["\u00c2", "\u00c3", "\u00e9", "\u00f4", "\u00f5", "\u00a0", "\u00a9", "\u0080",
         "\u2014", "\u201c", "\u2122", "\u20ac", "\u0152", "a", " ", "\n",
         text_module._BLOCK, text_module._BREAK]
    ),
    max_size=12,
)  # fmt: skip


@settings(derandomize=True, database=None, max_examples=500, deadline=None)
@given(_HINTY | st.text(max_size=12))
def test_the_utf8_hint_agrees_on_random_text(text: str) -> None:
    found = text_module._MOJIBAKE_HINT_UTF8_RE.search(text.encode("utf-8", "surrogatepass"))
    assert (found is not None) == (text_module._MOJIBAKE_HINT_RE.search(text) is not None)


def test_a_line_is_searched_only_when_the_text_has_a_hint() -> None:
    # The body-wide search finds the hint in one line among clean ones, and the line is
    # repaired; a body without one is never handed to ftfy.
    body = "<p>plain caf\u00e9 \u2014 words</p><p>caf\u00c3\u00a9 au lait</p><p>more</p>"
    assert html_to_text(body) == "plain caf\u00e9 \u2014 words\n\ncaf\u00e9 au lait\n\nmore"
    assert text_module._clean_line("caf\u00c3\u00a9", hint=False) == "caf\u00c3\u00a9"
    assert text_module._clean_line("caf\u00c3\u00a9") == "caf\u00e9"


def test_the_hint_expression_starts_with_one_literal_byte() -> None:
    # What makes it cheap: re finds a literal first byte with a plain loop.
    assert re.match(rb"\(\?:\\?\xc3\[", text_module._MOJIBAKE_HINT_UTF8_RE.pattern)
