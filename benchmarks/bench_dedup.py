"""Near-duplicate detection with boilerplate learning: quality, and a cost flat in N.

    python benchmarks/bench_dedup.py                  # sizes 1,000 / 10,000 / 100,000
    python benchmarks/bench_dedup.py --quick          # sizes 1,000 / 10,000, 400 probes

Three indexes run in the same process on the same articles: ``ours`` (this tree's
``DedupIndex``, the defaults: boilerplate learned, the lead rule), ``before`` (the
same settings in ``DedupIndex`` as it was at ``--before``, read with ``git show``:
the code before issue 17's cost work) and ``no-learning`` (this tree, nothing learned,
no lead rule: the index as it was before issue 13; quality only). Prints:

1. quality: the labelled pairs (``tests/data/dedup``), each in a fresh index; the
   press-release pair and the stock-sentence farms (``tests/support/boilerplate_news``):
   copies judged across different stories; and whether ``ours`` decided every article
   exactly as ``before`` (duplicate, kind, similarity, explanation, distinctive text);
2. cost per article (check + add) with N articles already indexed, for every N in
   ``--sizes``: ``ours`` is filled once with generated articles (``gen_articles``)
   spread over 50 outlets and copied at each size (``--keep DIR`` saves the filled
   indexes, and reads them back on the next run); ``before`` runs its own methods on
   a copy of each (the fill is the same code in both). Then the same probe articles
   go through every (index, size), batch by batch (the rounds) in a rotating order so
   that machine load falls on all alike. Medians of the rounds, wall clock and
   CPU time (the process's: what a busy machine inflates less), the load average
   beside them, the ratio of the largest to the smallest size beside the goal
   (<= 1.3, issues 13/17), and the probes' decisions compared between the two;
3. fill (= start-up rebuild) cost per article, and what the learner holds at
   the largest size (its tables are bounded, not the window's).
"""

from __future__ import annotations

import argparse
import copy
import gc
import importlib.util
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

from _articles import make_article  # noqa: E402
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
# the last commit before the one-pass containments (issue 17): the cost baseline
BEFORE = "68a9b04"
CONFIGS = {
    "ours": DedupSettings(window=timedelta(days=30)),
    "no-learning": DedupSettings(
        window=timedelta(days=30),
        lead_share=0.0,
        probe_anchors=16,
        boilerplate=BoilerplateSettings(learn=False),
    ),
}


def art(text: str, *, title: str, feed: str, key: str, published: datetime) -> Article:
    url = f"https://{feed}.example/{key}"
    return make_article(
        title=title,
        published=published,
        feed=feed,
        url=url,
        text=text,
        content_hash=content_hash(title, text),
    )


def load_before(ref: str, name: str = "dedup_before") -> ModuleType | None:
    """``aggregator/process/dedup.py`` as it was at ``ref``, as a module of its own."""
    try:
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{ref}:aggregator/process/dedup.py"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"   before: git show {ref} failed ({exc}); no same-run baseline")
        return None
    path = Path(tempfile.mkdtemp(prefix="bench-dedup-")) / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def loadavg() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def labelled_pairs(
    settings: DedupSettings, cls: Any = DedupIndex, seen: list[Any] | None = None
) -> str:
    tp = fp = fn = 0
    with PAIRS.open(encoding="utf-8") as fh:
        rows = [json.loads(x) for x in fh]
    for r in rows:
        index = cls(settings)
        index.add(1, art(str(r["a"]), title="first", feed="a", key="1", published=T0))
        d = index.check(art(str(r["b"]), title="second", feed="b", key="2", published=T0))
        if seen is not None:
            seen.append(d)
        found = d.duplicate_of == 1
        tp += found and r["label"] == 1
        fp += found and r["label"] == 0
        fn += (not found) and r["label"] == 1
    p = tp / (tp + fp) if tp + fp else 1.0
    rec = tp / (tp + fn) if tp + fn else 1.0
    return f"precision {p:.3f} recall {rec:.3f} ({len(rows)} pairs, {tp + fn} copies)"


def farm_copies(
    settings: DedupSettings,
    groups: dict[str, list[Item]],
    cls: Any = DedupIndex,
    seen: list[Any] | None = None,
) -> str:
    items = sorted(
        ((f, it) for f, its in groups.items() for it in its), key=lambda x: (x[1].published, x[0])
    )
    index = cls(settings)
    story: dict[int, str] = {}
    across = same = 0
    for i, (feed, it) in enumerate(items):
        a = art(it.text, title=it.title, feed=feed, key=it.guid, published=it.published)
        d = index.check(a)
        index.add(i, a)
        if seen is not None:
            seen.append(d)
        story[i] = it.story
        if d.duplicate_of is not None:
            if story[d.duplicate_of] == it.story:
                same += 1
            else:
                across += 1
    return f"{across:>4} copies across stories, {same:>4} within a story, of {len(items)}"


def quality(before: ModuleType | None) -> None:
    print("1. quality")
    for name, settings in CONFIGS.items():
        print(f"   {name:<11} labelled pairs: {labelled_pairs(settings)}")
    t = datetime(2025, 3, 3, 14, tzinfo=UTC)
    cases = {
        "press-release pair + newswire re-post": press_releases(t),
        "stock farm, 24 feeds x 40 stories": stock_farm(t, feeds=24, stories=40),
        "headline farm, UCI slice, 12 feeds": headline_farm(t, feeds=12),
    }
    for label, groups in cases.items():
        for name, settings in CONFIGS.items():
            print(f"   {name:<11} {label:<38} {farm_copies(settings, groups)}")
    if before is None:
        return
    ours: list[Any] = []
    theirs: list[Any] = []
    settings = CONFIGS["ours"]
    labelled_pairs(settings, DedupIndex, ours)
    labelled_pairs(settings, before.DedupIndex, theirs)
    for groups in cases.values():
        farm_copies(settings, groups, DedupIndex, ours)
        farm_copies(settings, groups, before.DedupIndex, theirs)
    print(f"   ours decides as before: {verdict(ours, theirs)} (labelled pairs and farms)")


def verdict(ours: list[Any], theirs: list[Any]) -> str:
    differ = sum(a != b for a, b in zip(ours, theirs, strict=True))
    copies = sum(d.duplicate_of is not None for d in ours)
    rejected = sum(d.not_copy_of is not None for d in ours)
    same = "identical" if not differ else f"{differ} DIFFER"
    return f"{same}, {len(ours)} decisions ({copies} copies, {rejected} explained non-copies)"


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


class _Remap(pickle.Unpickler):
    """Reads a pickled index into ``module``'s classes (a baseline's ``dedup.py``)."""

    def __init__(self, fh: Any, module: ModuleType | None) -> None:
        super().__init__(fh)
        self.module = module

    def find_class(self, module: str, name: str) -> Any:
        if self.module is not None and module == "aggregator.process.dedup":
            return getattr(self.module, name)
        return super().find_class(module, name)


def filled(
    name: str,
    cls: Any,
    module: ModuleType | None,
    sizes: Sequence[int],
    keep: Path | None,
    mib: dict[tuple[str, int], float],
) -> tuple[dict[int, Any], float | None]:
    """``cls``'s index filled with the same generated articles, one per size.

    Each implementation fills its own (its layout is its own: the packed index of
    issue 17 holds arrays where the older ones hold records). With ``--keep`` the
    filled indexes are saved as ``dedup-NAME-SIZE.pickle`` and read back next time.
    ``mib``: the size of each index as filled (``deep_mib``); not measured on an
    index read back, whose ints are no longer shared as the live index shares them.
    """
    largest = max(sizes)
    kept = {size: keep / f"dedup-{name}-{size}.pickle" for size in sizes} if keep else {}
    out: dict[int, Any] = {}
    if kept and all(path.exists() for path in kept.values()):
        # the fill of 100,000 takes minutes (more on a busy machine): reuse it
        for size, path in kept.items():
            with path.open("rb") as fh:
                out[size] = _Remap(fh, module).load()
        print(f"   {name}: the filled indexes read from {keep} (fill not measured)")
        return out, None
    index = cls(CONFIGS["ours"])
    fill = generated(largest, 101, T0, 0)
    t = time.process_time()
    for i, a in enumerate(fill, start=1):
        index.add(i, a)
        if i in sizes:
            out[i] = index if i == largest else copy.deepcopy(index)
    fill_ms = (time.process_time() - t) / largest * 1e3
    for size in sizes:
        mib[(name, size)] = deep_mib(out[size])
    for size, path in kept.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            pickle.dump(out[size], fh, protocol=pickle.HIGHEST_PROTOCOL)
    return out, fill_ms


def deep_mib(obj: Any) -> float:
    """MiB of everything reachable from ``obj`` (each object once; numpy arrays with
    the data they own), classes and modules left out."""
    seen: set[int] = set()
    total = 0
    todo = [obj]
    while todo:
        o = todo.pop()
        if id(o) in seen or isinstance(o, type | ModuleType):
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        todo.extend(gc.get_referents(o))
    return total / 2**20


def cost(
    sizes: Sequence[int],
    probes: int,
    batch: int,
    baselines: dict[str, ModuleType],
    keep: Path | None,
) -> None:
    largest, smallest = max(sizes), min(sizes)
    print(f"2. cost per article (check + add) vs articles indexed, {probes} probes")
    print(f"   {loadavg()} (start)")
    probe_arts = generated(probes, 202, T0 + timedelta(days=2), largest)
    impls: dict[str, Any] = {"ours": DedupIndex}
    modules: dict[str, ModuleType | None] = {"ours": None}
    for name, module in baselines.items():
        impls[name] = module.DedupIndex
        modules[name] = module
    indexes: dict[tuple[str, int], Any] = {}
    fill_ms: dict[str, float] = {}
    mib: dict[tuple[str, int], float] = {}
    for name, cls in impls.items():
        by_size, ms = filled(name, cls, modules[name], sizes, keep, mib)
        indexes.update({(name, size): index for size, index in by_size.items()})
        if ms is not None:
            fill_ms[name] = ms
    gc.collect()
    keys = list(indexes)
    times: dict[tuple[str, int], list[float]] = {k: [] for k in keys}
    # CPU time too: on a shared machine the wall clock also counts the others' turns
    cpu: dict[tuple[str, int], list[float]] = {k: [] for k in keys}
    decisions: dict[tuple[str, int], list[Any]] = {k: [] for k in keys}
    for b, start in enumerate(range(0, probes, batch)):
        chunk = probe_arts[start : start + batch]
        order = keys[b % len(keys) :] + keys[: b % len(keys)]  # rotate who goes first
        for key in order:
            index = indexes[key]
            out = decisions[key]
            t, c = time.perf_counter(), time.process_time()
            for j, a in enumerate(chunk):
                out.append(index.check(a))
                index.add(10_000_000 + start + j, a)
            cpu[key].append((time.process_time() - c) / len(chunk) * 1e3)
            times[key].append((time.perf_counter() - t) / len(chunk) * 1e3)
    print(f"   {loadavg()} (end of the rounds)")
    rounds = len(times[keys[0]])
    for label, table in (("wall", times), ("CPU", cpu)):
        head = "".join(f"{name:>14}" for name in impls)
        print(f"   {'indexed':>9}{head}   ({label} ms per article, median of {rounds} rounds)")
        for size in sorted(sizes):
            row = "".join(f"{statistics.median(table[(name, size)]):>14.3f}" for name in impls)
            print(f"   {size:>9}{row}")
        ratios = []
        for name in impls:
            big = statistics.median(table[(name, largest)])
            r = big / statistics.median(table[(name, smallest)])
            ratios.append(f"{name} x{r:.2f}")
        print(f"   {label} {largest}/{smallest}: {', '.join(ratios)} (goal <= x1.30)")
    for name in baselines:
        for size in sorted(sizes):
            same = verdict(decisions[("ours", size)], decisions[(name, size)])
            print(f"   probes at {size:>7}: ours decides as {name}: {same}")
    print("3. fill (the start-up rebuild replays the window the same way) and memory")
    for name, ms in fill_ms.items():
        print(f"   {name:<8} {ms:.3f} ms CPU per article over {largest} articles")
    for size in sorted(sizes):
        row = ", ".join(
            f"{name} {mib[(name, size)]:.1f} MiB = {mib[(name, size)] * 2**20 / size:.0f} B"
            for name in impls
            if (name, size) in mib
        )
        if row:
            print(f"   at {size:>7} (as filled, learner included): {row} per article")
    stats = indexes[("ours", largest)].stats()
    learner = {k: v for k, v in stats.items() if k.startswith("boilerplate")}
    print(f"   ours: the learner at {largest} articles: {learner}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--probes", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--quick", action="store_true", help="sizes 1,000 / 10,000, 400 probes")
    ap.add_argument(
        "--before",
        default=BEFORE,
        help="git revision whose dedup.py is the same-run baseline ('' for none)",
    )
    ap.add_argument(
        "--also",
        default="",
        help="another git revision whose dedup.py is measured beside (e.g. main)",
    )
    ap.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="directory: save each implementation's filled indexes there"
        " (dedup-NAME-SIZE.pickle), or read them when present (remove ours after"
        " changing its layout)",
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.sizes, args.probes = "1000,10000", 400
    sizes = sorted({int(x) for x in args.sizes.split(",") if x.strip()})
    print(f"bench_dedup (python {sys.version.split()[0]}), sizes {sizes}")
    before = load_before(args.before) if args.before else None
    quality(before)
    baselines = {"before": before} if before is not None else {}
    if args.also:
        also = load_before(args.also, "dedup_also")
        if also is not None:
            baselines[args.also] = also
    cost(sizes, args.probes, args.batch, baselines, args.keep)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
