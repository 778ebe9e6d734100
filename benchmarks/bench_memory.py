"""Memory of the whole real daemon (every process, PSS summed) after a first poll and idle.

    python benchmarks/bench_memory.py [--feeds 500,2000] [--items 50] [--latency 0.1-0.3]
        [--variants default,workers2] [--idle 60] [--quick]

For each farm size it starts the feed farm (``farm.py``), then, one variant after the
other, a real daemon (``aggregator run``) on a fresh SQLite archive with every farm
feed in its configuration and otherwise the **default configuration** (the API on,
the default parse workers), apart from what a farm on 127.0.0.1 needs
(``allow_private_networks``, no per-host gap, 50 connections per host) and the API's
port (0: any free one, so a daemon already on 8080 does not stop the run; the API is
still served). The schema is migrated first by ``aggregator db upgrade``, as the
shipped systemd unit and ``make run`` do:

- **default**: the configuration as shipped;
- **workers2**: ``parse_workers: 2`` (the default before issue 17: a forkserver and
  two parse processes beside the daemon).

The daemon's process tree is read from ``/proc`` by this process (never inside the
one measured): PSS (a page shared by N processes counts 1/N in each, so the sum is
what the tree really holds) and RSS, every second during the poll (peak) and once
the first poll is stored and processed ("after the first poll"), then again after
``--idle`` seconds of idling. Load average beside every figure. Goal (issue 17):
<= 150 MiB PSS for the whole daemon after the first poll of 500 x 50 and after idling.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_idle import tree
from farm import FarmServer, FarmSettings, feed_path, parse_latency

VARIANTS = {"default": "", "workers2": "    parse_workers: 2\n"}


@dataclass(frozen=True)
class Sample:
    pss: float  # MiB, the tree
    rss: float
    processes: int
    detail: str


def sample(root: int) -> Sample:
    pss = rss = 0.0
    parts = []
    pids = tree(root)
    for pid in pids:
        p = r = 0.0
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        p = int(line.split()[1]) / 1024
                    elif line.startswith("Rss:"):
                        r = int(line.split()[1]) / 1024
            with open(f"/proc/{pid}/cmdline") as f:
                cmd = f.read().replace("\0", " ")
        except OSError:
            continue
        kind = (
            "daemon"
            if pid == root
            else "resource tracker"
            if "resource_tracker" in cmd
            else "forkserver"
            if "forkserver" in cmd
            else "worker"
        )
        parts.append(f"{kind} {p:.0f}")
        pss += p
        rss += r
    return Sample(pss, rss, len(pids), ", ".join(parts))


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def config(base: str, feeds: int, variant: str) -> str:
    lines = [
        "settings:",
        "  http:",
        "    port: 0",
        "  poll:",
        "    allow_private_networks: true",
        "    per_host_min_gap: 0s",
        "    per_host_connections: 50",
        VARIANTS[variant].rstrip("\n"),
        "feeds:",
    ]
    for i in range(feeds):
        lines.append(f"  - {{name: feed {i}, url: '{base}{feed_path(i)}'}}")
    return "\n".join(line for line in lines if line) + "\n"


def progress(db: Path, feeds: int) -> tuple[int, int]:
    """(feeds polled, articles still unprocessed); (0, 0) before the tables exist."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            polled = con.execute(
                "SELECT count(*) FROM feeds WHERE last_polled_at IS NOT NULL"
            ).fetchone()[0]
            waiting = con.execute(
                "SELECT count(*) FROM articles WHERE processed_at IS NULL"
            ).fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0, 0
    return int(polled), int(waiting)


def run_variant(base: str, feeds: int, variant: str, idle: float, tmp: Path) -> None:
    db = tmp / f"{variant}-{feeds}.db"
    cfg = tmp / f"{variant}-{feeds}.yaml"
    cfg.write_text(config(base, feeds, variant))
    log = tmp / f"{variant}-{feeds}.log"
    env = dict(os.environ, AGGREGATOR_DATABASE_URL=f"sqlite:///{db}")
    env.pop("NOTIFY_SOCKET", None)
    # As the shipped systemd unit (ExecStartPre) and `make run` do: the schema is
    # brought up to date by `aggregator db upgrade` before the daemon starts, so the
    # daemon finds it at head and never imports Alembic.
    subprocess.run(
        [sys.executable, "-m", "aggregator.cli", "--config", str(cfg), "db", "upgrade"],
        env=env,
        check=True,
        capture_output=True,
    )
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "aggregator.cli", "--config", str(cfg), "run"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        t0 = time.monotonic()
        peak = Sample(0, 0, 0, "")
        while True:
            time.sleep(1.0)
            if proc.poll() is not None:
                raise SystemExit(f"daemon exited: {log.read_text(errors='replace')[-2000:]}")
            s = sample(proc.pid)
            if s.pss > peak.pss:
                peak = s
            polled, waiting = progress(db, feeds)
            if polled >= feeds and waiting == 0:
                break
            if time.monotonic() - t0 > 1800:
                raise SystemExit(f"first poll not done after 30 min: {polled}/{feeds}")
        took = time.monotonic() - t0
        after = sample(proc.pid)
        print(
            f"{feeds:>5} feeds  {variant:<9} first poll done in {took:5.0f} s; peak PSS "
            f"{peak.pss:6.1f} MiB; after it PSS {after.pss:6.1f} MiB (RSS {after.rss:6.1f}), "
            f"{after.processes} processes: {after.detail}   (load {load()})",
            flush=True,
        )
        time.sleep(idle)
        later = sample(proc.pid)
        goal = "met" if max(after.pss, later.pss) <= 150 else "NOT met"
        print(
            f"{feeds:>5} feeds  {variant:<9} after {idle:.0f} s idle: PSS {later.pss:6.1f} MiB "
            f"(RSS {later.rss:6.1f}), {later.detail}   [<= 150 MiB: {goal}]   (load {load()})",
            flush=True,
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", default="500,2000")
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--latency", default="0.1-0.3")
    ap.add_argument("--variants", default="default,workers2")
    ap.add_argument("--idle", type=float, default=60)
    ap.add_argument("--quick", action="store_true", help="500 feeds, 20 s idle")
    args = ap.parse_args()
    if args.quick:
        args.feeds, args.idle = "500", 20.0
    variants = args.variants.split(",")
    print(f"daemon memory, {os.cpu_count()} cores, load {load()}", flush=True)
    for n in (int(x) for x in args.feeds.split(",")):
        settings = FarmSettings(feeds=n, items=args.items, latency=parse_latency(args.latency))
        with FarmServer(settings) as farm, tempfile.TemporaryDirectory(prefix="bench-mem-") as t:
            for variant in variants:
                run_variant(farm.base_url.rstrip("/"), n, variant, args.idle, Path(t))


if __name__ == "__main__":
    main()
