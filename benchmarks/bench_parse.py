"""CPU per entry of ``parse_feed`` on the farm's feeds: this tree vs another, interleaved.

    python benchmarks/bench_parse.py [--feeds 40] [--items 50] [--rounds 5]
                                     [--baseline-tree DIR ...] [--quick]

Each measurement runs in a fresh child process that imports ``aggregator`` from its
tree, builds the farm's feeds (``benchmarks/farm.py``, the same bytes for every tree:
half RSS 2.0, half Atom 1.0, 2-6 KB HTML bodies), parses each feed once to warm up, then
parses them all and reports ``time.process_time`` per entry. The contenders run
interleaved, ``--rounds`` times (ours, ours with ``fastparse`` off, each baseline, ours,
...), so a drifting load on a shared machine reaches them alike; the medians and their
spread are printed beside the 1-minute load average. No fetching, no normalizing, no
database: the parse stage alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child(root: str, feeds: int, items: int, fast: bool) -> None:
    sys.path.insert(0, root)
    sys.path.insert(0, str(HERE))
    import time

    from farm import FarmSettings, build_farm  # type: ignore[import-not-found]

    from aggregator.poll import parse

    if not fast:
        from aggregator.poll import fastparse

        fastparse.ENABLED = False
    bodies = [
        (f.body, f.entries, f.kind) for f in build_farm(FarmSettings(feeds=feeds, items=items))
    ]
    fetched = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

    def parse_all() -> int:
        n = 0
        for body, _, kind in bodies:
            ctype = "application/rss+xml" if kind == "rss" else "application/atom+xml"
            feed = parse.parse_feed(
                body,
                url="https://news.example/feed",
                headers={"content-type": f"{ctype}; charset=utf-8"},
                fetched_at=fetched,
            )
            n += len(feed.entries)
        return n

    parse_all()  # warm-up: imports, regex compilation, caches
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.process_time()
    entries = parse_all()
    cpu = time.process_time() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    # process_time is user + system; system time and minor faults shown apart, as
    # a fresh large allocation costs mostly there (the kernel zeroing its pages)
    row = {"entries": entries, "cpu": cpu, "root": parse.__file__}
    row["sys"] = after.ru_stime - before.ru_stime
    row["minflt"] = after.ru_minflt - before.ru_minflt
    print(json.dumps(row))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=40)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="10 feeds x 20 items, 2 rounds")
    ap.add_argument("--baseline-tree", action="append", default=[], metavar="DIR")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--slow", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.feeds, args.items, fast=not args.slow)
        return 0
    if args.quick:
        args.feeds, args.items, args.rounds = 10, 20, 2
    ours = str(HERE.parent)
    contenders = [("ours", ours, False), ("ours, fastparse off", ours, True)]
    contenders += [(f"ours@{Path(d).resolve().name}", str(Path(d).resolve()), False)
                   for d in args.baseline_tree]  # fmt: skip
    print(f"parse_feed on {args.feeds} farm feeds x {args.items} items, {args.rounds} rounds")
    results: dict[str, list[float]] = {name: [] for name, _, _ in contenders}
    for round_no in range(1, args.rounds + 1):
        for name, root, slow in contenders:
            cmd = [sys.executable, __file__, "--child", root]
            cmd += ["--feeds", str(args.feeds), "--items", str(args.items)]
            cmd += ["--slow"] if slow else []
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            ms = row["cpu"] / row["entries"] * 1000
            results[name].append(ms)
            load = os.getloadavg()[0]
            sys_ms = row["sys"] / row["entries"] * 1000
            faults = row["minflt"] / row["entries"]
            print(
                f"round {round_no}  {name:28s} {ms:.3f} ms/entry (system {sys_ms:.3f}, "
                f"{faults:.2f} minor faults/entry)  load {load:.1f}",
                flush=True,
            )
    print("\nmedian (min-max) CPU ms per entry:")
    for name, values in results.items():
        med = statistics.median(values)
        print(f"  {name:28s} {med:.3f} ({min(values):.3f}-{max(values):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
