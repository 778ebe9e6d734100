"""A lean reader for the everyday RSS (0.9x, 1.0, 2.0) and Atom 1.0 document: feedparser's
result, for the fields ``parse`` consumes, without feedparser's per-element Python.

feedparser spends about half a millisecond per news item in its SAX handlers (every
element goes through attribute normalization, xml:base and xml:lang tracking, a method
lookup by name, deep copies of content parameters). :func:`parse` drives pyexpat
directly — the same expat, with the same namespace handling, that feedparser's strict
parser uses, so it accepts exactly the documents feedparser parses strictly — and
applies feedparser's own rules (ported from ``feedparser.mixin`` and
``feedparser.namespaces._base`` 6.0, element by element) to the handful of elements that
reach a :class:`~aggregator.models.ParsedFeed`: titles, links, GUIDs, dates, authors,
summaries and bodies, TTL and skip lists. Dates go through feedparser's own
``_parse_date``, the encoding through its ``convert_to_utf8``: the same functions, not
copies; URLs get what its ``_urljoin`` with no base gives, by its own expression.

It returns a dict shaped like feedparser's result (the keys ``parse`` reads), or None
to DECLINE, and the caller then runs feedparser as before. It declines whenever it is
not sure to give what feedparser gives: a DOCTYPE or entity declarations, xml:base,
an element inside text (inline XHTML, or escaped markup that is not), base64 or XHTML
content, an element with a feedparser handler not ported here (iTunes, GeoRSS, Media
RSS players and ratings, PSC chapters…), a name feedparser maps to a key it also reads,
an encoding feedparser could not settle, a document expat rejects (feedparser then
falls back to its loose parser), Atom 0.3 and older, and any surprise (an exception
here is a decline, never an error).

``tests/test_parse_fastpath.py`` shows the result identical to feedparser's on the
benchmark farm, every feed fixture and random documents.
"""

from __future__ import annotations

import codecs
import contextlib
import re
from collections.abc import Mapping
from typing import Any
from xml.parsers import expat

import feedparser.mixin
from feedparser.datetimes import _parse_date
from feedparser.encodings import convert_to_utf8
from feedparser.exceptions import CharacterEncodingOverride
from feedparser.html import _cp1252
from feedparser.urls import _urifixer
from feedparser.util import FeedParserDict

__all__ = ["CONTROL_FREE", "ENABLED", "parse"]

# Off: every document goes to feedparser (the identity tests compare both paths).
ENABLED = True

_Mixin = feedparser.mixin._FeedParserMixin
_MATCH_NAMESPACES = {uri.lower(): prefix for uri, prefix in _Mixin.namespaces.items()}
_HANDLED = frozenset(
    name.split("_", 2)[2] for name in dir(_Mixin) if name.startswith(("_start_", "_end_"))
)
_HTML_TYPES = frozenset(_Mixin.html_types)
_USERLAND = "backend.userland.com/rss"
_XLINK = "http://www.w3.org/1999/xlink"
# Keys feedparser's handlers read back (an element named so by a stray namespace
# prefix would overwrite them), and the names FeedParserDict stores under another key.
_STATE_KEYS = frozenset(
    {"links", "authors", "tags", "guidislink", "content", "summary", "link", "id"}
    | {"image", "textinput", "source", "media_content", "media_thumbnail", "media_credit"}
    | {"aggregator_extension_errors", "publishers", "contributors", "entries", "feed"}
) | (frozenset(FeedParserDict.keymap) - {"items"})
# Unprefixed elements that do not end feedparser's "in an image" / "in a text input" state.
_IMAGE_CHILDREN = frozenset({"title", "link", "description", "url", "href", "width", "height"})
_TEXTINPUT_CHILDREN = frozenset({"title", "link", "description", "name"})
# RSS of any version (their elements are read alike) and Atom 1.0; not Atom 0.3 and
# older (escaped and base64 modes).
_VERSIONS = frozenset({"rss", "rss090", "rss091u", "rss092", "rss093", "rss094", "rss20"})
_VERSIONS |= {"rss10", "atom10"}
_C1_CONTROLS = re.compile("[\x80-\x9f]")
_LINK_REF = re.compile("&([A-Za-z0-9_]+);")
_AUTHOR_EMAIL = re.compile(
    r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"""
)
_looks_like_html = _Mixin.looks_like_html
_map_content_type = _Mixin.map_content_type


class _Decline(Exception):
    """Not a document this reader is sure about: feedparser reads it."""


def parse(body: bytes, headers: Mapping[str, str], *, utf8: bool = False) -> dict[str, Any] | None:
    """feedparser's result for ``body`` (the keys ``parse`` reads), or None to decline.

    ``headers`` are the lower-cased response headers ``parse`` would hand feedparser;
    ``utf8`` says the caller has seen the whole body decode as UTF-8 (not checked again).
    """
    if not ENABLED or b"xml:base" in body:
        return None
    try:
        return _Reader(body, headers, utf8).run()
    except Exception:  # _Decline, expat's error, or a surprise: feedparser decides
        return None


# Both of feedparser's repairs below change only text holding a character in
# U+0080-U+00BF: the windows-1252 mapping works on U+0080-U+009F, and text read back as
# UTF-8 from its Latin-1 bytes needs continuation bytes 0x80-0xBF. In the UTF-8 document
# expat reads, such a character is the bytes C2 80-BF or a character reference; when
# the document holds neither, no element's text needs either repair.
# Two searches, each starting with a fixed byte string, where one alternation of both
# tested every byte of the document against a class (a 255 KB farm document of 50
# entries 3.7 ms, now 5 us in a timeit, issue 17). Together they find what it found.
_REPAIRABLE_BYTE = re.compile(rb"\xc2[\x80-\xbf]")
_REPAIRABLE_REFERENCE = re.compile(
    rb"&#(?:[xX]0*[89abAB][0-9a-fA-F]|0*1(?:2[89]|[3-8][0-9]|9[01]));"
)


def _repairable(data: bytes) -> bool:
    """Whether ``data`` holds a character in U+0080-U+00BF, raw or as a reference."""
    # One byte looked for with ``in`` (memchr) first: ~100x faster than re when absent.
    return (b"\xc2" in data and _REPAIRABLE_BYTE.search(data) is not None) or (
        b"#" in data and _REPAIRABLE_REFERENCE.search(data) is not None
    )


# The key of a result that says whether no text in it can hold a character
# ``links.strip_control`` removes (feedparser's results have no such key).
CONTROL_FREE = "aggregator_control_free"
# C0 controls but TAB, LF and CR, and DEL: each one byte in UTF-8, and never a byte of
# a longer sequence.
_CONTROL_BYTES = tuple(bytes([b]) for b in [*range(0x20), 0x7F] if b not in (0x09, 0x0A, 0x0D))
_REFERENCE = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")


def _control_free(data: bytes) -> bool:
    """Whether no text read from ``data`` (the UTF-8 expat reads) holds a character
    ``links.strip_control`` removes, when ``_repairable(data)`` is False: then parse
    need not look for them in every field of every entry, ~10 us an entry of a farm
    document's ~90 (issue 17).

    Every text of the result is the document's characters (expat decodes its UTF-8
    and its references; the repairs run only on a repairable document), joined and cut,
    or constant. The characters: a C0 control (but TAB, LF, CR) or DEL is its one byte;
    a C1 control is C2 80-9F, which ``_repairable`` finds, as it finds references to
    U+0080-U+00BF; U+FFFE/U+FFFF are EF BF BE/BF; a lone surrogate has no UTF-8; and
    any of them may be a character reference. A memchr for each of the 30 byte values
    (1.8 us an entry) costs less than one bytes.translate over the document (4.6 us).
    tests/test_parse_control_free.py holds the answer to strip_control's.
    """
    if any(byte in data for byte in _CONTROL_BYTES):
        return False
    if b"\xef\xbf\xbe" in data or b"\xef\xbf\xbf" in data:
        return False
    if b"&#" in data:
        for match in _REFERENCE.finditer(data):
            hexa, decimal = match.groups()
            code = int(hexa, 16) if hexa else int(decimal)
            if (
                (code < 0x20 and code not in (0x09, 0x0A, 0x0D))
                or 0x7F <= code <= 0x9F
                or 0xD800 <= code <= 0xDFFF
                or code in (0xFFFE, 0xFFFF)
            ):
                return False
    return True


def _without_extra_slashes(uri: str) -> str:
    """feedparser's ``_urljoin("", uri)``: "http:////x" becomes "http://x" (urljoin with
    no base gives the URI back). Its ``_urifixer.sub`` calls Python for the template and
    tries every position of the URI although only the first can match: 18,500
    instructions a link, this one match 3,700 (callgrind, issue 17);
    tests/test_parse_fastpath.py holds the two alike."""
    match: re.Match[str] | None = _urifixer.match(uri)
    if match is None or not match.group(2):
        return uri
    return match.group(1) + uri[match.end(2) :]


# What convert_to_utf8 puts in front of every document it could decode.
_UTF8_DECLARATION = b"<?xml version='1.0' encoding='utf-8'?>"


def _to_utf8(
    headers: Mapping[str, str], body: bytes, result: dict[str, Any], utf8: bool = False
) -> bytes:
    """``convert_to_utf8(headers, body, result)``, run on the document's head only when
    the rest cannot change its answer.

    convert_to_utf8 decodes the whole document, replaces its XML declaration with a
    ``re.sub`` that tries every position of the text (only the first can match) and
    encodes it back: ~16 ms for a 255 KB farm document of 50 entries, a fifth of
    parsing it (issue 17). What it decides depends on the headers, the first bytes (a
    BOM or an encoding's marker), the declaration's ``encoding`` (``.`` in its pattern
    stops at the first line) and which encodings decode the whole document, tried in
    order; the declaration it replaces ends at the text's first ">". So for a head
    reaching past the first ">" and the first newline, both ASCII (a UTF-8 character
    boundary), when the document starts with "<" and no NUL (no BOM, no marker: the
    same first bytes decided for head and whole) and UTF-8 was the first encoding tried
    and it decoded the head (no override), the whole document's answer is UTF-8 too iff
    the rest decodes as UTF-8, and its bytes are the head's followed by the rest as
    they are. Anything else gets the full call. tests/test_parse_utf8_head.py holds the
    two alike on the farm, every fixture and random documents.
    """
    head_end = max(body.find(b">"), body.find(b"\n")) + 1
    head = body[:head_end]
    if body[:1] != b"<" or body[1:2] == b"\x00" or b">" not in head or b"\n" not in head:
        return _convert(headers, body, result)
    probe = dict(result)
    head = _convert(headers, head, probe)
    rest = body[head_end:]
    if probe.get("encoding") != "utf-8" or isinstance(
        probe.get("bozo_exception"), CharacterEncodingOverride
    ):
        return _convert(headers, body, result)
    # ``utf8``: the whole body decodes, so does its rest (the head ends with an ASCII
    # byte, a character boundary); _settle_encoding has just checked it (issue 17).
    if not utf8 and not rest.isascii() and not is_utf8(rest):
        return _convert(headers, body, result)
    result.update(probe)
    return head + rest


def _text(output: str) -> str:
    """What feedparser's ``pop`` does to the text of an element that expects text, after
    the URI resolution (encoding repairs; sanitizing and resolution are off)."""
    if not output.isascii():
        # feedparser "undoes" UTF-8 read as Latin-1 when the text allows it.
        with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
            output = output.encode("iso-8859-1").decode("utf-8")
        if _C1_CONTROLS.search(output) is not None:
            output = output.translate(_cp1252)
    return output


# Validated in pieces: one decode of a 255 KB document builds a ~0.5 MB text, a fresh
# mapping whose every page the kernel faults in and zeroes; pieces this size reuse the
# heap's memory.
_UTF8_PIECE = 1 << 15


def is_utf8(data: bytes) -> bool:
    """Whether ``data`` decodes as UTF-8 (a character may span two pieces)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for start in range(0, len(data), _UTF8_PIECE):
            decoder.decode(view[start : start + _UTF8_PIECE])
        decoder.decode(b"", True)
    except UnicodeDecodeError:
        return False
    return True


def _convert(headers: Mapping[str, str], body: bytes, result: dict[str, Any]) -> bytes:
    """feedparser's ``convert_to_utf8``, typed."""
    data: bytes = convert_to_utf8(headers, body, result)
    return data


class _Reader:
    __slots__ = (
        "contentparams",
        "data",
        "dates",
        "depth",
        "entries",
        "entry_depths",
        "feeddata",
        "guidislink",
        "has_content",
        "inauthor",
        "incontent",
        "incontributor",
        "inentry",
        "infeed",
        "inimage",
        "insource",
        "intextinput",
        "keys",
        "namespacemap",
        "namespaces_in_use",
        "repairable",
        "result",
        "sourcedata",
        "stack",
        "summary_key",
        "title_depth",
        "version",
    )

    def __init__(self, body: bytes, headers: Mapping[str, str], utf8: bool) -> None:
        response_headers = {
            k: headers[k] for k in ("content-type", "content-language") if k in headers
        }
        response_headers["content-location"] = ""
        self.result: dict[str, Any] = {"bozo": False, "headers": response_headers}
        data = _to_utf8(response_headers, body, self.result, utf8)
        if not self.result.get("encoding"):
            raise _Decline  # feedparser's loose parser
        if not data.startswith(_UTF8_DECLARATION):
            raise _Decline  # expat would not read UTF-8, which _repairable assumes
        # A DOCTYPE (feedparser's replace_doctype rewrites it, and entities need one)
        # makes expat call _doctype, which declines.
        self.data = data
        self.repairable = _repairable(data)
        self.version = ""
        self.depth = 0
        self.title_depth = -1
        self.infeed = self.inentry = self.inimage = self.inauthor = self.insource = 0
        self.intextinput = self.incontributor = 0
        self.sourcedata: dict[str, Any] = {}
        self.dates: dict[str, Any] = {}
        self.incontent = 0
        self.has_content = 0
        self.guidislink = False
        self.summary_key: str | None = None
        self.contentparams: dict[str, Any] = {}
        self.stack: list[list[Any]] = []
        self.feeddata: dict[str, Any] = {}
        self.entries: list[dict[str, Any]] = []
        self.entry_depths: list[dict[str, int]] = []
        self.namespacemap: dict[str | None, str] = {}
        self.namespaces_in_use: dict[str, str] = {}
        self.keys: dict[str, tuple[str, str, str]] = {}

    def run(self) -> dict[str, Any] | None:
        data: bytes = self.data
        parser = expat.ParserCreate(None, " ")
        parser.namespace_prefixes = True
        parser.buffer_text = True
        parser.buffer_size = 1 << 16
        parser.StartNamespaceDeclHandler = self._namespace
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._characters
        parser.StartDoctypeDeclHandler = self._doctype
        # The whole document in one call marked final. ParseFile fed it 2 KB at a time,
        # each piece not final, and expat 2.5 takes ~40 % longer over pieces not final
        # than over the same bytes in one final call (farm documents with handlers that
        # do nothing: 24.8 against 17.3 us an entry; issue 17). The same events in the
        # same order; text may arrive in other pieces, which _characters collects and
        # _pop joins. expat holds a copy of the document (of each MiB: pyexpat feeds a
        # larger one in pieces) while it parses.
        parser.Parse(data, True)
        if self.version not in _VERSIONS:
            return None
        result = self.result
        result["feed"] = self.feeddata
        result["entries"] = self.entries
        result["version"] = self.version
        result[CONTROL_FREE] = not self.repairable and _control_free(data)
        return result

    # -- expat callbacks ---------------------------------------------------------------

    def _doctype(self, *args: Any) -> None:
        raise _Decline

    def _characters(self, text: str) -> None:
        if self.stack:
            self.stack[-1][2].append(text)

    def _namespace(self, prefix: str | None, uri: str | None) -> None:
        # feedparser's startPrefixMapping and track_namespace.
        if not uri:
            return
        prefix = prefix or None
        if prefix and uri == _XLINK:
            raise _Decline  # feedparser adds it to the next element's attributes
        lower = uri.lower()
        if not self.version:
            if (prefix, lower) == (None, "http://my.netscape.com/rdf/simple/0.9/"):
                self.version = "rss090"
            elif lower == "http://purl.org/rss/1.0/":
                self.version = "rss10"
            elif lower == "http://www.w3.org/2005/atom":
                self.version = "atom10"
        if _USERLAND in lower:
            uri = lower = "http://backend.userland.com/rss"
        self.keys.clear()
        known = _MATCH_NAMESPACES.get(lower)
        if known is not None:
            self.namespacemap[prefix] = known
            self.namespaces_in_use[known] = uri
        else:
            self.namespaces_in_use[prefix or ""] = uri

    def _key(self, name: str) -> tuple[str, str, str]:
        """(tag, prefix, key): feedparser's element name ("dc:creator"), its standard
        prefix ("dc") and handler key ("dc_creator") for expat's "uri local prefix"
        name. Cached until the next namespace declaration changes the mapping."""
        known = self.keys.get(name)
        if known is None:
            known = self.keys[name] = self._find_key(name)
        return known

    def _find_key(self, name: str) -> tuple[str, str, str]:
        parts = name.split(" ")
        if len(parts) == 1:
            tag = name.lower()
        else:
            namespace = parts[0]
            lower = namespace.lower()
            if _USERLAND in lower:
                namespace = lower = "http://backend.userland.com/rss"
            local = parts[1].lower()
            if local in ("math", "svg"):
                raise _Decline
            prefix = _MATCH_NAMESPACES.get(lower)
            if prefix:
                tag = f"{prefix.lower()}:{local}"
            else:
                tag = local
                if namespace:
                    for declared, value in self.namespaces_in_use.items():
                        if declared and value == namespace:
                            tag = f"{declared}:{local}"
                            break
            tag = tag.lower()
        if ":" in tag:
            prefix, suffix = tag.split(":", 1)
        else:
            prefix, suffix = "", tag
        prefix = self.namespacemap.get(prefix, prefix)
        return tag, prefix, f"{prefix}_{suffix}" if prefix else suffix

    def _attrs(self, attrs: dict[str, str]) -> dict[str, str]:
        # feedparser's startElementNS, then _normalize_attributes.
        pairs: dict[str, str] = {}
        qnames: list[tuple[str, str]] = []
        for name, value in attrs.items():
            parts = name.split(" ")
            if len(parts) == 1:
                pairs[name.lower()] = value
                qnames.append((name, value))
                continue
            prefix = _MATCH_NAMESPACES.get(parts[0].lower(), "")
            local = f"{prefix}:{parts[1]}" if prefix else parts[1]
            pairs[local.lower()] = value
            qnames.append((f"{parts[2]}:{parts[1]}" if len(parts) == 3 else parts[1], value))
        for qname, value in qnames:
            pairs[qname.lower()] = value
        out: dict[str, str] = {}
        for k, v in pairs.items():
            k = k.lower()
            out[k] = v.lower() if k in ("rel", "type") else v
        return out

    def _start(self, name: str, raw_attrs: dict[str, str]) -> None:
        self.depth += 1
        attrs = self._attrs(raw_attrs) if raw_attrs else {}
        if "xml:base" in attrs or "base" in attrs:
            raise _Decline
        if self.incontent:
            raise _Decline  # markup inside text: feedparser rebuilds it as XHTML
        tag, prefix, key = self._key(name)
        if not prefix and tag not in _TEXTINPUT_CHILDREN:
            self.intextinput = 0
        if not prefix and tag not in _IMAGE_CHILDREN:
            self.inimage = 0
        handler = _STARTS.get(key)
        if handler is not None:
            handler(self, attrs)
        elif key in _HANDLED or key in _STATE_KEYS or key.endswith(("_detail", "_parsed")):
            raise _Decline
        elif attrs:
            self._context()[key] = attrs
        else:
            self.stack.append([key, 1, []])

    def _end(self, name: str) -> None:
        key = self._key(name)[2]
        handler = _ENDS.get(key)
        if handler is not None:
            handler(self)
        else:
            self._pop(key)
        self.depth -= 1

    # -- feedparser's mixin, for the elements handled ------------------------------------

    def _context(self) -> dict[str, Any]:
        if self.insource:
            return self.sourcedata
        if self.inimage and "image" in self.feeddata:
            image: dict[str, Any] = self.feeddata["image"]
            return image
        if self.intextinput:
            if "textinput" not in self.feeddata:
                raise _Decline  # feedparser's KeyError
            textinput: dict[str, Any] = self.feeddata["textinput"]
            return textinput
        if self.inentry:
            return self.entries[-1]
        return self.feeddata

    def _push(self, key: str, expecting_text: int) -> None:
        self.stack.append([key, expecting_text, []])

    def _push_content(self, key: str, attrs: dict[str, str], default: str, expecting: int) -> None:
        self.incontent += 1
        kind = _map_content_type(attrs.get("type", default))
        if kind == "application/xhtml+xml":
            raise _Decline
        if not kind.startswith("text/") and not kind.endswith(("+xml", "/xml")):
            raise _Decline  # base64
        if attrs.get("mode", "") == "base64":
            raise _Decline
        self.contentparams = {"type": kind, "language": None, "base": ""}
        self._push(key, expecting)

    def _pop_content(self, key: str) -> str | None:
        value = self._pop(key)
        self.incontent -= 1
        self.contentparams = {}
        return value

    def _pop(self, element: str) -> str | None:
        stack = self.stack
        if not stack or stack[-1][0] != element:
            return None
        _, expecting_text, pieces = stack.pop()
        output = "".join(pieces).strip()
        if not expecting_text:
            return output
        relative = output and element in _Mixin.can_be_relative_uri
        if relative and (element != "id" or self.guidislink):
            output = _without_extra_slashes(output)
        params = self.contentparams
        if (
            params.get("type") == "text/plain"
            and not self.version.startswith("atom")
            and _looks_like_html(output)
        ):
            params["type"] = "text/html"
        if self.repairable:
            output = _text(output)
        if element in ("category", "tags", "itunes_keywords"):
            return output
        if element == "title" and -1 < self.title_depth <= self.depth:
            return output
        if self.inentry and not self.insource:
            entry = self.entries[-1]
            if element == "content":
                entry.setdefault("content", []).append({**params, "value": output})
            elif element == "link":
                if not self.inimage:
                    output = _LINK_REF.sub(r"&\g<1>", output.replace("&amp;", "&"))
                    entry["link"] = output
                    if output:
                        entry["links"][-1]["href"] = output
            else:
                if element == "description":
                    element = "summary"
                depths = self.entry_depths[-1]
                old = depths.get(element)
                if old is None or self.depth <= old:
                    depths[element] = self.depth
                    entry[element] = output
                if self.incontent:
                    entry[element + "_detail"] = {**params, "value": output}
        elif self.infeed or self.insource:
            context = self._context()
            if element == "description":
                element = "subtitle"
            context[element] = output
            if element == "link":
                output = _LINK_REF.sub(r"&\g<1>", output)
                context["link"] = output
                context["links"][-1]["href"] = output
            elif self.incontent:
                context[element + "_detail"] = {**params, "value": output}
        return output

    def _save(self, key: str, value: Any, overwrite: bool = False) -> None:
        context = self._context()
        if overwrite:
            context[key] = value
        else:
            context.setdefault(key, value)

    def _sync_author_detail(self) -> None:
        context = self._context()
        detail = context.get("authors", [{}])[-1]
        if detail:
            name, email = detail.get("name"), detail.get("email")
            if name and email:
                context["author"] = f"{name} ({email})"
            elif name:
                context["author"] = name
            elif email:
                context["author"] = email
            return
        author, email = context.get("author"), None
        if not author:
            return
        match = _AUTHOR_EMAIL.search(author)
        if match:
            email = match.group(0)
            author = author.replace(email, "").replace("()", "").replace("<>", "")
            author = author.replace("&lt;&gt;", "").strip()
            if author and author[0] == "(":
                author = author[1:]
            if author and author[-1] == ")":
                author = author[:-1]
            author = author.strip()
        if author or email:
            context.setdefault("author_detail", detail)
        if author:
            detail["name"] = author
        if email:
            detail["email"] = email

    def _save_contributor(self, key: str, value: Any) -> None:
        context = self._context()
        context.setdefault("contributors", [{}])
        context["contributors"][-1][key] = value

    def _save_author(self, key: str, value: Any) -> None:
        context = self._context()
        context.setdefault("author_detail", {})[key] = value
        self._sync_author_detail()
        context.setdefault("authors", [{}])
        context["authors"][-1][key] = value

    # starts

    def start_rss(self, attrs: dict[str, str]) -> None:
        if not self.version or not self.version.startswith("rss"):
            given = attrs.get("version", "")
            known = {"0.91": "rss091u", "0.92": "rss092", "0.93": "rss093", "0.94": "rss094"}
            if given in known:
                self.version = known[given]
            elif given.startswith("2."):
                self.version = "rss20"
            else:
                self.version = "rss"

    def start_channel(self, attrs: dict[str, str]) -> None:
        self.infeed = 1
        if "lastmod" in attrs or "href" in attrs:
            raise _Decline

    def start_feed(self, attrs: dict[str, str]) -> None:
        self.infeed = 1
        if not self.version:
            known = {"0.1": "atom01", "0.2": "atom02", "0.3": "atom03"}
            self.version = known.get(attrs.get("version") or "", "atom")

    def end_channel(self) -> None:
        self.infeed = 0

    def start_image(self, attrs: dict[str, str]) -> None:
        context = self._context()
        if not self.inentry:
            context.setdefault("image", {})
        self.inimage = 1
        self.title_depth = -1
        self._push("image", 0)

    def end_image(self) -> None:
        self._pop("image")
        self.inimage = 0

    def start_textinput(self, attrs: dict[str, str]) -> None:
        self._context().setdefault("textinput", {})
        self.intextinput = 1
        self.title_depth = -1
        self._push("textinput", 0)

    def end_textinput(self) -> None:
        self._pop("textinput")
        self.intextinput = 0

    def start_contributor(self, attrs: dict[str, str]) -> None:
        self.incontributor = 1
        self._context().setdefault("contributors", []).append({})
        self._push("contributor", 0)

    def end_contributor(self) -> None:
        self._pop("contributor")
        self.incontributor = 0

    def start_dc_contributor(self, attrs: dict[str, str]) -> None:
        self.incontributor = 1
        self._context().setdefault("contributors", []).append({})
        self._push("name", 0)

    def end_dc_contributor(self) -> None:
        self.end_name()
        self.incontributor = 0

    def start_info(self, attrs: dict[str, str]) -> None:
        self._push_content("info", attrs, "text/plain", 1)

    def end_info(self) -> None:
        self._pop_content("info")

    def start_created(self, attrs: dict[str, str]) -> None:
        self._push("created", 1)

    def end_created(self) -> None:
        value = self._pop("created")
        self._save("created_parsed", self._date(value), overwrite=True)

    def start_expirationdate(self, attrs: dict[str, str]) -> None:
        self._push("expired", 1)

    def end_expirationdate(self) -> None:
        value = self._pop("expired")
        self._save("expired_parsed", self._date(value), overwrite=True)

    def start_item(self, attrs: dict[str, str]) -> None:
        if self.inimage or self.insource or "lastmod" in attrs or "href" in attrs:
            raise _Decline
        self.entries.append({})
        self.entry_depths.append({})
        self._push("item", 0)
        self.inentry = 1
        self.guidislink = False
        self.title_depth = -1
        about = attrs.get(self._standard_name("rdf:about"))
        if about:
            self.entries[-1]["id"] = about

    def _standard_name(self, name: str) -> str:
        prefix, _, suffix = name.partition(":")
        return self.namespacemap.get(prefix, prefix) + ":" + suffix

    def end_item(self) -> None:
        self._pop("item")
        self.inentry = 0
        self.has_content = 0

    def start_title(self, attrs: dict[str, str]) -> None:
        self._push_content(
            "title", attrs, "text/plain", self.infeed or self.inentry or self.insource
        )

    def end_title(self) -> None:
        value = self._pop_content("title")
        if value:
            self.title_depth = self.depth

    def start_link(self, attrs: dict[str, str]) -> None:
        attrs.setdefault("rel", "alternate")
        attrs.setdefault("type", "application/atom+xml" if attrs["rel"] == "self" else "text/html")
        context = self._context()
        href = attrs.get("url", attrs.get("uri", attrs.get("href")))
        if href:
            attrs.pop("url", None)
            attrs.pop("uri", None)
            attrs["href"] = href
        if "href" in attrs:
            attrs["href"] = _without_extra_slashes(attrs["href"])
        links = context.setdefault("links", [])
        if not (self.inentry and self.inimage):
            links.append(dict(attrs))
        if "href" in attrs:
            if attrs.get("rel") == "alternate" and _map_content_type(attrs["type"]) in _HTML_TYPES:
                context["link"] = attrs["href"]
        else:
            self._push("link", self.infeed or self.inentry or self.insource)

    def end_link(self) -> None:
        self._pop("link")

    def start_guid(self, attrs: dict[str, str]) -> None:
        self.guidislink = attrs.get("ispermalink", "true") == "true"
        self._push("id", 1)

    def end_guid(self) -> None:
        value = self._pop("id")
        self._save("guidislink", self.guidislink and "link" not in self._context())
        if self.guidislink:
            self._save("link", value)

    def _summary_taken(self) -> bool:
        return "summary" in self._context() and not self.has_content

    # A second summary or description (or a media:description after the description)
    # is read by feedparser as the entry's content.

    def start_description(self, attrs: dict[str, str]) -> None:
        if self._summary_taken():
            self.summary_key = "content"
            self.start_content(attrs)
            return
        expecting = self.infeed or self.inentry or self.insource
        self._push_content("description", attrs, "text/html", expecting)

    def end_description(self) -> None:
        if self.summary_key == "content":
            self.end_content()
        else:
            self._pop_content("description")
        self.summary_key = None

    def start_summary(self, attrs: dict[str, str]) -> None:
        if self._summary_taken():
            self.summary_key = "content"
            self.start_content(attrs)
            return
        self.summary_key = "summary"
        self._push_content("summary", attrs, "text/plain", 1)

    def end_summary(self) -> None:
        if self.summary_key == "content":
            self.end_content()
        else:
            self._pop_content(self.summary_key or "summary")
        self.summary_key = None

    def start_media_title(self, attrs: dict[str, str]) -> None:
        self.start_title(attrs)

    def end_media_title(self) -> None:
        title_depth = self.title_depth
        self.end_title()
        self.title_depth = title_depth

    def start_source(self, attrs: dict[str, str]) -> None:
        if self.insource:
            raise _Decline
        if "url" in attrs:
            self.sourcedata["href"] = attrs["url"]
        self._push("source", 1)
        self.insource = 1
        self.title_depth = -1

    def end_source(self) -> None:
        self.insource = 0
        value = self._pop("source")
        if value:
            self.sourcedata["title"] = value
        self._context()["source"] = dict(self.sourcedata)
        self.sourcedata.clear()

    def start_content_encoded(self, attrs: dict[str, str]) -> None:
        self.has_content = 1
        self._push_content("content", attrs, "text/html", 1)

    def start_content(self, attrs: dict[str, str]) -> None:
        self.has_content = 1
        self._push_content("content", attrs, "text/plain", 1)
        src = attrs.get("src")
        if src:
            self.contentparams["src"] = src
        # feedparser pushes "content" twice and pops it once.
        self._push("content", 1)

    def end_content(self) -> None:
        kind = self.contentparams.get("type")
        copy = _map_content_type(kind) in ({"text/plain"} | _HTML_TYPES)
        value = self._pop_content("content")
        if copy:
            self._save("summary", value)

    def _date(self, value: str | None) -> Any:
        # An entry's <published> and <updated> are often the same string, and
        # _parse_date is pure (its struct_time immutable): parse each string once.
        if value is None:
            return _parse_date(value)
        dates = self.dates
        if value not in dates:
            dates[value] = _parse_date(value)
        return dates[value]

    def start_published(self, attrs: dict[str, str]) -> None:
        self._push("published", 1)

    def end_published(self) -> None:
        value = self._pop("published")
        self._save("published_parsed", self._date(value), overwrite=True)

    def start_updated(self, attrs: dict[str, str]) -> None:
        self._push("updated", 1)

    def end_updated(self) -> None:
        value = self._pop("updated")
        self._save("updated_parsed", self._date(value), overwrite=True)

    def start_author(self, attrs: dict[str, str]) -> None:
        self.inauthor = 1
        self._push("author", 1)
        self._context().setdefault("authors", []).append({})

    def end_author(self) -> None:
        self._pop("author")
        self.inauthor = 0
        self._sync_author_detail()

    def start_name(self, attrs: dict[str, str]) -> None:
        self._push("name", 0)

    def end_name(self) -> None:
        value = self._pop("name")
        if self.inauthor:
            self._save_author("name", value)
        elif self.incontributor:
            self._save_contributor("name", value)
        elif self.intextinput:
            self._context()["name"] = value

    def start_email(self, attrs: dict[str, str]) -> None:
        self._push("email", 0)

    def end_email(self) -> None:
        value = self._pop("email")
        if self.inauthor:
            self._save_author("email", value)
        elif self.incontributor:
            self._save_contributor("email", value)

    def start_url(self, attrs: dict[str, str]) -> None:
        self._push("href", 1)

    def end_url(self) -> None:
        value = self._pop("href")
        if self.inauthor:
            self._save_author("href", value)
        elif self.incontributor:
            self._save_contributor("href", value)

    def start_width(self, attrs: dict[str, str]) -> None:
        self._push("width", 0)

    def end_width(self) -> None:
        self._end_size("width")

    def start_height(self, attrs: dict[str, str]) -> None:
        self._push("height", 0)

    def end_height(self) -> None:
        self._end_size("height")

    def _end_size(self, key: str) -> None:
        value = self._pop(key)
        try:
            number = int(value)  # type: ignore[arg-type]
        except ValueError:
            number = 0
        if self.inimage:
            self._context()[key] = number

    def start_category(self, attrs: dict[str, str]) -> None:
        # Tags are not read; feedparser's _add_tag only touches context["tags"].
        self._context().setdefault("tags", [])
        self._push("category", 1)

    def end_category(self) -> None:
        if self._pop("category") and "tags" not in self._context():
            raise _Decline  # feedparser's KeyError

    def start_media_category(self, attrs: dict[str, str]) -> None:
        self.start_category(attrs)

    def start_enclosure(self, attrs: dict[str, str]) -> None:
        self._context().setdefault("links", []).append({"rel": "enclosure"})

    def start_language(self, attrs: dict[str, str]) -> None:
        self._push("language", 1)

    def start_generator(self, attrs: dict[str, str]) -> None:
        self._push("generator", 1)

    def start_rights(self, attrs: dict[str, str]) -> None:
        self._push_content("rights", attrs, "text/plain", 1)

    def end_rights(self) -> None:
        self._pop_content("rights")

    def start_subtitle(self, attrs: dict[str, str]) -> None:
        self._push_content("subtitle", attrs, "text/plain", 1)

    def end_subtitle(self) -> None:
        self._pop_content("subtitle")

    def start_webmaster(self, attrs: dict[str, str]) -> None:
        self._push("publisher", 1)

    def end_webmaster(self) -> None:
        self._pop("publisher")

    def start_cloud(self, attrs: dict[str, str]) -> None:
        self._context()["cloud"] = attrs

    def start_media_content(self, attrs: dict[str, str]) -> None:
        self._context().setdefault("media_content", []).append(attrs)

    def start_media_thumbnail(self, attrs: dict[str, str]) -> None:
        self._context().setdefault("media_thumbnail", []).append(attrs)
        self._push("url", 1)

    def end_media_thumbnail(self) -> None:
        url = self._pop("url")
        if url is not None and url.strip() and "media_thumbnail" not in self._context():
            raise _Decline  # feedparser's handler would fail: a warning

    def start_media_group(self, attrs: dict[str, str]) -> None:
        pass

    def start_media_credit(self, attrs: dict[str, str]) -> None:
        self._context().setdefault("media_credit", []).append(attrs)
        self._push("credit", 1)

    def end_media_credit(self) -> None:
        credit = self._pop("credit")
        if credit is not None and credit.strip() and "media_credit" not in self._context():
            raise _Decline


def _pop_named(key: str) -> Any:
    def end(self: _Reader) -> None:
        self._pop(key)

    return end


_R = _Reader
_STARTS: dict[str, Any] = {
    "rss": _R.start_rss,
    "channel": _R.start_channel,
    "feed": _R.start_feed,
    "image": _R.start_image,
    "item": _R.start_item,
    "entry": _R.start_item,
    "title": _R.start_title,
    "dc_title": _R.start_title,
    "link": _R.start_link,
    "guid": _R.start_guid,
    "id": _R.start_guid,
    "description": _R.start_description,
    "dc_description": _R.start_description,
    "summary": _R.start_summary,
    "content_encoded": _R.start_content_encoded,
    "fullitem": _R.start_content_encoded,
    "content": _R.start_content,
    "pubdate": _R.start_published,
    "published": _R.start_published,
    "issued": _R.start_published,
    "dcterms_issued": _R.start_published,
    "updated": _R.start_updated,
    "modified": _R.start_updated,
    "lastbuilddate": _R.start_updated,
    "dc_date": _R.start_updated,
    "dcterms_modified": _R.start_updated,
    "author": _R.start_author,
    "managingeditor": _R.start_author,
    "dc_author": _R.start_author,
    "dc_creator": _R.start_author,
    "name": _R.start_name,
    "email": _R.start_email,
    "url": _R.start_url,
    "uri": _R.start_url,
    "homepage": _R.start_url,
    "width": _R.start_width,
    "height": _R.start_height,
    "category": _R.start_category,
    "keywords": _R.start_category,
    "dc_subject": _R.start_category,
    "media_category": _R.start_media_category,
    "enclosure": _R.start_enclosure,
    "language": _R.start_language,
    "dc_language": _R.start_language,
    "generator": _R.start_generator,
    "rights": _R.start_rights,
    "copyright": _R.start_rights,
    "dc_rights": _R.start_rights,
    "subtitle": _R.start_subtitle,
    "tagline": _R.start_subtitle,
    "webmaster": _R.start_webmaster,
    "dc_publisher": _R.start_webmaster,
    "cloud": _R.start_cloud,
    "media_content": _R.start_media_content,
    "media_thumbnail": _R.start_media_thumbnail,
    "media_group": _R.start_media_group,
    "media_credit": _R.start_media_credit,
    "media_title": _R.start_media_title,
    "media_description": _R.start_description,
    "source": _R.start_source,
    "textinput": _R.start_textinput,
    "contributor": _R.start_contributor,
    "dc_contributor": _R.start_dc_contributor,
    "info": _R.start_info,
    "feedburner_browserfriendly": _R.start_info,
    "created": _R.start_created,
    "dcterms_created": _R.start_created,
    "expirationdate": _R.start_expirationdate,
}
_ENDS: dict[str, Any] = {
    "channel": _R.end_channel,
    "feed": _R.end_channel,
    "image": _R.end_image,
    "item": _R.end_item,
    "entry": _R.end_item,
    "title": _R.end_title,
    "dc_title": _R.end_title,
    "link": _R.end_link,
    "guid": _R.end_guid,
    "id": _R.end_guid,
    "description": _R.end_description,
    "dc_description": _R.end_description,
    "summary": _R.end_summary,
    "content_encoded": _R.end_content,
    "fullitem": _R.end_content,
    "content": _R.end_content,
    "pubdate": _R.end_published,
    "published": _R.end_published,
    "issued": _R.end_published,
    "dcterms_issued": _R.end_published,
    "updated": _R.end_updated,
    "modified": _R.end_updated,
    "lastbuilddate": _R.end_updated,
    "dc_date": _R.end_updated,
    "dcterms_modified": _R.end_updated,
    "author": _R.end_author,
    "managingeditor": _R.end_author,
    "dc_author": _R.end_author,
    "dc_creator": _R.end_author,
    "name": _R.end_name,
    "email": _R.end_email,
    "url": _R.end_url,
    "uri": _R.end_url,
    "homepage": _R.end_url,
    "width": _R.end_width,
    "height": _R.end_height,
    "category": _R.end_category,
    "keywords": _R.end_category,
    "dc_subject": _R.end_category,
    "media_category": _R.end_category,
    "language": _pop_named("language"),
    "dc_language": _pop_named("language"),
    "generator": _pop_named("generator"),
    "rights": _R.end_rights,
    "copyright": _R.end_rights,
    "dc_rights": _R.end_rights,
    "subtitle": _R.end_subtitle,
    "tagline": _R.end_subtitle,
    "webmaster": _R.end_webmaster,
    "dc_publisher": _R.end_webmaster,
    "media_thumbnail": _R.end_media_thumbnail,
    "media_credit": _R.end_media_credit,
    "media_title": _R.end_media_title,
    "media_description": _R.end_description,
    "source": _R.end_source,
    "textinput": _R.end_textinput,
    "contributor": _R.end_contributor,
    "dc_contributor": _R.end_dc_contributor,
    "info": _R.end_info,
    "feedburner_browserfriendly": _R.end_info,
    "created": _R.end_created,
    "dcterms_created": _R.end_created,
    "expirationdate": _R.end_expirationdate,
}
