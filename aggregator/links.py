"""Untrusted URLs from feeds made safe: control characters out, http(s) only, relative
links resolved against the feed.

Used by ``parse`` on every link and HTML body it hands on; kept apart because it
knows nothing of feed formats.
"""

from __future__ import annotations

import functools
import html
import ipaddress
import re
from urllib.parse import urljoin, urlsplit

__all__ = ["absolutize_html", "http_url_problem", "safe_link", "strip_control"]

# C0 controls except TAB/LF/CR, DEL, C1 controls, lone surrogates (they make UTF-8
# encoding fail later, in the database driver) and the non-characters U+FFFE/U+FFFF.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_URL_NOISE = re.compile("[\x00-\x20\x7f-\x9f]")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
_SAFE_SCHEMES = frozenset({"http", "https"})


# The same characters as _CONTROL, found in the text's UTF-8 instead (issue 17): a C0
# control or DEL is one byte below 0x20 or 0x7F (never inside a longer sequence, whose
# bytes are all 0x80 or above), a C1 control is C2 80-9F, U+FFFE/U+FFFF are EF BF BE/BF,
# and a lone surrogate has no UTF-8 at all. _CONTROL's character class costs ~10 ns a
# character of a body that is not all Latin-1; the encoding, one bytes.translate and a
# memchr for each lead byte cost under half of that (57 -> 24 us on a farm body).
_C0_ZERO = bytes(
    0 if (b < 0x20 and b not in (0x09, 0x0A, 0x0D)) or b == 0x7F else 1 for b in range(256)
)
_C1 = re.compile(b"\xc2[\x80-\x9f]")


def strip_control(text: str) -> str:
    """Remove characters no text field may carry (keeps TAB, LF, CR)."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return _CONTROL.sub("", text)
    if (
        0 in data.translate(_C0_ZERO)
        or (b"\xc2" in data and _C1.search(data) is not None)
        or (b"\xef" in data and (b"\xef\xbf\xbe" in data or b"\xef\xbf\xbf" in data))
    ):
        return _CONTROL.sub("", text)
    return text


def http_url_problem(url: str) -> str | None:
    """Why the fetcher could not request ``url``, or None: the check httpx itself makes
    (an IPv4 address out of range such as 256.0.0.1, an invalid port or host name),
    plus control characters, which httpx refuses and a database may too (a NUL).

    Configuration and API use this, so that a URL they accept is one every poll can
    at least send.
    """
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return "control characters (NUL, TAB, newline…) are not allowed in a URL"
    if _plainly_sendable(url):
        return None
    return _httpx_url_problem(url)


# A URL of the everyday shape: http(s), a host name whose last label starts with a
# letter, or a dotted IPv4 address, a port of at most four digits, and printable ASCII
# after it. httpx accepts every such URL (tests/test_links.py holds the two answers
# side by side on fixtures and random URLs), so the configuration can check a file's
# feeds without importing httpx, which with its command-line client (click, pygments,
# rich) is about a fifth of what `aggregator feeds` imports (issue 17).
_PLAIN_URL = re.compile(
    r"https?://"
    r"(?P<host>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"|(?P<ipv4>[0-9]{1,3}(?:\.[0-9]{1,3}){3}))"
    r"(?::[0-9]{1,4})?"
    r"(?:[/?#][!-~]*)?"
)
_PLAIN_MAX = 2048


def _plainly_sendable(url: str) -> bool:
    """Whether ``url`` has the everyday shape httpx always accepts (see _PLAIN_URL)."""
    if len(url) > _PLAIN_MAX:
        return False
    m = _PLAIN_URL.fullmatch(url)
    if m is None:
        return False
    if m["ipv4"] is not None:
        # httpx refuses a dotted quad the standard library refuses (256.0.0.1, 01.2.3.4).
        try:
            ipaddress.IPv4Address(m["ipv4"])
        except ValueError:
            return False
    return True


def _httpx_url_problem(url: str) -> str | None:
    """httpx's own answer, for every URL not of the everyday shape."""
    import httpx  # only here: see _PLAIN_URL

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
        return f"invalid URL: {exc}"[:300]
    if parsed.scheme not in _SAFE_SCHEMES or not parsed.host:
        return "not an http(s) URL"
    return None


def safe_link(raw: object, base: str) -> str | None:
    """``raw`` resolved against ``base`` if it is an http(s) URL with a host, else None.

    The scheme is checked on the entity-decoded form too, so ``&#106;avascript:`` (left
    over when a feed double-encodes) cannot become a script link when rendered.
    """
    if not isinstance(raw, str):
        return None
    # Browsers drop TAB/LF/CR anywhere in a URL and trim C0/space at the ends, so
    # "java\tscript:" is javascript: to them; do the same before judging the scheme.
    candidate = strip_control(raw).replace("\t", "").replace("\n", "").replace("\r", "")
    candidate = candidate.strip(" \x0c")
    if not candidate or len(candidate) > 8192:
        return None
    probe = _URL_NOISE.sub("", html.unescape(html.unescape(candidate)))
    scheme = _SCHEME.match(probe)
    if scheme and scheme.group(1).lower() not in _SAFE_SCHEMES:
        return None
    try:
        # urljoin("https://base/", "https://") gives back the base; only relative
        # references are joined, so a broken absolute URL stays broken.
        absolute = candidate if scheme else urljoin(base, candidate)
        parts = urlsplit(absolute)
    except ValueError:  # e.g. an invalid IPv6 literal
        return None
    if parts.scheme.lower() not in _SAFE_SCHEMES or not parts.hostname:
        return None
    return absolute


# URL-valued attributes in article HTML (feedparser's list, minus obsolete ones).
# Start tags holding an "=": only those can carry a URL attribute, and matching only
# them spares a Python call per <p> or <em> (a tag without one was left as it was).
_TAG = re.compile(r"<[a-zA-Z][^<>=]*=[^<>]*>")
_URL_ATTR = re.compile(
    r"""(\s(?:href|src|poster|cite|action|background|longdesc)\s*=\s*)"""
    r"""(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""",
    re.IGNORECASE,
)
_ABSOLUTE = re.compile(r"^\s*(?:[a-zA-Z][a-zA-Z0-9+.\-]*:|#)")
# An "=" that may start a URL attribute's value _ABSOLUTE does not take: after one of
# the names (or after a space, for "href = ..."), before a value that is not absolute.
# Wherever absolutize_html would change a value, this matches at its "="; where it
# matches nowhere (a body whose links are all absolute, as the farm's are), the body is
# returned as it is, without a Python call per tag and attribute (issue 17). Possessive
# (no backtracking to a shorter space or no quote, which would make every "=" a match);
# the names are looked behind from the "=", so re skips from one "=" to the next.
_MAYBE_RELATIVE = re.compile(
    r"=(?:(?<=\shref=)|(?<=\ssrc=)|(?<=\sposter=)|(?<=\scite=)|(?<=\saction=)"
    r"|(?<=\sbackground=)|(?<=\slongdesc=)|(?<=\s=))"
    r"\s*+[\"']?+(?!\s*(?:[a-zA-Z][a-zA-Z0-9+.\-]*:|#))",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=256)
def _origin(base: str) -> str:
    """``scheme://host[:port]`` of an absolute http(s) base, else ""."""
    try:
        parts = urlsplit(base)
    except ValueError:
        return ""
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return ""


def absolutize_html(html_text: str, base: str) -> str:
    """Resolve relative URL attributes in ``html_text`` against ``base``.

    Done here with one regular expression instead of feedparser's
    ``resolve_relative_uris``, which re-parses every HTML body with sgmllib and made
    parsing ~3.5x slower on 2-6 KB bodies (benchmarks/bench_fetch.py). Absolute URLs
    and fragments are left alone; scheme checks on them are the sanitizer's job
    (normalize, nh3), which also drops whatever markup this does not understand.
    """
    if "=" not in html_text or _MAYBE_RELATIVE.search(html_text) is None:
        return html_text
    origin = _origin(base)

    def repl(match: re.Match[str]) -> str:
        quote = '"' if match.group(2) is not None else "'" if match.group(3) is not None else ""
        value = next(g for g in match.groups()[1:] if g is not None)
        if not value or _ABSOLUTE.match(value):
            return match.group(0)
        # A browser decodes character references before it reads the scheme, so
        # "javascript&#58;x()" is javascript:. Judged on the raw value it looked
        # relative and was joined to the feed URL. Decoded, a scheme shows: http(s)
        # stays as written, anything else loses the attribute.
        decoded = _URL_NOISE.sub("", html.unescape(html.unescape(value)))
        scheme = _SCHEME.match(decoded)
        if scheme:
            return match.group(0) if scheme.group(1).lower() in _SAFE_SCHEMES else ""
        value = value.strip()
        if value.startswith("/") and not value.startswith("//") and origin:
            resolved = origin + value  # the common case, without urljoin's cost
        else:
            try:
                resolved = urljoin(base, value)
            except ValueError:
                return match.group(0)
        return f"{match.group(1)}{quote}{resolved}{quote}"

    def in_tag(match: re.Match[str]) -> str:
        # Only inside real start tags: escaped markup in text ("&lt;img src=...")
        # and prose like "src=" stay as written.
        return _URL_ATTR.sub(repl, match.group(0))

    return _TAG.sub(in_tag, html_text)
