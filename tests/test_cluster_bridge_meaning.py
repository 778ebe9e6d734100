"""Two events of one kind are not merged by a report that bridges them unless their
reports mean the same (``ClusterSettings.bridge_meaning``).

Two events of one kind told in full text (two DUI arrests of one team's players, two
emergency patches of one browser) share the words and names of their kind, so a
report of either matches both and the bridge used to merge them: on ECB+ DEV 33 of
51 such merges over nine orders joined the other event of a kind. A merge now also
asks the meaning: a report of one and a report of the other must mean alike on
average as much as ``semantic_support`` asks. Headlines merge as before.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from aggregator import semantic
from aggregator.models import Article, ClusterDecision
from aggregator.process.clustering import Clusterer, ClusterSettings
from tests import factories
from tests.support.kindred_reports import reports

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _cluster(settings: ClusterSettings, seed: int) -> tuple[list[ClusterDecision], list[set[str]]]:
    """Every decision, and for each merge the gold events of the two folded events."""
    clusterer = Clusterer(settings)
    events: dict[int, set[str]] = defaultdict(set)  # cluster id -> gold events in it
    decisions = []
    folded = []
    for i, (gold, article) in enumerate(reports(seed)):
        decision = clusterer.assign(i + 1, article)
        decisions.append(decision)
        survivor = events[decision.cluster_id]
        for old in decision.merged:
            folded.append(survivor | events[old])
            survivor |= events.pop(old)
        survivor.add(gold)
    return decisions, folded


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_bridge_does_not_merge_two_events_of_one_kind(seed: int) -> None:
    _, without = _cluster(ClusterSettings(bridge_meaning=False), seed)
    # Without the rule the bridges merge two events of one kind ...
    assert any(len(events) == 2 for events in without)
    decisions, folded = _cluster(ClusterSettings(), seed)
    # ... with it, no merge joins reports of two events, and each refusal is said.
    assert all(len(events) == 1 for events in folded)
    said = [s for d in decisions for s in d.signals if s.startswith("not merged with event")]
    assert len(said) >= 1
    for line in said:
        alike = float(line.split("their reports mean ")[1].split(" alike")[0])
        assert alike < ClusterSettings().semantic_support


def _headline(title: str, minutes: int, direction: int) -> Article:
    v = np.zeros(semantic.DIM, dtype=np.float32)
    v[direction] = 1.0
    article = factories.bare_article(
        title,
        text="",
        feed="outlet",
        url=None,
        published=T0 + timedelta(minutes=minutes),
        content_hash=title,
    )
    return dataclasses.replace(article, embedding=v.astype(np.float16).tobytes())


def test_headlines_are_merged_by_a_bridge_whatever_their_meaning() -> None:
    # A headline names nothing to tell two events of one kind apart by, and one
    # story's headlines mean too many things for the rule: they merge as before, even
    # with vectors at right angles.
    c = Clusterer(ClusterSettings(merge_threshold=0.05))
    titles = [
        ("Stocks fall as oil prices rise in the morning trade", 0),
        ("Local council approves new budget for city schools", 1),
        ("Football club signs new striker from rival team", 2),
        ("Volcano erupts near Reykjavik", 10),
        ("Reykjavik volcano eruption forces evacuations", 10),
        ("Grindavik evacuated as lava flows", 20),
        ("Lava flows reach Grindavik homes", 20),
    ]
    ids = [c.assign(i + 1, _headline(t, i, d)).cluster_id for i, (t, d) in enumerate(titles)]
    assert c.resolve(ids[3]) != c.resolve(ids[5])
    bridge = c.assign(99, _headline("Reykjavik volcano: lava flows reach Grindavik", 60, 30))
    assert bridge.merged
    assert {c.resolve(x) for x in ids[3:]} == {bridge.cluster_id}
