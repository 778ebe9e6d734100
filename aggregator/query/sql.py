"""A parsed query translated for the archive: SQLite FTS5 and PostgreSQL tsquery."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from aggregator.errors import QueryError
from aggregator.query.nodes import (
    And,
    Document,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Query,
    Term,
    requires_presence,
    walk,
)

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
    # FTS5's NOT is binary ("a NOT b"), so an AND becomes (positives) NOT (n1 OR n2):
    # one flat OR, as `((p NOT n1) NOT n2) ...` nests a level per excluded word and
    # overflows FTS5's parser stack at about a hundred (PostgreSQL runs those queries).
    positives = [c for c in node.children if not isinstance(c, Not)]
    negatives = [c.child for c in node.children if isinstance(c, Not)]
    if not positives:
        raise _fts5_cannot(query, node)
    expr = " AND ".join(_fts5(c, query) for c in positives)
    if negatives:
        excluded = [_fts5(neg, query) for neg in negatives]
        either = excluded[0] if len(excluded) == 1 else "(" + " OR ".join(excluded) + ")"
        expr = f"({expr}) NOT {either}"
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
