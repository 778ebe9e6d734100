"""Normalization + dedup benchmark over generated 2-6 KB articles.

    python benchmarks/bench_normalize.py            # 20,000 articles; index 20,000 vs 200,000
    python benchmarks/bench_normalize.py --quick    # 1,000 articles; index 1,000 vs 10,000

Prints, each beside the baseline measured in the same run:
1. normalize_entry articles/s (baseline: the same without language detection);
2. dedup check+add articles/s over the same stream (10 % of it wire copies);
3. cost per article (median over batches) with N vs 10×N articles already in the
   index: the same probe articles go through both indexes, batches alternating, so
   machine load hits both alike; the ratio must stay <= 1.3;
4. near-duplicate quality on tests/data/dedup/pairs.jsonl, alone and against the
   background of N articles, and SimHash (best Hamming threshold) for comparison;
5. peak RSS after each phase.

The full run takes about 6-10 minutes on 2 cores (mostly building the 200,000
index); --quick under a minute.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from gen_articles import GeneratedArticle, generate_articles  # noqa: E402

from aggregator.models import Article, ParsedEntry  # noqa: E402
from aggregator.poll.normalize import NormalizeSettings, normalize_entry  # noqa: E402
from aggregator.process.dedup import DedupIndex, DedupSettings  # noqa: E402
from aggregator.text import content_hash, shingle_hashes, words  # noqa: E402

PAIRS = HERE.parent / "tests" / "data" / "dedup" / "pairs.jsonl"
T0 = datetime(2024, 11, 4, tzinfo=UTC)
OUTLETS = ["Reuters", "BBC News", "The Guardian", "AP News", "Kyiv Independent", "DW"]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def rss_mb() -> float:
    """Current resident set size (Linux), to see what one phase holds."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return float("nan")
    return pages * resource.getpagesize() / 2**20


def to_entry(i: int, art: GeneratedArticle, rng: random.Random) -> ParsedEntry:
    outlet = rng.choice(OUTLETS)
    return ParsedEntry(
        guid=f"urn:{i}",
        link=f"https://news{i % 50}.example.com/story/{i}?utm_source=rss&utm_medium=feed",
        title=f"{art.title} - {outlet}",
        summary_html=f"<p>{art.paragraphs[0][:200]}…</p>",
        content_html=art.html,
        author=f"By {art.author.upper()}",
        published=T0 + timedelta(seconds=i * 4),
        updated=None,
    )


def wire_copy(art: GeneratedArticle, rng: random.Random) -> GeneratedArticle:
    paras = list(art.paragraphs)
    if rng.random() < 0.5:
        paras = paras[: max(2, len(paras) * 2 // 3)]
    paras.append("Reporting by Anna Smith; Editing by Peter Park")
    return replace(art, paragraphs=tuple(paras))


def stream(n: int, seed: int) -> list[ParsedEntry]:
    """``n`` entries, one in ten a wire copy of an earlier one (another outlet)."""
    rng = random.Random(seed)
    arts: list[GeneratedArticle] = []
    for art in generate_articles(n, seed):
        if arts and rng.random() < 0.1:
            art = wire_copy(rng.choice(arts[-200:]), rng)
        arts.append(art)
    return [to_entry(i, a, rng) for i, a in enumerate(arts)]


def bare_article(i: int, art: GeneratedArticle, published: datetime) -> Article:
    # Filling the big index goes straight to Articles: what it costs to normalize
    # is measured in phase 1, and the index only reads these fields.
    text = art.text
    return Article(
        feed="fill",
        guid=None,
        url=None,
        canonical_url=f"https://fill.example.com/{i}",
        title=art.title,
        title_raw=art.title,
        summary="",
        text=text,
        html="",
        author=None,
        published=published,
        published_estimated=False,
        fetched_at=published,
        language="en",
        content_hash=content_hash(art.title, text),
    )


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:8.0f}/s ({seconds * 1e3 / n:.2f} ms each)"


def phase_normalize(entries: list[ParsedEntry]) -> list[Article]:
    settings = NormalizeSettings()
    fetched = T0 + timedelta(days=1)
    normalize_entry(entries[0], feed="warm", fetched_at=fetched, settings=settings)  # load model
    t = time.perf_counter()
    articles = [
        normalize_entry(e, feed=f"feed{i % 40}", fetched_at=fetched, settings=settings)
        for i, e in enumerate(entries)
    ]
    full = time.perf_counter() - t
    sample = entries[: max(500, len(entries) // 10)]
    no_lang = replace(settings, detect_language=False)
    t = time.perf_counter()
    for e in sample:
        normalize_entry(e, feed="x", fetched_at=fetched, settings=no_lang)
    base = time.perf_counter() - t
    t = time.perf_counter()
    for e in sample:
        normalize_entry(e, feed="x", fetched_at=fetched, settings=settings)
    cand = time.perf_counter() - t
    kb = sum(len(e.content_html.encode()) for e in entries) / len(entries) / 1024
    print(f"1. normalize_entry, {len(entries)} articles of {kb:.1f} KB HTML on average")
    print(f"   all rules + language:       {rate(len(entries), full)}")
    print(f"   baseline, no language (n={len(sample)}): {rate(len(sample), base)}")
    print(f"   same sample with language:  {rate(len(sample), cand)}")
    print(f"   language detection costs {(cand - base) * 1e3 / len(sample):.2f} ms an article")
    langs = {a.language for a in articles}
    print(f"   languages detected: {sorted(str(x) for x in langs)}")
    print(f"   peak RSS {peak_rss_mb():.0f} MB (the benchmark holds all entries and articles)")
    return articles


def phase_dedup(articles: list[Article]) -> None:
    index = DedupIndex()
    kinds: dict[str | None, int] = {}
    t = time.perf_counter()
    for i, a in enumerate(articles):
        d = index.check(a)
        index.add(i, a)
        kinds[d.kind] = kinds.get(d.kind, 0) + 1
    dt = time.perf_counter() - t
    print(f"2. dedup check+add over the same {len(articles)} articles")
    print(f"   {rate(len(articles), dt)}; decisions {kinds} (stream has ~10 % copies)")
    print(f"   peak RSS {peak_rss_mb():.0f} MB")


def phase_flat(n: int, probes: int, batch: int) -> None:
    settings = DedupSettings(window=timedelta(days=30))
    small, large = DedupIndex(settings), DedupIndex(settings)
    rss0 = rss_mb()
    t = time.perf_counter()
    for i, art in enumerate(generate_articles(10 * n, seed=101)):
        # all inside the window; spread over a day like a real intake
        a = bare_article(i, art, T0 + timedelta(seconds=i * 86400 // (10 * n)))
        large.add(i, a)
        if i < n:
            small.add(i, a)
    fill = time.perf_counter() - t
    print(f"3. cost per article vs index size ({n} vs {10 * n} in the window)")
    held = rss_mb() - rss0
    print(
        f"   filled in {fill:.0f} s; the two indexes hold {held:.0f} MB of RSS"
        f" (~{held * 1024 / (11 * n):.1f} KB per indexed article)"
    )
    probe_arts = [
        bare_article(10 * n + i, art, T0 + timedelta(days=1, seconds=i))
        for i, art in enumerate(generate_articles(probes, seed=202))
    ]
    small_t: list[float] = []
    large_t: list[float] = []
    for start in range(0, probes, batch):
        chunk = probe_arts[start : start + batch]
        order = [(small, small_t), (large, large_t)]
        if (start // batch) % 2:
            order.reverse()  # neither index always runs first
        for index, times in order:
            t = time.perf_counter()
            for j, a in enumerate(chunk):
                index.check(a)
                index.add(10 * n + start + j, a)
            times.append((time.perf_counter() - t) / len(chunk))
    ms_small, ms_large = statistics.median(small_t) * 1e3, statistics.median(large_t) * 1e3
    print(f"   baseline, {n:>7} indexed: {ms_small:.3f} ms per article (median of {len(small_t)})")
    print(f"   candidate, {10 * n:>6} indexed: {ms_large:.3f} ms per article")
    verdict = "flat" if ms_large / ms_small <= 1.3 else "NOT FLAT"
    print(f"   ratio {ms_large / ms_small:.2f} (goal <= 1.3: {verdict})")


def load_pairs() -> list[dict[str, object]]:
    with PAIRS.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def pr(tp: int, fp: int, fn: int) -> str:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return f"precision {p:.3f} recall {r:.3f}"


def quality(background: int) -> None:
    rows = load_pairs()
    pos = sum(1 for r in rows if r["label"] == 1)
    print(f"4. near-duplicate quality on {len(rows)} labelled pairs ({pos} copies)")

    def pair_article(text: str, key: str) -> Article:
        return replace(
            bare_article(0, GeneratedArticle("x", key, (text,), "x"), T0),
            canonical_url=f"https://pairs.example.com/{key}",
        )

    # Against a background the a-sides share one index, so only the generated pairs
    # are used there: the hand-written ones reuse texts across pairs.
    generated = [r for r in rows if r["kind"] != "kursk" and not str(r["kind"]).endswith("-seed")]
    for bg, subset in ((0, rows), (background, generated)):
        tp = fp = fn = 0
        if bg == 0:
            for r in subset:  # a fresh index per pair
                index = DedupIndex()
                index.add(1, pair_article(str(r["a"]), "a"))
                found = index.check(pair_article(str(r["b"]), "b")).duplicate_of == 1
                tp += found and r["label"] == 1
                fp += found and r["label"] == 0
                fn += (not found) and r["label"] == 1
        else:
            index = DedupIndex()
            for i, art in enumerate(generate_articles(bg, seed=303)):
                index.add(i, bare_article(i, art, T0))
            base = 10_000_000
            for r in subset:
                index.add(base + int(str(r["id"])), pair_article(str(r["a"]), f"a{r['id']}"))
            for r in subset:
                d = index.check(pair_article(str(r["b"]), f"b{r['id']}"))
                own = d.duplicate_of == base + int(str(r["id"]))
                tp += own and r["label"] == 1
                fn += (not own) and r["label"] == 1
                # any other link is wrong: to a background article or another pair
                fp += d.duplicate_of is not None and not (own and r["label"] == 1)
        label = f"{bg:>6} background articles, {len(subset)} pairs"
        print(f"   bottom-k sketch index, {label}: {pr(tp, fp, fn)}")

    compare_datasketch(rows)

    best = None
    for threshold in range(0, 33):
        tp = fp = fn = 0
        for r in rows:
            dist = ((simhash64(str(r["a"])) ^ simhash64(str(r["b"]))) & (2**64 - 1)).bit_count()
            hit = dist <= threshold
            tp += hit and r["label"] == 1
            fp += hit and r["label"] == 0
            fn += (not hit) and r["label"] == 1
        f1 = 2 * tp / (2 * tp + fp + fn)
        if best is None or f1 > best[0]:
            best = (f1, threshold, tp, fp, fn)
    assert best is not None
    _, threshold, tp, fp, fn = best
    print(f"   SimHash-64 (3-word shingles), best Hamming threshold {threshold}: {pr(tp, fp, fn)}")


def simhash64(text: str, *, shingle: int = 3) -> int:
    """64-bit SimHash of word shingles (0 for no words): the comparison peer only.

    Close texts have fingerprints a few bits apart (Hamming distance). The package
    dropped it once this benchmark showed the sketch ahead; it lives on here.
    """
    h = shingle_hashes(words(text), shingle)
    if not len(h):
        return 0
    bits = np.unpackbits(h.astype("<u8").view(np.uint8)).reshape(-1, 64)
    keep = bits.sum(axis=0, dtype=np.int64) * 2 > len(h)
    return int.from_bytes(np.packbits(keep).tobytes(), "big")


def compare_datasketch(rows: list[dict[str, object]]) -> None:
    """datasketch MinHash (128 permutations) on the same 4-word shingles.

    Its LSH answers "Jaccard above t"; the best threshold over the labelled set is
    reported, with the time to build one signature beside our bottom-k sketch.
    """
    try:
        from datasketch import MinHash
    except ImportError:
        print("   datasketch not installed: comparison skipped")
        return
    from aggregator.process.dedup import sketch
    from aggregator.text import words

    def shingles(text: str) -> list[bytes]:
        w = words(text)
        return [" ".join(w[i : i + 4]).encode() for i in range(max(1, len(w) - 3))]

    def minhash(text: str) -> MinHash:
        m = MinHash(num_perm=128, seed=1)
        m.update_batch(shingles(text))
        return m

    texts = [str(r["a"]) for r in rows[:200]]
    t = time.perf_counter()
    for text in texts:
        minhash(text)
    t_ds = (time.perf_counter() - t) / len(texts)
    settings = DedupSettings()
    t = time.perf_counter()
    for text in texts:
        sketch(text, settings)
    t_bk = (time.perf_counter() - t) / len(texts)
    scores = [(minhash(str(r["a"])).jaccard(minhash(str(r["b"]))), r["label"]) for r in rows]
    best = None
    for step in range(5, 96, 5):
        threshold = step / 100
        tp = sum(1 for j, lab in scores if j >= threshold and lab == 1)
        fp = sum(1 for j, lab in scores if j >= threshold and lab == 0)
        fn = sum(1 for j, lab in scores if j < threshold and lab == 1)
        f1 = 2 * tp / (2 * tp + fp + fn)
        if best is None or f1 > best[0]:
            best = (f1, threshold, tp, fp, fn)
    assert best is not None
    _, threshold, tp, fp, fn = best
    print(
        f"   datasketch MinHash-128 Jaccard, best threshold {threshold:.2f}: {pr(tp, fp, fn)};"
        f" signature {t_ds * 1e3:.2f} ms vs bottom-k sketch {t_bk * 1e3:.2f} ms per text"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1,000 articles; about a minute")
    ap.add_argument("--n", type=int, help="articles to normalize (default 20,000)")
    args = ap.parse_args()
    n = args.n or (1_000 if args.quick else 20_000)
    print(f"bench_normalize: n={n} (python {sys.version.split()[0]})")
    entries = stream(n, seed=1)
    articles = phase_normalize(entries)
    phase_dedup(articles)
    del entries, articles
    gc.collect()
    phase_flat(n, probes=600 if args.quick else 2_000, batch=100)
    quality(background=n)
    print(f"5. peak RSS at the end {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
