"""Near-duplicate detection with boilerplate learning, beside the index without it.

    python benchmarks/bench_dedup.py                  # sizes 1,000 / 10,000 / 100,000
    python benchmarks/bench_dedup.py --quick          # sizes 1,000 / 10,000, 400 probes

Two configurations of the same ``DedupIndex`` run in the same process on the same
articles: ``ours`` (the defaults: boilerplate learned, the lead rule) and ``baseline``
(nothing learned, no lead rule: the index as it was before issue 13). Prints:

1. quality: the labelled pairs (``tests/data/dedup``), each in a fresh index; the
   press-release pair and the stock-sentence farms (``tests/support/boilerplate_news``):
   copies judged across different stories;
2. cost per article (check + add) with N articles already indexed, for every N in
   ``--sizes``: indexes are filled once per configuration with generated articles
   (``gen_articles``) spread over 50 outlets, copied at each size, then the same probe
   articles go through every (configuration, size) index, batch by batch in a rotating
   order so that machine load falls on all alike. Medians of the batches, and the ratio
   of the largest to the smallest size (goal <= 1.3);
3. fill (= start-up rebuild) cost per article for each configuration, and what the
   learner holds at the largest size (its tables are bounded, not the window's).
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

from gen_articles import generate_articles  # noqa: E402

from aggregator.models import Article  # noqa: E402
from aggregator.process.dedup import BoilerplateSettings, DedupIndex, DedupSettings  # noqa: E402
from aggregator.text import content_hash  # noqa: E402
from tests.support.boilerplate_news import (  # noqa: E402
    Item,
    headline_farm,
    press_releases,
    stock_farm,
)

PAIRS = ROOT / "tests" / "data" / "dedup" / "pairs.jsonl"
T0 = datetime(2024, 11, 4, tzinfo=UTC)
CONFIGS = {
    "ours": DedupSettings(window=timedelta(days=30)),
    "baseline": DedupSettings(
        window=timedelta(days=30),
        lead_share=0.0,
        probe_anchors=16,
        boilerplate=BoilerplateSettings(learn=False),
    ),
}


def art(text: str, *, title: str, feed: str, key: str, published: datetime) -> Article:
    url = f"https://{feed}.example/{key}"
    return Article(
        feed=feed,
        guid=None,
        url=url,
        canonical_url=url,
        title=title,
        title_raw=title,
        summary="",
        text=text,
        html="",
        author=None,
        published=published,
        published_estimated=False,
        fetched_at=published,
        language="en",
        content_hash=content_hash(title, text),
    )


def labelled_pairs(settings: DedupSettings) -> str:
    tp = fp = fn = 0
    with PAIRS.open(encoding="utf-8") as fh:
        rows = [json.loads(x) for x in fh]
    for r in rows:
        index = DedupIndex(settings)
        index.add(1, art(str(r["a"]), title="first", feed="a", key="1", published=T0))
        d = index.check(art(str(r["b"]), title="second", feed="b", key="2", published=T0))
        found = d.duplicate_of == 1
        tp += found and r["label"] == 1
        fp += found and r["label"] == 0
        fn += (not found) and r["label"] == 1
    p = tp / (tp + fp) if tp + fp else 1.0
    rec = tp / (tp + fn) if tp + fn else 1.0
    return f"precision {p:.3f} recall {rec:.3f} ({len(rows)} pairs, {tp + fn} copies)"


def farm_copies(settings: DedupSettings, groups: dict[str, list[Item]]) -> str:
    items = sorted(
        ((f, it) for f, its in groups.items() for it in its), key=lambda x: (x[1].published, x[0])
    )
    index = DedupIndex(settings)
    story: dict[int, str] = {}
    across = same = 0
    for i, (feed, it) in enumerate(items):
        a = art(it.text, title=it.title, feed=feed, key=it.guid, published=it.published)
        d = index.check(a)
        index.add(i, a)
        story[i] = it.story
        if d.duplicate_of is not None:
            if story[d.duplicate_of] == it.story:
                same += 1
            else:
                across += 1
    return f"{across:>4} copies across stories, {same:>4} within a story, of {len(items)}"


def quality() -> None:
    print("1. quality")
    for name, settings in CONFIGS.items():
        print(f"   {name:<9} labelled pairs: {labelled_pairs(settings)}")
    t = datetime(2025, 3, 3, 14, tzinfo=UTC)
    cases = {
        "press-release pair + newswire re-post": press_releases(t),
        "stock farm, 24 feeds x 40 stories": stock_farm(t, feeds=24, stories=40),
        "headline farm, UCI slice, 12 feeds": headline_farm(t, feeds=12),
    }
    for label, groups in cases.items():
        for name, settings in CONFIGS.items():
            print(f"   {name:<9} {label:<38} {farm_copies(settings, groups)}")


def generated(n: int, seed: int, start: datetime, offset: int) -> list[Article]:
    out = []
    for i, g in enumerate(generate_articles(n, seed=seed)):
        out.append(
            art(
                g.text,
                title=g.title,
                feed=f"outlet{(offset + i) % 50}",
                key=str(offset + i),
                published=start + timedelta(seconds=i),
            )
        )
    return out


def cost(sizes: Sequence[int], probes: int, batch: int) -> None:
    largest = max(sizes)
    print(f"2. cost per article (check + add) vs articles indexed, {probes} probes")
    fill = generated(largest, 101, T0, 0)
    probe_arts = generated(probes, 202, T0 + timedelta(days=2), largest)
    indexes: dict[tuple[str, int], DedupIndex] = {}
    fill_rate: dict[str, float] = {}
    for name, settings in CONFIGS.items():
        index = DedupIndex(settings)
        t = time.perf_counter()
        for i, a in enumerate(fill, start=1):
            index.add(i, a)
            if i in sizes:
                indexes[(name, i)] = index if i == largest else copy.deepcopy(index)
        fill_rate[name] = (time.perf_counter() - t) / largest * 1e3
        gc.collect()
    keys = list(indexes)
    times: dict[tuple[str, int], list[float]] = {k: [] for k in keys}
    for b, start in enumerate(range(0, probes, batch)):
        chunk = probe_arts[start : start + batch]
        order = keys[b % len(keys) :] + keys[: b % len(keys)]  # rotate who goes first
        for key in order:
            index = indexes[key]
            t = time.perf_counter()
            for j, a in enumerate(chunk):
                index.check(a)
                index.add(10_000_000 + start + j, a)
            times[key].append((time.perf_counter() - t) / len(chunk) * 1e3)
    for name in CONFIGS:
        base = statistics.median(times[(name, min(sizes))])
        for size in sorted(sizes):
            ms = statistics.median(times[(name, size)])
            print(
                f"   {name:<9} {size:>7} indexed: {ms:.3f} ms per article"
                f" (x{ms / base:.2f} of {min(sizes)}; median of {len(times[(name, size)])})"
            )
    print("3. fill (the start-up rebuild replays the window the same way)")
    for name in CONFIGS:
        print(f"   {name:<9} {fill_rate[name]:.3f} ms per article over {largest} articles")
    stats = indexes[("ours", largest)].stats()
    learner = {k: v for k, v in stats.items() if k.startswith("boilerplate")}
    print(f"   ours: the learner at {largest} articles: {learner}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--probes", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--quick", action="store_true", help="sizes 1,000 / 10,000, 400 probes")
    args = ap.parse_args(argv)
    if args.quick:
        args.sizes, args.probes = "1000,10000", 400
    sizes = sorted({int(x) for x in args.sizes.split(",") if x.strip()})
    print(f"bench_dedup (python {sys.version.split()[0]}), sizes {sizes}")
    quality()
    cost(sizes, args.probes, args.batch)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
