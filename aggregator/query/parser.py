"""Query text -> :class:`Query`: the lexer and the recursive-descent parser."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from aggregator.errors import QueryError
from aggregator.query.nodes import (
    FIELDS,
    MAX_DEPTH,
    MAX_NEAR,
    MAX_QUERY_LENGTH,
    MIN_PREFIX,
    And,
    FieldName,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Query,
    Term,
    requires_presence,
)
from aggregator.query.tokens import tokenize

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
