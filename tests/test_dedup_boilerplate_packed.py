"""dedup: the packed boilerplate learner (issue 17) learns exactly as the learner of dicts.

``tests/support/boilerplate_dicts.py`` is ``Boilerplate`` as it was before its candidate
tables were packed. Both are fed the same observations and must hold the same state
after every one: the candidates and their counts, the learned shingles in the same
order (the order decides which go first when the table is cut back), the outlets'.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from aggregator.models import Article
from aggregator.process.dedup import Boilerplate, BoilerplateSettings, DedupIndex
from tests.support import boilerplate_dicts as before
from tests.support.boilerplate_news import headline_farm, press_releases, stock_farm
from tests.test_dedup_packed import SETTINGS, farm_stream, mixed_stream

# small tables: a few thousand observations reach every cap and swap generations often
SMALL = BoilerplateSettings(
    horizon=37,
    min_stories=3,
    outlet_items=4,
    outlet_min_items=2,
    observe=40,
    max_learned=60,
    max_outlet_learned=12,
    max_outlets=6,
)


def _candidates(bp: Boilerplate) -> list[dict[int, tuple[int, int, int]]]:
    return [bp._new.entries(), bp._old.entries()]


def assert_same(packed: Boilerplate, dicts: Any, candidates: bool = True) -> None:
    assert packed.stats() == dicts.stats()
    if candidates:
        assert _candidates(packed) == [dicts._new, dicts._old]
    # items(), not ==: the order of the learned shingles is part of the state
    assert list(packed.learned.items()) == list(dicts.learned.items())
    assert list(packed._outlets) == list(dicts._outlets)
    for name, o in packed._outlets.items():
        theirs = dicts._outlets[name]
        assert list(o.learned.items()) == list(theirs.learned.items())
        assert o.active == theirs.active
        assert list(o.stories) == [s for s, _ in theirs.items]
        assert list(o.lens) == [len(h) for _, h in theirs.items]
        assert o.hashes.tolist() == [h for _, hs in theirs.items for h in hs.tolist()]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_stream_learns_as_the_learner_of_dicts(seed: int) -> None:
    rng = random.Random(seed)
    # a skewed pool: some hashes recur often (boilerplate), most seldom
    pool = [rng.getrandbits(64) for _ in range(3_000)]
    packed, dicts = Boilerplate(SMALL), before.Boilerplate(SMALL)
    stories: list[int] = []
    learned_ever = 0
    for i in range(2_500):
        size = rng.randint(0, 40)
        picks = {pool[min(int(rng.paretovariate(0.6)) - 1, len(pool) - 1)] for _ in range(size)}
        hashes = np.array(sorted(picks), dtype=np.uint64)
        # a copy of a recent story now and then: copies count once
        story = rng.choice(stories[-20:]) if stories and rng.random() < 0.3 else i
        stories.append(story)
        feed = f"feed{rng.randrange(9)}"
        packed.observe(feed, hashes, story)
        dicts.observe(feed, hashes, story)
        assert_same(packed, dicts)
        learned_ever = max(learned_ever, len(packed.learned))
    # the stream reached the caps: learned cut back, generations swapped, outlets evicted
    assert learned_ever > SMALL.max_learned
    assert packed.stats()["candidates"] > 0
    assert packed.stats()["outlets"] <= SMALL.max_outlets * 11 // 10


def _index_pair(settings: Any) -> tuple[DedupIndex, DedupIndex]:
    packed, dicts = DedupIndex(settings), DedupIndex(settings)
    dicts.boilerplate = before.Boilerplate(settings.boilerplate)  # type: ignore[assignment]
    return packed, dicts


def _replay(stream: list[tuple[int, Article]], settings: Any) -> int:
    packed, dicts = _index_pair(settings)
    for i, (article_id, a) in enumerate(stream):
        assert packed.check(a) == dicts.check(a)
        packed.add(article_id, a)
        dicts.add(article_id, a)
        # every candidate each time would be quadratic: their counts are in the stats
        assert_same(packed.boilerplate, dicts.boilerplate, candidates=i % 50 == 0)
    assert_same(packed.boilerplate, dicts.boilerplate)
    return len(packed.boilerplate.learned)


@pytest.mark.parametrize(("size", "name"), [(1500, "small"), (2500, "defaults")])
def test_index_decides_and_learns_as_with_the_learner_of_dicts(size: int, name: str) -> None:
    assert _replay(mixed_stream(size, seed=size), SETTINGS[name]) > 0


def test_farms_and_press_releases_learn_as_before() -> None:
    t = datetime(2025, 3, 3, 14, tzinfo=UTC)
    for groups in (press_releases(t), stock_farm(t, feeds=24, stories=40), headline_farm(t)):
        _replay(farm_stream(groups), SETTINGS["defaults"])


def test_candidate_tables_are_smaller_than_the_dicts() -> None:
    rng = np.random.default_rng(7)
    packed, dicts = Boilerplate(), before.Boilerplate()
    for i in range(1_500):  # within one horizon: every hash stays a candidate
        hashes = np.unique(rng.integers(1, 2**63, size=96, dtype=np.uint64))
        packed.observe(f"feed{i % 50}", hashes, story=i)
        dicts.observe(f"feed{i % 50}", hashes, story=i)
    assert packed.stats() == dicts.stats()
    candidates = packed.stats()["candidates"]
    assert candidates > 100_000
    ours = packed._new.nbytes() + packed._old.nbytes()
    # a dict entry, an int and a tuple were ~160 B; a cell and a row each ~42 B; a
    # candidate seen once (all of these) is its cell alone: ~22 B
    assert ours < candidates * 30
