"""CPU of the real daemon while it has nothing to do, at 25,000 and 1,000,000 articles.

    python benchmarks/bench_idle.py [--sizes 25000,1000000] [--seconds 60] [--rounds 2]
        [--keep DIR] [--quick]

An idle daemon still runs its interval jobs every second (consume, deliver, tick);
whatever they cost is paid for ever, on a small server beside other services. For
each archive size this builds one SQLite archive (processed articles with short
bodies, months old, so the consumer's start-up replay is empty and idle is idle),
copies it twice and starts two real daemons (``aggregator run``, the default parse
workers, a topic, a ``new_event`` rule and a digest rule, no feeds due) at the same
time, so both see the same load:

- **ours**: the schema as it is (partial indexes on the consumer's look-ups,
  migration 0013);
- **baseline**: the same code with the index of migration 0009 in their place
  (``ix_articles_rematch_at`` on ``rematch_at``), i.e. the plan of before.

After a warm-up (past the start-up and the retention job's first run, 60 s after
start; it then runs hourly) it reads the CPU time (user + system) of each daemon's whole process
tree from ``/proc`` (outside the processes measured), over ``--seconds``, ``--rounds``
times, and prints CPU-seconds per idle minute per round, their median, and the load
average beside every figure. The goal (issue 17) is <= 0.1 CPU-s a minute.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aggregator.store.migrate import upgrade  # noqa: E402

FEEDS = 500
CONFIG = """
settings:
  http: {enabled: false}
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
TICKS = os.sysconf("SC_CLK_TCK")


def build(path: Path, n: int) -> float:
    """An archive of ``n`` processed articles at the schema's head; seconds taken."""
    t0 = time.perf_counter()
    upgrade(create_engine(f"sqlite:///{path}"))
    old = (datetime.now(UTC) - timedelta(days=200)).replace(tzinfo=None)
    when = old.isoformat(" ", "microseconds")
    later = (datetime.now(UTC) + timedelta(days=365)).replace(tzinfo=None).isoformat(" ")
    db = sqlite3.connect(path)
    db.executemany(
        "INSERT INTO feeds (id, name, url, config_url, enabled, state, fulltext, "
        "next_poll_at, error_count, created_at, managed_by) "
        "VALUES (?, ?, ?, ?, 1, 'active', 0, ?, 0, ?, 'api')",
        [(f, f"feed {f}", f"http://127.0.0.1:9/{f}", "", later, when) for f in range(1, FEEDS + 1)],
    )
    step = 50_000
    for start in range(0, n, step):
        rows = []
        for i in range(start, min(n, start + step)):
            pub = (old + timedelta(seconds=i)).isoformat(" ", "microseconds")
            title = f"Article {i} about the harbour and the council"
            rows.append((i % FEEDS + 1, f"g:{i}", title, title, pub, pub, pub, f"{i:064x}", pub))
        db.executemany(
            "INSERT INTO articles (feed_id, identity, title, title_raw, summary, text, html, "
            "published, published_estimated, fetched_at, updated_at, language, content_hash, "
            "fingerprint, processed_at) VALUES (?, ?, ?, ?, '', 'body', '<p>body</p>', ?, 0, "
            "?, ?, 'en', ?, 0, ?)",
            rows,
        )
        db.commit()
    db.close()
    return time.perf_counter() - t0


def as_baseline(path: Path) -> None:
    """The index of before migration 0013, the revision left at head (no re-upgrade)."""
    db = sqlite3.connect(path)
    db.execute("DROP INDEX ix_articles_rematch_waiting")
    db.execute("DROP INDEX ix_articles_unprocessed")
    db.execute("CREATE INDEX ix_articles_rematch_at ON articles (rematch_at)")
    db.commit()
    db.close()


def tree(pid: int) -> list[int]:
    """``pid`` and every process descending from it (the forkserver, the workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pid: int) -> float:
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def start(db: Path, workdir: Path, name: str) -> tuple[subprocess.Popen[bytes], Path]:
    config = workdir / f"{name}.yaml"
    config.write_text(CONFIG)
    log = workdir / f"{name}.log"
    env = dict(os.environ, AGGREGATOR_DATABASE_URL=f"sqlite:///{db}")
    env.pop("NOTIFY_SOCKET", None)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "aggregator.cli", "--config", str(config), "run"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, log


def wait_started(log: Path, proc: subprocess.Popen[bytes], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "daemon started" in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise SystemExit(f"daemon exited: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.5)
    raise SystemExit(f"daemon did not start: {log.read_text(errors='replace')[-2000:]}")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def measure(n: int, workdir: Path, seconds: float, rounds: int, warmup: float) -> None:
    source = workdir / f"archive-{n}.db"
    if not source.exists():
        print(f"building {n:,} articles ...", flush=True)
        print(f"  built in {build(source, n):.0f} s", flush=True)
    dbs = {"ours": workdir / f"ours-{n}.db", "baseline": workdir / f"baseline-{n}.db"}
    for db in dbs.values():
        shutil.copyfile(source, db)
    as_baseline(dbs["baseline"])
    procs = {name: start(db, workdir, f"{name}-{n}") for name, db in dbs.items()}
    try:
        for proc, log in procs.values():
            wait_started(log, proc)
        time.sleep(warmup)
        per_minute: dict[str, list[float]] = {name: [] for name in procs}
        for r in range(rounds):
            before = {name: cpu_seconds(p.pid) for name, (p, _) in procs.items()}
            t0 = time.monotonic()
            time.sleep(seconds)
            elapsed = time.monotonic() - t0
            for name, (p, _) in procs.items():
                used = cpu_seconds(p.pid) - before[name]
                per_minute[name].append(used * 60 / elapsed)
            print(
                f"  {n:>9,} round {r + 1}: "
                + "  ".join(f"{k} {v[-1]:.3f}" for k, v in per_minute.items())
                + f" CPU-s/min   (load {load()})",
                flush=True,
            )
        ours = statistics.median(per_minute["ours"])
        base = statistics.median(per_minute["baseline"])
        print(
            f"{n:>9,} articles: ours {ours:.3f} CPU-s per idle minute, baseline {base:.3f} "
            f"({base / ours if ours else float('inf'):.1f}x), goal <= 0.1 "
            f"[{'met' if ours <= 0.1 else 'NOT met'}]   (load {load()})",
            flush=True,
        )
    finally:
        for proc, _ in procs.values():
            proc.terminate()
        for proc, _ in procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="25000,1000000")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    # Past the start-up and the first retention run (60 s after start, then hourly).
    ap.add_argument("--warmup", type=float, default=75)
    ap.add_argument("--keep", type=Path, help="build (or reuse) the archives here")
    ap.add_argument("--quick", action="store_true", help="25,000 only, 2 rounds of 20 s")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.seconds, args.rounds = "25000", 20.0, 2
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"idle daemon CPU, {os.cpu_count()} cores, load {load()}", flush=True)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        for n in sizes:
            measure(n, args.keep, args.seconds, args.rounds, args.warmup)
        return
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        for n in sizes:
            measure(n, Path(tmp), args.seconds, args.rounds, args.warmup)


if __name__ == "__main__":
    main()
