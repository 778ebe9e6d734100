"""Online event clustering: pure decisions, no I/O."""

from __future__ import annotations

import dataclasses
import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aggregator.errors import ConfigError
from aggregator.models import Article
from aggregator.process.clustering import Clusterer, ClusterSettings, featurize
from aggregator.process.clustering.features import entities
from tests import factories
from tests.support.korea_news import DEVELOPMENTS, ORIGINAL

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SLICE = Path(__file__).parent / "data" / "clustering" / "uci-dev-slice.jsonl"


def article(
    title: str,
    *,
    at: timedelta = timedelta(0),
    feed: str = "outlet",
    text: str = "",
    url: str | None = None,
) -> Article:
    return factories.bare_article(
        title, text=text, feed=feed, url=url, published=T0 + at, content_hash=title
    )


# A little unrelated background, so the online IDF knows which words are common.
BACKGROUND = [
    "Stocks fall as oil prices rise in the morning trade",
    "Local council approves new budget for city schools",
    "Football club signs new striker from rival team",
    "Weather service warns of heavy snow in the north",
    "Tech company reports higher quarterly profit on cloud sales",
    "Hospital opens new wing for children in the capital",
]

KURSK = [
    "North Korean troops arrive in Russia's Kursk region",
    "North Korean soldiers deployed to Kursk, Ukraine says",
    "Pentagon confirms North Korean troops in Kursk region of Russia",
    "Kursk: thousands of North Korean troops join Russian forces",
]
ECLIPSE = [
    "Total solar eclipse darkens skies over Mexico and Texas",
    "Millions watch total solar eclipse sweep across North America",
    "Solar eclipse: clouds spoil the view for some in Texas",
]


def feed_all(clusterer: Clusterer, titles: list[str], start: int = 1) -> list[int]:
    ids = []
    for i, title in enumerate(titles, start=start):
        ids.append(clusterer.assign(i, article(title, at=timedelta(minutes=i))).cluster_id)
    return ids


def test_same_event_in_different_words_joins_one_cluster() -> None:
    c = Clusterer(ClusterSettings())
    feed_all(c, BACKGROUND)
    ids = feed_all(c, KURSK, start=100)
    assert len({c.resolve(i) for i in ids}) == 1
    info = c.info(ids[0])
    assert info.article_count == len(KURSK)
    assert "kursk" in info.top_terms


def test_different_events_stay_apart() -> None:
    c = Clusterer(ClusterSettings())
    feed_all(c, BACKGROUND)
    kursk = feed_all(c, KURSK, start=100)
    eclipse = feed_all(c, ECLIPSE, start=200)
    assert {c.resolve(i) for i in kursk}.isdisjoint({c.resolve(i) for i in eclipse})
    assert len({c.resolve(i) for i in eclipse}) == 1
    assert (
        len({c.resolve(i) for i in feed_all(c, BACKGROUND, start=300)} & {c.resolve(kursk[0])}) == 0
    )


def test_decision_explains_itself() -> None:
    c = Clusterer(ClusterSettings())
    feed_all(c, BACKGROUND)
    first = c.assign(100, article(KURSK[0], at=timedelta(hours=1)))
    assert first.is_new
    assert first.score == 0.0
    second = c.assign(101, article(KURSK[2], at=timedelta(hours=2)))
    assert not second.is_new
    assert second.cluster_id == first.cluster_id
    assert 0.0 < second.score <= 1.0
    assert "kursk" in second.matched_terms


def test_silent_cluster_does_not_swallow_a_new_article() -> None:
    settings = ClusterSettings(max_silence=timedelta(hours=24), window=timedelta(hours=48))
    c = Clusterer(settings)
    first = c.assign(1, article(KURSK[0]))
    same_day = c.assign(2, article(KURSK[1], at=timedelta(hours=20)))
    assert same_day.cluster_id == first.cluster_id
    # 30 h after the last update: the event went quiet; a new report starts a new one.
    later = c.assign(3, article(KURSK[2], at=timedelta(hours=50)))
    assert later.is_new
    assert later.cluster_id != first.cluster_id
    assert c.info(first.cluster_id).status == "dormant"
    assert c.info(later.cluster_id).status == "active"


def test_old_clusters_are_evicted_from_memory() -> None:
    settings = ClusterSettings(max_silence=timedelta(hours=24), window=timedelta(hours=48))
    c = Clusterer(settings)
    first = c.assign(1, article(KURSK[0]))
    c.assign(2, article(ECLIPSE[0], at=timedelta(hours=60)))
    assert c.active_cluster_count == 1
    with pytest.raises(KeyError):
        c.info(first.cluster_id)
    # A duplicate of an evicted article is clustered on its own merits.
    dup = c.assign(3, article(KURSK[0], at=timedelta(hours=61)), duplicate_of=1)
    assert dup.is_new


def test_articles_are_remembered_for_one_window_to_the_microsecond() -> None:
    # The window's articles are kept packed (published µs and cluster id in one int):
    # the boundary is exact to the microsecond, and an id past 32 bits survives.
    window = ClusterSettings().window
    c = Clusterer(ClusterSettings(), next_cluster_id=2**40 + 5)
    first = c.assign(1, article(KURSK[0]))
    assert first.cluster_id == 2**40 + 5
    assert c.assign(2, article(KURSK[1], at=timedelta(microseconds=1))).cluster_id == (
        first.cluster_id
    )
    # The clock moves to exactly one window after article 2: article 1 is a
    # microsecond too old and forgotten, article 2 is still remembered.
    c.assign(3, article(ECLIPSE[0], at=window + timedelta(microseconds=1)))
    assert c.stats().articles == 2
    dup = c.assign(
        4,
        article("Breaking: see our live page", at=window + timedelta(microseconds=1)),
        duplicate_of=2,
    )
    assert dup.cluster_id == first.cluster_id
    assert c.stats().articles == 3


def test_duplicate_joins_its_originals_cluster_even_when_worded_apart() -> None:
    c = Clusterer(ClusterSettings())
    feed_all(c, BACKGROUND)
    original = c.assign(100, article(KURSK[0], at=timedelta(hours=1)))
    # A near-duplicate whose title was rewritten beyond recognition still follows dedup.
    dup = c.assign(
        101, article("Breaking: see our live page", at=timedelta(hours=2)), duplicate_of=100
    )
    assert dup.cluster_id == original.cluster_id
    assert not dup.is_new
    assert c.info(original.cluster_id).article_count == 2


def test_bridging_article_merges_two_clusters_and_old_id_resolves() -> None:
    # Merging everything a bridging article touches is easiest to see with a loose
    # merge threshold; the two halves share no word until the bridge arrives.
    settings = ClusterSettings(merge_threshold=0.05)
    c = Clusterer(settings)
    feed_all(c, BACKGROUND)
    a = feed_all(
        c, ["Volcano erupts near Reykjavik", "Reykjavik volcano eruption forces evacuations"], 100
    )
    b = feed_all(c, ["Grindavik evacuated as lava flows", "Lava flows reach Grindavik homes"], 200)
    assert c.resolve(a[0]) != c.resolve(b[0])
    bridge = c.assign(
        300, article("Reykjavik volcano: lava flows reach Grindavik", at=timedelta(hours=3))
    )
    assert bridge.merged, "the bridging article should merge the two clusters"
    survivor = bridge.cluster_id
    assert {c.resolve(x) for x in a + b} == {survivor}
    gone = bridge.merged[0]
    assert gone != survivor
    assert c.resolve(gone) == survivor
    assert c.info(gone).id == survivor
    assert c.info(survivor).article_count == 5


def test_same_input_same_order_gives_same_clusters() -> None:
    titles = BACKGROUND + KURSK + ECLIPSE
    random.Random(3).shuffle(titles)
    runs = [feed_all(Clusterer(ClusterSettings()), titles) for _ in range(2)]
    assert runs[0] == runs[1]


def test_restore_then_continue_matches_uninterrupted_processing() -> None:
    rows = _slice()
    settings = ClusterSettings()
    articles = [
        article(r["title"], at=timedelta(minutes=i), feed=r["publisher"], url=r["url"])
        for i, r in enumerate(rows)
    ]
    straight = Clusterer(settings)
    decisions = [straight.assign(i, a) for i, a in enumerate(articles)]
    # Cut after the first merge, so the replay has to carry a merge across.
    first_merge = next(i for i, d in enumerate(decisions) if d.merged)
    cut = max(len(articles) // 2, first_merge + 1)
    assert cut < len(articles) - 20

    # The lead stores each decision and every merge; on start-up it replays them.
    resumed = Clusterer(settings)
    for d in decisions[:cut]:
        for old in d.merged:
            resumed.restore_merge(old, d.cluster_id)
    for i, a in enumerate(articles[:cut]):
        resumed.restore(i, a, decisions[i].cluster_id)
    later = [resumed.assign(i, a) for i, a in enumerate(articles) if i >= cut]
    assert later == decisions[cut:]


def test_restore_keeps_new_ids_above_restored_ones() -> None:
    c = Clusterer(ClusterSettings())
    c.restore(1, article(KURSK[0]), 41)
    fresh = c.assign(2, article(ECLIPSE[0], at=timedelta(minutes=1)))
    assert fresh.cluster_id == 42
    joined = c.assign(3, article(KURSK[1], at=timedelta(minutes=2)))
    assert joined.cluster_id == 41


def test_info_summarises_the_cluster() -> None:
    c = Clusterer(ClusterSettings())
    feed_all(c, BACKGROUND)
    ids = [
        c.assign(100 + i, article(t, at=timedelta(hours=i), feed=f"outlet{i % 2}")).cluster_id
        for i, t in enumerate(KURSK)
    ]
    info = c.info(ids[-1])
    assert info.article_count == 4
    assert info.outlet_count == 2
    assert info.first_seen == T0
    assert info.last_updated == T0 + timedelta(hours=3)
    assert info.headline in KURSK
    assert info.status == "active"
    assert {"kursk", "korean"} <= set(info.top_terms)


def test_features_mark_entities_and_ignore_the_host() -> None:
    settings = ClusterSettings(bigram_weight=0.0)
    feats = featurize(
        article(
            "Apple releases iOS 7.1 with CarPlay",
            url="http://www.example-news.com/tech/2014/03/10/apple-releases-ios-update.html",
        ),
        settings,
    )
    assert feats["ios"] > feats["releas"]  # entity-like terms weigh more (and are stemmed)
    assert "example" not in feats  # the host names the outlet, not the event
    assert "html" not in feats
    assert feats["appl"] == 1.0 + settings.url_weight  # title + URL slug; first word: no boost


def test_settings_report_every_problem_with_its_path() -> None:
    with pytest.raises(ConfigError) as err:
        ClusterSettings(max_silence=timedelta(hours=10), window=timedelta(hours=5), threshold=0)
    assert err.value.problems == (
        "clustering.window: must be at least max_silence",
        "clustering.threshold: must be in (0, 1]",
    )


def test_phrase_pairs_when_asked() -> None:
    feats = featurize(article("Mt. Gox files for bankruptcy"), ClusterSettings(bigram_weight=0.5))
    assert feats["mt gox"] == 0.5
    assert "gox fil" in feats
    assert "for" not in feats


def _slice() -> list[dict[str, str]]:
    with SLICE.open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    random.Random(13).shuffle(rows)
    return rows


def _pairwise_f1(gold: list[str], pred: list[int]) -> float:
    def pairs(counter: Counter[object]) -> int:
        return sum(n * (n - 1) // 2 for n in counter.values())

    tp = pairs(Counter(zip(gold, pred, strict=True)))
    p = tp / max(pairs(Counter(pred)), 1)
    r = tp / max(pairs(Counter(gold)), 1)
    return 2 * p * r / (p + r) if p + r else 0.0


def test_dev_slice_scores_above_a_floor() -> None:
    rows = _slice()
    c = Clusterer(ClusterSettings())
    step = timedelta(hours=36) / len(rows)
    assigned = [
        c.assign(i, article(r["title"], at=step * i, feed=r["publisher"], url=r["url"])).cluster_id
        for i, r in enumerate(rows)
    ]
    pred = [c.resolve(x) for x in assigned]
    f1 = _pairwise_f1([r["cluster"] for r in rows], pred)
    # 10 stories × 20 headlines; a random or all-in-one clustering scores ~0.1-0.2.
    assert f1 >= 0.6, f1


def test_settings_are_frozen() -> None:
    s = ClusterSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.threshold = 0.9  # type: ignore[misc]


def test_default_silence_gap_spans_the_benchmarks_36_hours() -> None:
    # The quality benchmark spreads a shuffled stream over 36 h, so two reports of
    # one story can be 30 h apart; the default must not split them on time alone.
    c = Clusterer(ClusterSettings())
    first = c.assign(1, article(KURSK[0]))
    later = c.assign(2, article(KURSK[1], at=timedelta(hours=30)))
    assert later.cluster_id == first.cluster_id


def test_state_stays_bounded_on_a_long_stream() -> None:
    settings = ClusterSettings(
        max_silence=timedelta(hours=2), window=timedelta(hours=4), idf_halflife_docs=50
    )
    c = Clusterer(settings)
    sizes = []
    for i in range(1200):
        # A new event every 10 articles, each with its own made-up names; one
        # long-running story keeps coming back and must not hold every id it took.
        event = i // 10
        title = f"Zorbex{event} and Quarnia{event} argue over Tariff{event}"
        if i % 3 == 0:
            title = "Ongoing Brexit talks stall again"
        c.assign(i, article(title, at=timedelta(minutes=6 * i)))
        if i in (400, 1199):
            sizes.append(c.stats())
    early, late = sizes
    # 4 h window at 10 articles/h: about 40 articles and 4-5 events in memory.
    assert late.clusters <= 7
    assert late.articles <= 45
    assert late.clusters <= early.clusters + 1
    assert late.terms <= early.terms * 1.5  # forgotten IDF keeps the vocabulary bounded
    assert late.postings <= early.postings * 1.5


def test_replayed_merge_sends_old_ids_to_the_survivor() -> None:
    c = Clusterer(ClusterSettings())
    c.restore_merge(7, 9)
    c.restore(1, article(KURSK[0]), 7)  # stored before the merge, under the old id
    c.restore(2, article(KURSK[1], at=timedelta(minutes=1)), 9)
    assert c.resolve(7) == 9
    assert c.info(7).article_count == 2
    fresh = c.assign(3, article(ECLIPSE[0], at=timedelta(minutes=2)))
    assert fresh.cluster_id == 10  # never reuses an id seen in the stored history


def test_an_article_without_content_words_gets_its_own_cluster() -> None:
    c = Clusterer(ClusterSettings())
    c.assign(1, article(KURSK[0]))
    empty = c.assign(2, article("What is it, and why?", at=timedelta(minutes=1)))
    assert empty.is_new
    assert empty.matched_terms == ()
    other = c.assign(3, article("Where are they now?", at=timedelta(minutes=2)))
    assert other.cluster_id != empty.cluster_id


def test_full_text_lead_is_read_and_title_weighs_at_least_as_much() -> None:
    settings = ClusterSettings(text_weight=0.5)
    text = "Officials in Kursk confirmed the arrival. " + "Unrelated tail words. " * 200
    feats = featurize(article("Troops arrive", text=text), settings)
    assert "kursk" in feats
    assert feats["troop"] > settings.text_weight
    # Only the lead is read: nothing past max_text_chars counts.
    tail = featurize(article("Troops arrive", text="x " * 600 + "Zanzibar"), settings)
    assert "zanzibar" not in tail


def test_explanations_show_words_not_stems() -> None:
    c = Clusterer(ClusterSettings())
    feed_all(c, BACKGROUND)
    c.assign(100, article("Apple releases iOS update for iPhones", at=timedelta(hours=1)))
    joined = c.assign(101, article("Apple released iOS update", at=timedelta(hours=2)))
    assert not joined.is_new
    assert "released" in joined.matched_terms
    assert "releas" not in joined.matched_terms
    assert "apple" in c.info(joined.cluster_id).top_terms


# -- names from the full text (issue 13) ----------------------------------------


def _names(title: str, text: str) -> set[str]:
    return set(entities(article(title, text=text), ClusterSettings()))


def test_names_skip_sentence_starts_unless_capitalised_elsewhere() -> None:
    body = (
        "Officials said the troops arrived. Thousands of soldiers from Pyongyang "
        "reached Kursk on Monday, the Pentagon said. Kursk has been contested since "
        "August; about 8,000 troops are there. NATO is watching."
    )
    names = _names("Troops reach the front", body)
    # Mid-sentence capitals, acronyms and whole numbers with separators are names;
    # "Officials" and "Thousands" are capitalised by grammar; weekdays and months are
    # shared by unrelated events.
    assert {"pyongyang", "kursk", "pentagon", "8,000", "nato"} <= names
    assert not {"official", "thousand", "monday", "august", "000"} & names
    # "Kursk" also starts a sentence: that mention counts, since the text names it.
    assert entities(article("x", text=body), ClusterSettings())["kursk"] == 2.0


def test_title_case_headline_gives_only_acronyms_and_numbers() -> None:
    body = "A long enough body about the team and its season. " * 5
    assert _names("Saints Place Reggie Bush On Injured Reserve In 2008", body) == {"2008"}
    sentence_case = _names("Saints place Reggie Bush on injured reserve in 2008", body)
    assert {"reggi", "bush", "2008"} <= sentence_case


def test_headline_only_and_caseless_scripts_give_no_names() -> None:
    # No body (or a one-line summary): too few names to decide by.
    assert _names("Pentagon says North Korean troops are in Kursk", "") == set()
    korean = "북한군 수천 명이 쿠르스크 지역에 배치됐다고 미 국방부가 밝혔다. " * 6
    # Hangul has no case: only numbers could be names, and there are none here.
    assert _names("북한군 쿠르스크 배치", korean) == set()


def _korea_stream(settings: ClusterSettings) -> tuple[Clusterer, dict[str, set[int]]]:
    c = Clusterer(settings)
    clusters: dict[str, set[int]] = {}
    for i, report in enumerate(ORIGINAL + DEVELOPMENTS):
        decision = c.assign(
            i + 1,
            article(
                report.title, at=timedelta(minutes=20 * i), feed=f"outlet{i}", text=report.body
            ),
        )
        clusters.setdefault(report.event, set()).add(decision.cluster_id)
    return c, clusters


def test_developments_of_one_story_are_events_of_their_own() -> None:
    _, clusters = _korea_stream(ClusterSettings())
    # Each event's reports share one cluster, and no two events share one.
    assert all(len(ids) == 1 for ids in clusters.values()), clusters
    assert len({next(iter(ids)) for ids in clusters.values()}) == len(clusters)


def test_without_the_name_and_fit_tests_the_capture_joins_the_original() -> None:
    # The same stream with the new signals off: what issue 13 reported.
    loose = ClusterSettings(entity_agreement=0.0, singleton_entity_agreement=0.0, relative_fit=0.0)
    _, clusters = _korea_stream(loose)
    assert clusters["capture"] == clusters["kursk"]


def test_new_event_says_which_event_it_resembled_and_why_not() -> None:
    c = Clusterer(ClusterSettings())
    for i, report in enumerate(ORIGINAL):
        c.assign(i + 1, article(report.title, at=timedelta(minutes=i), text=report.body))
    capture = DEVELOPMENTS[0]
    decision = c.assign(9, article(capture.title, at=timedelta(hours=2), text=capture.body))
    assert decision.is_new
    assert any(s.startswith("not event 1: content") for s in decision.signals)
    joined = c.assign(10, article(ORIGINAL[0].title, at=timedelta(hours=3), text=ORIGINAL[1].body))
    assert joined.cluster_id == 1
    assert joined.signals
    assert joined.signals[0].startswith("names agree")


def test_restore_rebuilds_the_names_and_fit_of_a_core() -> None:
    live = Clusterer(ClusterSettings())
    stored = []
    for i, report in enumerate(ORIGINAL):
        a = article(report.title, at=timedelta(minutes=i), text=report.body)
        stored.append((i + 1, a, live.assign(i + 1, a).cluster_id))
    restored = Clusterer(ClusterSettings())
    for article_id, a, cid in stored:
        restored.restore(article_id, a, cid)
    capture = DEVELOPMENTS[0]
    late = article(capture.title, at=timedelta(hours=2), text=capture.body)
    first = restored.assign(9, late)
    assert first.is_new
    assert first.signals == live.assign(9, late).signals
    second = DEVELOPMENTS[1]
    assert second.event == capture.event
    again = restored.assign(10, article(second.title, at=timedelta(hours=3), text=second.body))
    assert again.cluster_id == first.cluster_id
