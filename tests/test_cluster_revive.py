"""A report that clearly continues a story that went quiet revives its event
(``Clusterer._revival``): silence alone does not start a second event of one story.

The vectors are built here, not by the model, so that each case sets exactly the
geometry the rule reads (as ``test_cluster_merge_meaning.py`` does): every report is
its event's direction plus noise of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np

from aggregator.models import Article, ClusterDecision
from aggregator.process.clustering import Clusterer, ClusterSettings
from tests import factories
from tests.support.meaning import axis, report_vector

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
QUIET = timedelta(hours=50)  # longer than max_silence (48 h), within the window (72 h)

TRIAL = (
    "Pistorius murder trial hears from neighbour who heard screams",
    "Neighbour tells Pistorius murder trial of screams in the night",
    "Pistorius murder trial: neighbour heard screams before shots",
)
# Two days later, the same trial in the same words.
RESUMED = "Pistorius murder trial resumes with ballistics expert"
LAUNCH = (
    "SpaceX delays Falcon 9 cargo launch to the space station",
    "Falcon 9 cargo launch to the space station delayed again",
)


TRIAL_WAY = axis(0)
LAUNCH_WAY = axis(1)


def _article(title: str, way: np.ndarray, n: int, when: datetime) -> Article:
    return factories.article(
        title,
        feed=f"outlet{n}",
        published=when,
        # a report's own noise: 0.96 with its direction
        embedding=report_vector(way, 10 + n, 0.3),
    )


def _run(
    plan: Sequence[tuple[str, np.ndarray, datetime]], settings: ClusterSettings | None = None
) -> tuple[Clusterer, list[ClusterDecision]]:
    clusterer = Clusterer(settings or ClusterSettings())
    decisions = [
        clusterer.assign(n + 1, _article(title, way, n, when))
        for n, (title, way, when) in enumerate(plan)
    ]
    return clusterer, decisions


def _plan(resumed_way: np.ndarray) -> list[tuple[str, np.ndarray, datetime]]:
    minute = timedelta(minutes=1)
    plan = [(title, TRIAL_WAY, T0 + n * minute) for n, title in enumerate(TRIAL)]
    # Another story keeps the clock going in between (the trial's event goes quiet).
    plan += [(title, LAUNCH_WAY, T0 + QUIET - (2 - n) * minute) for n, title in enumerate(LAUNCH)]
    plan.append((RESUMED, resumed_way, T0 + QUIET + 2 * minute))
    return plan


def test_a_quiet_event_is_revived_by_a_report_that_clearly_continues_it() -> None:
    clusterer, decisions = _run(_plan(TRIAL_WAY))
    trial = clusterer.resolve(decisions[0].cluster_id)
    assert {clusterer.resolve(d.cluster_id) for d in decisions[:3]} == {trial}
    resumed = decisions[-1]
    assert not resumed.is_new
    assert clusterer.resolve(resumed.cluster_id) == trial
    assert clusterer.info(trial).article_count == 4
    assert clusterer.info(trial).status == "active"
    said = [s for s in resumed.signals if s.startswith(f"revived event {trial}")]
    assert said
    assert "quiet for 50 h" in said[0]
    # The other story is untouched.
    assert clusterer.resolve(decisions[3].cluster_id) != trial


def test_the_setting_turns_it_off() -> None:
    clusterer, decisions = _run(_plan(TRIAL_WAY), ClusterSettings(revive_quiet=False))
    assert decisions[-1].is_new  # as before: a quiet event takes no new report
    assert clusterer.resolve(decisions[-1].cluster_id) != clusterer.resolve(decisions[0].cluster_id)


def test_not_when_the_meaning_is_not_clearly_the_quiet_events() -> None:
    # The same words, but its vector sits between the trial and the launch: the
    # words alone do not revive an event that silence closed.
    between = TRIAL_WAY + LAUNCH_WAY
    _, decisions = _run(_plan(between / np.linalg.norm(between)))
    assert decisions[-1].is_new
    assert not any(s.startswith("revived") for s in decisions[-1].signals)


def test_not_when_the_words_do_not_accept_it() -> None:
    plan = _plan(TRIAL_WAY)
    plan[-1] = ("Ballistics expert called as court resumes in Pretoria", *plan[-1][1:])
    _, decisions = _run(plan)
    assert decisions[-1].is_new


def test_a_restart_rebuilds_the_revived_event() -> None:
    plan = _plan(TRIAL_WAY)
    clusterer, decisions = _run(plan)
    restored = Clusterer(ClusterSettings())
    for n, ((title, way, when), d) in enumerate(zip(plan, decisions, strict=True)):
        restored.restore(n + 1, _article(title, way, n, when), clusterer.resolve(d.cluster_id))
    trial = clusterer.resolve(decisions[0].cluster_id)
    assert restored.info(trial).article_count == clusterer.info(trial).article_count == 4
    assert restored.info(trial).last_updated == clusterer.info(trial).last_updated
    # A fifth report of the trial joins it after the restart as before.
    after = _article(TRIAL[1], TRIAL_WAY, 9, plan[-1][2] + timedelta(minutes=5))
    assert restored.assign(10, after).cluster_id == trial


def test_an_angle_that_came_after_the_pause_merges_with_the_quiet_event() -> None:
    # The geometry of test_cluster_merge_meaning.py: the first iOS report is too far
    # from the CarPlay reports for the vector to propose (or revive) their event, the
    # iOS event of three reports is each one's nearest. Here the CarPlay event has
    # gone quiet by then: the merge by meaning reads the quiet events held too.
    from tests.test_cluster_merge_meaning import (
        CARPLAY,
        CARPLAY_WAY,
        IOS,
        IOS_WAY,
        NOISE,
        SNOW,
        SNOW_WAY,
    )

    minute = timedelta(minutes=1)
    plan = [(title, CARPLAY_WAY, T0 + n * minute) for n, title in enumerate(CARPLAY)]
    plan += [(title, SNOW_WAY, T0 + QUIET + n * minute) for n, title in enumerate(SNOW)]
    plan += [(title, IOS_WAY, T0 + QUIET + (5 + n) * minute) for n, title in enumerate(IOS)]

    def run(settings: ClusterSettings) -> tuple[Clusterer, list[ClusterDecision]]:
        clusterer = Clusterer(settings)
        decisions = []
        for n, (title, way, when) in enumerate(plan):
            article = factories.article(
                title,
                feed=f"outlet{n}",
                published=when,
                embedding=report_vector(way, 10 + n, NOISE),
            )
            decisions.append(clusterer.assign(n + 1, article))
        return clusterer, decisions

    clusterer, decisions = run(ClusterSettings())
    assert decisions[5].is_new  # the first iOS report: no revival
    carplay = clusterer.resolve(decisions[0].cluster_id)
    assert {clusterer.resolve(d.cluster_id) for d in decisions[5:]} == {carplay}
    assert clusterer.resolve(decisions[3].cluster_id) != carplay
    assert any(d.merged for d in decisions[5:])
    # As before with the setting off: the quiet event is left alone.
    clusterer, decisions = run(ClusterSettings(revive_quiet=False))
    carplay = clusterer.resolve(decisions[0].cluster_id)
    assert all(clusterer.resolve(d.cluster_id) != carplay for d in decisions[5:])
