"""Output safety for everything that came from a feed: links and HTML.

Feeds are untrusted. Titles are escaped by the templates (autoescape); this module
limits links to http/https and sanitizes stored HTML again before it is shown.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import nh3

SAFE_SCHEMES = frozenset({"http", "https"})
# Browsers drop ASCII tab/newline anywhere in a URL and trim C0 controls and spaces
# around it, so "java\tscript:" is javascript:. Remove them all before judging.
_URL_NOISE = re.compile(r"[\x00-\x20\x7f]+")

# Enough for articles; no forms, media, frames or styles.
_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "em", "figcaption", "figure", "h2",
        "h3", "h4", "hr", "i", "img", "li", "ol", "p", "pre", "q", "s", "small", "strong",
        "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}}


# A link that every step below would return unchanged: http(s), "//" and a host, then
# printable ASCII only: no "&" (no entity to decode), no space or control (no noise),
# no brackets or backslash (nothing urlsplit could refuse or read differently), and a
# host before any "/", "?" or "#" (so urlsplit finds a netloc). Nearly every stored link
# is one; judged by one match, not ~4 µs of unescape, substitution and an uncached
# urlsplit each (twenty per page of a search, issue 17).
_PLAIN_URL = re.compile(r"[hH][tT][tT][pP][sS]?://(?![/?#])[!-%'-Z^-~]+")


def safe_url(url: str | None) -> str | None:
    """``url`` if it is an absolute http(s) link, else None.

    Entities are decoded first (repeatedly: ``&amp;#106;`` is a double-encoded "j"),
    because a link that was entity-encoded in the feed can reach us still encoded.
    """
    if not url:
        return None
    if _PLAIN_URL.fullmatch(url):
        return url
    return _judged(url)


def _judged(url: str) -> str | None:
    """``safe_url`` step by step (and for any link, what the shortcut must agree with)."""
    decoded = url
    for _ in range(3):
        once = html.unescape(decoded)
        if once == decoded:
            break
        decoded = once
    cleaned = _URL_NOISE.sub("", decoded)
    try:
        parts = urlsplit(cleaned)
    except ValueError:
        return None
    if parts.scheme.lower() not in SAFE_SCHEMES or not parts.netloc:
        return None
    return cleaned


def clean_html(fragment: str) -> str:
    """Sanitize stored article HTML again, on output (defence in depth over ingest)."""
    return nh3.clean(
        fragment,
        tags=set(_TAGS),
        attributes={k: set(v) for k, v in _ATTRIBUTES.items()},
        url_schemes=set(SAFE_SCHEMES),
        clean_content_tags={"script", "style"},
        link_rel="noopener noreferrer nofollow",
    )
