"""Instructions per article of ``Clusterer.assign`` at steady state, counted by callgrind.

    python benchmarks/cluster_callgrind.py [--tree DIR ...] [--warm 20000] [--articles 500]
    python benchmarks/cluster_callgrind.py --tree /tmp/base --tree .    # two checkouts

CPU time on the shared, loaded machine moves with the load by more than the changes
measured here; instruction counts do not. The stream is ``cluster_scale.py``'s (with
semantic vectors unless ``--no-vectors``), generated once by this checkout. For each
tree, a child process (not under valgrind) clusters the first ``--warm`` articles
with that tree's ``Clusterer`` (20,000: past the 72-hour window of the stream's 250
articles an hour, so clusters are evicted as in a long run) and pickles it with the
token memos of ``features`` (module dicts named ``*_MEMO``: warm, as in a running
daemon). Then, under ``valgrind --tool=callgrind`` with ``PYTHONHASHSEED=0``, one
process loads that state and stops, another loads it and assigns the next
``--articles``; the difference over the articles is the instructions per article.
The second also prints a digest of its decisions: two trees that decide alike print
the same. ``--rounds R`` repeats every count R times, the trees taking turns.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import pickle
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _memos(features: Any) -> dict[str, dict[Any, Any]]:
    return {
        name: value
        for name, value in vars(features).items()
        if name.endswith("_MEMO") and isinstance(value, dict)
    }


def build(tree: str, articles_file: str, state_file: str) -> None:
    """Cluster the warm-up's articles with ``tree``'s clusterer; pickle the state."""
    sys.path.insert(0, tree)
    from aggregator.process.clustering import Clusterer, ClusterSettings, features

    with open(articles_file, "rb") as f:
        articles = pickle.load(f)
    clusterer = Clusterer(ClusterSettings())
    for i, article in enumerate(articles):
        clusterer.assign(i, article)
    with open(state_file, "wb") as f:
        pickle.dump((clusterer, _memos(features)), f)


def child(tree: str, articles_file: str, warm: int, n: int, state_file: str) -> None:
    """Load the state; with ``n`` > 0 assign the next ``n`` articles, print the digest."""
    sys.path.insert(0, tree)
    from aggregator.process.clustering import features

    with open(state_file, "rb") as f:
        clusterer, memos = pickle.load(f)
    for name, memo in memos.items():
        getattr(features, name).update(memo)
    with open(articles_file, "rb") as f:
        articles = pickle.load(f)[:n]
    digest = hashlib.sha256()
    for i, article in enumerate(articles, warm):
        digest.update(repr(clusterer.assign(i, article)).encode())
    print(digest.hexdigest()[:16])


def count(tree: str, articles_file: str, warm: int, n: int, state_file: str) -> tuple[int, str]:
    """(instructions, decisions digest) of one child under callgrind."""
    with tempfile.TemporaryDirectory() as tmp:
        out = f"{tmp}/cg.out"
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable]
        cmd += [__file__, "--child", tree, "--articles-file", articles_file]
        cmd += ["--warm", str(warm), "--articles", str(n), "--state", state_file]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
        text = Path(out).read_text()
    match = re.search(r"^(?:summary|totals): (\d+)", text, re.MULTILINE)
    assert match is not None, "no total in callgrind's output"
    return int(match.group(1)), done.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tree", action="append", help="a checkout (repeatable); default this one")
    ap.add_argument("--warm", type=int, default=20_000, help="articles clustered before")
    ap.add_argument("--articles", type=int, default=500, help="articles counted")
    ap.add_argument("--rounds", type=int, default=1, help="counts per tree, in turns")
    ap.add_argument("--rate", type=float, default=250.0, help="the stream's articles per hour")
    ap.add_argument("--no-vectors", dest="vectors", action="store_false")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--build", help=argparse.SUPPRESS)
    ap.add_argument("--articles-file", help=argparse.SUPPRESS)
    ap.add_argument("--state", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.build:
        build(args.build, args.articles_file, args.state)
        return
    if args.child:
        child(args.child, args.articles_file, args.warm, args.articles, args.state)
        return
    sys.path.insert(0, str(HERE))
    from cluster_scale import Stream

    trees = [str(Path(t).resolve()) for t in (args.tree or [str(HERE.parent)])]
    with tempfile.TemporaryDirectory() as tmp:
        # The warm-up's articles and the counted ones in two files: the counted
        # processes read only theirs.
        warm_file, articles_file = f"{tmp}/warm.pickle", f"{tmp}/articles.pickle"
        stream = iter(Stream(7, args.rate, vectors=args.vectors))
        with open(warm_file, "wb") as f:
            pickle.dump([a for _, a in itertools.islice(stream, args.warm)], f)
        with open(articles_file, "wb") as f:
            pickle.dump([a for _, a in itertools.islice(stream, args.articles)], f)
        states = {}
        for k, tree in enumerate(trees):
            states[tree] = f"{tmp}/state-{k}.pickle"
            cmd = [sys.executable, __file__, "--build", tree, "--articles-file", warm_file]
            cmd += ["--state", states[tree]]
            subprocess.run(cmd, check=True)
        print(
            f"{args.articles} articles after a state of {args.warm:,} "
            f"({'with' if args.vectors else 'without'} vectors): M instructions/article"
        )
        for r in range(args.rounds):
            for tree in trees if r % 2 == 0 else trees[::-1]:
                state = states[tree]
                none, _ = count(tree, articles_file, args.warm, 0, state)
                run, digest = count(tree, articles_file, args.warm, args.articles, state)
                per = (run - none) / args.articles / 1e6
                load = os.getloadavg()[0]
                print(f"{tree[-40:]:40s} {per:8.4f}  digest {digest}  load {load:.1f}", flush=True)


if __name__ == "__main__":
    main()
