"""Article page (HTML) → main text, with trafilatura. Pure: no network, no globals.

The pipeline fetches the page with the polite fetcher and calls ``extract_page``
in a worker thread (it is CPU-bound: ~10-50 ms a page). A failure raises
``ExtractError`` with a short reason; the caller keeps the feed's text and
records the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import lxml.html  # type: ignore[import-untyped]
from lxml import etree

from aggregator.errors import ExtractError
from aggregator.text import (
    clean_text,
    detect_language,
    drop_title,
    html_to_text,
    paragraph_key,
    remove_repeats,
)

__all__ = ["ExtractSettings", "ExtractedPage", "choose_text", "extract_page", "page_metadata"]


@dataclass(frozen=True, slots=True)
class ExtractSettings:
    """How pages are extracted.

    - ``fast``: trafilatura's fast mode (``fast=True``): no fallback extractors
      (readability, jusText). About twice the speed; see ``benchmarks/bench_extract.py``
      for the recall it costs on generated pages.
    - ``favor_precision`` / ``favor_recall``: trafilatura's own bias switches.
    - ``include_tables``: tables often hold results and figures; kept by default.
    - ``min_text_chars``: shorter output counts as a failed extraction (a paywall
      stub or a cookie wall is not the article).
    - ``max_html_bytes``: larger pages are refused before parsing (the fetcher caps
      bodies too; this bounds the CPU spent here).
    - ``detect_language``: fill ``ExtractedPage.language`` from ``<html lang>``, else
      by detection.
    """

    fast: bool = False
    favor_precision: bool = False
    favor_recall: bool = False
    include_tables: bool = True
    min_text_chars: int = 200
    max_html_bytes: int = 5 * 1024 * 1024
    detect_language: bool = True


@dataclass(frozen=True, slots=True)
class ExtractedPage:
    text: str  # clean text, paragraphs separated by "\n\n", repeats removed
    title: str | None
    canonical_url: str | None  # absolute, from rel=canonical, else og:url
    language: str | None  # ISO 639-1
    method: str  # "trafilatura" or "trafilatura-fast"


_LANG_RE = re.compile(r"^[a-zA-Z]{2}(?=$|[-_])")


def page_metadata(html: bytes | str, *, url: str) -> dict[str, str | None]:
    """``canonical_url``, ``title`` and ``lang`` from the page's ``<head>``.

    ``rel=canonical`` is preferred to ``og:url`` (it is the one search engines
    honour); relative values are resolved against ``url``.
    """
    meta: dict[str, str | None] = {"canonical_url": None, "title": None, "lang": None}
    try:
        doc = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return meta
    canon = None
    for link in doc.iter("link"):
        rels = (link.get("rel") or "").lower().split()
        if "canonical" in rels and link.get("href"):
            canon = link.get("href")
            break
    if canon is None:
        for m in doc.iter("meta"):
            if (m.get("property") or m.get("name") or "").lower() == "og:url" and m.get("content"):
                canon = m.get("content")
                break
    if canon:
        absolute = urljoin(url, canon.strip())
        if urlsplit(absolute).scheme in ("http", "https"):
            meta["canonical_url"] = absolute
    head_title = doc.findtext(".//title")
    meta["title"] = clean_text(head_title) or None if head_title else None
    lang = (doc.get("lang") or "").strip()
    m2 = _LANG_RE.match(lang)
    meta["lang"] = m2.group(0).lower() if m2 else None
    return meta


def extract_page(html: bytes | str, *, url: str, settings: ExtractSettings) -> ExtractedPage:
    """Main text of an article page; raises ``ExtractError`` with the reason."""
    size = len(html.encode("utf-8", "surrogatepass") if isinstance(html, str) else html)
    if not html.strip():
        raise ExtractError("empty page")
    if size > settings.max_html_bytes:
        raise ExtractError(f"page too large ({size} bytes > {settings.max_html_bytes})")
    # Imported on the first page, not with the poller: 14 MiB in every process that
    # parses feeds, for a feature only `fulltext` feeds and topics use (issue 17).
    import trafilatura

    try:
        doc: Any = trafilatura.bare_extraction(
            html,
            url=url,
            fast=settings.fast,
            favor_precision=settings.favor_precision,
            favor_recall=settings.favor_recall,
            include_comments=False,
            include_tables=settings.include_tables,
            include_images=False,
            include_links=False,
            with_metadata=True,
        )
    except Exception as exc:  # trafilatura raises anything from lxml to ValueError
        raise ExtractError(f"trafilatura failed: {type(exc).__name__}: {exc}") from exc
    if doc is None:
        raise ExtractError("no main text found")
    raw = getattr(doc, "text", None) or ""
    meta = page_metadata(html, url=url)
    title_raw = getattr(doc, "title", None)
    title = clean_text(title_raw) if title_raw else meta["title"]
    # trafilatura separates paragraphs with one newline; ours use a blank line.
    text = remove_repeats(html_to_text(raw))
    if title:
        text = drop_title(text, title)  # the <h1> opening the body
    if len(text) < settings.min_text_chars:
        raise ExtractError(f"main text too short ({len(text)} < {settings.min_text_chars} chars)")
    language = meta["lang"]
    if language is None and settings.detect_language:
        language = detect_language(text)
    return ExtractedPage(
        text=text,
        title=title or None,
        canonical_url=meta["canonical_url"],
        language=language,
        method="trafilatura-fast" if settings.fast else "trafilatura",
    )


def choose_text(feed_text: str, page_text: str | None) -> str:
    """The better of the feed's text and the page's: normally the longer one.

    The page wins when it is longer *and* plausibly the same article: it must
    contain most of the feed text's words, or the feed text must be a mere teaser
    (under 400 characters), where overlap cannot be judged. A page that shares
    little with a substantial feed text is probably a wrong extraction (a cookie
    wall, a list page) and loses.
    """
    if not page_text:
        return feed_text
    if not feed_text:
        return page_text
    if len(page_text) <= len(feed_text):
        return feed_text
    if len(feed_text) < 400:
        return page_text
    feed_words = set(paragraph_key(feed_text).split())
    page_words = set(paragraph_key(page_text).split())
    overlap = len(feed_words & page_words) / max(1, len(feed_words))
    return page_text if overlap >= 0.6 else feed_text
