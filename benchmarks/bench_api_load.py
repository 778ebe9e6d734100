"""The API under load: the real daemon answering 1,000 concurrent searches.

    python benchmarks/bench_api_load.py --quick       # 20,000 articles, SQLite, 1 x 10 s
    python benchmarks/bench_api_load.py               # 100,000, SQLite and PostgreSQL
    python benchmarks/bench_api_load.py --keep /tmp/api100k.db --pg-keep bench_apiload

Builds a 100,000-article archive (``bench_search``'s generator: 2-6 KB, Zipf words,
fixed seed) on SQLite and on PostgreSQL (a database of its own, dropped at the end),
then for each backend, in rounds, in a shuffled order per round, for the code under
test ("ours", this checkout) and the ``--baseline`` git revision (extracted with
``git archive``, run from there):

- starts the REAL daemon, ``aggregator -c feeds.yaml run`` (HTTP on, no feeds), in a
  process of its own, and waits for /healthz;
- fires ``--connections`` (1,000) concurrent keep-alive connections of
  ``GET /api/v1/articles?q=<two words>`` at it for ``--duration`` seconds from wrk
  (Debian's ``wrk``, C, in another process: a Python client would take the CPU the
  server needs), cycling through the same ``--queries`` (200) queries: about five
  copies of each in flight at once; with ``--queries 5000`` no two alike;
- reports requests/s, p50/p95/p99 latency, errors (socket errors, timeouts, non-2xx),
  with the load average beside them.

In the same rounds, shuffled among the daemons, the raw engine's own ceiling: the
same queries from ``--raw-threads`` (8) threads in a process of their own, each
running the archive's SQL on its own DBAPI connection (``bench_search.raw_query``) for
``--duration`` seconds, no HTTP: what the engine answers per second on this machine
at this moment, beside which the daemon's req/s is read (``--no-raw`` skips it).

Then, against the daemon of the code under test, the search ratio of issue 17: the
same queries one at a time, interleaved in a shuffled order per query, through the
raw engine (``bench_search.raw_query``: the archive's SQL on one DBAPI connection)
and through HTTP; p95 HTTP / p95 raw (goal <= 1.5x).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from bench_search import (  # noqa: E402
    SEED,
    already_loaded,
    load,
    percentile,
    raw_query,
    timed,
    two_term_queries,
    vocabulary,
)

from aggregator.store import create_db_engine  # noqa: E402
from aggregator.store.archive import Archive  # noqa: E402
from aggregator.store.migrate import current_revision  # noqa: E402

# wrk's Lua: each thread's connections take the queries in turn from the thread's offset;
# done() prints one JSON line with the counts and percentiles (microseconds).
WRK_SCRIPT = """
local queries = {%(queries)s}
local n = 0
local threads = 0
function setup(thread)
  -- the two threads start half the list apart: with more queries than connections
  -- in flight, no two requests in flight ask the same
  thread:set("offset", threads * math.floor(#queries / 2))
  threads = threads + 1
end
function request()
  n = n + 1
  local q = queries[((offset + n) %% #queries) + 1]
  return wrk.format("GET", "/api/v1/articles?q=" .. q)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %%d, "duration_us": %%d, "connect": %%d, "read": %%d, "write": %%d, '
    .. '"status": %%d, "timeout": %%d, "p50": %%d, "p95": %%d, "p99": %%d, "max": %%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


CLI = "import sys; from aggregator.cli import main; sys.exit(main())"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


class Daemon:
    """``aggregator run`` from ``code`` (a source tree) over ``db_url``, HTTP on a free port."""

    def __init__(self, code: Path, db_url: str, workdir: Path) -> None:
        self.port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "feeds.yaml"
        config.write_text(
            "settings:\n"
            f"  database_url: {json.dumps(db_url)}\n"
            "  http:\n"
            "    host: 127.0.0.1\n"
            f"    port: {self.port}\n"
            "feeds: []\n"
        )
        env = {**os.environ, "PYTHONPATH": str(code)}
        env.pop("AGGREGATOR_DATABASE_URL", None)
        self.log = (workdir / "daemon.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CLI, "-c", str(config), "run"],
            cwd=workdir,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                self.log.close()
                tail = (workdir / "daemon.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"the daemon exited:\n{tail}")
            try:
                if httpx.get(self.url + "/healthz", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError("the daemon did not answer /healthz within 120 s")
            time.sleep(0.3)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


HEAD_OF = "from aggregator.store.migrate import shipped_head; print(shipped_head())"


def schema_for(code: Path, db_url: str) -> None:
    """The database at the head of ``code``'s migrations before its daemon starts.

    A daemon refuses a database that a newer revision upgraded (the baseline's, after
    ours added a migration), so this checkout's migrations take it down to the
    baseline's head first; ours is upgraded again by its own daemon at start. The
    searches measured here have no filters: no plan of theirs uses what is dropped.
    """
    env = {**os.environ, "PYTHONPATH": str(code)}
    head = subprocess.run(  # in code's directory: `python -c` puts the cwd first
        [sys.executable, "-c", HEAD_OF],
        env=env,
        cwd=code,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    engine = create_db_engine(db_url)
    try:
        if current_revision(engine) == head:
            return
        from alembic import command
        from alembic.util import CommandError

        from aggregator.store.migrate import _alembic_config

        with engine.begin() as conn:
            cfg = _alembic_config()
            cfg.attributes["connection"] = conn
            # head newer than the database: that daemon upgrades it itself
            with contextlib.suppress(CommandError):
                command.downgrade(cfg, head)
    finally:
        engine.dispose()


def fire(url: str, script: Path, connections: int, duration: int) -> dict[str, Any]:
    """wrk against ``url``: ``connections`` keep-alive connections for ``duration`` s."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--timeout=60s", f"-s{script}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    found["rps"] = found["requests"] / (found["duration_us"] / 1e6)
    found["errors"] = sum(found[k] for k in ("connect", "read", "write", "status", "timeout"))
    found["load"] = loadavg()
    return found


RAW = "raw engine"


def raw_ceiling(db_url: str, queries: list[str], threads: int, duration: int) -> dict[str, Any]:
    """The raw engine alone (``--raw-ceiling``, in a process of its own): ``threads``
    threads, each with its own connection, through the queries from its own offset
    for ``duration`` seconds. SQLite releases the GIL while it runs a statement and
    PostgreSQL runs it in a server process, so the threads use both cores as the
    daemon's can: the engine's own requests per second, no HTTP."""
    engine = create_db_engine(db_url)
    archive = Archive(engine)
    done = [0] * threads
    stop = time.monotonic() + duration

    def work(i: int) -> None:
        run = raw_query(engine, archive)
        n = i * len(queries) // threads
        while time.monotonic() < stop:
            run(queries[n % len(queries)])
            n += 1
            done[i] += 1

    t0 = time.perf_counter()
    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seconds = time.perf_counter() - t0
    engine.dispose()
    return {"requests": sum(done), "rps": sum(done) / seconds}


def fire_raw(db_url: str, args: argparse.Namespace) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--raw-ceiling",
            db_url,
            "--raw-threads",
            str(args.raw_threads),
            "--duration",
            str(args.duration),
            "--queries",
            str(args.queries),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    found["load"] = loadavg()
    return found


def warm(url: str, queries: list[str]) -> None:
    """The first 300 queries once (connections, caches): the same for every code."""
    with httpx.Client(base_url=url, timeout=120) as client:
        for q in queries[:300]:
            client.get("/api/v1/articles", params={"q": q}).raise_for_status()


def search_ratio(engine: Engine, url: str, queries: list[str]) -> dict[str, list[float]]:
    archive = Archive(engine)
    with httpx.Client(base_url=url, timeout=60) as client:

        def http(q: str) -> int:
            r = client.get("/api/v1/articles", params={"q": q})
            r.raise_for_status()
            return len(r.json()["items"])

        return timed({"raw": raw_query(engine, archive), "http": http}, queries)


def bench(
    label: str,
    db_url: str,
    codes: dict[str, Path],
    queries: list[str],
    args: argparse.Namespace,
    workdir: Path,
) -> None:
    script = workdir / "search.lua"
    quoted = ", ".join(json.dumps(q.replace(" ", "%20")) for q in queries)
    script.write_text(WRK_SCRIPT % {"queries": quoted})
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in codes}
    if not args.no_raw:
        results[RAW] = []
    rng = random.Random(SEED)
    ratios: dict[str, dict[str, list[float]]] = {}
    print(f"\n== {label}: {args.connections} connections x {args.duration} s, wrk -t 2")
    print(
        f"   {'round':<6}{'code':<10}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'errors':>8}   load average"
    )
    for rnd in range(args.rounds):
        order = list(results)
        rng.shuffle(order)
        for name in order:
            if name == RAW:
                r = fire_raw(db_url, args)
                results[name].append(r)
                print(f"   {rnd:<6}{name:<10}{r['rps']:8.1f}{'(no HTTP)':>27}{'':>8}   {r['load']}")
                continue
            schema_for(codes[name], db_url)
            daemon = Daemon(codes[name], db_url, workdir / f"{name}-{rnd}")
            try:
                warm(daemon.url, queries)
                # Before the load, on a daemon with nothing queued: after it, the
                # requests wrk left in flight are still being answered for seconds.
                if name not in ratios and not args.no_ratio:
                    engine = create_db_engine(db_url)
                    try:
                        ratios[name] = search_ratio(engine, daemon.url, queries)
                        ratios[name]["load"] = [os.getloadavg()[0]]
                    finally:
                        engine.dispose()
                r = fire(daemon.url, script, args.connections, args.duration)
                results[name].append(r)
                print(
                    f"   {rnd:<6}{name:<10}{r['rps']:8.1f}{r['p50'] / 1000:9.1f}"
                    f"{r['p95'] / 1000:9.1f}{r['p99'] / 1000:9.1f}{r['errors']:8d}   {r['load']}",
                    flush=True,
                )
            finally:
                daemon.close()
    print(f"   median over {args.rounds} rounds:")
    for name, rs in results.items():
        if name == RAW:
            print(
                f"   {name:<16}req/s {statistics.median(r['rps'] for r in rs):7.1f}   (the ceiling)"
            )
            continue
        print(
            f"   {name:<16}req/s {statistics.median(r['rps'] for r in rs):7.1f}   "
            f"p95 {statistics.median(r['p95'] for r in rs) / 1000:8.1f} ms   "
            f"errors {sum(r['errors'] for r in rs)}"
        )
    for name, ratio in ratios.items():
        raw95, http95 = percentile(ratio["raw"], 0.95), percentile(ratio["http"], 0.95)
        print(
            f"   {name}: search one at a time, before the load ({len(queries)} queries, "
            f"interleaved, load {ratio['load'][0]:.2f}):\n"
            f"     raw engine p50 {statistics.median(ratio['raw']):6.2f} ms  p95 {raw95:6.2f} ms\n"
            f"     HTTP       p50 {statistics.median(ratio['http']):6.2f} ms  p95 {http95:6.2f} ms"
            f"   p95 ratio {http95 / raw95:.2f}x (goal <= 1.5x)"
        )


def settle(url: str) -> None:
    """Every article processed, as in a daemon that has caught up: otherwise the
    daemon under test would spend the run clustering the archive, and its writes
    would differ between the two codes compared."""
    engine = create_db_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE articles SET processed_at = fetched_at WHERE processed_at IS NULL")
            )
    finally:
        engine.dispose()


def baseline_tree(ref: str, into: Path) -> Path:
    """The package at git revision ``ref``, extracted (no checkout touched)."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "aggregator"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def make_queries(n: int) -> list[str]:
    """The benchmark's ``n`` two-term queries (fixed seed: the same in every process)."""
    return two_term_queries(n)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--articles", type=int, default=100_000)
    ap.add_argument("--quick", action="store_true", help="20,000 articles, SQLite only")
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--duration", type=int, default=20, help="seconds of load per daemon")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument(
        "--baseline",
        metavar="GIT_REF",
        default="main",
        help="also run the daemon of this revision (default main; 'none' for ours alone)",
    )
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--no-ratio", action="store_true", help="skip the one-at-a-time ratio")
    ap.add_argument("--no-raw", action="store_true", help="skip the raw engine's req/s")
    ap.add_argument("--raw-threads", type=int, default=8, help="threads of the raw engine run")
    ap.add_argument("--raw-ceiling", metavar="DB_URL", help=argparse.SUPPRESS)
    ap.add_argument(
        "--pg-url",
        default=os.environ.get(
            "AGGREGATOR_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    ap.add_argument("--keep", type=Path, help="SQLite file kept between runs (built if missing)")
    ap.add_argument(
        "--pg-keep", metavar="DB", help="PostgreSQL database kept between runs (built if missing)"
    )
    args = ap.parse_args()
    if args.raw_ceiling:
        print(
            json.dumps(
                raw_ceiling(
                    args.raw_ceiling, make_queries(args.queries), args.raw_threads, args.duration
                )
            )
        )
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk (Debian)")
    n = 20_000 if args.quick else args.articles
    if args.quick:
        args.rounds, args.duration = 1, 10
    words = vocabulary(np.random.default_rng(SEED))
    queries = make_queries(args.queries)
    print(f"bench_api_load: {n:,} articles, {len(queries)} two-term queries, load {loadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        codes = {"ours": ROOT}
        if args.baseline and args.baseline != "none":
            codes[f"{args.baseline}"] = baseline_tree(args.baseline, work / "baseline")
        if not args.no_sqlite:
            path = args.keep or work / "api.db"
            url = f"sqlite:///{path}"
            engine = create_db_engine(url)
            if not (path.exists() and already_loaded(engine, n)):
                if path.exists():
                    raise SystemExit(f"{path} exists but does not hold {n:,} indexed articles")
                print(f"   SQLite: loaded + indexed in {load(engine, n, words):.1f} s")
            engine.dispose()
            settle(url)
            bench("SQLite", url, codes, queries, args, work)
        if args.quick or args.no_pg:
            return
        admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
        name = args.pg_keep or f"bench_apiload_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        pg = make_url(args.pg_url).set(database=name).render_as_string(hide_password=False)
        try:
            engine = create_db_engine(pg)
            if not exists:
                print(f"   PostgreSQL: loaded + indexed in {load(engine, n, words):.1f} s")
            engine.dispose()
            settle(pg)
            bench("PostgreSQL", pg, codes, queries, args, work)
        finally:
            if not args.pg_keep:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
