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
cannot be indexed by its words (see :mod:`aggregator.process.match`), and SQLite FTS5 cannot
run it either.

:func:`parse_query` builds a frozen AST once; :meth:`Query.evaluate` matches it
against a :class:`Document` (built once per article by :func:`document_from_article`).
The language has no SQL: ``aggregator.store.search`` translates the AST for the
archive's full-text engines. Error positions are 0-based offsets (code points) into
the query text.
"""

from __future__ import annotations

from aggregator.query.filter import EntryFilter
from aggregator.query.nodes import (
    FIELDS,
    And,
    Document,
    FieldIndex,
    FieldName,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Query,
    Term,
    document_from_article,
    requires_presence,
    walk,
)
from aggregator.query.parser import (
    parse_query,
)
from aggregator.query.tokens import (
    fold,
    tokenize,
)

__all__ = [
    "FIELDS",
    "And",
    "Document",
    "EntryFilter",
    "FieldIndex",
    "FieldName",
    "Near",
    "Node",
    "Not",
    "Or",
    "Phrase",
    "Query",
    "Term",
    "document_from_article",
    "fold",
    "parse_query",
    "requires_presence",
    "tokenize",
    "walk",
]
