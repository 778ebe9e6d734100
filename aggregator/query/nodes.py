"""Documents and the query AST: what a parsed query is and how it matches."""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as _field
from typing import TYPE_CHECKING, Literal, TypeAlias

from aggregator.query.tokens import tokenize

if TYPE_CHECKING:  # an annotation only: `aggregator search` parses queries without the models
    from aggregator.models import Article

FieldName: TypeAlias = Literal["title", "text", "outlet", "lang"]
FIELDS: tuple[FieldName, ...] = ("title", "text", "outlet", "lang")
MAX_NEAR = 50  # a wider window is no longer "near"; it also bounds the tsquery expansion
MIN_PREFIX = 2  # a one-letter prefix matches most articles and most of the index
MAX_DEPTH = 32  # nested parentheses/NOTs; bounds recursion in the parser and evaluator
MAX_QUERY_LENGTH = 10_000  # characters; a topic is a few lines, not a document


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
        cls,
        *,
        title: str = "",
        text: str = "",
        outlet: str = "",
        language: str | None = None,
        text_tokens: list[str] | None = None,
    ) -> Document:
        """``text_tokens``: ``tokenize(text)``, when the caller has it already."""
        t = FieldIndex.build(title)
        if text_tokens is None:
            x = FieldIndex.build(text)
        else:
            x = FieldIndex(text_tokens, frozenset(text_tokens))
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


def document_from_article(article: Article, text_tokens: list[str] | None = None) -> Document:
    """Build the matcher's view of ``article`` (once per article, shared by all topics).

    ``text_tokens``: ``tokenize`` of its text (or summary), when the caller has it."""
    return Document.build(
        title=article.title,
        # `text` is the best text we have; feeds with a summary only leave it empty.
        text=article.text or article.summary,
        outlet=article.feed,
        language=article.language,
        text_tokens=text_tokens,
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
