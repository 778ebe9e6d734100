"""dedup: a text's boilerplate is tested in one search (issue 17), with the same answers.

``Boilerplate.mask`` answers "is each of these hashes learned boilerplate, across
outlets or the outlet's own?" from the learned keys kept sorted, where every decision
asked the learner's dicts one shingle at a time. What the decisions read from it (the
sketch's walk past boilerplate, the lead, ``_distinctive``, ``_phrases``) must be what
they read before: the replays against the index of dicts (``tests/test_dedup_packed.py``)
hold the decisions, explanations included; here the mask itself, its sorted keys across
cuts, merges and pickling, and the runs the explanations are read from.
"""

from __future__ import annotations

import pickle
import random
from datetime import UTC, datetime

import numpy as np
import pytest

from aggregator.process import dedup
from aggregator.process.dedup import (
    Boilerplate,
    BoilerplateSettings,
    DedupIndex,
    _merged_runs,
)
from tests.support import dedup_dict_index as before
from tests.support.boilerplate_news import stock_farm
from tests.support.dedup_dict_index import _covered_runs
from tests.test_dedup_packed import farm_stream

T0 = datetime(2025, 3, 3, 14, tzinfo=UTC)
# small caps: a few thousand observations learn, cut the learned table back, evict outlets
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


def _by_definition(bp: Boilerplate, values: np.ndarray, feed: str) -> list[bool]:
    own = bp.outlet(feed)
    return [h in bp.learned or h in own for h in values.tolist()]


@pytest.mark.parametrize(("seed", "fresh_most"), [(1, 1024), (2, 3), (3, 0)])
def test_mask_is_membership_in_the_learned_dicts(
    seed: int, fresh_most: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # fresh_most 3 / 0: the keys learned since the sort are merged in often / always
    monkeypatch.setattr(dedup, "_FRESH_MOST", fresh_most)
    rng = random.Random(seed)
    pool = [rng.getrandbits(64) for _ in range(2_000)]
    bp = Boilerplate(SMALL)
    asked = hits = most = 0
    for i in range(2_000):
        picks = {pool[min(int(rng.paretovariate(0.6)) - 1, len(pool) - 1)] for _ in range(30)}
        hashes = np.array(sorted(picks), dtype=np.uint64)
        feed = f"feed{rng.randrange(9)}"
        bp.observe(feed, hashes, story=i if rng.random() < 0.8 else max(0, i - 3))
        most = max(most, len(bp.learned))
        if i % 3:  # not after every observation: the learned keys pile up between asks
            continue
        values = np.array(
            [rng.choice(pool) for _ in range(40)] + [rng.getrandbits(64) for _ in range(5)],
            dtype=np.uint64,
        )
        for name in (feed, f"feed{rng.randrange(9)}", "never seen"):
            got = bp.mask(values, name).tolist()
            assert got == _by_definition(bp, values, name)
            asked += 1
            hits += sum(got)
        if i % 200 == 0:  # a pickled learner builds its sorted keys again
            copy = pickle.loads(pickle.dumps(bp))
            assert copy.mask(values, feed).tolist() == _by_definition(bp, values, feed)
    assert hits > asked  # the stream learned boilerplate and the masks found it
    assert most > SMALL.max_learned  # and the learned table was cut back


def test_mask_of_nothing_learned_and_of_no_values() -> None:
    bp = Boilerplate()
    values = np.array([3, 1, 2], dtype=np.uint64)
    assert bp.mask(values, "x").tolist() == [False, False, False]
    bp.learned[2] = 1  # set from outside: the sorted keys notice the change in size
    assert bp.mask(values, "x").tolist() == [False, False, True]
    assert bp.mask(np.zeros(0, dtype=np.uint64), "x").tolist() == []


def test_merged_runs_are_the_covered_runs() -> None:
    rng = random.Random(5)
    for _ in range(3_000):
        words = rng.randint(0, 40)
        size = min(rng.randint(1, 5), words) if words else 0
        shingles = max(1, words - size + 1) if words else rng.randint(0, 2)
        flags = [rng.random() < rng.choice((0.05, 0.3, 0.8)) for _ in range(shingles)]
        where = [i for i, f in enumerate(flags) if f]
        assert list(_merged_runs(where, words, size)) == _covered_runs(flags, words, size)


def test_explanations_and_distinctive_text_are_as_asked_one_shingle_at_a_time() -> None:
    # the stock farm learns its stock sentences: copies are explained with the phrases
    # set aside, non-copies with the article they were judged not to copy
    stream = farm_stream(stock_farm(T0, feeds=24, stories=40))
    ours, theirs = DedupIndex(), before.DedupIndex()
    phrases = rejected = 0
    for article_id, a in stream:
        mine = ours.check(a)
        assert mine == theirs.check(a)
        phrases += bool(mine.boilerplate)
        rejected += mine.not_copy_of is not None
        ours.add(article_id, a)
        theirs.add(article_id, a)
    assert phrases >= 10
    assert rejected > 0
