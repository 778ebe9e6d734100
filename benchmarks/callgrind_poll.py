"""Instructions per farm entry of a first poll's stages, counted by callgrind.

    python benchmarks/callgrind_poll.py [--tree DIR] [--feeds 10] [--items 50]
    python benchmarks/callgrind_poll.py --tree /tmp/base --tree .     # two checkouts

CPU time on a shared, loaded machine moves with the load by more than the changes
measured here (issue 17); instruction counts do not. For each checkout this runs,
under ``valgrind --tool=callgrind``, one process per cut: after a warm-up feed (parse,
normalize and store of one farm feed, so imports, the statements' compilation and the
Python-level caches are paid), it stops (``none``), or parses the ``--feeds`` farm
feeds (``parse``), or also normalizes their entries (``normalize``: ``process_body``),
or also sends each feed's articles through a pickle and back (``pickle``: the burst
worker's answer, ``burst_worker._reply``, and the daemon's ``pickle.loads`` of it),
or also stores the articles read back with ``Store.record_poll`` into a fresh SQLite
file (``store``).
Each cut's count minus the previous one's, over the entries, is that stage's
instructions per entry. The farm is built once, outside valgrind
(``benchmarks/farm.py`` of this checkout), so every tree reads the same bytes.
One cut's count moves between runs by ~0.05 % (six runs of the ``parse`` cut at
2 x 50: 3,175.2-3,177.3 M, the same with address randomisation off), i.e. a few
million instructions a process. A stage is the difference of two cuts, so that
spread divided by the entries is its error: two runs of one tree at 3 x 50 moved
parse by 0.024 and store by 0.038 M per entry (3-4 %) while their total moved 0.1 %.
Compare stages at 10 x 50 or more, and trust the total before the split.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import pickle
import re
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
CUTS = ("none", "parse", "normalize", "pickle", "store")


def child(root: str, farm_file: str, cut: str) -> None:
    sys.path.insert(0, root)
    from _poll_store import poll_store

    from aggregator.poll.body import ProcessedFeed
    from aggregator.poll.burst_worker import _reply
    from aggregator.poll.normalize import NormalizeSettings, normalize_entry
    from aggregator.poll.parse import parse_feed

    with open(farm_file, "rb") as f:
        bodies: list[bytes] = pickle.load(f)
    now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    settings = NormalizeSettings()
    names = [f"farm-{i}" for i in range(len(bodies))]
    with tempfile.TemporaryDirectory() as tmp, poll_store(tmp, names, now) as record:

        def run(name: str, body: bytes, upto: str) -> None:
            parsed = parse_feed(body, url="http://127.0.0.1/f", headers={}, fetched_at=now)
            if upto == "parse":
                return
            arts = tuple(
                normalize_entry(e, feed=name, fetched_at=now, settings=settings)
                for e in parsed.entries
            )
            if upto == "normalize":
                return
            answer = _reply(True, ProcessedFeed(dataclasses.replace(parsed, entries=()), arts))
            _, processed = pickle.loads(answer)
            if upto == "store":
                record(name, processed.articles)

        run(names[0], bodies[0], "store")  # the warm-up feed
        if cut != "none":
            for name, body in zip(names[1:], bodies[1:], strict=True):
                run(name, body, cut)


def count(root: str, farm_file: str, cut: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = f"{tmp}/cg.out"
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        cmd += [sys.executable, __file__, "--child", root, "--farm", farm_file, "--cut", cut]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        text = Path(out).read_text()
    match = re.search(r"^(?:summary|totals): (\d+)", text, re.MULTILINE)
    assert match is not None, "no total in callgrind's output"
    return int(match.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tree", action="append", help="a checkout (repeatable); default this one")
    ap.add_argument("--feeds", type=int, default=10)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--farm", help=argparse.SUPPRESS)
    ap.add_argument("--cut", choices=CUTS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.farm, args.cut)
        return
    sys.path.insert(0, str(HERE))
    from farm import FarmSettings, build_farm

    trees = [str(Path(t).resolve()) for t in (args.tree or [str(HERE.parent)])]
    settings = FarmSettings(feeds=args.feeds + 1, items=args.items, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        farm_file = f"{tmp}/farm.pickle"
        with open(farm_file, "wb") as f:
            pickle.dump([feed.body for feed in build_farm(settings)], f)
        entries = args.feeds * args.items
        print(
            f"{args.feeds} farm feeds x {args.items} after one warm-up feed; M instructions/entry"
        )
        heads = f"{'parse':>8s} {'normalize':>9s} {'pickle':>8s} {'store':>8s}"
        print(f"{'tree':40s} {heads} {'total':>8s}  load")
        for tree in trees:
            counts = {cut: count(tree, farm_file, cut) for cut in CUTS}
            per = [(counts[b] - counts[a]) / entries / 1e6 for a, b in itertools.pairwise(CUTS)]
            total = (counts["store"] - counts["none"]) / entries / 1e6
            cells = " ".join(f"{v:8.4f}" for v in per)
            print(f"{tree[-40:]:40s} {cells}   {total:8.4f}  {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
