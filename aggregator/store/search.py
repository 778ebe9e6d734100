"""Full-text search per backend: the engine objects of migration 0003, the SQLite
ranking statements, cursors.

SQLite keeps an FTS5 external-content table ``articles_fts`` (title, text) in step
with ``articles`` through triggers; PostgreSQL has a generated ``search_vector``
column (title weight A, text weight B) with a GIN index. Neither is part of
``schema.metadata`` (FTS5 is SQLite-only, the column PostgreSQL-only), so a
comparison of migrations and models must skip them: :func:`include_name`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    Double,
    Integer,
    Select,
    Subquery,
    and_,
    bindparam,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.selectable import Alias
from sqlalchemy.sql.util import ClauseAdapter

from aggregator.errors import QueryError
from aggregator.store.schema import SEARCH_FILTER_INDEX, articles, feeds

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


# -- SQLite ranking ----------------------------------------------------------------

SUMMARY_COLUMNS = (
    articles.c.id,
    feeds.c.name.label("feed"),
    feeds.c.title.label("feed_title"),
    articles.c.title,
    articles.c.url,
    articles.c.published,
    articles.c.language,
    articles.c.summary,
    articles.c.cluster_id,
)


def fts_hits(match: str | None = None) -> Subquery:
    """SQLite: the FTS5 hits of ``match`` as (rid, score), score higher is better.

    Without ``match`` the statement leaves the ``fts_match`` parameter to execution.
    """
    w_title, w_text = BM25_WEIGHTS
    condition = text(f"{FTS_TABLE} MATCH :fts_match")
    return (
        select(
            literal_column("rowid").label("rid"),
            # bm25 is "lower is better"; negated so both engines rank alike.
            literal_column(f"-bm25({FTS_TABLE}, {w_title}, {w_text})").label("score"),
        )
        .select_from(text(FTS_TABLE))
        .where(condition if match is None else condition.bindparams(fts_match=match))
        .subquery("hits")
    )


@functools.cache
def fts_top_statement(with_cursor: bool) -> Select[Any]:
    """SQLite, ranked by relevance with no other filter: the page ranked inside FTS5.

    Only the ``k`` best hits (after the cursor ``after_key``, ``after_id``) are looked
    up in ``articles``: the general statement joins every hit before sorting, and
    reading an article row means walking its overflow pages past text and html
    (published, language, cluster_id come after them), for thousands of hits at a
    million articles. Same score expression, same (score, id) order and cursor
    condition, so the same page. Outer joins: the caller checks that every hit found
    its article and feed. Built once per shape (parameters bound at execution): its
    construction costs about as much as the engine's query on a small archive.
    """
    hits = fts_hits()
    top = select(hits.c.rid, hits.c.score)
    if with_cursor:
        key, after = bindparam("after_key", type_=Double), bindparam("after_id", type_=Integer)
        top = top.where(or_(hits.c.score < key, and_(hits.c.score == key, hits.c.rid < after)))
    ranked = (
        top.order_by(hits.c.score.desc(), hits.c.rid.desc())
        .limit(bindparam("k", type_=Integer))
        .subquery("top")
    )
    source = ranked.outerjoin(articles, articles.c.id == ranked.c.rid).outerjoin(
        feeds, feeds.c.id == articles.c.feed_id
    )
    return (
        select(*SUMMARY_COLUMNS, ranked.c.score.label("score"))
        .select_from(source)
        .order_by(ranked.c.score.desc(), ranked.c.rid.desc())
    )


class _IndexedAlias(Alias):
    """``articles AS filtered INDEXED BY ix_articles_search_filter`` on SQLite.

    SQLite looks an article up by rowid in the table itself, even when a covering
    index holds every column the statement needs; ``INDEXED BY`` makes it use the index.
    SQLAlchemy renders no table hint for SQLite, hence this alias.
    """

    inherit_cache = True


@compiles(_IndexedAlias, "sqlite")
def _render_indexed_alias(element: _IndexedAlias, compiler: SQLCompiler, **kw: Any) -> str:
    rendered: str = compiler.visit_alias(element, **kw)  # type: ignore[no-untyped-call]
    if kw.get("asfrom"):
        rendered += " INDEXED BY " + compiler.preparer.quote(SEARCH_FILTER_INDEX)
    return rendered


def narrowed_statement(stmt: Select[Any]) -> Select[Any]:
    """SQLite: ``stmt`` choosing only (id, score), through the covering search index.

    ``stmt`` is a search over ``articles`` (joined with the FTS5 hits and feeds) that
    filters and orders on columns of ``ix_articles_search_filter`` only; the result has
    the same rows in the same order, without reading one article row.
    """
    view = _IndexedAlias._construct(articles, name="filtered")
    adapted = ClauseAdapter(view).traverse(stmt)
    return adapted.with_only_columns(
        view.c.id, adapted.selected_columns.score.label("score"), maintain_column_froms=True
    )
