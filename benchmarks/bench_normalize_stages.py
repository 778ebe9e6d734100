"""CPU per farm entry of each stage after parsing, this checkout beside another one.

    python benchmarks/bench_normalize_stages.py [--baseline-tree DIR | --baseline-ref main]
                                                [--feeds 40] [--items 50] [--rounds 5]
    python benchmarks/bench_normalize_stages.py --quick     # 10 x 50, 3 rounds

The stages of a first poll that follow parsing (issue 17): ``html_to_text`` of the
entry's body, ``remove_repeats`` of that text with the paragraph-key cache emptied,
``canonical_url`` of its link, ``sanitize_html`` of its body, the whole
``normalize_entry``, ``process_body`` of each feed's body (parse and normalize: the
burst worker's work, parsing included), and ``Store.record_poll`` of each feed's
articles into a new SQLite database (with its FTS5 triggers).

Each round runs one child process per checkout, alternating which goes first, so the
load on a shared machine falls on both alike; a child imports ``aggregator`` from its
checkout, builds the farm's feeds (``benchmarks/farm.py`` of this checkout, so both
see the same bytes) and parses them outside the timings. Figures are CPU time
(``time.process_time``) per entry, the median of the rounds with their range, with the
1-minute load average. Without ``--baseline-tree`` the baseline is ``git archive`` of
``--baseline-ref`` (default ``main``) in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

from _trees import archived_tree  # noqa: E402  (beside this script)

STAGES = (
    "html_to_text",
    "remove_repeats",
    "canonical_url",
    "sanitize_html",
    "normalize_entry",
    "process_body",
    "record_poll",
)


def child(root: str, feeds: int, items: int) -> dict[str, float]:
    sys.path.insert(0, root)
    sys.path.insert(0, str(HERE))
    from _poll_store import poll_store
    from farm import FarmSettings, build_farm

    from aggregator import text
    from aggregator.poll.body import process_body
    from aggregator.poll.normalize import (
        NormalizeSettings,
        canonical_url,
        forget_texts,
        normalize_entry,
    )
    from aggregator.poll.parse import parse_feed

    now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    settings = NormalizeSettings()
    farm = [f.body for f in build_farm(FarmSettings(feeds=feeds, items=items, seed=1))]
    parsed = [
        (f"farm-{i}", parse_feed(body, url="http://127.0.0.1/f", headers={}, fetched_at=now))
        for i, body in enumerate(farm)
    ]
    entries = [(name, e) for name, p in parsed for e in p.entries]
    bodies = [e.content_html or e.summary_html for _, e in entries]
    texts = [text.html_to_text(b) for b in bodies]

    def timed(fn: Callable[[], object]) -> float:
        start = time.process_time()
        fn()
        return (time.process_time() - start) * 1000 / len(entries)

    def repeats() -> None:
        text.paragraph_key.cache_clear()
        for t in texts:
            text.remove_repeats(t)

    def normalized() -> list[list[Any]]:
        return [
            [normalize_entry(e, feed=name, fetched_at=now, settings=settings) for e in p.entries]
            for name, p in parsed
        ]

    # one warm-up pass of the Python-level caches and imports, as a running daemon has
    arts = normalized()
    out = {
        "html_to_text": timed(lambda: [text.html_to_text(b) for b in bodies]),
        "remove_repeats": timed(repeats),
        "canonical_url": timed(lambda: [canonical_url(e.link) for _, e in entries if e.link]),
        "sanitize_html": timed(lambda: [text.sanitize_html(b) for b in bodies]),
        "normalize_entry": timed(normalized),
        # a first poll's: the text caches as the daemon leaves them after a burst
        "process_body": timed(
            lambda: (
                forget_texts()
                or [
                    process_body(
                        body,
                        url="http://127.0.0.1/f",
                        headers={},
                        fetched_at=now,
                        feed_name=f"farm-{i}",
                        settings=settings,
                    )
                    for i, body in enumerate(farm)
                ]
            )
        ),
    }
    with (
        tempfile.TemporaryDirectory() as tmp,
        poll_store(tmp, [name for name, _ in parsed], now) as record,
    ):
        record(parsed[0][0], [])  # compiles the statements
        out["record_poll"] = timed(
            lambda: [record(name, a) for (name, _), a in zip(parsed, arts, strict=True)]
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--baseline-tree", help="another checkout to compare with")
    ap.add_argument("--baseline-ref", default="main", help="else this commit, git-archived")
    ap.add_argument("--quick", action="store_true", help="10 feeds x 50 items, 3 rounds")
    ap.add_argument("--feeds", type=int, default=40)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.feeds, args.items)))
        return
    if args.quick:
        args.feeds, args.rounds = 10, 3
    with tempfile.TemporaryDirectory() as tmp:
        baseline = args.baseline_tree
        if not baseline:
            baseline = str(archived_tree(args.baseline_ref, Path(tmp)))
        compare(args, {"ours": str(HERE.parent), "baseline": str(Path(baseline).resolve())})


def compare(args: argparse.Namespace, trees: dict[str, str]) -> None:
    results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    loads: list[float] = []
    for r in range(args.rounds):
        order = list(trees) if r % 2 == 0 else list(reversed(trees))
        for name in order:
            cmd = [sys.executable, __file__, "--child", trees[name]]
            cmd += ["--feeds", str(args.feeds), "--items", str(args.items)]
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            results[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
            loads.append(os.getloadavg()[0])
        print(f"round {r + 1}/{args.rounds} done, load {loads[-1]:.1f}", file=sys.stderr)
    entries = args.feeds * args.items
    span = f"{min(loads):.1f}-{max(loads):.1f}"
    print(f"{entries} farm entries, {args.rounds} interleaved rounds, load {span}")
    print(f"{'stage':18s} {'ours ms/entry':>22s} {'baseline ms/entry':>22s} {'ratio':>6s}")
    for stage in STAGES:
        cells = []
        for name in trees:
            v = [run[stage] for run in results[name]]
            cells.append((statistics.median(v), min(v), max(v)))
        (o, olo, ohi), (b, blo, bhi) = cells
        ours, base = f"{o:.4f} ({olo:.4f}-{ohi:.4f})", f"{b:.4f} ({blo:.4f}-{bhi:.4f})"
        print(f"{stage:18s} {ours:>22s} {base:>22s} {o / b:6.2f}")


if __name__ == "__main__":
    main()
