"""Full-text reports of events in pairs of one kind, with vectors built here.

The reports are the ECB+ DEV file's (each topic two real events of one kind), in a
seeded shuffled order, four minutes apart. Their vectors are not the model's: each
report's is its topic's direction (two events of one kind share it), its event's, and
a little noise of its own, so the vector joins, proposes and rejoins as it does on real
reports (one event: cosine about 0.94; two events of one kind: about 0.47).
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from aggregator import semantic
from aggregator.models import Article
from tests import factories

DATA = (
    Path(__file__).resolve().parent.parent.parent / "benchmarks/data/clustering/ecbplus-dev.jsonl"
)
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def reports(seed: int, n: int = 160) -> list[tuple[str, Article]]:
    """The first ``n`` reports in the order of ``seed``: (gold event, article)."""
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
        article = factories.article(
            row["title"],
            text=row["text"],
            feed=f"outlet{i % 8}",
            published=T0 + timedelta(minutes=4 * i),
            embedding=(v / np.linalg.norm(v)).astype(np.float16).tobytes(),
        )
        out.append((row["cluster"], article))
    return out
