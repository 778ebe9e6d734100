"""SQLite's page caches are emptied when a burst of work ends (issue 17): each pooled
connection keeps up to 2 MiB of pages it read for as long as it lives."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import event

from aggregator.compose import load_config
from aggregator.daemon import Daemon
from aggregator.store import Store


def _sqlite_memory_used() -> int:
    lib = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    return int(lib.sqlite3_memory_used())


def _read_on_two_connections(store: Store) -> None:
    conns = [store.engine.raw_connection() for _ in range(2)]
    try:
        for conn in conns:
            cur = conn.cursor()
            cur.execute("SELECT count(x), sum(length(x)) FROM big")
            cur.fetchall()
            cur.close()
    finally:
        for conn in conns:
            conn.close()


def test_shrink_memory_empties_every_idle_sqlite_connections_page_cache(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE big (x BLOB)")
            conn.exec_driver_sql(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) "
                "INSERT INTO big SELECT randomblob(1500) FROM n"
            )
        _read_on_two_connections(store)  # ~4.5 MiB of pages: each cache fills (2 MiB)
        before = _sqlite_memory_used()
        assert store.shrink_memory() == store.engine.pool.checkedin() >= 2
        assert _sqlite_memory_used() < before - 2 * 2**20
        # and the connections answer as before
        _read_on_two_connections(store)
    finally:
        store.close()


def test_shrink_memory_sends_nothing_to_postgresql(store: Store) -> None:
    sent: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        sent.append(statement)

    store.ping()
    event.listen(store.engine, "before_cursor_execute", record)
    shrunk = store.shrink_memory()
    if store.backend == "sqlite":
        assert shrunk >= 1
    else:
        assert shrunk == 0
        assert sent == []


class _Store:
    def __init__(self) -> None:
        self.shrunk = 0

    def shrink_memory(self) -> int:
        self.shrunk += 1
        return 1


@pytest.mark.parametrize("burst_ended", [False, True])
def test_the_daemon_empties_them_when_a_burst_ends_not_during_it(
    tmp_path: Path, burst_ended: bool
) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text("settings:\n  http: {enabled: false}\n")
    daemon = Daemon(load_config(config, env={"AGGREGATOR_DATABASE_URL": "sqlite://"}))
    store = _Store()
    daemon.store = store  # type: ignore[assignment]

    async def release() -> None:
        with ThreadPoolExecutor(1) as writer:
            daemon.writer = writer  # type: ignore[assignment]
            daemon._heap_dirty = True
            daemon._released_at = 0.0  # a trim is due either way
            await daemon._release_memory(burst_ended=burst_ended)

    asyncio.run(release())
    assert store.shrunk == (1 if burst_ended else 0)
