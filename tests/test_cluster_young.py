"""A day of the year in common lets a report join the event its names refuse
(``ClusterSettings.shared_day``).

While an event has one to three reports its names are a few reports' names: a
report of the same event that names other things (the parties, the commission, the
districts rather than the referendum and the news agency) agrees with them less
than a young event asks, and starts an event of its own. What it does say is when:
two reports of one event name the day it happens ("December 15"), two events of one
kind happened on different days (Turkmenistan's parliament was elected on December
14, 2008 and on December 15, 2013).

The reports are real (ECB+ topic 11: two parliamentary elections in Turkmenistan).
No vectors: the names and the day decide alone.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from aggregator.models import Article, ClusterDecision
from aggregator.process.clustering import Clusterer, ClusterSettings
from aggregator.process.clustering.features import days
from tests import factories
from tests.support.cluster_restart import assert_resumed_alike
from tests.support.kindred_reports import DATA, reports

T0 = datetime(2026, 3, 1, tzinfo=UTC)
# The 2013 election: "Parliamentary elections in Turkmenistan to be held on two -
# party basis", "Turkmenistan to hold first - ever parliamentary elections ..."
FOUNDERS = ["11_1ecbplus", "11_2ecbplus"]
NEWCOMER = "11_3ecbplus"  # "Turkmen election to have 2 parties for 1st time"
EARLIER = "11_10ecb"  # 2008: "Voting for MPs to Majlis (Parliament) began ... on Dec.14."


def _rows() -> dict[str, dict[str, str]]:
    with DATA.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return {r["id"]: r for r in rows}


def _article(rid: str, minutes: int) -> Article:
    row = _rows()[rid]
    return factories.article(
        row["title"],
        text=row["text"],
        feed=f"outlet{minutes}",
        published=T0 + timedelta(minutes=minutes),
    )


def _decide(settings: ClusterSettings, newcomer: str) -> tuple[int, ClusterDecision]:
    c = Clusterer(settings)
    ids = {c.assign(i + 1, _article(rid, 10 * i)).cluster_id for i, rid in enumerate(FOUNDERS)}
    assert len(ids) == 1  # the two founding reports are one event
    return ids.pop(), c.assign(99, _article(newcomer, 60))


def test_days_are_a_month_and_its_day() -> None:
    settings = ClusterSettings()
    body = (
        "Polls open on Dec. 11 and on Dec.14, results by 3rd of May; "
        "8,000 troops since March 8,000 and in May 2008; talks on 14 December. " * 3
    )
    named = days(factories.article("Vote set for January 5th", text=body), settings)
    assert named == {"dec11", "dec14", "may3", "jan5"}
    # A headline (no body to read) names no day, as it names no names.
    assert days(factories.article("Vote set for January 5th", text=""), settings) == set()


def test_a_day_in_common_lets_in_what_the_names_refuse() -> None:
    event, joined = _decide(ClusterSettings(semantic_support=0.0), NEWCOMER)
    assert (joined.cluster_id, joined.is_new) == (event, False)
    said = [s for s in joined.signals if s.startswith("a day in common")]
    assert said == [
        "a day in common with its first reports: Dec 15, Oct 5 (names agree 0.29 < 0.41)"
    ]


def test_the_setting_turns_it_off() -> None:
    event, refused = _decide(ClusterSettings(semantic_support=0.0, shared_day=False), NEWCOMER)
    assert refused.is_new
    assert refused.cluster_id != event
    assert any(s.startswith(f"not event {event}: content") for s in refused.signals)
    assert "names agree 0.29 < 0.41" in " ".join(refused.signals)


def test_another_day_is_no_help() -> None:
    """The 2008 election's report names its own day (Dec. 14), not the 2013 one's."""
    assert days(_article(EARLIER, 0), ClusterSettings()) == {"dec14"}
    event, other = _decide(ClusterSettings(semantic_support=0.0), EARLIER)
    assert other.is_new
    assert other.cluster_id != event
    assert not any(s.startswith("a day in common") for s in other.signals)


@pytest.mark.parametrize("cut", [60, 80, 200, 320])
def test_a_restart_decides_as_the_uninterrupted_clusterer(cut: int) -> None:
    """The days are the core's, rebuilt by the replay as the names are (seed 6 of the
    kindred stream: a join by a day at report 84, and merges later)."""
    settings = ClusterSettings()
    articles = [article for _, article in reports(6, 496)]
    straight = Clusterer(settings)
    live = [straight.assign(i + 1, a) for i, a in enumerate(articles)]
    assert any(s.startswith("a day in common") for s in live[83].signals)
    assert any(d.merged for d in live)
    assert_resumed_alike(settings, articles, live, cut)
