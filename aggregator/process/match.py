"""Many standing topics × one article → matches, at a cost that follows the article.

Each topic query gets a small set of *anchors*: words (or prefixes, outlets,
languages) at least one of which every matching article must contain. The index maps
anchor → topics, so an article only evaluates the topics one of whose anchors it has;
all other topics cannot match it. Anchors are chosen from the AST:

- a word or phrase: itself (for a phrase, its longest word, likely the rarest);
- ``a OR b``: the anchors of ``a`` together with those of ``b`` (either may be the one);
- ``a AND b``: the anchors of just one side that requires presence, the smallest set;
- ``a NEAR/n b``: like ``a AND b``;
- ``NOT a``: nothing (absence proves nothing), so it never anchors.

A topic without anchors (a hand-built AST that matches by absence; the parser rejects
those) is evaluated for every article and counted in :attr:`TopicIndex.unanchored`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from operator import itemgetter

from aggregator.models import Article, Match
from aggregator.query import (
    And,
    Document,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Query,
    Term,
    document_from_article,
)
from aggregator.text import TextWords

# An anchor is (kind, key): ("word", w) for a title/text word, ("prefix", p) for a
# title/text word prefix, ("outlet", w) / ("outlet-prefix", p) for the outlet name,
# ("lang", code).
Anchor = tuple[str, str]

# Prefix anchors are bucketed by their first few letters; a document offers the same
# heads of its words. Longer heads are more selective but each length costs one pass
# over the article's vocabulary, so lengths are capped.
_MAX_HEAD = 4


@dataclass(frozen=True, slots=True)
class IndexStats:
    topics: int
    anchored: int
    unanchored: int
    anchors: int


def anchors_of(node: Node) -> frozenset[Anchor] | None:
    """Anchors of ``node``: one must be in any matching document. None if it has none."""
    if isinstance(node, Term):
        if node.field == "lang":
            return frozenset({("lang", node.token)})
        if node.field == "outlet":
            kind = "outlet-prefix" if node.prefix else "outlet"
            return frozenset({(kind, node.token)})
        return frozenset({("prefix" if node.prefix else "word", node.token)})
    if isinstance(node, Phrase):
        kind = "outlet" if node.field == "outlet" else "word"
        return frozenset({(kind, max(node.tokens, key=len))})
    if isinstance(node, Near):  # both sides must be present: either side anchors
        left, right = anchors_of(node.left), anchors_of(node.right)
        assert left is not None  # words and phrases always anchor
        assert right is not None
        return min(left, right, key=_cost)
    if isinstance(node, Not):
        return None
    if isinstance(node, Or):
        union: set[Anchor] = set()
        for child in node.children:
            sub = anchors_of(child)
            if sub is None:
                return None
            union |= sub
        return frozenset(union)
    assert isinstance(node, And)
    options = [a for a in map(anchors_of, node.children) if a is not None]
    if not options:
        return None
    return min(options, key=_cost)


def _cost(anchors: frozenset[Anchor]) -> tuple[int, int]:
    # Fewer anchors first; then prefer plain words to prefixes and outlets/languages
    # (which every article of a big outlet/language carries), then longer words.
    broad = sum(kind != "word" for kind, _ in anchors)
    return (len(anchors) + 4 * broad, -min(len(key) for _, key in anchors))


class TopicIndex:
    """Topics indexed by anchor; :meth:`match` returns what evaluating all would."""

    def __init__(self, topics: Mapping[str, Query]) -> None:
        self._topics: dict[str, Query] = dict(topics)
        self._order = {name: i for i, name in enumerate(self._topics)}
        self._words: dict[str, list[str]] = {}
        self._outlets: dict[str, list[str]] = {}
        self._langs: dict[str, list[str]] = {}
        # prefix anchors bucketed by head length → head → topics
        self._prefixes: dict[int, dict[str, list[str]]] = {}
        self._outlet_prefixes: list[tuple[str, str]] = []
        self._always: list[str] = []
        n_anchors = 0
        for name, query in self._topics.items():
            anchors = anchors_of(query.root)
            if anchors is None:
                self._always.append(name)
                continue
            n_anchors += len(anchors)
            for kind, key in anchors:
                if kind == "word":
                    self._words.setdefault(key, []).append(name)
                elif kind == "outlet":
                    self._outlets.setdefault(key, []).append(name)
                elif kind == "lang":
                    self._langs.setdefault(key, []).append(name)
                elif kind == "outlet-prefix":
                    self._outlet_prefixes.append((key, name))
                else:
                    head = key[:_MAX_HEAD]
                    self._prefixes.setdefault(len(head), {}).setdefault(head, []).append(name)
        self._word_keys = frozenset(self._words)
        self.stats = IndexStats(
            topics=len(self._topics),
            anchored=len(self._topics) - len(self._always),
            unanchored=len(self._always),
            anchors=n_anchors,
        )

    @property
    def unanchored(self) -> tuple[str, ...]:
        """Topics evaluated against every article because they have no anchor."""
        return tuple(self._always)

    def candidates(self, doc: Document) -> list[str]:
        """Topics that may match ``doc`` (a superset of those that do), in topic order."""
        return sorted(self._candidates(doc), key=self._order.__getitem__)

    def _candidates(self, doc: Document) -> set[str]:
        found: set[str] = set(self._always)
        words = self._words
        for word in doc.words & self._word_keys:
            found.update(words[word])
        for length, heads in self._prefixes.items():
            # Shorter words give shorter heads, which simply match no key: no len() test.
            for head in heads.keys() & set(map(itemgetter(slice(0, length)), doc.words)):
                found.update(heads[head])
        if self._outlets or self._outlet_prefixes:
            for word in doc.outlet.vocab:
                found.update(self._outlets.get(word, ()))
            for prefix, name in self._outlet_prefixes:
                if doc.outlet.with_prefix(prefix):
                    found.add(name)
        if doc.language is not None:
            found.update(self._langs.get(doc.language, ()))
        return found

    def match(self, doc: Document) -> list[Match]:
        """The topics ``doc`` matches, in the order the topics were given."""
        topics = self._topics
        out: list[Match] = []
        for name in self._candidates(doc):
            terms = topics[name].evaluate(doc)
            if terms is not None:
                out.append(Match(topic=name, matched_terms=terms))
        # Sorting the few matches is cheaper than sorting the many candidates.
        out.sort(key=lambda m: self._order[m.topic])
        return out


def document_of(article: Article, split: TextWords) -> Document:
    """``document_from_article(article)``, its text's tokens taken from ``split`` (the
    consumer's ``text_words(article.text)``, made for dedup) when they are the same.

    On ASCII text ``tokenize`` is ``[a-z0-9]+`` of the lower-cased text, and ``words``
    is ``\\w+`` of it case-folded (NFKC changes no ASCII character, casefold is lower):
    ``\\w`` is those characters and ``_``. So on ASCII text without ``_`` the two are the
    same list, and the text is split once instead of twice (most news text is ASCII).
    """
    text = article.text
    if text and text.isascii() and "_" not in text:
        return document_from_article(article, list(split.words))
    return document_from_article(article)


def match_all(topics: Iterable[tuple[str, Query]], doc: Document) -> list[Match]:
    """The reference: evaluate every topic. What :meth:`TopicIndex.match` must equal."""
    out: list[Match] = []
    for name, query in topics:
        terms = query.evaluate(doc)
        if terms is not None:
            out.append(Match(topic=name, matched_terms=terms))
    return out
