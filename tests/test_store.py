from __future__ import annotations

import inspect
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from aggregator.errors import StorageError
from aggregator.store import FeedSpec, Store
from aggregator.store.archive import Archive
from aggregator.store.engine import WAL_CHECKPOINT_PAGES
from aggregator.store.migrate import current_revision, head_revision, upgrade
from tests.factories import NOW, article, poll_record

SPECS = [
    FeedSpec("one", "http://127.0.0.1/one"),
    FeedSpec("two", "http://127.0.0.1/two", fixed_interval=600.0),
]


def test_migrations_reach_head(store: Store) -> None:
    # That the migrations agree with the models (full-text objects aside) is
    # tests/test_archive.py::test_migrations_agree_with_models_once_fulltext_objects_are_skipped
    assert current_revision(store.engine) == head_revision()


def test_sync_feeds_adds_changes_and_removes(store: Store) -> None:
    assert store.sync_feeds(SPECS, NOW) == {"added": 2, "changed": 0, "removed": 0}
    assert store.sync_feeds(SPECS, NOW) == {"added": 0, "changed": 0, "removed": 0}
    moved = [FeedSpec("one", "http://127.0.0.1/one-new")]
    assert store.sync_feeds(moved, NOW) == {"added": 0, "changed": 1, "removed": 1}
    by_name = {s.name: s for s in Archive(store.engine).feeds()}
    assert by_name["one"].url == "http://127.0.0.1/one-new"
    assert by_name["two"].state == "removed"
    assert [f.name for f in store.claim_due_feeds(NOW, owner="a", lease_seconds=60, limit=10)] == [
        "one"
    ]


def test_claims_are_leases(store: Store) -> None:
    store.sync_feeds(SPECS, NOW)
    first = store.claim_due_feeds(NOW, owner="a", lease_seconds=60, limit=10)
    assert {f.name for f in first} == {"one", "two"}
    assert store.claim_due_feeds(NOW, owner="b", lease_seconds=60, limit=10) == []
    # an expired lease (its daemon died) is free again
    later = NOW + timedelta(seconds=61)
    again = store.claim_due_feeds(later, owner="b", lease_seconds=60, limit=1)
    assert len(again) == 1
    store.release_feeds([f.id for f in first], "a")  # not a's any more: no effect on b's
    assert store.claim_due_feeds(later, owner="c", lease_seconds=60, limit=10)[0].id != again[0].id


def test_not_due_feeds_are_not_claimed_unless_forced(store: Store) -> None:
    store.sync_feeds(SPECS, NOW)
    (feed,) = store.claim_due_feeds(NOW, owner="a", lease_seconds=60, limit=1, names=["one"])
    store.record_poll(poll_record(feed.id, owner="a", next_poll_at=NOW + timedelta(hours=1)), [])
    assert store.claim_due_feeds(NOW, owner="a", lease_seconds=60, limit=9, names=["one"]) == []
    forced = store.claim_due_feeds(
        NOW, owner="a", lease_seconds=60, limit=9, names=["one"], force=True
    )
    assert [f.name for f in forced] == ["one"]


def test_record_poll_stores_articles_once_and_updates_in_place(store: Store) -> None:
    store.sync_feeds(SPECS, NOW)
    (feed,) = store.claim_due_feeds(NOW, owner="test", lease_seconds=60, limit=1, names=["one"])
    batch = [
        article("A", guid="g1"),
        article("B", url="http://x/b"),
        article("C"),  # neither guid nor link: identified by its content hash
        article("A again, same guid", guid="g1"),  # duplicate GUID in one document
    ]
    counts = store.record_poll(poll_record(feed.id), batch)
    assert (counts.new, counts.updated) == (3, 0)
    counts = store.record_poll(poll_record(feed.id), batch[:3])
    assert (counts.new, counts.updated) == (0, 0)
    edited = article("A (corrected)", guid="g1")
    counts = store.record_poll(poll_record(feed.id), [edited, batch[1]])
    assert (counts.new, counts.updated) == (0, 1)
    assert store.count_articles() == 3
    assert {a.title for a in Archive(store.engine).search("corrected").items} == {"A (corrected)"}


def test_record_poll_writes_feed_state_and_poll_log(store: Store) -> None:
    store.sync_feeds(SPECS, NOW)
    (feed,) = store.claim_due_feeds(NOW, owner="test", lease_seconds=60, limit=1, names=["one"])
    store.record_poll(
        poll_record(feed.id, owner="test", new_url="http://127.0.0.1/moved", title="One"), []
    )
    (state,) = store.claim_due_feeds(
        NOW, owner="test", lease_seconds=60, limit=1, names=["one"], force=True
    )
    assert state.url == "http://127.0.0.1/moved"
    assert state.etag == '"v1"'
    assert state.last_modified == "Mon, 04 Nov 2024 11:00:00 GMT"
    assert state.validators_for("http://127.0.0.1/feed") == (
        '"v1"',
        "Mon, 04 Nov 2024 11:00:00 GMT",
    )
    assert state.validators_for("http://127.0.0.1/other") == (None, None)
    failed = poll_record(
        feed.id, owner="test", outcome="failed", error="HTTP 500", http_status=500, error_count=1
    )
    store.record_poll(failed, [])
    status = next(s for s in Archive(store.engine).feeds() if s.name == "one")
    assert status.last_error == "HTTP 500"
    assert status.error_count == 1
    assert status.title == "One"
    polls = Archive(store.engine).feeds(polls_per_feed=20, name="one")[0].recent_polls
    assert [p.outcome for p in polls] == ["failed", "ok"]
    # a failed poll keeps the validators of the last good one
    (again,) = store.claim_due_feeds(
        NOW, owner="test", lease_seconds=60, limit=1, names=["one"], force=True
    )
    assert again.etag == '"v1"'


def test_large_fingerprints_round_trip(store: Store) -> None:
    store.sync_feeds(SPECS, NOW)
    (feed,) = store.claim_due_feeds(NOW, owner="test", lease_seconds=60, limit=1)
    big = (1 << 64) - 5
    store.record_poll(poll_record(feed.id), [article("X", guid="x", fingerprint=big)])
    assert store.count_articles() == 1


def test_every_public_method_raises_storage_error(database_url: str, tmp_path: object) -> None:
    # A database without tables makes every statement fail inside the driver.
    if database_url.startswith("sqlite"):
        broken = Store.open(database_url.replace("test.db", "empty.db"))
    else:
        broken = Store.open(database_url.replace("/aggregator_test_", "/nonexistent_"))
    calls = {
        "ping": lambda s: s.ping(),
        "shrink_memory": lambda s: s.shrink_memory(),
        "sync_feeds": lambda s: s.sync_feeds(SPECS, NOW),
        "claim_due_feeds": lambda s: s.claim_due_feeds(NOW, owner="x", lease_seconds=1, limit=1),
        "release_feeds": lambda s: s.release_feeds([1], "x"),
        "renew_leases": lambda s: s.renew_leases([1], "x", NOW),
        "known_identities": lambda s: s.known_identities(1, [article("x")]),
        "add_api_feed": lambda s: s.add_api_feed("n", "http://127.0.0.1/n", NOW),
        "remove_api_feed": lambda s: s.remove_api_feed("n"),
        "record_poll": lambda s: s.record_poll(poll_record(1), []),
        "count_articles": lambda s: s.count_articles(),
        "unprocessed_articles": lambda s: s.unprocessed_articles(10),
        "processed_articles_since": lambda s: list(s.processed_articles_since(NOW)),
        "max_cluster_id": lambda s: s.max_cluster_id(),
        "cluster_merges": lambda s: s.cluster_merges(),
        "topic_matched_clusters": lambda s: s.topic_matched_clusters("t", [1]),
        "rule_fired_for": lambda s: s.rule_fired_for("r", "new_event", [1]),
        "topics_matched_in": lambda s: s.topics_matched_in([1]),
        "rules_fired_in": lambda s: s.rules_fired_in([1]),
        "rule_recent_alerts": lambda s: s.rule_recent_alerts("r", NOW),
        "cluster_articles": lambda s: s.cluster_articles([1]),
        "cluster_outlets": lambda s: s.cluster_outlets([1]),
        "topic_matching_articles": lambda s: s.topic_matching_articles("t", [1]),
        "rule_last_alert": lambda s: s.rule_last_alert("r", "developing", [1]),
        "feed_activity": lambda s: s.feed_activity(),
        "feed_health_states": lambda s: s.feed_health_states("r"),
        "record_feed_health": lambda s: s.record_feed_health("r", [(1, "ok")], [], NOW),
        "lease_owners": lambda s: s.lease_owners(),
        "release_all_leases": lambda s: s.release_all_leases(["x"]),
        "record_processing": lambda s: s.record_processing([], [], [(1, 2)], [], [], NOW),
        "last_digest_at": lambda s: s.last_digest_at("r"),
        "matched_clusters_between": lambda s: s.matched_clusters_between("t", None, NOW),
        "record_digest": lambda s: s.record_digest("r", NOW, []),
        "claim_due_alerts": lambda s: s.claim_due_alerts(NOW, owner="x", lease_seconds=1, limit=1),
        "mark_alert_sent": lambda s: s.mark_alert_sent("a", "x", NOW),
        "mark_alert_failed": lambda s: s.mark_alert_failed("a", "x", "boom", None),
        "list_alerts": lambda s: s.list_alerts(),
        "retry_alert": lambda s: s.retry_alert("a", NOW),
        "alert_counts": lambda s: s.alert_counts(),
        "disable_channel": lambda s: s.disable_channel("c", "gone", NOW),
        "enable_channel": lambda s: s.enable_channel("c"),
        "disabled_channels": lambda s: s.disabled_channels(),
        "cluster_row": lambda s: s.cluster_row(1),
        "articles_to_rematch": lambda s: s.articles_to_rematch(1),
        "topics_matched_by": lambda s: s.topics_matched_by([1]),
        "cluster_explanations": lambda s: s.cluster_explanations(1),
        "articles_needing_fulltext": lambda s: s.articles_needing_fulltext(["t"], NOW, 1),
        "set_fulltext": lambda s: s.set_fulltext(1, "", None),
        "articles_awaiting_vector": lambda s: s.articles_awaiting_vector(NOW, 0, 1),
        "set_embeddings": lambda s: s.set_embeddings({1: bytes(768)}),
        "prune_polls": lambda s: s.prune_polls(NOW, keep_per_feed=1),
        "prune_events": lambda s: s.prune_events(NOW),
        "prune_batches": lambda s: list(
            s.prune_batches(
                NOW, polls_age=timedelta(days=1), polls_per_feed=1, articles_age=timedelta(days=9)
            )
        ),
        "prune": lambda s: s.prune(
            NOW, polls_age=timedelta(days=1), polls_per_feed=1, articles_age=timedelta(days=9)
        ),
    }
    public = {
        name
        for name, fn in inspect.getmembers(Store, inspect.isfunction)
        if not name.startswith("_") and name not in ("open", "close")
    }
    assert public == set(calls), "every public Store method must be covered here"
    try:
        for name, call in calls.items():
            if name == "ping" and database_url.startswith("sqlite"):
                continue  # SELECT 1 works on any SQLite file
            if name == "shrink_memory":
                # reads no table (a PRAGMA on SQLite's idle connections, nothing sent to
                # PostgreSQL): it has nothing to fail on here
                assert call(broken) >= 0
                continue
            with pytest.raises(StorageError):
                call(broken)
    finally:
        broken.close()


def test_a_poll_whose_lease_passed_to_another_daemon_is_not_stored(store: Store) -> None:
    store.sync_feeds(SPECS, NOW)
    (feed,) = store.claim_due_feeds(NOW, owner="a", lease_seconds=1, limit=1, names=["one"])
    later = NOW + timedelta(seconds=5)
    assert store.renew_leases([feed.id], "b", later) == 0  # not b's lease
    (taken,) = store.claim_due_feeds(later, owner="b", lease_seconds=60, limit=1, names=["one"])
    counts = store.record_poll(poll_record(feed.id, owner="a"), [article("X", guid="x")])
    assert not counts.stored
    assert store.count_articles() == 0
    assert Archive(store.engine).feeds(polls_per_feed=20, name="one")[0].recent_polls == ()
    assert store.renew_leases([taken.id], "b", later + timedelta(minutes=5)) == 1
    assert store.record_poll(poll_record(taken.id, owner="b"), [article("X", guid="x")]).stored


def test_api_feeds_are_left_alone_by_the_config_sync(store: Store) -> None:
    store.sync_feeds(SPECS, NOW)
    assert store.add_api_feed("api", "http://127.0.0.1/api", NOW)
    assert not store.add_api_feed("one", "http://127.0.0.1/other", NOW)  # name taken
    assert not store.add_api_feed("x", "http://127.0.0.1/one", NOW)  # URL taken
    assert store.sync_feeds(SPECS, NOW)["removed"] == 0
    assert {s.name: s.state for s in Archive(store.engine).feeds()}["api"] == "active"
    assert store.remove_api_feed("one") == "config"
    assert store.remove_api_feed("api") == "removed"
    assert store.remove_api_feed("api") == "missing"
    assert store.add_api_feed("api", "http://127.0.0.1/api", NOW)  # back again


def test_partial_indexes_keep_their_where_on_postgresql(database_url: str) -> None:
    # The schema names only sqlite_where (so SQLite never loads the PostgreSQL
    # dialect); a PostgreSQL engine gives every such index the same WHERE.
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateIndex

    from aggregator.store import schema

    store = Store.open(database_url)
    try:
        partial = [
            index
            for table in schema.metadata.tables.values()
            for index in table.indexes
            if index.dialect_options["sqlite"]["where"] is not None
        ]
        assert len(partial) >= 3
        if database_url.startswith("postgresql"):
            for index in partial:
                ddl = str(CreateIndex(index).compile(dialect=postgresql.dialect()))
                where = str(index.dialect_options["sqlite"]["where"])
                assert ddl.endswith(f"WHERE {where}"), ddl
    finally:
        store.close()


def test_sqlite_checkpoints_the_wal_every_few_thousand_pages(tmp_path: Path) -> None:
    # SQLite's default checkpoint (every 1,000 pages) copied a first poll's WAL into
    # the database every two feeds, each copy with two syncs, on the writer thread
    # (docs/benchmarks.md, "The writer's pages"). A transaction of 1,500 pages is not
    # followed by one now: the next write appends to the WAL instead of starting it
    # over, and everything is still there to copy.
    pages = 1500
    assert 1000 < pages < WAL_CHECKPOINT_PAGES
    store = Store.open(f"sqlite:///{tmp_path / 'wal.db'}")
    try:
        with store.engine.begin() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            limit = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
            assert limit == WAL_CHECKPOINT_PAGES
            conn.exec_driver_sql("CREATE TABLE pages (body BLOB)")
        with store.engine.begin() as conn:
            for _ in range(pages):
                conn.exec_driver_sql("INSERT INTO pages VALUES (zeroblob(4000))")
        with store.engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO pages VALUES (zeroblob(10))")
        with store.engine.connect() as conn:
            busy, frames, copied = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        assert (busy, frames > pages, copied) == (0, True, frames)
    finally:
        store.close()


def test_sqlite_polls_keep_their_statement_journals_in_memory(tmp_path: Path) -> None:
    # A poll's multi-row INSERTs keep the pages they change as they were (a statement
    # may fail halfway: a foreign key, the full-text trigger); past 64 KiB that journal
    # was a temporary file, a third of the writer's file writes on a first poll
    # (docs/benchmarks.md, "The statement journal"). In memory while a poll writes, and
    # the connection's default again afterwards, after a failed poll too: elsewhere
    # ``temp_store`` would keep the readers' sorts in memory.
    store = Store.open(f"sqlite:///{tmp_path / 'journal.db'}")
    upgrade(store.engine)
    seen: list[tuple[int, int]] = []

    def _temp_store_at_insert(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT INTO articles"):
            value = cursor.connection.execute("PRAGMA temp_store").fetchone()[0]
            seen.append((id(cursor.connection), value))

    def temp_store_now() -> tuple[int, int]:
        with store.engine.connect() as conn:
            value = conn.exec_driver_sql("PRAGMA temp_store").scalar_one()
            return id(conn.connection.driver_connection), value

    event.listen(store.engine, "before_cursor_execute", _temp_store_at_insert)
    try:
        store.sync_feeds(SPECS, NOW)
        (feed,) = store.claim_due_feeds(NOW, owner="test", lease_seconds=60, limit=1)
        batch = [article(f"Story {i}", guid=f"g{i}") for i in range(40)]
        assert store.record_poll(poll_record(feed.id), batch).new == 40
        connection, default = temp_store_now()
        assert seen == [(connection, 2), (connection, 2)]  # 32 rows, then 8; MEMORY
        assert default == 0  # DEFAULT (a file unless SQLite was built otherwise)
        seen.clear()
        # no such feed: the foreign key fails the INSERT, and nothing of the poll stays
        with pytest.raises(StorageError, match="FOREIGN KEY"):
            store.record_poll(poll_record(feed.id + 100), [article("Orphan", guid="o")])
        assert seen == [(connection, 2)]
        assert temp_store_now() == (connection, 0)
        assert store.count_articles() == 40
    finally:
        store.close()
