"""The clusterer's fast paths decide exactly what the plain ones did.

``_score`` sums each cosine from weighted postings instead of walking every
candidate's centroid, and ``_strongest`` ranks terms without a Python key call. Both
must give the same floats in the same order, so that not one decision changes: these
tests run the plain versions (as the clusterer had them) beside the fast ones on
random streams and on the UCI slice, and compare every decision field by field.
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aggregator.models import Article, ClusterDecision
from aggregator.process.clustering import Clusterer, ClusterSettings, engine
from tests import factories

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SLICE = Path(__file__).parent / "data" / "clustering" / "uci-dev-slice.jsonl"


def plain_strongest(weights: dict[str, float], n: int) -> list[tuple[str, float]]:
    """The ranking as the clusterer did it before ``_strongest``."""
    return heapq.nsmallest(n, weights.items(), key=lambda kv: (-kv[1], kv[0]))


def plain_score(self: Clusterer, vector: dict[str, float], published: datetime) -> dict[int, float]:
    """``_score`` as it was: candidates from the postings, a dot product per centroid."""
    candidates: dict[int, None] = {}
    for term in itertools.islice(vector, self._s.candidate_terms):
        posting = self._postings.get(term)
        if posting is not None:
            candidates.update(dict.fromkeys(posting))
    out: dict[int, float] = {}
    for cid in candidates:
        cluster = self._clusters[cid]
        if cluster.norm_sq <= 0.0 or published - cluster.last_updated > self._s.max_silence:
            continue
        dot = 0.0
        for term, w in vector.items():
            cw = cluster.centroid.get(term)
            if cw is not None:
                dot += w * cw
        sim = dot / cluster.norm
        if sim >= self._s.threshold:
            out[cid] = sim
    return out


def check_postings(clusterer: Clusterer) -> None:
    """The postings hold exactly each live centroid's terms, with its weights."""
    expected: dict[str, dict[int, float]] = {}
    for cid, cluster in clusterer._clusters.items():
        for term, w in cluster.centroid.items():
            expected.setdefault(term, {})[cid] = w
    assert clusterer._postings == expected


def _stream(seed: int, n: int) -> Iterator[Article]:
    """Bursty full-text articles: events with their own names and words, a shared
    background, times that advance past the window (evictions), sentence-case and
    Title Case headlines, some short bodies (no names)."""
    rng = random.Random(seed)
    background = [f"w{k}" for k in range(400)]
    events: list[tuple[list[str], list[str]]] = []
    for i in range(n):
        if not events or rng.random() < 0.08:
            names = [
                f"{rng.choice('BKMPRTZ')}{rng.choice('aeiou')}rov{len(events)}" for _ in (0, 1)
            ]
            events.append((names, rng.sample(background[200:], 10)))
        names, words = events[-1 - min(int(rng.expovariate(0.5)), len(events) - 1)]
        title = [*rng.sample(words, 3), names[0], *rng.choices(background[:200], k=3)]
        rng.shuffle(title)
        head = " ".join(title)
        head = head.title() if rng.random() < 0.3 else head.capitalize()
        body = ". ".join(
            " ".join(
                [*rng.choices(background, k=8), rng.choice(names), *rng.sample(words, 2)]
            ).capitalize()
            for _ in range(rng.choice((1, 6, 12)))
        )
        yield factories.article(
            head,
            text=body,
            feed=f"outlet{rng.randrange(12)}",
            url=f"https://example.org/{rng.choice(words)}-{i}",
            canonical_url=None,
            summary="",
            html="",
            published=T0 + timedelta(minutes=45 * i + rng.randrange(-60, 5)),
            fetched_at=T0,
            content_hash=str(i),
        )


def _decisions(
    articles: list[Article], settings: ClusterSettings, check: bool
) -> list[ClusterDecision]:
    clusterer = Clusterer(settings)
    out = []
    for i, art in enumerate(articles):
        # Every tenth article claims to copy one from a few steps back (dedup's path).
        dup = i - 3 if i % 10 == 9 else None
        out.append(clusterer.assign(i, art, duplicate_of=dup))
        if check:
            check_postings(clusterer)
    return out


SETTINGS = [
    ClusterSettings(),
    # Loose merges and small centroids: merges and prunes on almost every step.
    ClusterSettings(
        merge_threshold=0.1, text_merge_threshold=0.1, max_cluster_terms=8, candidate_terms=3
    ),
]


@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize("seed", [1, 2])
def test_fast_paths_decide_as_the_plain_ones(
    settings: ClusterSettings, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    articles = list(_stream(seed, 400))
    fast = _decisions(articles, settings, check=True)
    with monkeypatch.context() as m:
        m.setattr(engine, "_strongest", plain_strongest)
        m.setattr(Clusterer, "_score", plain_score)
        plain = _decisions(articles, settings, check=False)
    assert fast == plain
    # The paths that matter were taken: joins, new events, merges.
    assert any(d.merged for d in fast)
    assert 10 < sum(d.is_new for d in fast) < 300


def test_fast_paths_decide_as_the_plain_ones_on_the_uci_slice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with SLICE.open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    articles = [
        factories.article(
            row["title"],
            text="",
            url=row.get("url"),
            canonical_url=None,
            summary="",
            html="",
            published=T0 + timedelta(minutes=i),
            fetched_at=T0,
            content_hash=str(i),
        )
        for i, row in enumerate(rows)
    ]
    fast = _decisions(articles, ClusterSettings(), check=True)
    with monkeypatch.context() as m:
        m.setattr(engine, "_strongest", plain_strongest)
        m.setattr(Clusterer, "_score", plain_score)
        plain = _decisions(articles, ClusterSettings(), check=False)
    assert fast == plain
    assert sum(not d.is_new for d in fast) > len(fast) // 4


def test_strongest_ranks_as_nsmallest_with_ties() -> None:
    rng = random.Random(5)
    for _ in range(500):
        size = rng.randrange(0, 60)
        # Few distinct weights, so ties at the cut are common.
        weights = {
            f"t{rng.randrange(1000)}": rng.choice((0.5, 1.0, 1.5, rng.random()))
            for _ in range(size)
        }
        n = rng.randrange(1, 40)
        assert engine._strongest(weights, n) == plain_strongest(weights, n)


def test_top_words_are_the_full_rankings_first_single_words() -> None:
    # ``info`` ranks a few terms more than it shows instead of the whole centroid;
    # pairs ("a b") crowding the words out make it widen, and ties at every cut.
    rng = random.Random(11)
    for _ in range(500):
        size = rng.randrange(0, 140)
        weights = {
            (f"t{rng.randrange(300)} t{rng.randrange(9)}" if rng.random() < 0.6 else f"t{k}"): (
                rng.choice((0.5, 1.0, 1.5, rng.random()))
            )
            for k in range(size)
        }
        full = [t for t, _ in plain_strongest(weights, len(weights)) if " " not in t][:8]
        assert engine._top_words(weights, 8) == full
