"""What the consumer holds after the farm's first poll, and its decisions, beside another tree.

    python benchmarks/bench_live_state.py [--feeds 500] [--baseline-tree DIR | --baseline-ref main]
                                          [--rounds 1] [--trace]

The farm's feeds (``benchmarks/farm.py``, 50 items each) are parsed, normalized and
stored once into a SQLite archive (``process_body`` and ``Store.record_poll``, as a
first poll stores them, none processed). Then, in one child process per checkout and
round (alternating which goes first), that checkout's real ``Consumer`` (no topics or
rules: the default configuration) processes a copy of the archive batch by batch until
nothing is left, as the daemon's consume job does after a first poll. Each child prints:

- the CPU time of the processing and the load average beside it;
- the anonymous memory it left (``RssAnon`` after ``gc.collect`` and ``malloc_trim``,
  less the same before the first batch): what the daemon's heap grows by for the
  window's articles, allocator slack included;
- ``DedupIndex.memory()`` by part and the clusterer's remembered articles, in MiB;
- with ``--trace``: the bytes tracemalloc counts as held (slower, several times);
- a digest of every decision stored: each article's duplicate (of, kind, detail) and
  cluster (id, score, terms), and each event's headline, counts, terms, status and
  merge; the benchmark says whether the two trees' digests are equal.

Issue 17: the live structures of the daemon after the first poll of 500 x 50 (25,000
articles) and of 2,000 x 50 (100,000). The baseline is ``git archive`` of
``--baseline-ref`` in a temporary directory unless ``--baseline-tree`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

from _trees import archived_tree  # noqa: E402  (beside this script)


def build(root: str, directory: str, feeds: int) -> None:
    """The farm's first poll stored, unprocessed, in ``directory``/bench.db."""
    sys.path.insert(0, root)
    sys.path.insert(0, str(HERE))
    from datetime import UTC, datetime

    from _poll_store import poll_store
    from farm import FarmSettings, build_farm

    from aggregator.poll.body import process_body
    from aggregator.poll.normalize import NormalizeSettings

    now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    settings = NormalizeSettings()
    names = [f"feed {i}" for i in range(feeds)]
    with poll_store(directory, names, now) as record:
        for i, f in enumerate(build_farm(FarmSettings(feeds=feeds, items=50))):
            out = process_body(
                f.body,
                url=f"http://127.0.0.1/{i}",
                headers={},
                fetched_at=now,
                feed_name=names[i],
                settings=settings,
            )
            record(names[i], out.articles)


def _rss_anon() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    return 0.0


def child(root: str, db: str, trace: bool) -> dict[str, Any]:
    """Process the archive ``db`` with ``root``'s consumer; what it holds, and a digest."""
    sys.path.insert(0, root)
    import ctypes
    import gc
    import hashlib
    import sqlite3
    import time
    import tracemalloc

    from aggregator.process.consumer import Consumer
    from aggregator.store import Store

    libc = ctypes.CDLL("libc.so.6")
    store = Store.open(f"sqlite:///{db}")
    consumer = Consumer(store, topics={}, rules=[])
    gc.collect()
    libc.malloc_trim(0)
    before = _rss_anon()
    if trace:
        tracemalloc.start()
    start = time.process_time()
    articles = 0
    while n := consumer.process_pending().articles:
        articles += n
    cpu = time.process_time() - start
    held = tracemalloc.get_traced_memory()[0] / 2**20 if trace else None
    tracemalloc.stop()
    store.shrink_memory()
    gc.collect()
    libc.malloc_trim(0)
    grown = _rss_anon() - before
    parts = {k: v / 2**20 for k, v in consumer.dedup.memory().items()}
    remembered = consumer.clusterer._article_cluster.nbytes() / 2**20
    store.close()
    digest = hashlib.sha256()
    con = sqlite3.connect(db)
    for query in (
        "SELECT id, duplicate_of, duplicate_kind, duplicate_detail, cluster_id, cluster_score,"
        " cluster_terms FROM articles ORDER BY id",
        "SELECT id, headline, article_count, outlet_count, top_terms, status, merged_into"
        " FROM clusters ORDER BY id",
    ):
        for row in con.execute(query):
            digest.update(repr(row).encode())
    events = con.execute("SELECT count(*) FROM clusters").fetchone()[0]
    con.close()
    return {
        "articles": articles,
        "cpu": cpu,
        "load": os.getloadavg()[0],
        "anon": grown,
        "traced": held,
        "dedup": parts,
        "remembered": remembered,
        "events": events,
        "digest": digest.hexdigest()[:16],
    }


def run_child(root: Path, archive: Path, trace: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "a.db"
        shutil.copy(archive, db)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(root), str(db)]
        if trace:
            cmd.append("--trace")
        out = subprocess.run(
            cmd,
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(root)},
        )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def show(name: str, r: dict[str, Any]) -> None:
    parts = ", ".join(f"{k} {v:.2f}" for k, v in r["dedup"].items())
    traced = "" if r["traced"] is None else f"; traced {r['traced']:.2f} MiB"
    print(
        f"  {name:<8} {r['articles']} articles in {r['cpu']:.1f} s CPU (load {r['load']:.2f}); "
        f"anonymous +{r['anon']:.1f} MiB{traced}; dedup {sum(r['dedup'].values()):.2f} MiB "
        f"({parts}); remembered {r['remembered']:.2f} MiB; {r['events']} events; "
        f"decisions {r['digest']}",
        flush=True,
    )


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], sys.argv[3], "--trace" in sys.argv)))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--baseline-tree", type=Path)
    ap.add_argument("--baseline-ref", default="main")
    ap.add_argument("--trace", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = args.baseline_tree or archived_tree(args.baseline_ref, Path(tmp) / "base")
        subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--build",
                str(ROOT),
                tmp,
                str(args.feeds),
            ],
            check=True,
        )
        archive = Path(tmp) / "bench.db"
        trees = {"ours": ROOT, "baseline": base}
        digests: dict[str, set[str]] = {name: set() for name in trees}
        print(f"{args.feeds} feeds x 50: the consumer after the first poll, MiB")
        for r in range(args.rounds):
            order = list(trees) if r % 2 == 0 else list(reversed(trees))
            for name in order:
                result = run_child(trees[name], archive, args.trace)
                show(name, result)
                digests[name].add(result["digest"])
        same = digests["ours"] == digests["baseline"] and len(digests["ours"]) == 1
        print("decisions:", "identical" if same else f"DIFFER {digests}")
        return 0 if same else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--build":
        build(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        sys.exit(0)
    sys.exit(main())
