"""Topic matching throughput: TopicIndex vs evaluating every topic, same run, one core.

    python benchmarks/bench_match.py            # 1,000 topics, ~1 min
    python benchmarks/bench_match.py --quick    # smaller samples, ~10-20 s

Generates (seeded, no downloads) a Zipf-distributed vocabulary, 1,000 realistic topic
queries (2-8 terms; phrases, OR groups, some NOT, field scopes, prefixes, a few
outlet:/lang: scopes) and 3-6 KB articles with typographic quotes and accented words.
Each article's cost includes building its Document (tokenizing title and text), as the
pipeline pays it once per article. Index and naive loops alternate within each round
(so machine load hits both alike); the printed figures are medians over rounds.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aggregator.process.match import TopicIndex, match_all
from aggregator.query import Document, Query, parse_query

SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]
OUTLETS = ["Reuters World", "BBC News", "AP Top News", "Yonhap English", "Kyiv Independent"]


@dataclass(frozen=True)
class Corpus:
    words: list[str]
    cum_weights: list[float]


def make_vocabulary(rng: random.Random, size: int) -> Corpus:
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < size:
        # Frequent words are short, as in natural language.
        n = 1 + min(3, len(words) // 400) + rng.randint(0, 1)
        word = "".join(rng.choices(SYLLABLES, k=n))
        if word not in seen:
            seen.add(word)
            words.append(word)
    cum: list[float] = []
    total = 0.0
    for rank in range(1, size + 1):
        total += 1.0 / rank**1.05
        cum.append(total)
    return Corpus(words, cum)


def sentence(rng: random.Random, corpus: Corpus, n: int) -> str:
    ws = rng.choices(corpus.words, cum_weights=corpus.cum_weights, k=n)
    for i in range(len(ws)):
        r = rng.random()
        if r < 0.01:
            ws[i] = ws[i].replace("e", "é", 1)
        elif r < 0.02:
            ws[i] = f"“{ws[i]}”"
        elif r < 0.03:
            ws[i] += "’s"
        elif r < 0.08:
            ws[i] += ","
    return " ".join(ws).capitalize() + "."


def make_article(rng: random.Random, corpus: Corpus) -> tuple[str, str, str, str]:
    title = sentence(rng, corpus, rng.randint(6, 14)).rstrip(".").title()
    target = rng.randint(3000, 6000)
    parts: list[str] = []
    size = 0
    while size < target:
        para = " ".join(sentence(rng, corpus, rng.randint(8, 25)) for _ in range(rng.randint(2, 5)))
        parts.append(para)
        size += len(para.encode()) + 2
    text = "\n\n".join(parts)[:target]
    return title, text, rng.choice(OUTLETS), rng.choice(["en", "en", "en", "de", "fr"])


def topic_word(rng: random.Random, corpus: Corpus) -> str:
    # Topics name things (people, places, events), not function words: ranks drawn
    # log-uniformly from 300 to the end of the vocabulary, so a topic word appears in
    # ~20% (rank 300) down to ~0.2% (rank 30,000) of the articles.
    rank = int(math.exp(rng.uniform(math.log(300), math.log(len(corpus.words)))))
    return corpus.words[rank - 1]


def topic_item(rng: random.Random, corpus: Corpus) -> str:
    r = rng.random()
    if r < 0.15:
        return f'"{topic_word(rng, corpus)} {topic_word(rng, corpus)}"'
    if r < 0.25:
        word = topic_word(rng, corpus)
        while len(word) < 6:
            word = topic_word(rng, corpus)
        return word[:-2] + "*"  # troops -> troop*
    if r < 0.32:
        return "title:" + topic_word(rng, corpus)
    return topic_word(rng, corpus)


def make_topic(rng: random.Random, corpus: Corpus) -> str:
    # Two to four concepts ANDed, each one term or an OR of synonyms: 2-8 terms.
    budget = rng.randint(2, 8)
    groups: list[str] = []
    while budget > 0:
        size = min(budget - 1 if not groups else budget, rng.choice([1, 1, 2, 3])) or 1
        items = [topic_item(rng, corpus) for _ in range(size)]
        groups.append(items[0] if size == 1 else "(" + " OR ".join(items) + ")")
        budget -= size
    if len(groups) > 2 and rng.random() < 0.4:
        groups[-1] = "-" + groups[-1]
    if rng.random() < 0.05:
        groups.append("lang:" + rng.choice(["en", "de"]))
    if rng.random() < 0.05:
        groups.append("outlet:" + rng.choice(["reuters", "bbc", "yonhap"]))
    return " ".join(groups)


def run(docs_src: list[tuple[str, str, str, str]], index: TopicIndex | None,
        topics: list[tuple[str, Query]]) -> tuple[float, int, int]:  # fmt: skip
    """Seconds for the whole batch, total matches, total candidates."""
    matches = candidates = 0
    # CPU time of this process: "one core", whatever else the machine is running.
    start = time.process_time()
    for title, text, outlet, lang in docs_src:
        doc = Document.build(title=title, text=text, outlet=outlet, language=lang)
        if index is not None:
            matches += len(index.match(doc))
        else:
            matches += len(match_all(topics, doc))
    elapsed = time.process_time() - start
    if index is not None:  # counted outside the timed loop
        for title, text, outlet, lang in docs_src:
            doc = Document.build(title=title, text=text, outlet=outlet, language=lang)
            candidates += len(index.candidates(doc))
    return elapsed, matches, candidates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small samples (~15 s)")
    parser.add_argument("--topics", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20241023)
    args = parser.parse_args()
    n_index, n_naive, rounds = (300, 40, 3) if args.quick else (2000, 200, 5)

    rng = random.Random(args.seed)
    corpus = make_vocabulary(rng, 30_000)
    topics = {f"topic-{i}": parse_query(make_topic(rng, corpus)) for i in range(args.topics)}
    articles = [make_article(rng, corpus) for _ in range(n_index)]
    t0 = time.perf_counter()
    index = TopicIndex(topics)
    build_ms = (time.perf_counter() - t0) * 1000
    pairs = list(topics.items())

    # Correctness on the naive sample before timing anything.
    for title, text, outlet, lang in articles[:n_naive]:
        doc = Document.build(title=title, text=text, outlet=outlet, language=lang)
        assert index.match(doc) == match_all(pairs, doc)

    rates_index: list[float] = []
    rates_naive: list[float] = []
    rates_doc: list[float] = []
    matches = candidates = 0
    for _ in range(rounds):
        elapsed, matches, candidates = run(articles, index, pairs)
        rates_index.append(n_index / elapsed)
        elapsed, _, _ = run(articles[:n_naive], None, pairs)
        rates_naive.append(n_naive / elapsed)
        start = time.process_time()
        for title, text, outlet, lang in articles:
            Document.build(title=title, text=text, outlet=outlet, language=lang)
        rates_doc.append(n_index / (time.process_time() - start))

    idx, naive, docs = (statistics.median(r) for r in (rates_index, rates_naive, rates_doc))
    avg_kb = sum(len(a[1].encode()) for a in articles) / len(articles) / 1024
    print(f"topics: {len(topics)}  (anchored {index.stats.anchored}, "
          f"always evaluated {index.stats.unanchored}, anchors {index.stats.anchors}, "
          f"index built in {build_ms:.0f} ms)")  # fmt: skip
    print(f"articles: {n_index} (naive sample {n_naive}), mean text {avg_kb:.1f} KB, "
          f"{rounds} rounds, medians of CPU-time rates, one thread")  # fmt: skip
    print(f"candidates/article: {candidates / n_index:.1f}   matches/article: "
          f"{matches / n_index:.2f}")  # fmt: skip
    print(f"Document.build only     : {docs:8.0f} articles/s  ({1e6 / docs:6.0f} µs/article)")
    print(f"TopicIndex (doc + match): {idx:8.0f} articles/s  ({1e6 / idx:6.0f} µs/article)"
          f"   goal >= 2000")  # fmt: skip
    print(f"naive evaluate-all      : {naive:8.0f} articles/s  ({1e6 / naive:6.0f} µs/article)")
    print(f"speed-up index / naive  : {idx / naive:8.1f}x")
    # Matching alone (per-article cost minus the Document.build median): what the
    # index changes, since both loops pay the same tokenizing.
    m_idx, m_naive = 1e6 / idx - 1e6 / docs, 1e6 / naive - 1e6 / docs
    print(f"matching only (derived) : index {m_idx:5.0f} µs vs naive {m_naive:5.0f} µs "
          f"per article = {m_naive / max(m_idx, 1e-9):.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
