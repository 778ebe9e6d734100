"""Archive search: two-term queries through the HTTP API vs. the raw engine query.

    python benchmarks/bench_search.py --quick          # 20,000 articles, < ~60 s
    python benchmarks/bench_search.py                  # 1,000,000 articles (hours, ~10 GB)
    python benchmarks/bench_search.py --articles 200000 --no-pg

Generates 2-6 KB articles (Zipf-distributed words from a synthetic vocabulary, fixed
seed), bulk-loads them at migration 0002 (executemany / COPY in big transactions),
then upgrades to head so the FTS5 index / tsvector column and GIN index are built
once, in bulk. Then, for the same ≥ 200 two-term queries (AND of two words from the
vocabulary's rank band --band, default 300-5000: names and topical words, not "the"):

(interleaved per query, in a shuffled order)

- raw:     the engine alone, the same SQL the archive runs, on one DBAPI connection
- archive: Archive.search() in-process (parsing, translation, SQLAlchemy)
- http:    GET /api/v1/articles?q=... through uvicorn on 127.0.0.1, served by a
           separate process (httpx keep-alive client, body decoded as JSON): the goal's
- lean:    the same requests through a minimal keep-alive socket client (the same
           JSON decoding): what the server and the wire cost without httpx's own Python

and prints p50/p95 for each, the median number of hits, and the database size per
article. Then the goal's figure (issue 17: HTTP p95 <= 1.5x the raw engine; p95 <= 50 ms
on SQLite), in blocks (--rounds, default 8), a block of each in a shuffled order per
round, so that all see the same load:

- raw:     the engine alone, as above, over the round's share of the queries;
- wrk:     the same requests through wrk (Debian's, C, a process of its own), one
           thread, one keep-alive connection, one request at a time, the block's
           targets in turn; its Lua prints every latency (µs) when the block ends;
           for ours and the baseline's server (--baseline).

The goal is judged on wrk's figure: it is about the server's cost over the engine's,
and a Python client's own CPU is not the server's (httpx's get and JSON decoding cost
as much CPU per request as the search: it made the httpx line measure the client as
much as the server). The httpx and lean lines stay printed beside it.

Beside the latencies, the CPU time per request of each server over its plain blocks
(user + system of all its threads, read from /proc around each block), and on SQLite
the raw engine's (its query runs in this process). On a shared, loaded machine a
latency's tail moves with the load by more than a server change is worth; CPU spent
moves much less, so it is the figure to compare a change by (ours beside --baseline).

Filtered and newest-first searches (--filtered, default 100: the first queries again,
in turn with feed=, since=, lang= or order=date), in blocks of their own: wrk against
the raw engine replaying the statements the archive sent for that request (recorded
once, at the driver: SQL and arguments, both steps of a two-step SQLite search; the
query parsed as in the raw line), each kind's ratio and all of them together.
PostgreSQL runs when reachable (--pg-url, default $AGGREGATOR_TEST_PG_URL or
postgres@127.0.0.1).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import numpy as np
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

# The package served: this checkout's, or a baseline's source tree (Server(code=...)).
sys.path.insert(0, os.environ.get("BENCH_SEARCH_CODE") or str(Path(__file__).resolve().parents[1]))

from aggregator.api import ApiSettings, create_app, serve
from aggregator.api.app import plain_search_args
from aggregator.store import create_db_engine
from aggregator.store.archive import Archive
from aggregator.store.migrate import upgrade

SEED = 7
VOCABULARY = 50_000
FEEDS = 50
START = datetime(2024, 1, 1, tzinfo=UTC)
BATCH = 5_000

# --------------------------------------------------------------------------- data


def vocabulary(rng: np.random.Generator) -> list[str]:
    """Pronounceable distinct pseudo-words, 3-4 syllables."""
    onsets = [*"bcdfghjklmnprstvz", "ch", "sh", "th", "tr", "kr", "st"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ou", "ea"]
    words: set[str] = set()
    out: list[str] = []
    while len(out) < VOCABULARY:
        n = int(rng.integers(2, 5))
        w = "".join(
            onsets[rng.integers(len(onsets))] + vowels[rng.integers(len(vowels))] for _ in range(n)
        )
        if w not in words:
            words.add(w)
            out.append(w)
    return out


def articles(n: int, words: list[str], rng: np.random.Generator) -> Iterator[tuple[Any, ...]]:
    """(feed_id, identity, title, text, html, published, hash, url) rows, 2-6 KB of text
    each. Every article has a link, as a polled one does: a search's answer judges each
    link on its way out (``api.safety.safe_url``), and rows without one measured a
    web stack cheaper than a real archive's (session 15). The link is made from the
    row's own values, with no draw of its own, so the text is the same as before."""
    ranks = np.arange(1, len(words) + 1, dtype=np.float64)
    cdf = np.cumsum(1.0 / ranks**1.05)
    cdf /= cdf[-1]
    vocab = np.array(words, dtype=object)
    avg = 1 + sum(len(w) for w in words[:2000]) / 2000  # frequent words dominate
    for i in range(n):
        size = int(rng.integers(2_000, 6_001))
        body = " ".join(vocab[np.searchsorted(cdf, rng.random(int(size / avg)))])
        title = " ".join(vocab[np.searchsorted(cdf, rng.random(int(rng.integers(6, 13))))])
        title = title[:1].upper() + title[1:]
        published = START + timedelta(seconds=i * 30)
        digest = hashlib.sha256(f"{i}{title}".encode()).hexdigest()
        feed = i % FEEDS + 1
        slug = "-".join(title.lower().split()[:6])
        url = f"https://outlet{feed}.example/news/{published:%Y/%m/%d}/{slug}-{i}?ref=rss"
        yield (feed, f"g:{i}", title, body, f"<p>{body}</p>", published, digest, url)


def load(engine: Engine, n: int, words: list[str]) -> float:
    """Bulk load at revision 0002, then build the full-text index by upgrading."""
    rng = np.random.default_rng(SEED)
    t0 = time.perf_counter()
    upgrade(engine, "0002")
    sqlite = engine.dialect.name == "sqlite"
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        feed_sql = (
            "INSERT INTO feeds (id, name, url, config_url, enabled, state, fulltext, "
            "next_poll_at, error_count, created_at) VALUES (?, ?, ?, ?, 1, 'active', 0, ?, 0, ?)"
            if sqlite
            else "INSERT INTO feeds (id, name, url, config_url, enabled, state, fulltext, "
            "next_poll_at, error_count, created_at) "
            "VALUES (%s, %s, %s, %s, true, 'active', false, %s, 0, %s)"
        )
        when: Any = START.replace(tzinfo=None).isoformat(" ") if sqlite else START
        cur.executemany(
            feed_sql,
            [
                (f, f"feed{f}", f"http://127.0.0.1/{f}", f"http://127.0.0.1/{f}", when, when)
                for f in range(1, FEEDS + 1)
            ],
        )
        cols = (
            "feed_id, identity, title, title_raw, summary, text, html, published, "
            "published_estimated, fetched_at, updated_at, language, content_hash, fingerprint, url"
        )
        rows = articles(n, words, rng)
        if sqlite:
            sql = f"INSERT INTO articles ({cols}) VALUES (?,?,?,?,?,?,?,?,0,?,?,'en',?,0,?)"
            while True:
                batch = []
                for fid, ident, title, body, html, pub, digest, url in rows:
                    p = pub.replace(tzinfo=None).isoformat(" ", "microseconds")
                    batch.append(
                        (fid, ident, title, title, body[:200], body, html, p, p, p, digest, url)
                    )
                    if len(batch) == BATCH * 4:
                        break
                if not batch:
                    break
                cur.executemany(sql, batch)
                raw.commit()
        else:
            driver = raw.driver_connection  # type: ignore[attr-defined]
            with driver.cursor() as pg, pg.copy(f"COPY articles ({cols}) FROM STDIN") as copy:
                for fid, ident, title, body, html, pub, digest, url in rows:
                    copy.write_row(
                        (
                            fid,
                            ident,
                            title,
                            title,
                            body[:200],
                            body,
                            html,
                            pub,
                            False,
                            pub,
                            pub,
                            "en",
                            digest,
                            0,
                            url,
                        )
                    )
        raw.commit()
    finally:
        raw.close()
    upgrade(engine)  # 0003: FTS5 rebuild / generated tsvector + GIN, in bulk
    if not sqlite:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return time.perf_counter() - t0


# --------------------------------------------------------------------------- measuring


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(fns: dict[str, Callable[[str], int]], queries: list[str]) -> dict[str, list[float]]:
    """Each query through every path, interleaved in a shuffled order per query, so
    cache warm-up and the neighbours' load spread evenly over the paths compared."""
    rng = np.random.default_rng(SEED + 2)
    names = list(fns)
    for q in queries[:20]:  # warm caches and connections
        for name in names:
            fns[name](q)
    times: dict[str, list[float]] = {name: [] for name in names}
    for q in queries:
        for i in rng.permutation(len(names)):
            t = time.perf_counter()
            fns[names[i]](q)
            times[names[i]].append((time.perf_counter() - t) * 1000)
    return times


def raw_query(engine: Engine, archive: Archive) -> Callable[[str], int]:
    """The engine alone: the archive's SQL for a two-term query, on one connection.

    The statement is the one the archive itself runs for the API's unfiltered search
    by relevance (SQLite: ranked inside FTS5 first, then only the page's rows read;
    PostgreSQL: the GIN match ranked by ts_rank), compiled from the same SQLAlchemy
    construct, the same columns (the summary's nine and the score), so the ratio to
    HTTP compares the same query; the rows are the driver's tuples, unconverted.
    """
    sqlite = engine.dialect.name == "sqlite"
    conn = engine.raw_connection()
    if not sqlite:
        conn.driver_connection.autocommit = True  # type: ignore[union-attr]
    cur = conn.cursor()
    # here, not at the top: a baseline's server (--baseline) imports this module too
    from aggregator.store.search import fts_top_statement, ts_page_statement

    stmt = fts_top_statement(False) if sqlite else ts_page_statement("relevance", False)
    compiled = stmt.compile(dialect=engine.dialect)
    sql = str(compiled)
    fixed = {n: b.effective_value for n, b in compiled.binds.items() if not b.required}

    def run(q: str) -> int:
        match = archive.plan(q).match
        values = fixed | {"fts_match" if sqlite else "ts_match": match, "k": 21}
        names = compiled.positiontup
        cur.execute(sql, [values[n] for n in names] if names is not None else values)
        return len(cur.fetchall())

    return run


@dataclass(frozen=True, slots=True)
class Search:
    """One request of the benchmark: a two-term query and the search's other arguments."""

    q: str
    kind: str = "plain"  # plain, or the filter / order it carries: feed, since, lang, date
    extra: tuple[tuple[str, str], ...] = ()

    @property
    def target(self) -> str:
        return "/api/v1/articles?" + urlencode((("q", self.q), *self.extra))


FILTER_KINDS = ("feed", "since", "lang", "date")


def two_term_queries(count: int, lo: int = 300, hi: int = 5000) -> list[str]:
    """The benchmark's ``count`` two-term queries, both words from the vocabulary's
    ranks ``lo``-``hi`` (fixed seeds: the same in every process and script)."""
    words = vocabulary(np.random.default_rng(SEED))
    qrng = np.random.default_rng(SEED + 1)
    return [
        f"{words[int(qrng.integers(lo, hi))]} {words[int(qrng.integers(lo, hi))]}"
        for _ in range(count)
    ]


def filtered_searches(queries: list[str], count: int, n: int) -> list[Search]:
    """``count`` searches over the first queries, in turn with a feed, a since (the
    newest ~30 % of the articles), a language (every article's) or newest first."""
    since = (START + timedelta(seconds=int(n * 30 * 0.7))).date().isoformat()
    out = []
    for i in range(count):
        kind = FILTER_KINDS[i % len(FILTER_KINDS)]
        extra = {
            "feed": (("feed", f"feed{i % FEEDS + 1}"),),
            "since": (("since", since),),
            "lang": (("lang", "en"),),
            "date": (("order", "date"),),
        }[kind]
        out.append(Search(queries[i % len(queries)], kind, extra))
    return out


def replayed(engine: Engine, archive: Archive, searches: list[Search]) -> Callable[[Search], int]:
    """The raw engine for searches with filters or by date: the statements the archive
    sent for that very request, replayed on one DBAPI connection.

    Recorded once per search at the driver, both the ones SQLAlchemy executes (the
    general statement) and the ones run on the cursor itself (``DriverStatement``), SQL
    and arguments as the driver got them, so a two-step SQLite search replays both
    steps with the same ids. The query is parsed in the timed call, as in raw_query.
    """
    from aggregator.store.search import DriverStatement

    sent: list[tuple[str, Any]] = []

    def on_execute(conn: Any, cursor: Any, sql: str, params: Any, *_: Any) -> None:
        sent.append((sql, params))

    driver_rows = DriverStatement.rows

    def recording_rows(self: DriverStatement, conn: Any, params: dict[str, Any]) -> list[Any]:
        sent.append((self.sql, self.arguments(params)))
        return driver_rows(self, conn, params)

    recorded: dict[str, list[tuple[str, Any]]] = {}
    archive.search(searches[0].q)  # connections made (and their pragmas sent) before
    event.listen(Engine, "before_cursor_execute", on_execute)
    DriverStatement.rows = recording_rows  # type: ignore[method-assign]
    try:
        for s in searches:
            args = plain_search_args(s.target.partition("?")[2].encode())
            assert args is not None, s.target
            sent.clear()
            archive.search(args.q, args.filters, order=args.order, limit=args.limit)
            recorded[s.target] = [(sql, p) for sql, p in sent if sql.lstrip().startswith("SELECT")]
    finally:
        DriverStatement.rows = driver_rows  # type: ignore[method-assign]
        event.remove(Engine, "before_cursor_execute", on_execute)
    conn = engine.raw_connection()
    if engine.dialect.name != "sqlite":
        conn.driver_connection.autocommit = True  # type: ignore[union-attr]
    cur = conn.cursor()

    def run(s: Search) -> int:
        archive.plan(s.q)
        found = 0
        for sql, params in recorded[s.target]:
            cur.execute(sql, params)
            found = len(cur.fetchall())
        return found

    return run


# wrk's Lua: the block's targets in turn on its one connection, each one timed from
# its request() (called as wrk writes it) to its response() (called as wrk has read
# it), on CLOCK_MONOTONIC through LuaJIT's ffi. Not wrk's own latency histogram:
# interrupted early, wrk "corrects" it for coordinated omission, adding made-up
# samples of each latency above the mean interval. After the last answer the thread
# prints the latencies (µs, in order) and stops; the caller then interrupts wrk's
# wait for its -d. request() is called once more before any is sent (wrk checks it):
# the cycle starts at the second target and still covers each target once.
WRK_SCRIPT = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end
local targets = {%(targets)s}
local sent = 0
local started = 0
local took = {}
function request()
  sent = sent + 1
  started = now_us()
  return wrk.format("GET", targets[((sent - 1) %% #targets) + 1])
end
function response(status, headers, body)
  took[#took + 1] = string.format("%%.1f", now_us() - started)
  if status ~= 200 then io.stderr:write("status " .. status .. "\\n") end
  if #took == #targets then
    io.stderr:write("took " .. table.concat(took, " ") .. "\\n")
    wrk.thread:stop()
    io.stderr:write("stopped\\n")
  end
end
"""


def wrk_block(base_url: str, targets: list[str], workdir: Path) -> list[float]:
    """Each target's latency (ms) through wrk: one connection, one request at a time."""
    script = workdir / "block.lua"
    script.write_text(WRK_SCRIPT % {"targets": ", ".join(json.dumps(t) for t in targets)})
    proc = subprocess.Popen(
        ["wrk", "-t1", "-c1", "-d600s", "--timeout=30s", f"-s{script}", base_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    said = []
    for line in proc.stderr:  # until the thread stopped (or wrk ended)
        said.append(line.strip())
        if line.strip() == "stopped":
            proc.send_signal(signal.SIGINT)  # wakes wrk's sleep for -d: it ends now
            break
    _, err = proc.communicate(timeout=60)
    said += err.splitlines()
    took = [line.split()[1:] for line in said if line.startswith("took ")]
    if proc.returncode != 0 or not took or any(s.startswith("status") for s in said):
        raise RuntimeError(f"wrk: exit {proc.returncode}, {' '.join(said)[:300]}")
    samples = [float(us) / 1000 for us in took[0]]
    if len(samples) != len(targets):
        raise RuntimeError(f"wrk timed {len(samples)} requests of {len(targets)}")
    return samples


def stat_ticks(pid: int) -> tuple[int, int]:
    """User and system clock ticks (every thread) process ``pid`` has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, every thread) process ``pid`` has used so far."""
    return sum(stat_ticks(pid)) / os.sysconf("SC_CLK_TCK")


class CpuTally:
    """CPU time per request of a process, over the blocks it served: read from /proc
    around each block, so it does not count the client's time, and it moves much less
    with the machine's load than a latency does (a descheduled server waits, it does
    not spend CPU). The same requests for every server, so their figures compare."""

    def __init__(self, pid: int | None = None) -> None:
        self.pid = pid  # None: this process (the raw engine, in the client's process)
        self.seconds = 0.0
        self.requests = 0

    def __call__(
        self, timing: Callable[[list[Search]], list[float]]
    ) -> Callable[[list[Search]], list[float]]:
        def counted(block: list[Search]) -> list[float]:
            before = time.process_time() if self.pid is None else process_cpu(self.pid)
            out = timing(block)
            after = time.process_time() if self.pid is None else process_cpu(self.pid)
            self.seconds += after - before
            self.requests += len(block)
            return out

        return counted

    @property
    def per_request_us(self) -> float:
        return self.seconds / max(1, self.requests) * 1e6


def in_blocks(
    units: dict[str, tuple[list[Search], Callable[[list[Search]], list[float]]]], rounds: int
) -> dict[str, list[float]]:
    """Every unit (its searches, and how to time them) in ``rounds`` blocks: in each
    round, every unit's share of its searches, the units in a shuffled order, so that
    the engine alone and the server through wrk see the same load, block by block."""
    rng = np.random.default_rng(SEED + 3)
    names = list(units)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for i in rng.permutation(len(names)):
            searches, timing = units[names[i]]
            share = searches[r::rounds]
            if share:
                times[names[i]] += timing(share)
    return times


def timed_each(fn: Callable[[Search], int]) -> Callable[[list[Search]], list[float]]:
    """``fn`` over a block of searches, one at a time: each one's time (ms)."""

    def block(searches: list[Search]) -> list[float]:
        out = []
        for s in searches:
            t = time.perf_counter()
            fn(s)
            out.append((time.perf_counter() - t) * 1000)
        return out

    return block


def count_hits(engine: Engine, archive: Archive, queries: list[str]) -> list[int]:
    sqlite = engine.dialect.name == "sqlite"
    sql = (
        "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH :m"
        if sqlite
        else "SELECT count(*) FROM articles WHERE search_vector @@ to_tsquery('simple', :m)"
    )
    with engine.connect() as conn:
        return [
            int(conn.execute(text(sql), {"m": archive.plan(q).match}).scalar_one()) for q in queries
        ]


class Server:
    """The app served by the daemon's serve() in a process of its own, as in production:
    a client in the same process would fight the server for the GIL and add its own
    time to the server's."""

    def __init__(self, url: str, code: Path | None = None) -> None:
        # code: another source tree (a baseline) whose package serves instead of ours
        env = {**os.environ, "BENCH_SEARCH_CODE": str(code)} if code is not None else None
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", url],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.isdigit():
            self.proc.kill()
            raise RuntimeError(f"the API server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{line}"

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


class LeanClient:
    """HTTP/1.1 GET on one keep-alive socket, read by Content-Length, nothing else: the
    client's own cost out of the HTTP figure (httpx costs about as much CPU per request
    as the search itself), to tell the server's time from the client's."""

    def __init__(self, base_url: str) -> None:
        host, port = base_url.removeprefix("http://").rsplit(":", 1)
        self.address = (host, int(port))
        self.host = host.encode()
        self.sock = self._connect()
        self.pending = b""

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self.address)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def reopen(self) -> None:
        """A new connection: the server closes one idle past its keep-alive (5 s)."""
        self.sock.close()
        self.sock = self._connect()
        self.pending = b""

    def get(self, target: str) -> bytes:
        self.sock.sendall(self.request(target))
        return self.answer(target)

    def request(self, target: str) -> bytes:
        return b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target.encode(), self.host)

    def answer(self, target: str) -> bytes:
        """The body of the next answer on the connection (200 only; else RuntimeError)."""
        data = self.pending
        while b"\r\n\r\n" not in data:
            data += self._recv()
        head, _, data = data.partition(b"\r\n\r\n")
        status = head[9:12]
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")[1:]
            if line.lower().startswith(b"content-length:")
        )
        while len(data) < length:
            data += self._recv()
        self.pending = data[length:]
        if status != b"200":
            raise RuntimeError(f"HTTP {status.decode()} for {target}")
        return data[:length]

    def _recv(self) -> bytes:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise RuntimeError("the server closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()


def serve_forever(url: str) -> None:
    """--serve: run the API over ``url`` on a free port; print the port; stop on SIGTERM."""
    engine = create_db_engine(url)
    app = create_app(Archive(engine), ApiSettings())

    async def run() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await serve(app, "127.0.0.1", 0, stop=stop, on_ready=lambda port: print(port, flush=True))

    asyncio.run(run())
    engine.dispose()


def db_size(engine: Engine, path: Path | None) -> int:
    if path is not None:
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def already_loaded(engine: Engine, n: int) -> bool:
    """A kept SQLite file (--keep) that holds the n articles, indexed: reuse it as is."""
    with engine.connect() as conn:
        fts = "SELECT 1 FROM sqlite_master WHERE name = 'articles_fts'"
        if conn.execute(text(fts)).first() is None:
            return False
        return int(conn.execute(text("SELECT count(*) FROM articles")).scalar_one()) == n


def require_links(engine: Engine, where: str) -> None:
    """A kept database (--keep, --pg-keep) made before the articles had links would
    measure a cheaper web stack than this benchmark's (see ``articles``): refuse it."""
    with engine.connect() as conn:
        first = conn.execute(text("SELECT url FROM articles ORDER BY id LIMIT 1")).first()
    if first is not None and first[0] is None:
        raise SystemExit(f"{where} was built before the articles had links: remove it")


def bench(
    label: str,
    engine: Engine,
    n: int,
    words: list[str],
    queries: list[str],
    path: Path | None,
    reuse: bool = False,
    baseline: Path | None = None,
    filtered: list[Search] | None = None,
    rounds: int = 8,
    repeat: int = 3,
) -> dict[str, Any]:
    load_s = 0.0 if reuse else load(engine, n, words)
    if reuse:
        upgrade(engine)  # a kept database, at this checkout's head
    engine.dispose()  # measure on fresh connections, as a restarted daemon would
    archive = Archive(engine)
    url = engine.url.render_as_string(hide_password=False)
    servers = {"http": Server(url)}
    if baseline is not None:
        servers["baseline"] = Server(url, baseline)
    clients = {name: httpx.Client(base_url=s.url, timeout=60) for name, s in servers.items()}
    leans = {name: LeanClient(s.url) for name, s in servers.items()}

    def http(client: httpx.Client) -> Callable[[str], int]:
        def get(q: str) -> int:
            r = client.get("/api/v1/articles", params={"q": q})
            r.raise_for_status()
            return len(r.json()["items"])

        return get

    def lean(client: LeanClient) -> Callable[[str], int]:
        def get(q: str) -> int:
            target = "/api/v1/articles?" + str(httpx.QueryParams({"q": q}))
            return len(json.loads(client.get(target))["items"])

        return get

    try:
        raw = raw_query(engine, archive)
        times = timed(
            {
                "raw": raw,
                "archive": lambda q: len(archive.search(q).items),
                **{name: http(c) for name, c in clients.items()},
                **{f"lean {name}": lean(c) for name, c in leans.items()},
            },
            queries,
        )
        times["load after timed"] = list(os.getloadavg())
        for lc in leans.values():  # one client at a time on the servers from here on
            lc.close()
        # each search `repeat` times: a p95 of a few hundred samples moves less
        plain = [Search(q) for q in queries] * repeat
        filtered = filtered or []
        with tempfile.TemporaryDirectory() as tmp:

            def through_wrk(url: str) -> Callable[[list[Search]], list[float]]:
                return lambda block: wrk_block(url, [s.target for s in block], Path(tmp))

            tallies = {"raw": CpuTally()} | {
                name: CpuTally(sv.proc.pid) for name, sv in servers.items()
            }
            units: dict[str, tuple[list[Search], Callable[[list[Search]], list[float]]]] = {
                "raw blocks": (plain, tallies["raw"](timed_each(lambda s: raw(s.q)))),
                **{
                    f"wrk {name}": (plain, tallies[name](through_wrk(sv.url)))
                    for name, sv in servers.items()
                },
            }
            if filtered:
                # a unit per kind: wrk's latencies come back without their requests
                replay = timed_each(replayed(engine, archive, filtered))
                for kind in FILTER_KINDS:
                    of_kind = [s for s in filtered if s.kind == kind] * repeat
                    units[f"raw {kind}"] = (of_kind, replay)
                    for name, sv in servers.items():
                        units[f"wrk {kind} {name}"] = (of_kind, through_wrk(sv.url))
            for searches, timing in units.values():  # warm each path
                timing(searches[:10])
            for tally in tallies.values():  # the warm-up is not counted
                tally.seconds, tally.requests = 0.0, 0
            blocks = in_blocks(units, rounds)
            cpu_us = {name: tally.per_request_us for name, tally in tallies.items()}
        blocks["load after blocks"] = list(os.getloadavg())
    finally:
        for c in clients.values():
            c.close()
        for lc in leans.values():
            lc.close()
        for s in servers.values():
            s.close()
    hits = count_hits(engine, archive, queries)
    size = db_size(engine, path)
    return {
        "label": label,
        "load_s": load_s,
        **times,
        **blocks,
        "cpu_us": cpu_us,
        "filtered": filtered,
        "rounds": rounds,
        "repeat": repeat,
        "hits": hits,
        "bytes_per_article": size / n,
    }


def report(r: dict[str, Any], n: int) -> None:
    def p(xs: list[float]) -> str:
        return f"p50 {statistics.median(xs):7.2f} ms   p95 {percentile(xs, 0.95):7.2f} ms"

    raw95, http95 = percentile(r["raw"], 0.95), percentile(r["http"], 0.95)
    built = f"loaded + indexed in {r['load_s']:.1f} s" if r["load_s"] else "kept file reused"
    print(f"\n== {r['label']}: {n:,} articles, {built}")
    print("   -- interleaved per query (Python clients)")
    print(f"   raw engine query   {p(r['raw'])}   (baseline)")
    arch95 = percentile(r["archive"], 0.95)
    print(f"   Archive.search     {p(r['archive'])}   p95 ratio {arch95 / raw95:.2f}x")
    print(f"   HTTP, httpx        {p(r['http'])}   p95 ratio {http95 / raw95:.2f}x")
    if "baseline" in r:
        base95 = percentile(r["baseline"], 0.95)
        print(f"   HTTP, httpx, base  {p(r['baseline'])}   p95 ratio {base95 / raw95:.2f}x")
    for name, label in (("lean http", "lean client  "), ("lean baseline", "lean, base   ")):
        if name in r:  # the same requests without httpx
            lean95 = percentile(r[name], 0.95)
            print(f"   HTTP, {label}{p(r[name])}   p95 ratio {lean95 / raw95:.2f}x")
    print(f"   load average       {' '.join(f'{x:.2f}' for x in r['load after timed'])}")
    print(
        f"   -- in blocks, {r['rounds']} rounds, each search {r['repeat']} times "
        "(wrk: C client, one connection): the goal's"
    )
    block95 = percentile(r["raw blocks"], 0.95)
    wrk95 = percentile(r["wrk http"], 0.95)
    print(f"   raw engine query   {p(r['raw blocks'])}   (baseline)")
    block50 = statistics.median(r["raw blocks"])
    wrk50 = statistics.median(r["wrk http"])
    print(
        f"   HTTP, wrk          {p(r['wrk http'])}   p95 ratio {wrk95 / block95:.2f}x"
        f"   (p50 {wrk50 / block50:.2f}x)"
    )
    if "wrk baseline" in r:
        wbase95 = percentile(r["wrk baseline"], 0.95)
        wbase50 = statistics.median(r["wrk baseline"])
        print(
            f"   HTTP, wrk, base    {p(r['wrk baseline'])}   p95 ratio {wbase95 / block95:.2f}x"
            f"   (p50 {wbase50 / block50:.2f}x)"
        )
    cpu = r["cpu_us"]
    line = f"   CPU per request    server {cpu['http']:.0f} us"
    if "baseline" in cpu:
        line += f", base {cpu['baseline']:.0f} us ({cpu['http'] / cpu['baseline']:.2f}x)"
    if r["label"] == "SQLite":  # the engine runs in the client's process: its CPU is the query's
        line += f"; raw engine {cpu['raw']:.0f} us (server / raw {cpu['http'] / cpu['raw']:.2f}x)"
    print(line)
    if r["filtered"]:
        print(
            f"   -- {len(r['filtered'])} with a filter or by date, {r['repeat']} times each, "
            "in blocks: raw = replayed"
        )
        for kind in (*FILTER_KINDS, "all"):
            kinds = FILTER_KINDS if kind == "all" else (kind,)
            raw_k = [x for k in kinds for x in r[f"raw {k}"]]
            raw50, raw95_k = statistics.median(raw_k), percentile(raw_k, 0.95)
            line = f"   {kind:<6} raw p50 {raw50:6.2f} p95 {raw95_k:6.2f}"
            for name, label in (("http", "wrk"), ("baseline", "base")):
                if f"wrk {kinds[0]} {name}" in r:
                    xs = [x for k in kinds for x in r[f"wrk {k} {name}"]]
                    x95 = percentile(xs, 0.95)
                    line += f"   {label} p50 {statistics.median(xs):6.2f} p95 {x95:6.2f}"
                    line += f" ({x95 / raw95_k:.2f}x)"
            print(line)
    print(f"   load average       {' '.join(f'{x:.2f}' for x in r['load after blocks'])}")
    print(
        f"   hits per query     median {statistics.median(r['hits']):,.0f}   max {max(r['hits']):,}"
    )
    print(f"   database size      {r['bytes_per_article']:,.0f} bytes per article")
    if r["label"] == "SQLite":
        verdict = "met" if wrk95 <= 50 and wrk95 <= 1.5 * block95 else "NOT met"
        print(f"   goal (HTTP p95 through wrk <= 50 ms and <= 1.5x raw): {verdict}")
    else:
        verdict = "met" if wrk95 <= 1.5 * block95 else "NOT met"
        print(f"   goal (HTTP p95 through wrk <= 1.5x raw): {verdict}")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--articles", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="20,000 articles")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--band", default="300-5000", help="vocabulary rank band of query words")
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument(
        "--pg-url",
        default=os.environ.get(
            "AGGREGATOR_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    ap.add_argument("--dir", type=Path, default=None, help="where the SQLite file goes")
    ap.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="SQLite file kept between runs: built if missing, reused if it holds the articles",
    )
    ap.add_argument(
        "--baseline",
        type=Path,
        default=None,
        metavar="DIR",
        help="also serve the API from this source tree (e.g. `git archive main` extracted), "
        "interleaved with ours against the same raw queries",
    )
    ap.add_argument(
        "--pg-keep",
        metavar="DB",
        help="PostgreSQL database kept between runs (built if missing, reused if present)",
    )
    ap.add_argument("--rounds", type=int, default=8, help="rounds of the blocks measured by wrk")
    ap.add_argument("--repeat", type=int, default=3, help="times each search runs in the blocks")
    ap.add_argument(
        "--filtered", type=int, default=100, help="searches with a filter or by date (0: none)"
    )
    ap.add_argument("--serve", metavar="DB_URL", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve_forever(args.serve)
        return
    n = 20_000 if args.quick else args.articles
    words = vocabulary(np.random.default_rng(SEED))
    lo, hi = (int(x) for x in args.band.split("-"))
    queries = two_term_queries(args.queries, lo, hi)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk (Debian; `make bench` does)")
    filtered = filtered_searches(queries, args.filtered, n)
    print(f"bench_search: {n:,} articles of 2-6 KB, {len(queries)} two-term queries")
    print(f"   query words from vocabulary ranks {lo}-{hi} (of {VOCABULARY:,}, Zipf s=1.05)")

    def sqlite_run(engine: Engine, path: Path, reuse: bool) -> None:
        report(
            bench(
                "SQLite",
                engine,
                n,
                words,
                queries,
                path,
                reuse,
                args.baseline,
                filtered,
                args.rounds,
                args.repeat,
            ),
            n,
        )

    if args.keep is not None:
        # Building 1M articles takes a while: keep the file and reuse it when it holds
        # the same articles (same seed and count), instead of a temporary directory.
        engine = create_db_engine(f"sqlite:///{args.keep}")
        try:
            reuse = args.keep.exists() and already_loaded(engine, n)
            if not reuse and args.keep.exists():
                raise SystemExit(f"{args.keep} exists but does not hold {n:,} indexed articles")
            if reuse:
                require_links(engine, str(args.keep))
            sqlite_run(engine, args.keep, reuse)
        finally:
            engine.dispose()
    else:
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            path = Path(tmp) / "bench.db"
            engine = create_db_engine(f"sqlite:///{path}")
            try:
                sqlite_run(engine, path, False)
            finally:
                engine.dispose()

    if args.no_pg:
        return
    try:
        admin = create_engine(
            args.pg_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        with admin.connect() as conn:
            name = args.pg_keep or f"aggregator_bench_{uuid.uuid4().hex[:8]}"
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any failure: no PostgreSQL here
        print(f"\n== PostgreSQL skipped: {str(exc).splitlines()[0]}")
        return
    url = make_url(args.pg_url).set(database=name).render_as_string(hide_password=False)
    engine = create_db_engine(url)
    try:
        if exists:
            require_links(engine, f"database {name}")
        report(
            bench(
                "PostgreSQL",
                engine,
                n,
                words,
                queries,
                None,
                bool(exists),
                args.baseline,
                filtered,
                args.rounds,
                args.repeat,
            ),
            n,
        )
    finally:
        engine.dispose()
        if not args.pg_keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
