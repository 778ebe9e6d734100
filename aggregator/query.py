"""The one query language, for standing topics and for archive search.

Syntax (Lucene-like)::

    korea                     a word, anywhere in the title or the text
    "north korean troops"     an exact phrase (consecutive words, one field)
    troop*                    a prefix: any word starting with "troop" (>= 2 letters)
    a AND b   a b             both; adjacent terms are joined by an implicit AND
    a OR b                    either
    NOT a   -a                without a;  +a is accepted and means plain a
    ( ... )                   grouping
    title:kursk  text:"..."   field scopes; also outlet:reuters, lang:en, title:(a OR b)
    a NEAR/5 "b c"            a term/phrase within 5 words of another, either order
                              (at most 5 words between them, in the same field)

Operators are upper case; ``and``/``or``/``not``/``near`` in lower case are ordinary
words. Precedence, tightest first: NOT/-/+, NEAR, AND (explicit or implicit), OR.

Text is compared after :func:`tokenize`, which is used for documents and queries
alike: Unicode compatibility folding, Latin/Greek/Cyrillic accents removed, case
folded, split on anything that is not a letter, digit or combining mark. So
``Nord-Korea``, ``nord korea`` and ``"NORD KOREA"`` all mean the phrase
``nord korea``, and ``Korea's`` is the phrase ``korea s``.

A query must require at least one word to be present (``NOT war`` alone is rejected):
a topic that matches by absence would alert on nearly every article in the stream,
cannot be indexed by its words (see :mod:`aggregator.match`), and SQLite FTS5 cannot
run it either.

:func:`parse_query` builds a frozen AST once; :meth:`Query.evaluate` matches it
against a :class:`Document` (built once per article by :func:`document_from_article`);
:func:`fts5_plan` / :func:`tsquery_plan` (and the filter-free shortcuts
:func:`to_fts5` / :func:`to_tsquery`) translate it for the archive's full-text
engines. Error positions are 0-based offsets (code points) into the query text.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from dataclasses import field as _field
from functools import cache
from typing import Literal, TypeAlias

from aggregator.errors import QueryError
from aggregator.models import Article

__all__ = [
    "FIELDS",
    "TSVECTOR_SQL",
    "And",
    "Document",
    "FieldIndex",
    "FieldName",
    "Near",
    "Node",
    "Not",
    "Or",
    "Phrase",
    "Query",
    "SearchFilters",
    "SearchPlan",
    "Term",
    "document_from_article",
    "fold",
    "fts5_plan",
    "index_text",
    "parse_query",
    "requires_presence",
    "to_fts5",
    "to_tsquery",
    "tokenize",
    "tsquery_plan",
    "walk",
]

FieldName: TypeAlias = Literal["title", "text", "outlet", "lang"]
FIELDS: tuple[FieldName, ...] = ("title", "text", "outlet", "lang")
MAX_NEAR = 50  # a wider window is no longer "near"; it also bounds the tsquery expansion
MIN_PREFIX = 2  # a one-letter prefix matches most articles and most of the index
MAX_DEPTH = 32  # nested parentheses/NOTs; bounds recursion in the parser and evaluator
MAX_QUERY_LENGTH = 10_000  # characters; a topic is a few lines, not a document

# ---------------------------------------------------------------------------
# Tokenization (shared by documents and queries)
# ---------------------------------------------------------------------------

# Accents = combining marks from the "diacritical marks" blocks, plus variation
# selectors (emoji presentation, not letters). Marks of other scripts (Devanagari vowel
# signs, Arabic harakat...) are part of the word and kept.
_ACCENTS = re.compile(
    "[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe00-\ufe0f\ufe20-\ufe2f]"
)
_ASCII_WORD = re.compile(r"[a-z0-9]+")


@cache
def _word_pattern() -> re.Pattern[str]:
    # Python's \w excludes combining marks, which would cut Indic words in pieces, so
    # the BMP's marks are added to the class. One flat class keeps the regex engine on
    # its fast path (an alternation, or astral ranges, make it 3-6x slower); marks of
    # the astral plane (historic scripts) therefore split words. Built once, lazily.
    ranges: list[str] = []
    start: int | None = None
    for code in range(0x10001):
        is_mark = code < 0x10000 and unicodedata.category(chr(code)).startswith("M")
        if is_mark and start is None:
            start = code
        elif not is_mark and start is not None:
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(code - 1))}")
            start = None
    return re.compile("[\\w" + "".join(ranges) + "]+")


def fold(text: str) -> str:
    """Case-, accent- and compatibility-fold ``text`` (no splitting)."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = unicodedata.normalize("NFC", _ACCENTS.sub("", text))
    return text.casefold()


# Most news text is ASCII plus a few Latin-1/Latin Extended-A letters (é, ß, ł) and
# typographic punctuation (curly quotes, dashes, no-break space). Replacing just those
# characters by their folded form (or a space, for punctuation) gives the same tokens
# as the full Unicode path and lets the text take the ~4x faster ASCII path.
_COMMON = re.compile("[\u00a0-\u017f\u2000-\u206f]")


@cache
def _common_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for code in [*range(0xA0, 0x180), *range(0x2000, 0x2070)]:
        ch = chr(code)
        folded = fold(ch)
        words = _word_pattern().findall(folded)
        table[ch] = folded if words == [folded] else " " if not words else ch
    return table


def _common_sub(match: re.Match[str]) -> str:
    return _common_table()[match.group()]


def tokenize(text: str) -> list[str]:
    """Split ``text`` into the normalized words that queries and documents compare."""
    if not text.isascii():
        plain = _COMMON.sub(_common_sub, text)
        if not plain.isascii():
            return _tokenize_unicode(text)
        text = plain
    return _ASCII_WORD.findall(text.lower())


def _tokenize_unicode(text: str) -> list[str]:
    """The general path: what :func:`tokenize` must equal on any text."""
    # \w includes "_", which we treat as a separator like every other punctuation.
    return _word_pattern().findall(fold(text).replace("_", " "))


def index_text(text: str) -> str:
    """``text`` as space-separated tokens: what the archive should hand its FTS engine.

    Feeding both SQLite FTS5 and PostgreSQL ``to_tsvector('simple', ...)`` this form
    makes their word boundaries and accent folding identical to :func:`tokenize`.
    """
    return " ".join(tokenize(text))


# ---------------------------------------------------------------------------
# Documents
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class FieldIndex:
    """One field's tokens; positions and the sorted vocabulary are computed on demand.

    Most topics are decided by vocabulary membership alone, so a full token → positions
    table (~100 µs for a 5 KB text) would mostly be wasted: positions are found per
    token, when a phrase or NEAR needs them, by C-speed ``list.index`` scans.
    """

    tokens: list[str]
    vocab: frozenset[str]
    _positions: dict[str, list[int]] = _field(default_factory=dict, repr=False)
    _sorted: list[str] = _field(default_factory=list, repr=False)

    @classmethod
    def build(cls, text: str) -> FieldIndex:
        tokens = tokenize(text)
        return cls(tokens, frozenset(tokens))

    def positions(self, token: str) -> list[int]:
        found = self._positions.get(token)
        if found is None:
            found = []
            if token in self.vocab:
                find, pos = self.tokens.index, -1
                with contextlib.suppress(ValueError):
                    while True:
                        pos = find(token, pos + 1)
                        found.append(pos)
            self._positions[token] = found
        return found

    def _ordered(self) -> list[str]:
        if not self._sorted and self.vocab:
            self._sorted.extend(sorted(self.vocab))
        return self._sorted

    def has_prefix(self, prefix: str) -> bool:
        ordered = self._ordered()
        i = bisect.bisect_left(ordered, prefix)
        return i < len(ordered) and ordered[i].startswith(prefix)

    def with_prefix(self, prefix: str) -> list[str]:
        """Vocabulary words starting with ``prefix``, sorted."""
        ordered = self._ordered()
        out: list[str] = []
        for i in range(bisect.bisect_left(ordered, prefix), len(ordered)):
            if not ordered[i].startswith(prefix):
                break
            out.append(ordered[i])
        return out


@dataclass(frozen=True, slots=True, eq=False)
class Document:
    """An article as the matcher sees it: tokenized title, text, outlet, language."""

    title: FieldIndex
    text: FieldIndex
    outlet: FieldIndex
    language: str | None  # lower-cased ISO 639-1, or None
    words: frozenset[str]  # title ∪ text vocabulary, for unscoped terms and anchors

    @classmethod
    def build(
        cls, *, title: str = "", text: str = "", outlet: str = "", language: str | None = None
    ) -> Document:
        t, x = FieldIndex.build(title), FieldIndex.build(text)
        return cls(t, x, FieldIndex.build(outlet), language.lower() if language else None,
                   t.vocab | x.vocab)  # fmt: skip

    def field_index(self, name: FieldName) -> FieldIndex:
        if name == "title":
            return self.title
        if name == "text":
            return self.text
        if name == "outlet":
            return self.outlet
        raise ValueError(f"{name} has no token index")


def document_from_article(article: Article) -> Document:
    """Build the matcher's view of ``article`` (once per article, shared by all topics)."""
    return Document.build(
        title=article.title,
        # `text` is the best text we have; feeds with a summary only leave it empty.
        text=article.text or article.summary,
        outlet=article.feed,
        language=article.language,
    )


# ---------------------------------------------------------------------------
# AST
# ---------------------------------------------------------------------------

_BODY: tuple[FieldName, ...] = ("title", "text")


def _spans(doc: Document, fld: FieldName, node: Term | Phrase) -> list[tuple[int, int]]:
    """(first, last) token positions of each occurrence of ``node`` in one field."""
    index = doc.field_index(fld)
    if isinstance(node, Term):
        if node.prefix:
            return [(p, p) for w in index.with_prefix(node.token) for p in index.positions(w)]
        return [(p, p) for p in index.positions(node.token)]
    starts = set(index.positions(node.tokens[0]))
    for offset, tok in enumerate(node.tokens[1:], 1):
        if not starts:
            break
        starts &= {p - offset for p in index.positions(tok)}
    width = len(node.tokens) - 1
    return [(s, s + width) for s in sorted(starts)]


@dataclass(frozen=True, slots=True)
class Term:
    """One word (or a prefix when ``prefix``), optionally scoped to a field."""

    token: str
    field: FieldName | None = None
    prefix: bool = False
    position: int = _field(default=0, compare=False)

    def __str__(self) -> str:
        scope = f"{self.field}:" if self.field else ""
        return f"{scope}{self.token}{'*' if self.prefix else ''}"

    def matches(self, doc: Document) -> bool:
        if self.field is None:
            if self.prefix:
                return doc.title.has_prefix(self.token) or doc.text.has_prefix(self.token)
            return self.token in doc.words
        if self.field == "lang":
            return doc.language == self.token
        index = doc.field_index(self.field)
        return index.has_prefix(self.token) if self.prefix else self.token in index.vocab

    def evaluate(self, doc: Document, out: list[str]) -> bool:
        if self.field == "lang":
            if doc.language == self.token:
                out.append(self.token)
                return True
            return False
        if self.prefix:
            if self.field is None:
                hits = doc.title.with_prefix(self.token)
                more = doc.text.with_prefix(self.token)
                if more:
                    hits = sorted(set(hits).union(more)) if hits else more
            else:
                hits = doc.field_index(self.field).with_prefix(self.token)
            out.extend(hits)
            return bool(hits)
        if self.field is None:
            found = self.token in doc.words
        else:
            found = self.token in doc.field_index(self.field).vocab
        if found:
            out.append(self.token)
        return found


@dataclass(frozen=True, slots=True)
class Phrase:
    """Consecutive words in one field."""

    tokens: tuple[str, ...]
    field: FieldName | None = None
    position: int = _field(default=0, compare=False)

    def __str__(self) -> str:
        scope = f"{self.field}:" if self.field else ""
        return f'{scope}"{" ".join(self.tokens)}"'

    def matches(self, doc: Document) -> bool:
        # Cheap rejection first: every word must occur somewhere.
        vocab = doc.words if self.field is None else doc.field_index(self.field).vocab
        for token in self.tokens:
            if token not in vocab:
                return False
        fields = _BODY if self.field is None else (self.field,)
        return any(_spans(doc, f, self) for f in fields)

    def evaluate(self, doc: Document, out: list[str]) -> bool:
        if self.matches(doc):
            out.append(" ".join(self.tokens))
            return True
        return False


@dataclass(frozen=True, slots=True)
class Near:
    """``left`` and ``right`` in one field with at most ``distance`` words between them."""

    left: Term | Phrase
    right: Term | Phrase
    distance: int
    position: int = _field(default=0, compare=False)

    @property
    def field(self) -> FieldName | None:
        return self.left.field

    def __str__(self) -> str:
        return f"{self.left} NEAR/{self.distance} {self.right}"

    def evaluate(self, doc: Document, out: list[str]) -> bool:
        if not self.matches(doc):
            return False
        self.left.evaluate(doc, out)
        self.right.evaluate(doc, out)
        return True

    def matches(self, doc: Document) -> bool:
        if not (self.left.matches(doc) and self.right.matches(doc)):
            return False
        fields = _BODY if self.field is None else (self.field,)
        for fld in fields:
            lefts = _spans(doc, fld, self.left)
            rights = _spans(doc, fld, self.right) if lefts else []
            for ls, le in lefts:
                for rs, re_ in rights:
                    # Words strictly between the two spans. Overlapping spans (negative
                    # gap) count as near, which is what SQLite FTS5's NEAR does too.
                    gap = max(rs - le, ls - re_) - 1
                    if gap <= self.distance:
                        return True
        return False


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]
    position: int = _field(default=0, compare=False)

    def __str__(self) -> str:
        return "(" + " AND ".join(map(str, self.children)) + ")"

    def matches(self, doc: Document) -> bool:
        # Plain loops: all()/any() over a generator cost ~2x in this hot path.
        for child in self.children:  # noqa: SIM110
            if not child.matches(doc):
                return False
        return True

    def evaluate(self, doc: Document, out: list[str]) -> bool:
        mark = len(out)
        for child in self.children:
            if not child.evaluate(doc, out):
                del out[mark:]
                return False
        return True


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]
    position: int = _field(default=0, compare=False)

    def __str__(self) -> str:
        return "(" + " OR ".join(map(str, self.children)) + ")"

    def matches(self, doc: Document) -> bool:
        for child in self.children:  # noqa: SIM110
            if child.matches(doc):
                return True
        return False

    def evaluate(self, doc: Document, out: list[str]) -> bool:
        # No short-circuit: every matching branch contributes its terms to the "why".
        matched = False
        for child in self.children:
            matched = child.evaluate(doc, out) or matched
        return matched


@dataclass(frozen=True, slots=True)
class Not:
    child: Node
    position: int = _field(default=0, compare=False)

    def __str__(self) -> str:
        return f"NOT {self.child}"

    def matches(self, doc: Document) -> bool:
        return not self.child.matches(doc)

    def evaluate(self, doc: Document, out: list[str]) -> bool:
        return not self.child.matches(doc)


Node: TypeAlias = Term | Phrase | Near | And | Or | Not


def requires_presence(node: Node) -> bool:
    """True when every document ``node`` matches must contain one of its words."""
    if isinstance(node, Not):
        return False
    if isinstance(node, And):
        return any(requires_presence(c) for c in node.children)
    if isinstance(node, Or):
        return all(requires_presence(c) for c in node.children)
    return True


def walk(node: Node) -> Iterator[Node]:
    yield node
    if isinstance(node, And | Or):
        for child in node.children:
            yield from walk(child)
    elif isinstance(node, Not):
        yield from walk(node.child)
    elif isinstance(node, Near):
        yield node.left
        yield node.right


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: the text the user wrote and its AST."""

    text: str
    root: Node

    def evaluate(self, doc: Document) -> tuple[str, ...] | None:
        """None when ``doc`` does not match, else the matched words/phrases, deduplicated.

        Most documents a topic sees do not match it, so a short-circuit test decides
        first; only a match pays for collecting every matched term (the "why").
        """
        if not self.root.matches(doc):
            return None
        out: list[str] = []
        self.root.evaluate(doc, out)
        return tuple(dict.fromkeys(out))

    def __str__(self) -> str:
        return str(self.root)


# ---------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------

_NEAR_RE = re.compile(r"NEAR(?:/(\S*))?")
_FIELD_RE = re.compile(r"([A-Za-z]+):")


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # WORD PHRASE LP RP AND OR NOT NEAR MINUS PLUS FIELD EOF
    pos: int
    value: str = ""
    number: int = 0


def _lex(query: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            toks.append(_Tok("LP" if ch == "(" else "RP", i))
            i += 1
        elif ch == '"':
            end = query.find('"', i + 1)
            if end < 0:
                raise QueryError(query, "unclosed quote", i)
            toks.append(_Tok("PHRASE", i, query[i + 1 : end]))
            i = end + 1
        else:
            j = i
            while j < n and not query[j].isspace() and query[j] not in '()"':
                j += 1
            toks.extend(_lex_word(query, i, query[i:j], j))
            i = j
    toks.append(_Tok("EOF", n))
    return toks


def _lex_word(query: str, pos: int, word: str, end: int) -> list[_Tok]:
    if word in ("AND", "OR", "NOT"):
        return [_Tok(word, pos)]
    near = _NEAR_RE.fullmatch(word)
    if near:
        raw = near.group(1)
        if raw is None:
            raise QueryError(query, "NEAR needs a distance, e.g. NEAR/5", pos)
        if not (raw.isascii() and raw.isdigit()) or not 0 <= int(raw) <= MAX_NEAR:
            raise QueryError(query, f"NEAR distance must be a number from 0 to {MAX_NEAR}", pos)
        return [_Tok("NEAR", pos, number=int(raw))]
    out: list[_Tok] = []
    if word[0] in "-+":
        out.append(_Tok("MINUS" if word[0] == "-" else "PLUS", pos))
        word, pos = word[1:], pos + 1
        if not word:
            # `-` followed by a quote or parenthesis is fine; by a space it dangles.
            if end < len(query) and query[end] in '"(':
                return out
            raise QueryError(query, "'-'/'+' must be followed by a term", pos - 1)
    scope = _FIELD_RE.match(word)
    if scope:
        name = scope.group(1)
        if name not in FIELDS:
            known = ", ".join(f"{f}:" for f in FIELDS)
            raise QueryError(query, f"unknown field '{name}:' (known: {known})", pos)
        out.append(_Tok("FIELD", pos, name))
        field_pos = pos
        word, pos = word[scope.end() :], pos + scope.end()
        if not word:
            if end < len(query) and query[end] in '"(':
                return out
            raise QueryError(query, f"'{name}:' must be followed by a term", field_pos)
    out.append(_Tok("WORD", pos, word))
    return out


_OPERAND_START = frozenset({"WORD", "PHRASE", "LP", "NOT", "MINUS", "PLUS", "FIELD"})


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.toks = _lex(query)
        self.i = 0
        self.depth = 0

    def fail(self, reason: str, pos: int) -> QueryError:
        return QueryError(self.query, reason, pos)

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def parse(self) -> Node:
        node = self.parse_or(None)
        tok = self.peek()
        if tok.kind == "RP":
            raise self.fail("unbalanced ')'", tok.pos)
        if tok.kind != "EOF":  # pragma: no cover - every other token starts an operand
            raise self.fail(f"unexpected {tok.kind}", tok.pos)
        return node

    def need_operand(self, after: _Tok, what: str) -> None:
        if self.peek().kind not in _OPERAND_START:
            raise self.fail(f"{what} needs a term after it", after.pos)

    def parse_or(self, scope: FieldName | None) -> Node:
        first = self.peek()
        items = [self.parse_and(scope)]
        while self.peek().kind == "OR":
            op = self.take()
            self.need_operand(op, "OR")
            items.append(self.parse_and(scope))
        return items[0] if len(items) == 1 else _flat(Or, items, first.pos)

    def parse_and(self, scope: FieldName | None) -> Node:
        first = self.peek()
        items = [self.parse_unary(scope)]
        while True:
            kind = self.peek().kind
            if kind == "AND":
                op = self.take()
                self.need_operand(op, "AND")
            elif kind not in _OPERAND_START:
                break
            items.append(self.parse_unary(scope))
        return items[0] if len(items) == 1 else _flat(And, items, first.pos)

    def descend(self, tok: _Tok) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"the query is nested more than {MAX_DEPTH} levels deep", tok.pos)

    def parse_unary(self, scope: FieldName | None) -> Node:
        tok = self.peek()
        if tok.kind in ("NOT", "MINUS", "PLUS"):
            self.take()
            self.descend(tok)
            self.need_operand(tok, {"NOT": "NOT", "MINUS": "'-'", "PLUS": "'+'"}[tok.kind])
            inner = self.parse_unary(scope)
            self.depth -= 1
            if tok.kind == "PLUS":  # required is what AND already means
                return inner
            if isinstance(inner, Not):  # NOT NOT x is x
                return inner.child
            return Not(inner, tok.pos)
        return self.parse_near(scope)

    def parse_near(self, scope: FieldName | None) -> Node:
        left = self.parse_primary(scope)
        if self.peek().kind != "NEAR":
            return left
        op = self.take()
        self.need_operand(op, "NEAR")
        right = self.parse_primary(scope)
        for side in (left, right):
            if not isinstance(side, Term | Phrase) or side.field in ("outlet", "lang"):
                raise self.fail("NEAR joins two words or phrases of the title or text", op.pos)
        assert isinstance(left, Term | Phrase)
        assert isinstance(right, Term | Phrase)
        if left.field != right.field:
            raise self.fail("both sides of NEAR must have the same field scope", op.pos)
        if self.peek().kind == "NEAR":
            raise self.fail("NEAR joins exactly two terms; use AND between NEARs", self.peek().pos)
        return Near(left, right, op.number, left.position)

    def parse_primary(self, scope: FieldName | None) -> Node:
        tok = self.take()
        if tok.kind == "FIELD":
            name: FieldName = tok.value  # type: ignore[assignment]  # checked by the lexer
            if scope is not None and scope != name:
                raise self.fail(f"'{name}:' inside '{scope}:(...)'", tok.pos)
            nxt = self.peek()
            if nxt.kind not in ("WORD", "PHRASE", "LP"):  # pragma: no cover - lexer checks
                raise self.fail(f"'{name}:' must be followed by a term", tok.pos)
            node = self.parse_primary(name)
            if isinstance(node, Term | Phrase):  # point errors at "title:", not the word
                node = dataclasses.replace(node, position=tok.pos)
            return node
        if tok.kind == "LP":
            if self.peek().kind == "RP":
                raise self.fail("empty parentheses", tok.pos)
            self.descend(tok)
            inner = self.parse_or(scope)
            if self.peek().kind != "RP":
                raise self.fail("unclosed '('", tok.pos)
            self.take()
            self.depth -= 1
            return inner
        if tok.kind == "WORD":
            return self.word(tok, scope)
        if tok.kind == "PHRASE":
            return self.phrase(tok, scope)
        if tok.kind == "EOF":
            raise self.fail("expected a term at the end of the query", tok.pos)
        if tok.kind == "RP":
            raise self.fail("unbalanced ')'", tok.pos)
        raise self.fail(f"{tok.kind} needs a term before it", tok.pos)

    def word(self, tok: _Tok, scope: FieldName | None) -> Node:
        raw = tok.value
        prefix = raw.endswith("*")
        body = raw[:-1] if prefix else raw
        if "*" in body:
            raise self.fail("'*' is only allowed at the end of a word", tok.pos + body.index("*"))
        if scope == "lang":
            code = body.lower()
            if prefix or not re.fullmatch(r"[a-z]{2,3}(?:-[a-z0-9]+)?", code):
                raise self.fail("lang: takes a language code such as en or de", tok.pos)
            return Term(code, "lang", False, tok.pos)
        tokens = tokenize(body)
        if not tokens:
            raise self.fail(f"'{raw}' has no letters or digits to search for", tok.pos)
        if prefix:
            if len(tokens) != 1:
                raise self.fail("a prefix must be a single word", tok.pos)
            if len(tokens[0]) < MIN_PREFIX:
                raise self.fail(f"a prefix needs at least {MIN_PREFIX} letters", tok.pos)
            return Term(tokens[0], scope, True, tok.pos)
        if len(tokens) == 1:
            return Term(tokens[0], scope, False, tok.pos)
        return Phrase(tuple(tokens), scope, tok.pos)

    def phrase(self, tok: _Tok, scope: FieldName | None) -> Node:
        if scope == "lang":
            raise self.fail("lang: takes a language code such as en or de", tok.pos)
        tokens = tokenize(tok.value)
        if not tokens:
            raise self.fail("empty phrase", tok.pos)
        if len(tokens) == 1:
            return Term(tokens[0], scope, False, tok.pos)
        return Phrase(tuple(tokens), scope, tok.pos)


def _flat(kind: type[And] | type[Or], items: list[Node], pos: int) -> Node:
    children: list[Node] = []
    for item in items:
        if isinstance(item, kind):
            children.extend(item.children)
        else:
            children.append(item)
    return kind(tuple(children), pos)


def parse_query(text: str) -> Query:
    """Parse ``text``; raise :class:`QueryError` with a reason and 0-based position."""
    if not text.strip():
        raise QueryError(text, "empty query", 0)
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(text, f"the query is longer than {MAX_QUERY_LENGTH} characters", 0)
    root = _Parser(text).parse()
    if not requires_presence(root):
        raise QueryError(
            text,
            "the query only excludes words; add at least one word that must be present "
            "(a topic matching by absence would fire on almost every article)",
            root.position,
        )
    return Query(text, root)


# ---------------------------------------------------------------------------
# Archive search: translation to SQLite FTS5 and PostgreSQL tsquery
# ---------------------------------------------------------------------------
#
# Both engines must index the normalized form (:func:`index_text`) of the title and
# the text, so that their words are exactly the words of :func:`tokenize`:
#
#   SQLite:      CREATE VIRTUAL TABLE ... USING fts5(title, text, ...)
#                (the default unicode61 tokenizer; columns filled with index_text())
#   PostgreSQL:  setweight(to_tsvector('simple', index_text(title)), 'A') ||
#                setweight(to_tsvector('simple', index_text(text)), 'B')
#                (see TSVECTOR_SQL; weight A = title, B = text)
#
# outlet: and lang: are not full-text columns: they come back as SearchFilters, which
# the store turns into `feed IN (...)` / `language IN (...)` over the known values.

TSVECTOR_SQL = (
    "setweight(to_tsvector('simple', {title}), 'A') || "
    "setweight(to_tsvector('simple', {text}), 'B')"
)
_WEIGHT = {"title": "A", "text": "B"}
_FILTER_FIELDS = frozenset({"outlet", "lang"})


def _leaves(node: Node) -> Iterator[Term | Phrase]:
    for sub in walk(node):
        if isinstance(sub, Term | Phrase):
            yield sub


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """Outlet and language conditions a search applies beside the full-text match.

    Each is a boolean expression over one field (``outlet:(bbc OR reuters)``,
    ``-lang:ru``); None means no restriction.
    """

    outlet: Node | None = None
    lang: Node | None = None

    def outlet_allowed(self, outlet: str) -> bool:
        if self.outlet is None:
            return True
        return self.outlet.evaluate(Document.build(outlet=outlet), [])

    def language_allowed(self, language: str | None) -> bool:
        if self.lang is None:
            return True
        return self.lang.evaluate(Document.build(language=language), [])

    def outlets(self, known: Iterable[str]) -> list[str] | None:
        """The ``known`` outlets (feed names) allowed, or None when all are."""
        return None if self.outlet is None else [o for o in known if self.outlet_allowed(o)]

    def languages(self, known: Iterable[str | None]) -> list[str | None] | None:
        """The ``known`` language codes allowed, or None when all are."""
        return None if self.lang is None else [x for x in known if self.language_allowed(x)]


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """A query translated for one engine: the full-text condition and the filters."""

    match: str | None  # FTS5 MATCH text / to_tsquery('simple', ...) text; None: filters only
    filters: SearchFilters


def _split_filters(query: Query) -> tuple[Node | None, SearchFilters]:
    """Separate top-level outlet:/lang: conditions from the full-text part."""
    parts = query.root.children if isinstance(query.root, And) else (query.root,)
    body: list[Node] = []
    by_field: dict[str, list[Node]] = {"outlet": [], "lang": []}
    for part in parts:
        fields = {leaf.field for leaf in _leaves(part)}
        if len(fields) == 1 and fields <= _FILTER_FIELDS:
            by_field[fields.pop() or ""].append(part)
            continue
        for leaf in _leaves(part):
            if leaf.field in _FILTER_FIELDS:
                raise QueryError(
                    query.text,
                    f"in a search, {leaf.field}: can only narrow the whole query "
                    f"(like 'korea {leaf.field}:x'), not sit inside OR or mix with other fields",
                    leaf.position,
                )
        body.append(part)

    def joined(nodes: list[Node]) -> Node | None:
        return None if not nodes else nodes[0] if len(nodes) == 1 else And(tuple(nodes))

    filters = SearchFilters(joined(by_field["outlet"]), joined(by_field["lang"]))
    return joined(body), filters


def _fts5_string(tokens: Sequence[str]) -> str:
    # Tokens are letters/digits only, but quote defensively: "" is FTS5's escape.
    return '"' + " ".join(tokens).replace('"', '""') + '"'


def _fts5_leaf(node: Term | Phrase) -> str:
    if isinstance(node, Term):
        return _fts5_string([node.token]) + ("*" if node.prefix else "")
    return _fts5_string(node.tokens)


def _fts5(node: Node, query: Query) -> str:
    scope = ""
    if isinstance(node, Term | Phrase | Near) and node.field is not None:
        scope = f"{node.field} : "
    if isinstance(node, Term | Phrase):
        return scope + _fts5_leaf(node)
    if isinstance(node, Near):
        return f"{scope}NEAR({_fts5_leaf(node.left)} {_fts5_leaf(node.right)}, {node.distance})"
    if isinstance(node, Or):
        for child in node.children:
            if not requires_presence(child):
                raise _fts5_cannot(query, child)
        return "(" + " OR ".join(_fts5(c, query) for c in node.children) + ")"
    if isinstance(node, Not):
        raise _fts5_cannot(query, node)
    # FTS5's NOT is binary ("a NOT b"), so an AND becomes (positives) NOT n1 NOT n2.
    positives = [c for c in node.children if not isinstance(c, Not)]
    negatives = [c.child for c in node.children if isinstance(c, Not)]
    if not positives:
        raise _fts5_cannot(query, node)
    expr = " AND ".join(_fts5(c, query) for c in positives)
    for neg in negatives:
        expr = f"({expr}) NOT {_fts5(neg, query)}"
    return f"({expr})"


def _fts5_cannot(query: Query, node: Node) -> QueryError:
    return QueryError(
        query.text,
        "SQLite full-text search cannot run this NOT: put it after words that must be "
        "present (like 'korea -missile'), not alone inside OR",
        node.position,
    )


def fts5_plan(query: Query) -> SearchPlan:
    """Translate ``query`` for an FTS5 table with columns ``title`` and ``text``.

    Unscoped words carry no column filter, so the table's only *indexed* columns must
    be ``title`` and ``text`` (others UNINDEXED). Raises QueryError, with the position,
    for a NOT that FTS5's binary ``a NOT b`` cannot express (``a (b OR -c)``).
    """
    body, filters = _split_filters(query)
    return SearchPlan(None if body is None else _fts5(body, query), filters)


def to_fts5(query: Query) -> str:
    """The FTS5 MATCH expression; QueryError if the query has outlet:/lang: filters.

    Use :func:`fts5_plan` to run queries with filters.
    """
    return _only_match(fts5_plan(query), query)


def _only_match(plan: SearchPlan, query: Query) -> str:
    if plan.match is None or plan.filters != SearchFilters():
        raise QueryError(query.text, "the query has outlet:/lang: filters; use a search plan")
    return plan.match


def _ts_lexeme(token: str, weight: str, prefix: bool = False) -> str:
    quoted = "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"
    suffix = ("*" if prefix else "") + weight
    return f"{quoted}:{suffix}" if suffix else quoted


def _ts_leaf(node: Term | Phrase, weight: str) -> str:
    if isinstance(node, Term):
        return _ts_lexeme(node.token, weight, node.prefix)
    return "(" + " <-> ".join(_ts_lexeme(t, weight) for t in node.tokens) + ")"


def _weights(node: Term | Phrase | Near) -> list[str]:
    # An unscoped phrase or NEAR is tried in the title and in the text separately, so
    # it never spans the end of the title and the start of the text.
    return [_WEIGHT[node.field]] if node.field else ["A", "B"]


def _tsquery(node: Node) -> str:
    if isinstance(node, Term):
        return _ts_leaf(node, _WEIGHT[node.field] if node.field else "")
    if isinstance(node, Phrase):
        alts = [_ts_leaf(node, w) for w in _weights(node)]
        return alts[0] if len(alts) == 1 else "(" + " | ".join(alts) + ")"
    if isinstance(node, Near):
        # tsquery has no "within n": `L <k> R` means R starts exactly k positions after
        # L ends, so NEAR/n becomes every k in 1..n+1, in both orders.
        alts = []
        for w in _weights(node):
            left, right = _ts_leaf(node.left, w), _ts_leaf(node.right, w)
            for k in range(1, node.distance + 2):
                alts += [f"{left} <{k}> {right}", f"{right} <{k}> {left}"]
        return "(" + " | ".join(alts) + ")"
    if isinstance(node, Not):
        return f"!{_tsquery(node.child)}"
    glue = " & " if isinstance(node, And) else " | "
    return "(" + glue.join(_tsquery(c) for c in node.children) + ")"


def tsquery_plan(query: Query) -> SearchPlan:
    """Translate ``query`` for ``to_tsquery('simple', ...)`` over :data:`TSVECTOR_SQL`.

    Exact except: NEAR spans that overlap (possible only when both sides share a
    word) do not match, and PostgreSQL stops counting positions at 16,383, so phrases
    and NEAR beyond that word of a field are unreliable.
    """
    body, filters = _split_filters(query)
    return SearchPlan(None if body is None else _tsquery(body), filters)


def to_tsquery(query: Query) -> str:
    """The ``to_tsquery('simple', ...)`` text; QueryError if the query has filters."""
    return _only_match(tsquery_plan(query), query)
