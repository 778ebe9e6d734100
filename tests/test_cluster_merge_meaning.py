"""Two events of headlines that are one story told from two angles merge when each is
the other's nearest event by meaning and the words agree
(``Clusterer._merge_by_meaning``).

The vectors are built here, not by the model, so that each case sets exactly the
geometry the rule reads: every report is its event's direction plus noise of its own,
and the two angles' directions are close (cosine 0.975). One report alone is not close
enough to the other angle's reports for the vector to propose it (0.88 < 0.92), the
cores of three reports each are (0.93).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np

from aggregator import semantic
from aggregator.models import Article, ClusterDecision
from aggregator.process.clustering import Clusterer, ClusterSettings
from tests import factories
from tests.support.meaning import axis, report_vector

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOISE = 0.4

CARPLAY = (
    "Apple CarPlay draws criticism from safety experts",
    "Safety experts criticise Apple CarPlay dashboard",
    "Apple CarPlay dashboard under fire from safety experts",
)
SNOW = ("Snow storm closes schools across Ohio", "Ohio schools closed by snow storm")
# The other angle of the story: the first report shares no word with the CarPlay
# reports, the later ones a few.
IOS = (
    "iOS 7.1 update arrives for iPhone and iPad",
    "Apple ships iOS 7.1 update for iPhone",
    "iOS 7.1 brings CarPlay to the Apple iPhone",
)
# The same angle in words the CarPlay reports never use.
IOS_OTHER_WORDS = (
    "iOS 7.1 update arrives for iPhone and iPad",
    "iPad and iPhone get the iOS 7.1 update",
    "iOS 7.1 for iPhone and iPad lists its fixes",
)


def _direction(*parts: tuple[int, float]) -> np.ndarray:
    v = sum((w * axis(i) for i, w in parts), np.zeros(semantic.DIM, dtype=np.float32))
    return v / np.linalg.norm(v)


CARPLAY_WAY = _direction((0, 1.0))
IOS_WAY = _direction((0, 1.0), (1, 0.228))  # cosine 0.975 with CARPLAY_WAY
SNOW_WAY = _direction((2, 1.0))


def _stream(ios: Sequence[str], texts: dict[str, str] | None = None) -> list[tuple[str, Article]]:
    """Three CarPlay reports and two of a snow storm, then three of the iOS angle;
    (event, article) in order. ``texts``: a body for each event's reports (none: headlines)."""
    plan = [
        ("carplay", CARPLAY[0], CARPLAY_WAY),
        ("snow", SNOW[0], SNOW_WAY),
        ("carplay", CARPLAY[1], CARPLAY_WAY),
        ("snow", SNOW[1], SNOW_WAY),
        ("carplay", CARPLAY[2], CARPLAY_WAY),
        *(("ios", title, IOS_WAY) for title in ios),
    ]
    return _articles(plan, texts)


def _articles(
    plan: Sequence[tuple[str, str, np.ndarray]],
    texts: dict[str, str] | None = None,
    noise: float = NOISE,
) -> list[tuple[str, Article]]:
    out = []
    for n, (event, title, way) in enumerate(plan):
        article = factories.article(
            title,
            text=f"{title}. {texts[event]}" if texts else "",
            feed=f"outlet{n}",
            published=T0 + timedelta(minutes=n),
            embedding=report_vector(way, 10 + n, noise),  # a report's own noise
        )
        out.append((event, article))
    return out


def _run(
    stream: Sequence[tuple[str, Article]], settings: ClusterSettings | None = None
) -> tuple[Clusterer, list[ClusterDecision]]:
    clusterer = Clusterer(settings or ClusterSettings())
    decisions = [clusterer.assign(i + 1, a) for i, (_, a) in enumerate(stream)]
    return clusterer, decisions


def _events(
    clusterer: Clusterer, stream: Sequence[tuple[str, Article]], decisions: list[ClusterDecision]
) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for (event, _), d in zip(stream, decisions, strict=True):
        out.setdefault(event, set()).add(clusterer.resolve(d.cluster_id))
    return out


def test_two_angles_of_one_story_merge_once_each_is_the_others_nearest() -> None:
    stream = _stream(IOS)
    clusterer, decisions = _run(stream)
    events = _events(clusterer, stream, decisions)
    assert decisions[5].is_new  # the first iOS report: no word, and too far for the vector
    assert events["carplay"] == events["ios"]
    assert events["snow"].isdisjoint(events["carplay"])
    merged = [d for d in decisions if d.merged]
    assert len(merged) == 1
    said = [s for s in merged[0].signals if "nearest event by meaning" in s]
    # --explain says why, under the report whose joining made the meanings agree.
    assert said
    assert said[0].startswith(f"event {decisions[5].cluster_id} merged into event")
    assert "words" in said[0]


def test_the_setting_turns_it_off() -> None:
    stream = _stream(IOS)
    clusterer, decisions = _run(stream, ClusterSettings(merge_by_meaning=False))
    events = _events(clusterer, stream, decisions)
    assert events["carplay"].isdisjoint(events["ios"])
    assert not any(d.merged for d in decisions)


def test_meaning_alone_does_not_merge_when_the_words_disagree() -> None:
    stream = _stream(IOS_OTHER_WORDS)
    clusterer, decisions = _run(stream)
    events = _events(clusterer, stream, decisions)
    assert events["carplay"].isdisjoint(events["ios"])


def test_not_when_the_other_event_is_nearer_to_a_third() -> None:
    # The iOS angle is clearly nearest to CarPlay, but CarPlay is nearer still to an
    # event of Tesla screens (which shares no words with it): not each other's nearest.
    tesla_way = _direction((0, 1.0), (3, 0.203))  # cosine 0.98 with CARPLAY_WAY
    ios_way = _direction((0, 1.0), (1, 0.238), (3, -0.2))  # 0.955 with it, 0.90 with Tesla
    tesla = (
        "Tesla touchscreens worry road regulators",
        "Road regulators worry over Tesla touchscreens",
        "Tesla touchscreens face road regulator review",
    )
    plan = [
        ("carplay", CARPLAY[0], CARPLAY_WAY),
        ("carplay", CARPLAY[1], CARPLAY_WAY),
        ("tesla", tesla[0], tesla_way),
        ("tesla", tesla[1], tesla_way),
        ("carplay", CARPLAY[2], CARPLAY_WAY),
        ("tesla", tesla[2], tesla_way),
        *(("ios", title, ios_way) for title in IOS),
    ]
    stream = _articles(plan, noise=0.3)
    clusterer, decisions = _run(stream)
    events = _events(clusterer, stream, decisions)
    assert len(events["carplay"] | events["tesla"] | events["ios"]) == 3
    # Alone with CarPlay, the same iOS reports merge with it.
    alone = [(e, a) for e, a in stream if e != "tesla"]
    clusterer, decisions = _run(alone)
    events = _events(clusterer, alone, decisions)
    assert events["carplay"] == events["ios"]


def test_events_with_names_are_left_to_the_names() -> None:
    # Full text naming people and places: two events of one kind are each other's
    # nearest as soon as each has a few reports, and the names tell them apart.
    texts = {
        "carplay": (
            "Engineers at the Insurance Institute in Arlington and Jake Fisher of Consumer "
            "Reports say CarPlay screens in Ferrari and Volvo cars pull eyes off the road. "
            "Apple said the iPhone update brings CarPlay to drivers."
        ),
        "ios": (
            "Craig Federighi said in Cupertino that iOS 7.1 fixes the Touch ID sensor and "
            "speeds up the iPhone 4 in tests by Ars Technica and AnandTech. Apple said the "
            "iPhone update brings CarPlay to drivers."
        ),
        "snow": (
            "Governor John Kasich said Columbus and Cleveland schools stay closed as the "
            "National Weather Service warned of a foot of snow across Ohio and Indiana. "
            "Roads were icy through the night."
        ),
    }
    stream = _stream(IOS, texts)
    clusterer, decisions = _run(stream)
    events = _events(clusterer, stream, decisions)
    assert events["carplay"].isdisjoint(events["ios"])
    assert all("nearest event by meaning" not in s for d in decisions for s in d.signals)


def test_a_restart_replays_the_merge() -> None:
    stream = _stream(IOS)
    settings = ClusterSettings()
    _, live = _run(stream, settings)
    assert any(d.merged for d in live)
    extra = [
        dataclasses.replace(a, published=a.published + timedelta(minutes=30))
        for _, a in _stream(IOS)[::2]
    ]
    straight = Clusterer(settings)
    expected = [straight.assign(i + 1, a) for i, (_, a) in enumerate(stream)]
    expected += [straight.assign(len(stream) + i + 1, a) for i, a in enumerate(extra)]
    for cut in range(1, len(stream) + 1):
        # Rebuilt as the consumer rebuilds it from what it stored: every merge, then
        # every article under its event's id then (merges rewrite it).
        merges = [(old, d.cluster_id) for d in expected[:cut] for old in d.merged]
        known = [d.cluster_id for d in expected[:cut]] + [c for pair in merges for c in pair]
        resumed = Clusterer(settings, next_cluster_id=max(known) + 1)
        for old, new in merges:
            resumed.restore_merge(old, new)
        for i in range(cut):
            resumed.restore(i + 1, stream[i][1], resumed.resolve(expected[i].cluster_id))
        rest = [a for _, a in stream[cut:]] + extra
        for j, article in enumerate(rest):
            i = cut + j
            again = resumed.assign(i + 1, article)
            assert (again.cluster_id, again.is_new, again.merged) == (
                expected[i].cluster_id,
                expected[i].is_new,
                expected[i].merged,
            ), (cut, i, expected[i].signals, again.signals)
