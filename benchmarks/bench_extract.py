"""Full-text extraction benchmark: pages/s and text recall, trafilatura default vs fast.

    python benchmarks/bench_extract.py            # 400 pages
    python benchmarks/bench_extract.py --quick    # 80 pages, well under a minute

Pages come from ``gen_articles.render_page``: a generated article body inside the
boilerplate of a news page (nav, cookie banner, share buttons, an inline advert and
"read more" box, related stories, comments, sidebar, footer), a third each in
semantic HTML5, ``<div>`` soup, and div soup with ``<br><br>`` paragraphs. The body is known, so:

- recall = share of the body's words found in the extracted text (multiset);
- precision = share of the extracted words that belong to the body.

Baseline (trafilatura defaults, with its fallback extractors) and candidate
(``fast=True``: no fallbacks) run on the same pages, alternating per page, in the
same run. Extraction failures are counted. The full run takes ~1-2 minutes.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from gen_articles import generate_article, render_page  # noqa: E402

from aggregator.errors import ExtractError  # noqa: E402
from aggregator.poll.extract import ExtractSettings, extract_page  # noqa: E402

WORD = re.compile(r"\w+")


def words(text: str) -> Counter[str]:
    return Counter(WORD.findall(text.casefold()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pages", type=int)
    args = ap.parse_args()
    n = args.pages or (80 if args.quick else 400)
    rng = random.Random(11)
    pages = []
    for i in range(n):
        art = generate_article(rng)
        html = render_page(art, rng, layout=("semantic", "divs", "br")[i % 3])
        pages.append((art, html.encode()))
    kb = statistics.mean(len(h) for _, h in pages) / 1024
    print(f"bench_extract: {n} pages of {kb:.1f} KB on average (python {sys.version.split()[0]})")
    variants = {"default": ExtractSettings(), "fast": ExtractSettings(fast=True)}
    extract_page(pages[0][1], url="https://warm.example/", settings=variants["fast"])  # imports
    times: dict[str, float] = dict.fromkeys(variants, 0.0)
    recall: dict[str, list[float]] = {k: [] for k in variants}
    precision: dict[str, list[float]] = {k: [] for k in variants}
    failures: dict[str, int] = dict.fromkeys(variants, 0)
    for i, (art, html) in enumerate(pages):
        order = list(variants.items())
        if i % 2:
            order.reverse()  # neither variant always runs first (caches, load)
        truth = words(art.text)
        for name, settings in order:
            t = time.perf_counter()
            try:
                text = extract_page(html, url=f"https://x.example/{i}", settings=settings).text
            except ExtractError:
                text = ""
                failures[name] += 1
            times[name] += time.perf_counter() - t
            got = words(text)
            common = sum((truth & got).values())
            recall[name].append(common / max(1, sum(truth.values())))
            precision[name].append(common / max(1, sum(got.values())))
    base = times["default"]
    for name in variants:
        label = "baseline, defaults" if name == "default" else "candidate, fast=True"
        print(
            f"  {label:22s} {n / times[name]:7.1f} pages/s ({times[name] * 1e3 / n:.1f} ms each)"
            f"  recall mean {statistics.mean(recall[name]):.3f} min {min(recall[name]):.3f}"
            f"  precision mean {statistics.mean(precision[name]):.3f}"
            f"  failures {failures[name]}"
        )
    print(f"  speed-up of fast over defaults: {base / times['fast']:.2f}x")


if __name__ == "__main__":
    main()
