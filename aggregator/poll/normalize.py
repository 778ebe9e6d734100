"""Feed entry → clean, comparable ``Article``.

Everything here is a pure function of its arguments. Language identification is
CLD2 (pycld2): its tables are compiled into the extension, so nothing is loaded or
downloaded at run time.

Text conventions, shared with extract, dedup and clustering: paragraphs are
separated by one blank line (``"\\n\\n"``), a line break inside a paragraph is a
single ``"\\n"``, there is no leading or trailing whitespace, and the text is NFC
with no control or invisible characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from aggregator.models import Article, ParsedEntry
from aggregator.text import (
    content_hash_paragraphs,
    detect_language,
    drop_title,
    drop_title_paragraphs,
    html_paragraphs,
    html_to_text,
    looks_like_html,
    paragraph_key,
    paragraphs,
    remove_repeats,
    sanitize_html,
    unique_paragraphs,
)

__all__ = [
    "DEFAULT_OUTLETS",
    "NormalizeSettings",
    "canonical_url",
    "clean_author",
    "clean_title",
    "forget_texts",
    "normalize_entry",
]

# Outlet names that appear as title prefixes/suffixes ("… - BBC News", "Reuters: …").
# A separated suffix is only removed when it is one of these, the feed's own name, a
# domain name, or follows " | " (which outlets use almost exclusively for branding);
# a generic "short capitalised tail" rule would also eat "… - Live Updates".
DEFAULT_OUTLETS: tuple[str, ...] = (
    "ABC News",
    "AP",
    "AP News",
    "Associated Press",
    "The Associated Press",
    "Al Jazeera",
    "Axios",
    "BBC",
    "BBC News",
    "BBC Sport",
    "Bloomberg",
    "CBS News",
    "CNBC",
    "CNN",
    "DW",
    "Deutsche Welle",
    "Euronews",
    "Financial Times",
    "FT",
    "Fox News",
    "France 24",
    "The Guardian",
    "Guardian",
    "The Independent",
    "Kyiv Independent",
    "Le Monde",
    "Los Angeles Times",
    "NBC News",
    "NPR",
    "The New York Times",
    "New York Times",
    "NYT",
    "Politico",
    "Reuters",
    "RFE/RL",
    "Sky News",
    "The Telegraph",
    "The Times",
    "The Hill",
    "TASS",
    "USA Today",
    "The Wall Street Journal",
    "WSJ",
    "The Washington Post",
    "Washington Post",
    "Yonhap",
)


@dataclass(frozen=True, slots=True)
class NormalizeSettings:
    """How entries are normalized; every field has a safe default.

    - ``allow_images``: keep ``<img>`` (http/https ``src`` only) in ``Article.html``.
    - ``max_future``: a publication time later than the fetch time by more than
      this is absurd (clock skew of a few hours is common, days are not).
    - ``min_published``: a publication time before this is absurd (epoch-0 and
      "0001-01-01" placeholders).
    - ``outlets``: names stripped as title prefixes/suffixes, besides the feed name.
    - ``detect_language`` / ``min_language_chars``: language detection is skipped
      (``None``) for texts shorter than this, where it is a coin toss.
    - ``min_language_confidence``: ``None`` unless CLD2 calls its answer reliable and
      gives the language at least this share of the sampled text.
    - ``language_sample_chars``: detection reads at most this much text; the
      first few paragraphs decide as well as the whole article and cost less.
    """

    allow_images: bool = False
    max_future: timedelta = timedelta(hours=12)
    min_published: datetime = datetime(1995, 1, 1, tzinfo=UTC)
    outlets: tuple[str, ...] = DEFAULT_OUTLETS
    detect_language: bool = True
    min_language_chars: int = 20
    min_language_confidence: float = 0.5
    language_sample_chars: int = 600
    summary_max_chars: int = 600


_ELLIPSIS_RE = re.compile(
    r"(\s*(\[?(…|\.\.\.)\]?|\b(read more|continue reading|read the full (story|article))\b"
    r"[^\n]{0,40}))+$",
    re.IGNORECASE,
)


# The ellipsis pattern is anchored at the end, but re tries it from every position:
# on a long run of "... ... ..." that is quadratic (32 KB took 12 s). Only the end
# can match, so only the end is searched.
_TEASER_TAIL = 200


def _strip_teaser_end(summary: str) -> str:
    """``summary`` without a trailing "…", "[...]" or "Read more" marker."""
    cut = max(0, len(summary) - _TEASER_TAIL)
    return summary[:cut] + _ELLIPSIS_RE.sub("", summary[cut:])


def _merge_summary(summary: str, body: str) -> str:
    """The body, preceded by the summary unless the body already says it.

    A summary that is the first paragraph (whole, or cut off with "…"/"Read more")
    adds nothing; a real standfirst absent from the body would be lost without it.
    """
    if not body:
        return summary
    if not summary:
        return body
    skey = paragraph_key(_strip_teaser_end(summary))
    if not skey or skey in paragraph_key(body):
        return body
    return summary + "\n\n" + body


# ------------------------------------------------------------------- titles

_MARKER_RE = re.compile(
    r"^(?:(?:UPDATE|WRAPUP|REFILE|RPT|CORRECTED|CORRECTION|REPEAT|EXCLUSIVE|INSIGHT|ANALYSIS|"
    r"FACTBOX|TIMELINE|PREVIEW|BREAKINGVIEWS|GLOBAL MARKETS|BRIEF|HIGHLIGHTS)"
    r"(?:\s+\d+)?\s*-\s*)+"
)
_SEPARATORS = (" | ", " - ", " – ", " — ", " :: ", " · ")
_DOMAIN_RE = re.compile(r"^[\w-]+(\.[\w-]+)*\.[a-z]{2,}$", re.IGNORECASE)


_NON_WORD_RE = re.compile(r"[\W_]+")


def _outlet_key(name: str) -> str:
    return _NON_WORD_RE.sub("", name.casefold())


@lru_cache(maxsize=16)
def _outlet_keys(outlets: tuple[str, ...]) -> frozenset[str]:
    # the same outlet list (settings + feed name) comes back for every entry of a feed,
    # one feed after another in each parse thread: 16 lists, not 256 (~4.7 KB each, a
    # feed's list its own: 256 of the default 47 outlets held ~1.2 MiB; issue 17)
    return frozenset(_outlet_key(o) for o in outlets if o)


def forget_texts() -> None:
    """Empty the caches holding what the entries just normalized said (their paragraphs'
    keys, their feeds' outlet keys, their authors): the daemon calls it when a burst of
    polls has ended, as nothing of it comes back before the next poll, which fills them
    again (~1 MiB of text after a first poll of 500 feeds, held while idling; issue 17)."""
    paragraph_key.cache_clear()
    _outlet_keys.cache_clear()
    clean_author.cache_clear()


def clean_title(title: str, *, outlets: Iterable[str] = DEFAULT_OUTLETS) -> str:
    """Headline without outlet branding and wire markers.

    ``"UPDATE 2-North Korean troops in Kursk - BBC News"`` →
    ``"North Korean troops in Kursk"``. Markup, entities and spacing are cleaned.
    Never returns an empty title when the input had words: if stripping would
    leave nothing, the cleaned input is returned.
    """
    text = " ".join(html_to_text(title).split()) if title else ""
    if not text:
        return ""
    known = _outlet_keys(tuple(outlets))
    cleaned = _MARKER_RE.sub("", text).strip()
    for _ in range(2):  # "Title | Section | Outlet" has two tails
        cleaned = _strip_branding(cleaned, known)
    cleaned = _MARKER_RE.sub("", cleaned).strip()
    return cleaned or text


def _strip_branding(title: str, known: frozenset[str]) -> str:
    for sep in _SEPARATORS:
        head, found, tail = title.rpartition(sep)
        if found and head.strip() and _is_branding(tail, known, pipe=sep == " | "):
            return head.strip()
    for sep in (*_SEPARATORS, ": "):
        head, found, tail = title.partition(sep)
        if found and tail.strip() and _outlet_key(head) in known:
            return tail.strip()
    return title


def _is_branding(part: str, known: frozenset[str], *, pipe: bool) -> bool:
    part = part.strip()
    if not part:
        return False
    if _outlet_key(part) in known or _DOMAIN_RE.match(part):
        return True
    return pipe and len(part.split()) <= 4


# --------------------------------------------------------------------- urls

_TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "vero_id",
        "vero_conv",
        "oly_anon_id",
        "oly_enc_id",
        "rb_clickid",
        "s_cid",
        "wt_mc",
        "wt.mc_id",
        "xtor",
        "cmpid",
        "ocid",
        "smid",
        "smtyp",
        "ns_mchannel",
        "ns_source",
        "ns_campaign",
        "ns_linkname",
        "ns_fee",
        "at_medium",
        "at_campaign",
        "at_custom1",
        "at_custom2",
        "at_custom3",
        "at_custom4",
        "guccounter",
        "guce_referrer",
        "guce_referrer_sig",
        "sr_share",
        "share_source",
        "spm",
        "rss",
        "ref_src",
        "ref_url",
        "__twitter_impression",
    }
)
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "itm_")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_tracking(name: str) -> bool:
    low = name.lower()
    return low in _TRACKING_PARAMS or low.startswith(_TRACKING_PREFIXES)


# An article URL that is already canonical but for a missing "/": http(s), a lower-case
# host name (no port, no user, no trailing dot), a path without spaces or controls, no
# query and no fragment. Most feeds link so; the split, query parse and join cost more
# than the rest of an entry's URL handling (issue 17). tests/test_normalize_speed.py
# holds it to the general path.
_PLAIN_ARTICLE_URL_RE = re.compile(
    r"https?://[a-z0-9-]+(?:\.[a-z0-9-]+)*(?P<path>/[^?#\s\x00-\x1f\x7f-\x9f]*)?"
)


def canonical_url(url: str, *, page_canonical: str | None = None) -> str:
    """One spelling per article URL, for exact duplicate detection.

    ``page_canonical`` (the page's ``rel=canonical`` or ``og:url``, resolved
    against ``url``) wins when it is an absolute http(s) URL. Then: scheme and host
    lower-cased, default port, fragment and empty query dropped, tracking
    parameters (utm_*, fbclid, gclid, mc_cid, …) removed, the remaining
    parameters sorted (their order never changes the article), empty path → "/".
    A URL that is not http(s) is returned stripped but otherwise unchanged.
    """
    url = url.strip()
    page = page_canonical.strip() if page_canonical else ""
    if page:
        candidate = urljoin(url, page)
        if urlsplit(candidate).scheme.lower() in _DEFAULT_PORTS:
            url = candidate
    else:
        plain = _PLAIN_ARTICLE_URL_RE.fullmatch(url)
        if plain is not None:
            return url if plain["path"] else url + "/"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return url
    host = parts.hostname.lower().rstrip(".")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if parts.username or parts.password:
        userinfo = parts.username or ""
        if parts.password:
            userinfo += f":{parts.password}"
        netloc = f"{userinfo}@{netloc}"
    params = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)
    ]
    query = urlencode(sorted(params), doseq=False) if params else ""
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


# -------------------------------------------------------------------- authors

_BY_RE = re.compile(r"^\s*(by|von|par|por|di)\s+", re.IGNORECASE)
_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_AUTHOR_SPLIT_RE = re.compile(r"\s*(?:,|;|&|\band\b|\bund\b|\bet\b|\by\b)\s*", re.IGNORECASE)


# A feed's entries are written by a few people: the same author string comes back for
# many of its entries, and cleaning one (an HTML-to-text pass and six regular
# expressions) was ~3 % of normalizing a farm entry (issue 17).
@lru_cache(maxsize=256)
def clean_author(author: str | None) -> str | None:
    """``"By JOHN SMITH and jane doe"`` → ``"John Smith, Jane Doe"``.

    RSS ``"jsmith@example.com (John Smith)"`` keeps the name; a bare e-mail
    address is not a name and gives None. Names already in mixed case keep their
    case ("McDonald", "de Gaulle").
    """
    if not author:
        return None
    text = " ".join(html_to_text(author).split())
    m = re.match(r"^\s*\S+@\S+\s*\((?P<name>[^)]+)\)\s*$", text)
    if m:
        text = m.group("name")
    text = _EMAIL_RE.sub("", text).replace("()", "")
    text = _BY_RE.sub("", text).strip(" ,;|-")
    names = []
    for name in _AUTHOR_SPLIT_RE.split(text):
        name = _BY_RE.sub("", name).strip(" .,;|-")
        if not name:
            continue
        if name.isupper() or name.islower():
            name = " ".join(w[:1].upper() + w[1:].lower() for w in name.split())
        if name not in names:
            names.append(name)
    return ", ".join(names) or None


# ------------------------------------------------------------------- language


# ------------------------------------------------------------------- entries


def _utc(dt: datetime) -> datetime:
    # Naive datetimes from feeds are UTC by convention (feedparser returns UTC).
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _publication_time(
    entry: ParsedEntry, fetched_at: datetime, settings: NormalizeSettings
) -> tuple[datetime, bool]:
    fetched = _utc(fetched_at)
    for candidate in (entry.published, entry.updated):
        if candidate is None:
            continue
        when = _utc(candidate)
        if settings.min_published <= when <= fetched + settings.max_future:
            return when, entry.date_flagged
    return fetched, True


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "…"


def _without_repeats(merged: str, summary_text: str, body_text: str) -> str:
    # A lone summary or body has had its repeats removed already, and remove_repeats
    # is idempotent (tests/test_normalize.py): only a merged text needs the pass.
    return merged if merged in (summary_text, body_text) else remove_repeats(merged)


def _drop_title(paras: list[str], text: str, title: str) -> tuple[list[str], str]:
    """``drop_title`` of ``text`` given with its paragraphs, and its paragraphs."""
    kept = drop_title_paragraphs(paras, title)
    return (paras, text) if kept is paras else (kept, "\n\n".join(kept))


def normalize_entry(
    entry: ParsedEntry, *, feed: str, fetched_at: datetime, settings: NormalizeSettings
) -> Article:
    """Turn one parsed feed item into an ``Article`` (see the module docstring).

    ``text`` is the content (or the summary when there is none) with repeated
    paragraphs removed, the headline dropped where the body repeats it, and the
    summary prepended only when the body does not already contain it.
    ``summary`` is the feed's summary as clean text, or the start of the text.
    """
    outlets = (*settings.outlets, feed)
    title = clean_title(entry.title, outlets=outlets)
    # Each text goes along with its paragraphs (``paras`` is ``list(paragraphs(text))``
    # throughout): splitting a 4 KB text again for each step, and hashing its new
    # paragraph strings again to find their cached keys, was ~5 % of normalizing an
    # entry (issue 17).
    summary_paras = unique_paragraphs(html_paragraphs(entry.summary_html))
    body_paras = unique_paragraphs(html_paragraphs(entry.content_html))
    summary_text = "\n\n".join(summary_paras)
    body_text = "\n\n".join(body_paras)
    if summary_text and body_text and paragraph_key(summary_text) == paragraph_key(body_text):
        summary_text, summary_paras = body_text, body_paras
    text = _without_repeats(_merge_summary(summary_text, body_text), summary_text, body_text)
    if text == body_text:
        paras = body_paras
    elif text == summary_text:
        paras = summary_paras
    else:
        paras = list(paragraphs(text))
    paras, text = _drop_title(paras, text, title)
    if title != entry.title:
        # the raw headline (with its branding) may open the body too
        paras, text = _drop_title(paras, text, html_to_text(entry.title))
    if summary_text:
        summary = _drop_title(summary_paras, summary_text, title)[1] or summary_text
    else:
        summary = _truncate(paras[0] if paras else "", settings.summary_max_chars)
        summary = drop_title(summary, title) or summary

    html_source = entry.content_html or entry.summary_html
    if html_source and not looks_like_html(html_source):
        # plain text: give it paragraphs before sanitizing so it displays as written
        html_source = "".join(f"<p>{_escape(p)}</p>" for p in paras)
    html = sanitize_html(html_source, allow_images=settings.allow_images)

    published, estimated = _publication_time(entry, fetched_at, settings)
    language = None
    if settings.detect_language:
        language = detect_language(
            # detection reads the start only: no copy of the whole text
            f"{title}\n\n{text[: settings.language_sample_chars]}",
            min_chars=settings.min_language_chars,
            min_confidence=settings.min_language_confidence,
            sample_chars=settings.language_sample_chars,
        )
    link = entry.link
    return Article(
        feed=feed,
        guid=entry.guid,
        url=link,
        canonical_url=canonical_url(link) if link else None,
        title=title,
        title_raw=entry.title,
        summary=summary,
        text=text,
        html=html,
        author=clean_author(entry.author),
        published=published,
        published_estimated=estimated,
        fetched_at=_utc(fetched_at),
        language=language,
        content_hash=content_hash_paragraphs(title, paras),
        variant=entry.variant,
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
