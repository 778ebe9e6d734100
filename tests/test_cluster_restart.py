"""A restarted consumer decides as the uninterrupted one would: the start-up replay
(``Clusterer.restore_merge`` then ``restore`` of every stored article, in the order
they were decided) rebuilds the events the live clusterer holds, merges included.

The replay cannot tell a merged event's reports apart (the store moves them to the
survivor), so the live merge has to count the two events' founding reports as the
replay does (``engine._join_cores``); before, a lone report rejoined by meaning or an
event merged through a bridging report left the restarted consumer with another core
size and typical fit than the live one, and later decisions differed.

Full-text reports from the ECB+ DEV file (names, fit and merges at work) with
vectors built here, not by the model: each report is its topic's direction (two
events of one kind share it), its event's and a little noise of its own, so the
vector joins, proposes and rejoins as it does on real reports.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from aggregator import semantic
from aggregator.models import Article, ClusterDecision
from aggregator.process.clustering import Clusterer, ClusterSettings
from tests import factories

DATA = Path(__file__).resolve().parent.parent / "benchmarks/data/clustering/ecbplus-dev.jsonl"
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _stream(seed: int, n: int = 160) -> list[Article]:
    with DATA.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    random.Random(seed).shuffle(rows)
    rng = np.random.default_rng(seed)
    directions: dict[tuple[str, str], np.ndarray] = {}

    def direction(key: tuple[str, str]) -> np.ndarray:
        if key not in directions:
            v = rng.standard_normal(semantic.DIM)
            directions[key] = v / np.linalg.norm(v)
        return directions[key]

    out = []
    for i, row in enumerate(rows[:n]):
        noise = rng.standard_normal(semantic.DIM) / np.sqrt(semantic.DIM)
        v = direction(("topic", str(row["topic"]))) + direction(("event", row["cluster"]))
        v = v + 0.35 * noise
        out.append(
            factories.article(
                row["title"],
                text=row["text"],
                feed=f"outlet{i % 8}",
                published=T0 + timedelta(minutes=4 * i),
                embedding=(v / np.linalg.norm(v)).astype(np.float16).tobytes(),
            )
        )
    return out


def _restarted(
    settings: ClusterSettings,
    articles: Sequence[Article],
    live: Sequence[ClusterDecision],
    cut: int,
) -> Clusterer:
    """A clusterer rebuilt as the consumer rebuilds it from what it stored up to ``cut``:
    every merge, then every article under its event's id then (merges rewrite it)."""
    merges = [(old, d.cluster_id) for d in live[:cut] for old in d.merged]
    into = dict(merges)

    def stored(cid: int) -> int:
        while cid in into:
            cid = into[cid]
        return cid

    known = [d.cluster_id for d in live[:cut]] + [cid for pair in merges for cid in pair]
    clusterer = Clusterer(settings, next_cluster_id=max(known) + 1)
    for old, new in merges:
        clusterer.restore_merge(old, new)
    for i in range(cut):
        clusterer.restore(i + 1, articles[i], stored(live[i].cluster_id))
    return clusterer


@pytest.mark.parametrize("seed", [0, 1])
def test_a_restart_anywhere_decides_as_the_uninterrupted_clusterer(seed: int) -> None:
    settings = ClusterSettings()
    articles = _stream(seed)
    straight = Clusterer(settings)
    live = [straight.assign(i + 1, a) for i, a in enumerate(articles)]
    assert any(d.merged for d in live)  # merges to carry across the restart
    for cut in range(20, len(articles), 20):
        resumed = _restarted(settings, articles, live, cut)
        for i in range(cut, len(articles)):
            again = resumed.assign(i + 1, articles[i])
            # The same event, the same merges (scores may differ in the last bit: the
            # replay sums the centroids in another order).
            assert (again.cluster_id, again.is_new, again.merged) == (
                live[i].cluster_id,
                live[i].is_new,
                live[i].merged,
            ), (seed, cut, i, live[i].signals, again.signals)
