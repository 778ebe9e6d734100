"""dedup: boilerplate never makes a copy (issue 13, point 4), at the index level.

The consumer/daemon path is in ``test_daemon_e2e_boilerplate.py``; here the decisions, the
explanation, the learner's bound and the replay that rebuilds it at start.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aggregator.models import Article
from aggregator.process.dedup import Boilerplate, BoilerplateSettings, DedupIndex, DedupSettings
from aggregator.text import content_hash, shingle_hashes, words
from tests import factories
from tests.support.boilerplate_news import (
    FORWARD_LOOKING,
    Item,
    press_releases,
    stock_farm,
)

T0 = datetime(2025, 3, 3, 14, tzinfo=UTC)


def article(feed: str, it: Item) -> Article:
    url = f"https://news.example.org/{feed}/{it.guid}"
    return factories.article(
        it.title,
        text=it.text,
        feed=feed,
        url=url,
        canonical_url=url,
        summary="",
        html="",
        published=it.published,
        fetched_at=it.published,
        content_hash=content_hash(it.title, it.text),
    )


def in_order(groups: dict[str, list[Item]]) -> list[tuple[str, Item]]:
    return sorted(
        ((f, it) for f, items in groups.items() for it in items),
        key=lambda fi: (fi[1].published, fi[0]),
    )


def test_two_press_releases_sharing_about_and_disclaimer_are_not_copies() -> None:
    index = DedupIndex()
    decisions = {}
    for i, (feed, it) in enumerate(in_order(press_releases(T0))):
        decisions[it.guid] = index.check(article(feed, it))
        index.add(i, article(feed, it))
    q4 = decisions["acme-q4"]
    assert q4.duplicate_of is None
    # explained: it did share text with the CFO release (article 0), not its story
    assert (q4.not_copy_of, q4.not_copy_reason) == (0, "lead")
    # the newswire's re-post of the CFO release, under another footer, is a copy
    assert (decisions["nw-acme-cfo"].duplicate_of, decisions["nw-acme-cfo"].kind) == (0, "near")


def test_the_same_releases_counted_as_plain_text_would_be_a_copy() -> None:
    # The case is a real trap: without the lead rule the second release is a copy.
    (cfo, q4), _ = press_releases(T0)["acme-newsroom"], None
    index = DedupIndex(DedupSettings(lead_share=0.0))
    index.add(0, article("acme-newsroom", cfo))
    assert index.check(article("acme-newsroom", q4)).duplicate_of == 0


def test_stock_sentence_farm_makes_no_copies_across_stories() -> None:
    farm = stock_farm(T0, feeds=24, stories=40)
    index = DedupIndex()
    story: dict[int, str] = {}
    across = copies = 0
    for i, (feed, it) in enumerate(in_order(farm)):
        d = index.check(article(feed, it))
        index.add(i, article(feed, it))
        story[i] = it.story
        if d.duplicate_of is not None:
            copies += 1
            across += story[d.duplicate_of] != it.story
    total = len(story)
    assert total == 960
    # Before: 480 of 960 were "copies" of another story. The few left are stories
    # the generator words almost alike once the learned stock text is set aside.
    assert across <= total * 0.005, (across, copies)
    learned = index.boilerplate.learned
    for phrase in ("details were not immediately", "people familiar with the"):
        (h,) = shingle_hashes(words(phrase), 4).tolist()
        assert h in learned, phrase


STORY = "\n\n".join(
    [
        "KYIV -- Ukraine's grid operator imposed rolling blackouts in six regions on Tuesday "
        "after overnight strikes damaged two thermal power plants and a substation.",
        "Ukrenergo said repair crews were working in freezing temperatures and that "
        "households in Kharkiv and Sumy should expect outages of up to eight hours.",
        "Neighbouring Poland and Slovakia increased emergency electricity exports.",
    ]
)


def test_a_copy_is_explained_with_what_was_ignored() -> None:
    farm = stock_farm(T0, feeds=6, stories=12)
    index = DedupIndex()
    for i, (feed, it) in enumerate(in_order(farm)):
        index.add(i, article(feed, it))
    text = f"{STORY}\n\nFurther details were not immediately available."
    index.add(100, article("wire", Item("w", "Blackouts", text, "grid", T0)))
    copy = Item("again", "Rolling blackouts", f"(Adds quote)\n\n{text}", "grid", T0)
    d = index.check(article("another", copy))
    assert (d.duplicate_of, d.kind) == (100, "near")
    assert any("further details were not immediately available" in p for p in d.boilerplate)


def test_wire_copies_with_different_outlet_footers_are_found_after_footers_are_learned() -> None:
    farm = stock_farm(T0, feeds=3, stories=12)
    footers = {
        "farm00": "Copyright 2025 Daily Ledger. All rights reserved. This material may not "
        "be published, broadcast, rewritten or redistributed without permission.",
        "farm01": "Subscribe to the Morning Brief newsletter for the day's top business "
        "stories delivered to your inbox before the markets open every weekday.",
    }
    index = DedupIndex()
    i = 0
    for feed, it in in_order(farm):
        if feed in footers:  # each outlet's own items teach it its footer
            it = Item(it.guid, it.title, f"{it.text}\n\n{footers[feed]}", it.story, it.published)
            index.add(i, article(feed, it))
            i += 1
    assert index.boilerplate.outlet("farm00")
    assert index.boilerplate.outlet("farm01")
    story = STORY
    wire = Item("w1", "Blackouts", f"{story}\n\n{footers['farm00']}", "grid", T0)
    index.add(1000, article("farm00", wire))
    again = Item("w2", "Blackouts", f"{story}\n\n{footers['farm01']}", "grid", T0)
    d = index.check(article("farm01", again))
    assert (d.duplicate_of, d.kind) == (1000, "near")
    assert d.similarity >= 0.9  # footers left out: the story is all that is compared


def test_learner_memory_is_bounded() -> None:
    settings = BoilerplateSettings(horizon=50, max_learned=40, outlet_items=4, max_outlets=10)
    bp = Boilerplate(settings)
    import numpy as np

    rng = np.random.default_rng(1)
    common = rng.integers(1, 2**63, size=60, dtype=np.uint64)
    for i in range(2_000):
        own = rng.integers(1, 2**63, size=90, dtype=np.uint64)
        hashes = np.unique(np.concatenate([own, common[(i % 3) * 20 : (i % 3) * 20 + 20]]))
        bp.observe(f"feed{i % 25}", hashes, story=i)
    stats = bp.stats()
    assert stats["candidates"] <= 2 * 50 * 110  # two generations of the horizon
    assert stats["learned"] <= 40 * 11 // 10
    assert stats["outlets"] <= 11
    assert set(common.tolist()) & set(bp.learned), "what recurs is learned"


def test_replaying_the_same_articles_rebuilds_the_same_learned_state() -> None:
    items = in_order(stock_farm(T0, feeds=8, stories=12)) + in_order(press_releases(T0))
    first, second = DedupIndex(), DedupIndex()
    live = []
    for i, (feed, it) in enumerate(items):
        live.append(first.check(article(feed, it)))
        first.add(i, article(feed, it))
    for i, (feed, it) in enumerate(items):  # what Consumer.rebuild does: add only
        second.add(i, article(feed, it))
    assert first.boilerplate.learned == second.boilerplate.learned
    probe = article("farm03", Item("p", "Probe", FORWARD_LOOKING + " " + FORWARD_LOOKING, "p", T0))
    assert first.check(probe) == second.check(probe)
    assert any(d.duplicate_of is not None for d in live)
