"""Full-text search per backend: the engine objects of migration 0003, cursors.

SQLite keeps an FTS5 external-content table ``articles_fts`` (title, text) in step
with ``articles`` through triggers; PostgreSQL has a generated ``search_vector``
column (title weight A, text weight B) with a GIN index. Neither is part of
``schema.metadata`` (FTS5 is SQLite-only, the column PostgreSQL-only), so a
comparison of migrations and models must skip them: :func:`include_name`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from aggregator.errors import QueryError

Order = Literal["relevance", "date"]

FTS_TABLE = "articles_fts"
# FTS5 creates these shadow tables beside the virtual one.
_FTS_TABLES = frozenset(
    {FTS_TABLE} | {f"{FTS_TABLE}_{s}" for s in ("data", "idx", "content", "docsize", "config")}
)
SEARCH_COLUMN = "search_vector"
SEARCH_INDEX = "ix_articles_search_vector"

# bm25 column weights (title, text): a word in the headline counts ten times as much,
# close to PostgreSQL's default A (1.0) vs B (0.4) ratio with length normalisation.
BM25_WEIGHTS = (10.0, 1.0)


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """For ``compare_metadata(..., opts={"include_name": include_name})``.

    Skips the full-text objects that migration 0003 creates with raw SQL.
    """
    if type_ == "table":
        return name not in _FTS_TABLES
    if type_ == "column":
        return name != SEARCH_COLUMN
    if type_ == "index":
        return name != SEARCH_INDEX
    return True


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the previous page ended: its last (key, id), for keyset pagination.

    ``key`` is the relevance score (higher first) or the publication time (newest
    first); ties are broken by id, descending. ``fingerprint`` ties the cursor to
    the query and order that made it, so it cannot be replayed against another.
    """

    order: Order
    key: float | datetime
    id: int
    fingerprint: str

    def encode(self) -> str:
        key = self.key.isoformat() if isinstance(self.key, datetime) else self.key
        raw = json.dumps([self.order, key, self.id, self.fingerprint], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, order: Order, fingerprint: str) -> Cursor:
        bad = QueryError(text, "invalid cursor: pass next_cursor from the previous page as is")
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            got_order, key, ident, got_fingerprint = json.loads(raw)
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
            raise bad from exc
        if got_order != order or got_fingerprint != fingerprint or type(ident) is not int:
            raise QueryError(text, "this cursor belongs to another query or order")
        if order == "date":
            if not isinstance(key, str):
                raise bad
            try:
                when = datetime.fromisoformat(key)
            except ValueError as exc:
                raise bad from exc
            if when.tzinfo is None:
                raise bad
            return cls(order, when, ident, fingerprint)
        if type(key) not in (int, float):
            raise bad
        return cls(order, float(key), ident, fingerprint)
