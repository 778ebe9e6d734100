"""A lone report the words left alone joins its event once the event's meaning has
grown clearly nearest to it (``Clusterer._rejoin_single_reports``).

The vectors are built here, not by the model, so that each case sets exactly the
geometry the rule reads: every report of an event is the event's direction plus a
little noise of its own, so a report fits the event's core better as the core grows
(one report: cosine 0.917, below ``semantic_support``; two or more: 0.937 and up).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np

from aggregator import semantic
from aggregator.models import Article, ClusterDecision
from aggregator.process.clustering import Clusterer, ClusterSettings
from tests import factories
from tests.support.meaning import axis, report_vector

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOISE = 0.3  # one report against another of its event: 1 / (1 + 0.09) = 0.917

# Headlines: no names (no body), so the words and the meaning decide. The lone
# report shares no word with its event's reports.
QUAKE = (
    "Strong quake shakes northern Chile port city",
    "Strong quake shakes northern Chile port town",
    "Northern Chile port city shaken by strong quake",
)
LONE = "Residents flee coastal homes overnight after tremor"
FLOOD = (
    "River floods farmland across southern Brazil valley",
    "Southern Brazil valley farmland flooded by river",
)


def _vector(event: np.ndarray, own: int, noise: float = NOISE) -> bytes:
    """A report of ``event``: its direction plus noise of its own (axis ``own``)."""
    return report_vector(event, own, noise)


class Stream:
    def __init__(self, settings: ClusterSettings | None = None) -> None:
        self.clusterer = Clusterer(settings or ClusterSettings())
        self.n = 0
        self.ids: dict[str, int] = {}

    def add(self, title: str, embedding: bytes, language: str = "en") -> ClusterDecision:
        self.n += 1
        article: Article = factories.article(
            title,
            text="",
            feed=f"outlet{self.n}",
            published=T0 + timedelta(minutes=10 * self.n),
            embedding=embedding,
            language=language,
        )
        decision = self.clusterer.assign(self.n, article)
        self.ids[title] = decision.cluster_id
        return decision

    def event_of(self, title: str) -> int:
        return self.clusterer.resolve(self.ids[title])


QUAKE_AXIS, FLOOD_AXIS, NEAR_AXIS = axis(0), axis(1), axis(2)


def test_a_lone_report_joins_its_event_once_its_meaning_has_grown() -> None:
    s = Stream()
    s.add(QUAKE[0], _vector(QUAKE_AXIS, 10))
    lone = s.add(LONE, _vector(QUAKE_AXIS, 11))
    assert lone.is_new  # no shared word; meaning 0.917 with one report: below 0.92
    second = s.add(QUAKE[1], _vector(QUAKE_AXIS, 12))
    assert second.cluster_id == s.event_of(QUAKE[0])
    assert second.merged == (lone.cluster_id,)
    assert s.event_of(LONE) == s.event_of(QUAKE[0])
    (said,) = [x for x in second.signals if "one report" in x]
    assert said.startswith(f"event {lone.cluster_id} (one report) joined it: meaning 0.94 >= 0.92")
    assert s.clusterer.info(s.event_of(QUAKE[0])).article_count == 3


def test_off_the_lone_report_stays_alone() -> None:
    s = Stream(ClusterSettings(rejoin_single_reports=False))
    s.add(QUAKE[0], _vector(QUAKE_AXIS, 10))
    s.add(LONE, _vector(QUAKE_AXIS, 11))
    second = s.add(QUAKE[1], _vector(QUAKE_AXIS, 12))
    assert second.merged == ()
    assert s.event_of(LONE) != s.event_of(QUAKE[0])


def test_an_event_of_two_reports_is_not_joined_by_meaning_alone() -> None:
    # Two events with reports of their own stay apart even where their meanings
    # reach semantic_support (0.93 here): only a lone report is folded. The second
    # event's reports are looser (noise 0.5: 0.875 with the quake's two reports when
    # the first comes, so the vector proposes nothing then).
    s = Stream()
    s.add(QUAKE[0], _vector(QUAKE_AXIS, 10))
    s.add(QUAKE[1], _vector(QUAKE_AXIS, 12))
    lone = s.add(LONE, _vector(QUAKE_AXIS, 11, noise=0.5))
    assert lone.is_new
    twin = s.add(LONE + " again", _vector(QUAKE_AXIS, 13, noise=0.5))
    assert twin.cluster_id == lone.cluster_id
    assert twin.merged == ()
    third = s.add(QUAKE[2], _vector(QUAKE_AXIS, 14))
    assert third.merged == ()
    assert s.event_of(LONE) != s.event_of(QUAKE[0])
    quake = s.clusterer._clusters[s.event_of(QUAKE[0])].meaning
    other = s.clusterer._clusters[s.event_of(LONE)].meaning
    assert quake is not None
    assert other is not None
    assert semantic.cosine(quake / np.linalg.norm(quake), other) >= 0.92


def test_not_when_another_event_is_as_near() -> None:
    # Between two events the vector says nothing: the lone report lies halfway
    # between the quake and an event as near to it (``meaning_margin``).
    s = Stream()
    s.add(QUAKE[0], _vector(QUAKE_AXIS, 10))
    s.add(FLOOD[0], _vector(NEAR_AXIS, 20))
    s.add(FLOOD[1], _vector(NEAR_AXIS, 21))
    between = QUAKE_AXIS + NEAR_AXIS
    lone = s.add(LONE, _vector(between / np.linalg.norm(between), 11))
    assert lone.is_new
    second = s.add(QUAKE[1], _vector(QUAKE_AXIS, 12))
    third = s.add(QUAKE[2], _vector(QUAKE_AXIS, 14))
    assert second.merged == third.merged == ()
    assert s.event_of(LONE) not in (s.event_of(QUAKE[0]), s.event_of(FLOOD[0]))


def test_a_lone_report_of_another_event_is_left_alone() -> None:
    s = Stream()
    s.add(QUAKE[0], _vector(QUAKE_AXIS, 10))
    lone = s.add(LONE, _vector(FLOOD_AXIS, 11))
    for i, title in enumerate(QUAKE[1:]):
        assert s.add(title, _vector(QUAKE_AXIS, 12 + i)).merged == ()
    assert s.event_of(LONE) == lone.cluster_id


def test_not_across_languages() -> None:
    # A report in a language none of the event's reports is in: the vector proposes
    # across languages only with a figure in common (``proposal``), not asked here.
    s = Stream()
    s.add(QUAKE[0], _vector(QUAKE_AXIS, 10))
    s.add("Bewohner fliehen nachts aus Küstenhäusern", _vector(QUAKE_AXIS, 11), "de")
    assert s.add(QUAKE[1], _vector(QUAKE_AXIS, 12)).merged == ()
    assert s.add(QUAKE[2], _vector(QUAKE_AXIS, 14)).merged == ()


def test_without_vectors_nothing_changes() -> None:
    with_rule, without = Stream(), Stream(ClusterSettings(rejoin_single_reports=False))
    for s in (with_rule, without):
        for title in (QUAKE[0], LONE, QUAKE[1], QUAKE[2]):
            s.add(title, b"")
    assert with_rule.ids == without.ids


def test_a_silent_lone_report_is_not_rejoined() -> None:
    s = Stream(dataclasses.replace(ClusterSettings(), max_silence=timedelta(minutes=15)))
    s.add(QUAKE[0], _vector(QUAKE_AXIS, 10))
    s.add(LONE, _vector(QUAKE_AXIS, 11))
    s.n += 1  # 20 minutes later: the lone report's event is past max_silence
    s.add(QUAKE[1], _vector(QUAKE_AXIS, 12))
    assert s.event_of(LONE) != s.event_of(QUAKE[0])


def test_a_restart_replays_the_rejoin_as_a_stored_merge() -> None:
    # The consumer stores each article's event as decided and each merge (old ->
    # survivor); the start-up replay gives the lone report to the survivor.
    s = Stream()
    articles: list[tuple[int, Article, int]] = []
    merges: list[tuple[int, int]] = []
    for i, (title, own) in enumerate(((QUAKE[0], 10), (LONE, 11), (QUAKE[1], 12))):
        article = factories.article(
            title,
            text="",
            feed=f"outlet{i + 1}",
            published=T0 + timedelta(minutes=10 * (i + 1)),
            embedding=_vector(QUAKE_AXIS, own),
        )
        decision = s.clusterer.assign(i + 1, article)
        articles.append((i + 1, article, decision.cluster_id))
        merges += [(old, decision.cluster_id) for old in decision.merged]
    assert merges
    restored = Clusterer(ClusterSettings())
    for old, new in merges:
        restored.restore_merge(old, new)
    for article_id, article, cluster_id in articles:
        restored.restore(article_id, article, cluster_id)
    survivor = s.clusterer.resolve(articles[0][2])
    assert restored.info(survivor).article_count == s.clusterer.info(survivor).article_count == 3
    later = factories.article(
        QUAKE[2],
        text="",
        feed="outlet9",
        published=T0 + timedelta(minutes=50),
        embedding=_vector(QUAKE_AXIS, 14),
    )
    assert restored.assign(9, later) == s.clusterer.assign(9, later)
