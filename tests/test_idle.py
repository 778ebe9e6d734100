"""An idle daemon stays idle: no statement it repeats reads a whole table, on either backend,
and its consume job looks at the database only when there may be something to do.

An idle daemon runs its interval jobs every second (consume, deliver, tick) whatever
the archive's size, so a statement among them that scans ``articles`` costs CPU in
proportion to the archive for ever: the consumer's look-up of edited articles did,
2 CPU-seconds a minute at 25,000 articles (issue 17). These tests run the real daemon
in this process, record every statement it sends while idle, and ask each engine for
its plan: SQLite's ``EXPLAIN QUERY PLAN``, PostgreSQL's ``EXPLAIN`` with sequential
scans priced out (on a test-sized table a scan is cheapest, so it would be chosen
whatever the indexes; with them priced out PostgreSQL still scans when no index
applies, which is what this asserts against).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, text, update

from aggregator import daemon as daemon_module
from aggregator.compose import load_config
from aggregator.daemon import Daemon, consume_due
from aggregator.store import Store, create_db_engine
from aggregator.store.schema import articles, feeds, metadata
from tests.support.archive_data import T0, kursk_archive
from tests.support.plans import pg_plan, sqlite_plan

CONFIG = """
settings:
  http: {enabled: false}
  poll: {tick: 0.2s, parse_workers: 0}
  delivery: {tick: 0.2s}
topics:
  - {name: storm, query: "storm"}
channels:
  - {name: hook, type: webhook, url: "http://127.0.0.1:9/hook",
     secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
alerts:
  - {name: morning, topic: storm, trigger: digest, schedule: "0 8 * * *", channels: [hook]}
  - {name: first, topic: storm, trigger: new_event, channels: [hook]}
feeds: []
"""

BULK_FEEDS = 50
BULK_ARTICLES = 3000

# Indexes built over only the rows a look-up wants: reading one whole is reading
# just those rows, not a scan of the table.
PARTIAL_INDEXES = {
    ix.name
    for table in metadata.tables.values()
    for ix in table.indexes
    if ix.dialect_options["sqlite"].get("where") is not None
}


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = create_db_engine(database_url)
    kursk_archive(eng)
    # An archive big enough that statistics describe one: on a handful of rows a
    # scan is the cheapest plan, and an engine with statistics rightly picks it.
    with eng.begin() as conn:
        feed_ids = (
            conn.execute(
                insert(feeds).returning(feeds.c.id),
                [
                    {
                        "name": f"bulk {i}",
                        "url": f"http://127.0.0.1:9/{i}",
                        "config_url": f"http://127.0.0.1:9/{i}",
                        "next_poll_at": T0 + timedelta(days=365),
                        "created_at": T0,
                    }
                    for i in range(BULK_FEEDS)
                ],
            )
            .scalars()
            .all()
        )
        conn.execute(
            insert(articles),
            [
                {
                    "feed_id": feed_ids[i % BULK_FEEDS],
                    "identity": f"bulk:{i}",
                    "title": f"Bulk {i}",
                    "title_raw": f"Bulk {i}",
                    "summary": "",
                    "text": "",
                    "html": "",
                    "published": T0 - timedelta(days=400, minutes=i),
                    "fetched_at": T0 - timedelta(days=400),
                    "updated_at": T0 - timedelta(days=400),
                    "content_hash": f"{i:064x}",
                    "processed_at": T0 - timedelta(days=400),
                }
                for i in range(BULK_ARTICLES)
            ],
        )
    # One article waiting to be matched again, so that look-up has a row to find.
    with eng.begin() as conn:
        first = conn.execute(text("SELECT min(id) FROM articles")).scalar_one()
        conn.execute(
            update(articles)
            .where(articles.c.id == first)
            .values(processed_at=T0, rematch_at=T0 + timedelta(minutes=1))
        )
    yield eng
    eng.dispose()


def idle_statements(database_url: str) -> dict[str, Any]:
    """Every distinct statement (with the parameters of one run) the daemon sends
    once its start-up is over and nothing is due: its second to fifth seconds."""
    loaded = load_config(None, text=CONFIG, env={"AGGREGATOR_DATABASE_URL": database_url})
    seen: dict[str, Any] = {}
    recording = False

    def record(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, many: bool
    ) -> None:
        if recording and not many:
            seen.setdefault(statement, parameters)

    async def run() -> None:
        nonlocal recording
        daemon = Daemon(loaded)
        task = asyncio.create_task(daemon.run())
        # Start-up (migrations, the consumer's replay, the first claims) is not idle.
        # The consumer's replay sets no event to wait on: look every 0.1 s.
        while daemon.consumer is None or not daemon.consumer._ready:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        recording = True
        await asyncio.sleep(3.0)
        recording = False
        daemon.stopping.set()
        assert await task == 0

    event.listen(Engine, "before_cursor_execute", record)
    try:
        asyncio.run(run())
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    return seen


def sqlite_scans(engine: Engine, statement: str, parameters: Any) -> list[str]:
    """The plan lines that read a whole table, or a whole index of every row."""
    lines = sqlite_plan(engine, statement, parameters)
    bad = []
    for line in lines:
        m = re.match(r"SCAN (\w+)(?: USING (?:COVERING )?INDEX (\w+))?", line)
        if m and m.group(1) != "CONSTANT" and m.group(2) not in PARTIAL_INDEXES:
            bad.append(line)
    return bad


def pg_scans(engine: Engine, statement: str, parameters: Any) -> list[str]:
    bad: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        kind = node["Node Type"]
        name = node.get("Index Name")
        if kind == "Seq Scan":
            bad.append(f"Seq Scan on {node['Relation Name']}")
        elif (
            kind in ("Index Scan", "Index Only Scan", "Bitmap Index Scan")
            and "Index Cond" not in node
            and name not in PARTIAL_INDEXES
        ):
            bad.append(f"{kind} of all of {name}")
        for child in node.get("Plans", []):
            walk(child)

    walk(pg_plan(engine, statement, parameters))
    return bad


def scans(engine: Engine, statement: str, parameters: Any) -> list[str]:
    if engine.dialect.name == "sqlite":
        return sqlite_scans(engine, statement, parameters)
    return pg_scans(engine, statement, parameters)


def test_no_statement_of_an_idle_daemon_scans_a_table(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The consume job's idle look, every 10 s, comes every half second here so the
    # window sees it several times.
    monkeypatch.setattr(daemon_module, "CONSUME_IDLE_RECHECK", 0.5)
    seen = idle_statements(database_url)
    flat = {" ".join(s.split()): p for s, p in seen.items()}
    # What the idle jobs are known to ask; if one stops being seen, this test no
    # longer covers it and must say so.
    expected = {
        "consumer, new articles": "articles.processed_at IS NULL",
        "consumer, edited articles": "WHERE articles.rematch_at IS NOT NULL",
        "delivery claim": "FROM alerts WHERE alerts.status",
        "poll claim": "FROM feeds WHERE feeds.enabled",
        "digest": "FROM rule_state WHERE rule_state.rule",
    }
    for what, fragment in expected.items():
        assert any(fragment in s for s in flat), f"{what} not seen: {list(flat)}"
    queries = {
        s: p
        for s, p in seen.items()
        if s.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH"))
    }
    # SQLite plans without statistics unless someone runs ANALYZE (or PRAGMA
    # optimize); PostgreSQL's autovacuum analyzes every table it sees change, and a
    # table never analyzed is planned from made-up sizes. So: SQLite both ways,
    # PostgreSQL as it runs.
    if engine.dialect.name == "sqlite":
        assert {s: bad for s, p in queries.items() if (bad := scans(engine, s, p))} == {}
    analyze(engine)
    assert {s: bad for s, p in queries.items() if (bad := scans(engine, s, p))} == {}


def analyze(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))


@pytest.mark.parametrize(
    ("method", "indexes"),
    [
        ("articles_to_rematch", {"ix_articles_rematch_waiting"}),
        # SQLite looks up processed_at = NULL in the plain index, as good a search.
        ("unprocessed_articles", {"ix_articles_unprocessed", "ix_articles_processed_at"}),
    ],
)
def test_the_consumers_look_ups_use_an_index(
    engine: Engine, method: str, indexes: set[str]
) -> None:
    store = Store(engine)
    statements: list[tuple[str, Any]] = []

    def record(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool
    ) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        waiting = getattr(store, method)(10)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert waiting  # the look-up has rows to find
    analyze(engine)
    [(statement, parameters)] = statements
    if engine.dialect.name == "sqlite":
        plan = " | ".join(sqlite_plan(engine, statement, parameters))
    else:
        plan = json.dumps(pg_plan(engine, statement, parameters))
    assert any(ix in plan for ix in indexes), plan
    assert scans(engine, statement, parameters) == []


def test_the_consume_job_looks_when_woken_while_busy_and_else_every_recheck() -> None:
    def due(woken: bool = False, busy: bool = False, since: float = 1.0) -> bool:
        return consume_due(woken=woken, busy=busy, since_last_look=since, recheck=10.0)

    assert due(woken=True)  # a poll here stored articles
    assert due(busy=True)  # the last look found work: more may wait
    assert not due(since=1.0)  # idle: every second would be 0.12 CPU-s a minute
    assert not due(since=9.9)
    assert due(since=10.0)  # another daemon's articles, digests falling due
