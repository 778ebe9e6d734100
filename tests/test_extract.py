"""extract: article pages (tests/data/extract) → main text, metadata, failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.errors import ExtractError
from aggregator.poll.extract import ExtractSettings, choose_text, extract_page, page_metadata

DATA = Path(__file__).parent / "data" / "extract"
URL = "https://www.example.com/news/story"
SETTINGS = [ExtractSettings(), ExtractSettings(fast=True)]
IDS = ["default", "fast"]


@pytest.mark.parametrize("settings", SETTINGS, ids=IDS)
def test_generated_page_gives_the_article_body_and_no_boilerplate(
    settings: ExtractSettings,
) -> None:
    html = (DATA / "generated.html").read_bytes()
    expected = (DATA / "generated.expected.txt").read_text(encoding="utf-8").strip()
    page = extract_page(html, url=URL, settings=settings)
    got = page.text.split("\n\n")
    assert got == expected.split("\n\n")
    for boilerplate in ("Accept all", "Trending", "Totally agree", "All rights reserved"):
        assert boilerplate not in page.text
    assert page.canonical_url is not None
    assert page.canonical_url.startswith("https://www.example-ledger.com/news/kursk-")
    assert page.language == "en"
    assert page.title
    assert page.method == ("trafilatura-fast" if settings.fast else "trafilatura")


@pytest.mark.parametrize("settings", SETTINGS, ids=IDS)
def test_page_with_og_url_lang_title_and_repeats(settings: ExtractSettings) -> None:
    html = (DATA / "og-url-only.html").read_bytes()
    page = extract_page(html, url="https://www.example.de/a/b", settings=settings)
    # og:url is relative on this page: resolved against the page URL
    assert page.canonical_url == "https://www.example.de/politik/nordkorea-kursk-100.html"
    assert page.language == "de"  # from <html lang="de-DE">
    assert page.title == "Nordkoreanische Soldaten in Kursk eingetroffen"
    paragraphs = page.text.split("\n\n")
    assert paragraphs[0].startswith("Die NATO bestätigt")  # the headline is not repeated
    assert len(paragraphs) == 5  # the repeated paragraph appears once
    assert sum(p.startswith("Nordkoreanische Soldaten sind") for p in paragraphs) == 1
    assert "Cookies" not in page.text
    assert "Impressum" not in page.text


def test_str_input_works_like_bytes() -> None:
    html = (DATA / "og-url-only.html").read_text(encoding="utf-8")
    a = extract_page(html, url="https://www.example.de/a/b", settings=ExtractSettings())
    b = extract_page(html.encode(), url="https://www.example.de/a/b", settings=ExtractSettings())
    assert a == b


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        (b"", "empty page"),
        ("   \n ", "empty page"),
        (
            "<html><body><nav><a href='/'>Home</a></nav><p>Subscribe to read.</p></body></html>",
            "too short|no main text",
        ),
    ],
)
def test_pages_without_an_article_raise_extract_error(html: bytes | str, reason: str) -> None:
    with pytest.raises(ExtractError, match=reason):
        extract_page(html, url=URL, settings=ExtractSettings())


def test_too_large_page_is_refused_before_parsing() -> None:
    html = (DATA / "generated.html").read_bytes()
    with pytest.raises(ExtractError, match="too large"):
        extract_page(html, url=URL, settings=ExtractSettings(max_html_bytes=1000))


def test_short_text_is_a_failed_extraction() -> None:
    html = (DATA / "og-url-only.html").read_bytes()
    with pytest.raises(ExtractError, match="too short"):
        extract_page(html, url=URL, settings=ExtractSettings(min_text_chars=100_000))


def test_language_detected_when_the_page_does_not_say() -> None:
    html = (DATA / "generated.html").read_text(encoding="utf-8").replace(' lang="en"', "")
    page = extract_page(html, url=URL, settings=ExtractSettings())
    assert page.language == "en"


def test_rel_canonical_wins_over_og_url() -> None:
    html = (
        '<html><head><meta property="og:url" content="https://og.example/a">'
        '<link rel="canonical" href="https://canon.example/a"></head><body></body></html>'
    )
    assert page_metadata(html, url=URL)["canonical_url"] == "https://canon.example/a"


def test_non_http_canonical_is_ignored() -> None:
    html = '<html><head><link rel="canonical" href="javascript:alert(1)"></head></html>'
    assert page_metadata(html, url=URL)["canonical_url"] is None


FEED = (
    "North Korean soldiers have reached the Kursk region, officials said on Monday. "
    "NATO's chief called it a dangerous expansion of the war. "
) * 4


@pytest.mark.parametrize(
    ("feed", "page", "expected"),
    [
        (FEED, None, FEED),
        (FEED, "", FEED),
        ("", "Page text.", "Page text."),
        (
            "Short teaser.",
            "A much longer page text about something.",
            "A much longer page text about something.",
        ),
        (
            FEED,
            FEED + "\n\nMore paragraphs from the page.",
            FEED + "\n\nMore paragraphs from the page.",
        ),
        (FEED, "Shorter page.", FEED),
        # a long page sharing little with a substantial feed text: a wrong extraction
        (FEED, "Cookie settings and subscription offers. " * 40, FEED),
    ],
)
def test_choose_text(feed: str, page: str | None, expected: str) -> None:
    assert choose_text(feed, page) == expected
