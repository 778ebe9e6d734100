"""The writer's INSERT of new articles (``store._insert_articles``, issue 17) stores what
SQLAlchemy's ``conn.execute(articles.insert(), rows)`` stored, value for value as the
database holds it, full-text index included, on both backends.

Two feeds get the same articles in one database: one through the prepared statements
(multi-row on SQLite, one row's in one executemany on PostgreSQL), the other through
SQLAlchemy's executemany (the code as it was). Their rows are read
back raw (no result processing: SQLite's datetime strings, PostgreSQL's tsvector as
text) and must be equal but for the id and the feed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Connection

from aggregator.models import Article
from aggregator.poll.normalize import NormalizeSettings, normalize_entry
from aggregator.poll.parse import parse_feed
from aggregator.store import FeedSpec, Store
from aggregator.store import core as store_module
from aggregator.store.schema import articles
from tests.factories import NOW, article, poll_record
from tests.support.farm import load_farm


def _farm_articles() -> list[Article]:
    farm = load_farm()
    out: list[Article] = []
    for i, feed in enumerate(farm.build_farm(farm.FarmSettings(feeds=6, items=12, seed=3))):
        parsed = parse_feed(feed.body, url="https://farm.example/f", headers={}, fetched_at=NOW)
        out += [
            normalize_entry(e, feed=f"farm-{i}", fetched_at=NOW, settings=NormalizeSettings())
            for e in parsed.entries
        ]
    return out


def _odd_articles() -> list[Article]:
    """Every column's edge: NULLs, estimated dates, time zones, 64-bit fingerprints,
    an embedding, text no ASCII codec could carry."""
    base = article("Північнокорейські війська в Курській області", guid="odd-0")
    east = datetime(2024, 11, 4, 21, 30, 15, 123456, tzinfo=UTC).astimezone(ZoneInfo("Asia/Seoul"))
    return [
        base,
        replace(
            base,
            guid="odd-1",
            url="https://x.example/a?b=1",
            canonical_url="https://x.example/a?b=1",
            author="Kim Ji-hoon, Anna Petrenko",
            language=None,
            published=east,
            published_estimated=True,
            fingerprint=(1 << 64) - 1,
            embedding=bytes(range(256)),
        ),
        replace(base, guid="odd-2", fingerprint=1 << 63, fulltext="Повний текст\n\nстатті"),
        replace(base, guid=None, url="https://x.example/only-link", title="’Quotes’ & <tags>"),
    ]


def _raw_rows(conn: Connection, feed_id: int) -> list[tuple[Any, ...]]:
    names = [c.name for c in articles.columns if c.name not in ("id", "feed_id")]
    extra = ", search_vector::text" if conn.dialect.name == "postgresql" else ""
    sql = f"SELECT {', '.join(names)}{extra} FROM articles WHERE feed_id = {feed_id:d} ORDER BY id"
    return [tuple(row) for row in conn.exec_driver_sql(sql)]


def _sqlalchemy_executemany(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    conn.execute(articles.insert(), list(rows))


def _store_both_ways(
    store: Store, monkeypatch: pytest.MonkeyPatch, batch: list[Article]
) -> tuple[int, int]:
    store.sync_feeds(
        [FeedSpec("fast", "http://127.0.0.1/a"), FeedSpec("old", "http://127.0.0.1/b")], NOW
    )
    ids = {
        f.name: f.id for f in store.claim_due_feeds(NOW, owner="test", lease_seconds=60, limit=10)
    }
    calls: list[int] = []
    prepared = store_module._insert_articles

    def counted(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        calls.append(len(rows))
        prepared(conn, rows)

    compile_prepared = store_module._prepared_insert

    def prepared_only(dialect: Any, keys: tuple[str, ...], rows: int) -> Any:
        # The rows a poll inserts must take the prepared statements, not the fallback
        # (SQLAlchemy's executemany), or this test would compare SQLAlchemy with itself.
        found = compile_prepared(dialect, keys, rows)
        assert found is not None, keys
        return found

    monkeypatch.setattr(store_module, "_insert_articles", counted)
    monkeypatch.setattr(store_module, "_prepared_insert", prepared_only)
    assert store.record_poll(poll_record(ids["fast"]), batch).new == len(batch)
    assert calls == [len(batch)]  # the prepared path wrote them
    monkeypatch.setattr(store_module, "_insert_articles", _sqlalchemy_executemany)
    assert store.record_poll(poll_record(ids["old"]), batch).new == len(batch)
    return ids["fast"], ids["old"]


def test_prepared_insert_stores_what_sqlalchemy_stored(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = _farm_articles() + _odd_articles()
    fast, old = _store_both_ways(store, monkeypatch, batch)
    with store.engine.connect() as conn:
        fast_rows = _raw_rows(conn, fast)
        old_rows = _raw_rows(conn, old)
    assert len(fast_rows) == len(batch)
    assert fast_rows == old_rows


def test_prepared_insert_indexes_the_text_for_search(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = _farm_articles() + _odd_articles()
    fast, old = _store_both_ways(store, monkeypatch, batch)
    words = ["government", "zürich", "kraków", "війська", "курській", "quotes"]
    with store.engine.connect() as conn:
        for word in words:
            if conn.dialect.name == "sqlite":
                sql = (
                    "SELECT a.feed_id, a.identity FROM articles_fts f JOIN articles a "
                    "ON a.id = f.rowid WHERE articles_fts MATCH ? ORDER BY a.identity"
                )
                hits = conn.exec_driver_sql(sql, (f'"{word}"',)).all()
            else:
                sql = (
                    "SELECT feed_id, identity FROM articles WHERE search_vector @@ "
                    "to_tsquery('aggregator_search', %(w)s) ORDER BY identity"
                )
                hits = conn.exec_driver_sql(sql, {"w": word}).all()
            fast_hits = [identity for feed, identity in hits if feed == fast]
            old_hits = [identity for feed, identity in hits if feed == old]
            assert fast_hits == old_hits, word
            assert fast_hits, word  # each word is in some article


@pytest.mark.parametrize("count", [1, 3, 31, 32, 33, 50])
def test_every_batch_size_stores_what_sqlalchemy_stored(
    store: Store, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    # The 76 articles above are 32 + 32 + 12 rows; these are one statement of one row,
    # of a few, of 31 and of 32, then a full statement and a rest of one or of 18.
    batch = (_odd_articles() + _farm_articles())[:count]
    fast, old = _store_both_ways(store, monkeypatch, batch)
    with store.engine.connect() as conn:
        fast_rows = _raw_rows(conn, fast)
        old_rows = _raw_rows(conn, old)
    assert len(fast_rows) == count
    assert fast_rows == old_rows


def test_batches_are_split_into_as_few_statements_as_the_bound_allows() -> None:
    for count in range(1, 200):
        sizes = store_module._chunk_sizes(count)
        assert sum(sizes) == count
        assert all(0 < size <= 32 for size in sizes)
        assert len(sizes) == -(-count // 32)
    assert store_module._chunk_sizes(50) == [32, 18]


def test_prepared_insert_is_compiled_once_per_dialect_columns_and_rows(store: Store) -> None:
    row = {"feed_id": 1, "identity": "i", **store_module._article_values(article())}
    keys = tuple(row)
    first = store_module._prepared_insert(store.engine.dialect, keys, 4)
    assert first is not None
    assert store_module._prepared_insert(store.engine.dialect, keys, 4) is first
    assert sorted(first.keys) == sorted(keys)
    assert first.names == tuple(f"{k}__{i}" for i in range(4) for k in first.keys)
    assert first.sql.count("(") >= 5  # the column list and four rows of values
    # Rows leaving out a column with a Python default go through SQLAlchemy, which fills it.
    assert store_module._prepared_insert(store.engine.dialect, ("feed_id", "identity"), 2) is None
