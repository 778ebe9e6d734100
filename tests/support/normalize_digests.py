"""Digests of what normalize makes of the farm and the fixtures, for
tests/test_normalize_equivalence.py, and the entries the normalize tests build
(``random_entry``, ``case_entry``).

``python -m tests.support.normalize_digests OUT.json`` with ``aggregator`` imported from
another checkout (``PYTHONPATH=<checkout>:.``) writes that checkout's digests: the
stored ones, ``tests/data/normalize/main_digests.json``, were written by main as it
was before the change they hold it to (issue 17), not by the code under test.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aggregator.models import Article, ParsedEntry
from aggregator.poll.normalize import NormalizeSettings, clean_author, clean_title, normalize_entry
from aggregator.text import html_paragraphs, paragraph_key
from tests.support.farm import FIXTURE_FEEDS, farm_entries, fixture_feed_entries

DATA = Path(__file__).resolve().parents[1] / "data"
FETCHED_AT = datetime(2024, 11, 1, 12, 0, tzinfo=UTC)
SETTINGS = (
    NormalizeSettings(),
    NormalizeSettings(allow_images=True, summary_max_chars=40, language_sample_chars=50),
)


def digest(value: Any) -> str:
    """SHA-256 of ``repr(value)``: every field, byte for byte (lone surrogates too)."""
    return hashlib.sha256(repr(value).encode("utf-8", "surrogatepass")).hexdigest()


def article_fields(article: Article) -> list[tuple[str, Any]]:
    return [(f.name, getattr(article, f.name)) for f in dataclasses.fields(article)]


def entry_digests(entry: ParsedEntry) -> list[str]:
    """The article under each of ``SETTINGS``, and the pieces normalize builds it from."""
    out = [
        digest(
            article_fields(normalize_entry(entry, feed="Outlet", fetched_at=FETCHED_AT, settings=s))
        )
        for s in SETTINGS
    ]
    pieces = [html_paragraphs(entry.summary_html), html_paragraphs(entry.content_html)]
    out.append(digest([pieces, [paragraph_key(p) for ps in pieces for p in ps]]))
    out.append(digest([clean_title(entry.title), clean_author(entry.author)]))
    return out


def random_entry(
    title: str, summary: str, content: str, same: bool, author: str | None = None
) -> ParsedEntry:
    """The entry the random-input tests build: the content is the summary when ``same``."""
    return ParsedEntry(
        guid="g",
        link="https://x.example/a",
        title=title,
        summary_html=summary,
        content_html=summary if same else content,
        author=author,
        published=None,
        updated=None,
        date_flagged=False,
    )


def case_entry(path: Path) -> tuple[ParsedEntry, dict[str, Any]]:
    """One case of tests/data/normalize/entries: its entry and its settings' fields."""
    case = json.loads(path.read_text(encoding="utf-8"))
    e = case["entry"]

    def resolve(value: str) -> str:
        if value.startswith("@"):
            return (DATA / "normalize" / value[1:]).read_text(encoding="utf-8").strip()
        return value

    entry = ParsedEntry(
        guid=e["guid"],
        link=e["link"],
        title=e["title"],
        summary_html=resolve(e["summary_html"]),
        content_html=resolve(e["content_html"]),
        author=e["author"],
        published=None,
        updated=None,
        date_flagged=e["date_flagged"],
    )
    return entry, case.get("settings", {})


def all_digests() -> dict[str, Any]:
    """Digests of the farm's entries (tests.support.farm's default farm), every fixture
    feed's entries, every entry case and every HTML fixture."""
    cases: dict[str, list[str]] = {}
    for path in sorted((DATA / "normalize" / "entries").glob("*.json")):
        entry, settings = case_entry(path)
        article = normalize_entry(
            entry, feed="Outlet", fetched_at=FETCHED_AT, settings=NormalizeSettings(**settings)
        )
        cases[path.stem] = [digest(article_fields(article)), *entry_digests(entry)]
    return {
        "farm": [d for e in farm_entries(FETCHED_AT) for d in entry_digests(e)],
        "feeds": {
            p.name: [d for e in fixture_feed_entries(p, FETCHED_AT) for d in entry_digests(e)]
            for p in FIXTURE_FEEDS
        },
        "entries": cases,
        "html": {
            p.name: digest(html_paragraphs(p.read_text(encoding="utf-8")))
            for p in sorted((DATA / "normalize" / "html").glob("*.html"))
        },
    }


if __name__ == "__main__":
    Path(sys.argv[1]).write_text(json.dumps(all_digests(), indent=1, sort_keys=True) + "\n")
