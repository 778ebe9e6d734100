"""The meaning overrules names only for a report that means the event as its founding
reports mean each other (``ClusterSettings.meaning_cohesion``).

When the names or the relative fit refuse an event the words chose, the vector lets
a full-text report join if its cosine with the core's sum reaches
``semantic_support``. That cosine grows with the core (the sum of reports that mean
alike is long), so a report of another event of the kind reached it against a full
core: on ECB+ DEV the report of the West Papua earthquake joined the Aceh one's
(names agree 0.17-0.25, meaning 0.92). The report must now also mean the core's
reports, on average, about as closely as they mean each other.

The reports are real (ECB+ topic 37: two magnitude-6.1 earthquakes in Indonesia);
the vectors are built here so that the test says which geometry decides.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from aggregator import semantic
from aggregator.models import Article
from aggregator.process.clustering import Clusterer, ClusterSettings
from tests import factories
from tests.support.kindred_reports import DATA

T0 = datetime(2026, 3, 1, tzinfo=UTC)
ACEH = ["37_2ecbplus", "37_10ecbplus", "37_12ecbplus", "37_4ecbplus"]
PAPUA = "37_2ecb"  # "A strong earthquake rattled Indonesia's West Papua province ..."


def _rows() -> dict[str, dict[str, str]]:
    with DATA.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return {r["id"]: r for r in rows}


def _unit(v: np.ndarray) -> bytes:
    return (v / np.linalg.norm(v)).astype(np.float16).tobytes()


def _article(row: dict[str, str], minutes: int, vector: bytes) -> Article:
    return factories.article(
        row["title"],
        text=row["text"],
        feed=f"outlet{minutes}",
        published=T0 + timedelta(minutes=minutes),
        embedding=vector,
    )


def _stream(spread: float) -> tuple[list[Article], Article]:
    """Four Aceh reports whose vectors mean each other at about 0.98, and the Papua
    report, whose vector is ``spread`` away from their common direction."""
    rows = _rows()
    rng = np.random.default_rng(7)
    event = rng.standard_normal(semantic.DIM)
    event /= np.linalg.norm(event)
    aceh = []
    for i, rid in enumerate(ACEH):
        noise = rng.standard_normal(semantic.DIM) / np.sqrt(semantic.DIM)
        aceh.append(_article(rows[rid], 10 * i, _unit(event + 0.15 * noise)))
    other = rng.standard_normal(semantic.DIM)
    other -= np.dot(other, event) * event
    other /= np.linalg.norm(other)
    papua = _article(rows[PAPUA], 60, _unit(event + spread * other))
    return aceh, papua


def _decide(settings: ClusterSettings, spread: float) -> tuple[int, list[int], tuple[str, ...]]:
    aceh, papua = _stream(spread)
    c = Clusterer(settings)
    ids = [c.assign(i + 1, a).cluster_id for i, a in enumerate(aceh)]
    d = c.assign(99, papua)
    return d.cluster_id, [c.resolve(i) for i in ids], d.signals


def test_a_report_of_another_event_of_the_kind_is_not_let_in_by_the_sum() -> None:
    # Mean cosine 0.93 with each Aceh report (they mean each other at 0.98); with
    # their sum 0.94 >= semantic_support.
    off = _decide(ClusterSettings(meaning_cohesion=False), 0.36)
    assert off[0] in off[1]  # before: the meaning overruled the names
    assert any("(agrees)" in s for s in off[2])
    cid, aceh, signals = _decide(ClusterSettings(), 0.36)
    assert len(set(aceh)) == 1
    assert cid not in aceh  # a new event, which says why
    said = [s for s in signals if "how closely its first reports mean each other" in s]
    assert said, signals
    fit = float(said[0].split("meaning ")[-1].split(" on average")[0])
    cohesion = float(said[0].split("< ")[-1].split(" - ")[0])
    assert fit < cohesion - ClusterSettings().meaning_margin


@pytest.mark.parametrize("settings", [ClusterSettings(), ClusterSettings(meaning_cohesion=False)])
def test_a_report_that_means_the_event_as_its_founders_do_still_joins(
    settings: ClusterSettings,
) -> None:
    # The same names that disagree, a vector as close to the event as its reports
    # are to each other: the meaning still overrules the names.
    cid, aceh, signals = _decide(settings, 0.12)
    assert cid in aceh
    assert any("(agrees)" in s for s in signals)
