"""How far can clustering from headlines go on labelled data? Ceilings beside ours.

    python benchmarks/cluster_ceiling.py [--data FILE.jsonl] [--quick]

Prints, in one run, on the same items (UCI News Aggregator DEV by default):

* **ours**: ``aggregator.process.clustering`` online, unsupervised, in the seeded shuffled order
  (the same protocol and code as ``cluster_quality.py``);
* **merge oracle**: our clusters, each merged into the gold story most of its items
  belong to. No merge rule of any kind, however clever, can beat it without first
  splitting our clusters: it bounds what merging alone can add;
* **supervised ceiling**: a linear SVM on word 1-2-gram plus character 3-5-gram
  TF-IDF of the same text (title, plus the URL's words where ours uses them),
  *trained on the gold story labels* of four fifths of the items and asked to name
  the story of the remaining fifth (item-level 5-fold cross-validation); its
  predicted labels are scored as a clustering. It is told the inventory of stories
  and sees 80 % of the answers, none of which an online clusterer has, so an
  unsupervised method is not expected to reach it: where it sits near a quality goal,
  the goal asks for more than the text carries.

Needs scikit-learn (the ``bench`` extra: ``make bench`` installs it); the package
itself never imports it.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from cluster_quality import (
    DEV,
    Labels,
    Row,
    evaluate,
    line,
    load_scorer,
    ordered,
    read_rows,
    run_clusterer,
)

from aggregator.process.clustering import ClusterSettings


def merge_oracle(rows: Sequence[Row], labels: Labels) -> Labels:
    """Each predicted cluster relabelled as its majority gold story (ties: smaller id)."""
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        votes[labels[str(row["id"])]][str(row["cluster"])] += 1
    majority = {cid: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for cid, c in votes.items()}
    return {str(r["id"]): majority[labels[str(r["id"])]] for r in rows}


def url_words(url: str) -> str:
    """The URL path's words, as the clusterer reads them (slug, no ids)."""
    path = urlsplit(url).path if url else ""
    return " ".join(w for w in re.split(r"[^A-Za-z]+", path) if len(w) >= 3)


def supervised(rows: Sequence[Row], *, use_url: bool, folds: int = 5) -> Labels:
    """Story predicted for every item by a classifier trained on the other folds."""
    try:
        from scipy.sparse import hstack
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.svm import LinearSVC
    except ImportError as exc:  # a plain `make test` venv has no scikit-learn
        raise SystemExit(f"{exc}: install the bench extra (make bench does)") from exc

    docs = [
        str(r["title"]) + (" " + url_words(str(r.get("url") or "")) if use_url else "")
        for r in rows
    ]
    gold = [str(r["cluster"]) for r in rows]
    index = list(range(len(rows)))
    random.Random(7).shuffle(index)
    parts = [index[k::folds] for k in range(folds)]
    predicted: Labels = {}
    for k, test in enumerate(parts):
        train = [i for j, part in enumerate(parts) if j != k for i in part]
        words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
        x_train = hstack(
            [
                words.fit_transform([docs[i] for i in train]),
                chars.fit_transform([docs[i] for i in train]),
            ]
        ).tocsr()
        x_test = hstack(
            [words.transform([docs[i] for i in test]), chars.transform([docs[i] for i in test])]
        ).tocsr()
        model = LinearSVC(C=1.0).fit(x_train, [gold[i] for i in train])
        for i, story in zip(test, model.predict(x_test), strict=True):
            predicted[str(rows[i]["id"])] = str(story)
    return predicted


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", type=Path, default=DEV, help="labelled JSON Lines")
    ap.add_argument("--quick", action="store_true", help="title + URL only (one classifier)")
    args = ap.parse_args(argv)

    scorer = load_scorer()
    rows = read_rows(args.data)
    stream = ordered(rows, "shuffled")
    print(f"{len(rows)} items, {len({r['cluster'] for r in rows})} gold stories, shuffled order")
    variants = (True,) if args.quick else (True, False)
    for use_url in variants:
        what = "title + url" if use_url else "title only"
        t0 = time.perf_counter()
        labels = run_clusterer(stream, ClusterSettings(), use_url=use_url)
        rate = len(stream) / (time.perf_counter() - t0)
        print(line(f"ours ({what})", evaluate(scorer, rows, labels), rate))
        print(line(f"merge oracle ({what})", evaluate(scorer, rows, merge_oracle(rows, labels))))
        t0 = time.perf_counter()
        ceiling = supervised(rows, use_url=use_url)
        rate = len(rows) / (time.perf_counter() - t0)
        print(line(f"supervised SVM ({what})", evaluate(scorer, rows, ceiling), rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
