"""A SQLite search's CPU, level by level, each level in a process of its own (issue 17).

    python benchmarks/search_cpu.py [--rounds 8] [--url URL] [--code TREE ...]

``bench_search``'s goal compares the server through HTTP with the raw engine, which
runs its searches back to back in the benchmark's own process. This splits the
difference: the same 200 plain searches (``bench_search``'s queries) at each level,

- ``raw``: ``bench_search.raw_query``, back to back (``bench_search``'s baseline);
- ``raw-sleep``: the same, each search after a 1 ms sleep (the process goes idle
  between searches, as a server does between requests);
- ``raw-pipe``: the same, each search asked for over a pipe (a wake-up a search,
  without the process going idle for long);
- ``answer``: ``Archive.search`` as the API calls it (budget, name checks) and the
  page's JSON as the API makes it, back to back;
- ``server``: the API server (``bench_search --serve``) through one keep-alive
  connection, one request at a time (``bench_search.LeanClient``);
- ``server-pipelined``: the same server, the block's 200 requests written at once
  (HTTP/1.1 pipelining: the server never waits for the client between two);

in blocks, every level's block in a shuffled order each round, the CPU of each
level's process read from ``/proc`` around its block: user and system time (clock
ticks), the scheduler's run time of all its threads (``schedstat``, ns: the figure
compared) and context switches. ``--code TREE`` (repeatable) adds a server serving
that tree; ``--code`` of this tree twice shows how far two instances of one server
differ (docs/benchmarks.md, "What a SQLite search costs the server beyond the engine").
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_search as bs

URL = "sqlite:////work/bench/s100kL.sqlite"
TICK = os.sysconf("SC_CLK_TCK")
# the levels below the server, in one process reading "LEVEL MODE" lines on stdin
LEVELS = """
import sys, time
sys.path.insert(0, {benchmarks!r})
import bench_search as bs
from aggregator.api.app import _SEARCH_PAGE, _safe_summary
from aggregator.errors import OverBudget
from aggregator.store import create_db_engine
from aggregator.store.archive import Archive
from aggregator.store.views import SearchPage

engine = create_db_engine({url!r})
archive = Archive(engine)
queries = bs.two_term_queries(200)
raw = bs.raw_query(engine, archive)


def answer(q):
    # as the API answers a lone search: within the inline budget, the configured
    # topics' check; past the budget stopped and run again without it
    try:
        page = archive.search(q, budget=0.05, configured_topics=())
    except OverBudget:
        page = archive.search(q, configured_topics=())
    page = SearchPage(tuple(map(_safe_summary, page.items)), page.next_cursor)
    return _SEARCH_PAGE.dump_json(page)


levels = {{"raw": raw, "answer": answer}}
for _ in range(2):
    for q in queries:
        raw(q)
        answer(q)
print("ready", flush=True)
for line in sys.stdin:
    level, mode = line.split()
    search = levels[level]
    for q in queries:
        if mode == "sleep":
            time.sleep(0.001)
        elif mode == "pipe":
            sys.stdin.readline()
        search(q)
        if mode == "pipe":
            print("searched", flush=True)
    print("done", flush=True)
"""


def cpu(pid: int) -> tuple[int, int, int, int]:
    """User and system ticks, schedstat run time (ns) and context switches of ``pid``."""
    user, system = bs.stat_ticks(pid)
    run_ns = switches = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                run_ns += int(f.read().split()[0])
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                switches += sum(int(x.split()[1]) for x in f if "ctxt_switches" in x)
        except FileNotFoundError:  # a thread that ended meanwhile
            pass
    return user, system, run_ns, switches


def pipelined(client: bs.LeanClient, targets: list[str]) -> None:
    """Every target written at once on ``client``'s connection, then every answer read."""
    client.sock.sendall(b"".join(map(client.request, targets)))
    for target in targets:
        client.answer(target)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--url", default=URL)
    ap.add_argument("--code", type=Path, action="append", default=[], help="another server")
    args = ap.parse_args()
    targets = [bs.Search(q).target for q in bs.two_term_queries(200)]
    here = Path(__file__).resolve().parent
    levels = subprocess.Popen(
        [sys.executable, "-c", LEVELS.format(benchmarks=str(here), url=args.url)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(here.parent)},
    )
    assert levels.stdin is not None
    assert levels.stdout is not None
    if levels.stdout.readline().strip() != "ready":
        raise SystemExit("the levels' process did not start")
    servers = {"server": bs.Server(args.url)}
    for i, tree in enumerate(args.code):
        servers[f"server {i + 1}"] = bs.Server(args.url, tree)
    clients = {name: bs.LeanClient(s.url) for name, s in servers.items()}
    for client in clients.values():
        for _ in range(2):
            for t in targets:
                client.get(t)

    def level(name: str, mode: str) -> Callable[[], None]:
        def run() -> None:
            assert levels.stdin is not None
            assert levels.stdout is not None
            levels.stdin.write(f"{name} {mode}\n")
            levels.stdin.flush()
            for _ in targets if mode == "pipe" else ():
                levels.stdin.write("next\n")
                levels.stdin.flush()
                levels.stdout.readline()
            if levels.stdout.readline().strip() != "done":
                raise SystemExit(f"{name} {mode} failed")

        return run

    blocks: dict[str, tuple[int, Callable[[], None]]] = {
        "raw": (levels.pid, level("raw", "tight")),
        "raw-sleep": (levels.pid, level("raw", "sleep")),
        "raw-pipe": (levels.pid, level("raw", "pipe")),
        "answer": (levels.pid, level("answer", "tight")),
    }

    def one_at_a_time(client: bs.LeanClient) -> Callable[[], None]:
        def run() -> None:
            for t in targets:
                client.get(t)

        return run

    for name, client in clients.items():
        blocks[name] = (servers[name].proc.pid, one_at_a_time(client))
    blocks["server-pipelined"] = (
        servers["server"].proc.pid,
        lambda: pipelined(clients["server"], targets),
    )
    found: dict[str, list[tuple[float, ...]]] = {name: [] for name in blocks}
    order = random.Random(bs.SEED)
    try:
        for _ in range(args.rounds):
            names = list(blocks)
            order.shuffle(names)
            for name in names:
                pid, run = blocks[name]
                # the other blocks may have taken longer than the server's keep-alive
                for client in clients.values():
                    client.reopen()
                before = cpu(pid)
                run()
                after = cpu(pid)
                n = len(targets)
                found[name].append(
                    (
                        (after[0] - before[0]) / TICK / n * 1e6,
                        (after[1] - before[1]) / TICK / n * 1e6,
                        (after[2] - before[2]) / n / 1e3,
                        (after[3] - before[3]) / n,
                    )
                )
    finally:
        for client in clients.values():
            client.close()
        for server in servers.values():
            server.close()
        levels.stdin.close()
        levels.wait()
    print(f"search_cpu: {args.rounds} rounds x {len(targets)} plain searches, medians a search")
    for i, tree in enumerate(args.code):
        print(f"   server {i + 1}: {tree}")
    raw = statistics.median(x[2] for x in found["raw"])
    for name, rows in found.items():
        user, system, run_us, switches = (statistics.median(x[i] for x in rows) for i in range(4))
        spread = f"{min(x[2] for x in rows):,.0f}-{max(x[2] for x in rows):,.0f}"
        print(
            f"   {name:18s} run {run_us:7,.0f} us ({spread}) {run_us / raw:5.2f}x raw"
            f"   user {user:6,.0f}  system {system:5,.0f}  switches {switches:4.1f}"
        )
    print(f"   load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
