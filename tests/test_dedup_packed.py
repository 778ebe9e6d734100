"""dedup: the packed index (issue 17) decides exactly as the index of dicts did.

``tests/support/dedup_dict_index.py`` is ``dedup.py`` as it was before the packing.
Both are fed the same articles in the same order (copies, trimmed copies, replaced
ids, farms of stock text, generated reports, a window that evicts) and must give the
same decisions, explanations included, and the same table sizes.
"""

from __future__ import annotations

import copy
import heapq
import pickle
import random
from array import array
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from aggregator.models import Article
from aggregator.process.dedup import (
    _EMPTY,
    BoilerplateSettings,
    DedupIndex,
    DedupSettings,
    _best_candidates,
    _Expiry,
    _Postings,
    _SlotMap,
    _WordMap,
)
from aggregator.text import content_hash
from tests import factories
from tests.support import dedup_dict_index as before
from tests.support.benchmarks import load_benchmark
from tests.support.boilerplate_news import Item, headline_farm, press_releases, stock_farm

T0 = datetime(2024, 11, 4, 9, tzinfo=UTC)
PAIRS = Path(__file__).parent / "data" / "dedup" / "pairs.jsonl"


def _gen_articles() -> ModuleType:
    return load_benchmark("gen_articles")


def article(text: str, *, feed: str, key: str, published: datetime, title: str = "T") -> Article:
    url = f"https://{feed}.example/{key}"
    return factories.bare_article(
        title,
        text=text,
        feed=feed,
        url=url,
        published=published,
        content_hash=content_hash(title, text),
    )


def farm_stream(groups: dict[str, list[Item]]) -> list[tuple[int, Article]]:
    """A farm's items as (id, article), in order of publication (then outlet)."""
    items = sorted(
        ((f, it) for f, its in groups.items() for it in its),
        key=lambda x: (x[1].published, x[0]),
    )
    return [
        (i, article(it.text, feed=f, key=it.guid, published=it.published, title=it.title))
        for i, (f, it) in enumerate(items)
    ]


def mixed_stream(size: int, seed: int) -> list[tuple[int, Article]]:
    """``size`` articles with their ids: generated reports, copies of them (whole,
    trimmed, with an intro or another outlet's footer), the labelled pairs, farms of
    stock text and press releases; some ids added twice (a replacement)."""
    import json

    rng = random.Random(seed)
    gen = _gen_articles()
    reports = list(gen.generate_articles(size, seed=seed))
    with PAIRS.open(encoding="utf-8") as fh:
        pairs = [json.loads(line) for line in fh]
    farm = [
        (feed, it)
        for groups in (stock_farm(T0, feeds=10, stories=12), press_releases(T0))
        for feed, items in groups.items()
        for it in items
    ]
    footers = [
        "Copyright 2024 Daily Ledger. All rights reserved. This material may not be "
        "published, broadcast, rewritten or redistributed without permission.",
        "Subscribe to the Morning Brief newsletter for the day's top business stories.",
    ]
    out: list[tuple[int, Article]] = []
    texts: list[str] = []
    ids = rng.sample(range(1, 50 * size), size)  # not in order, as after a restore
    for i in range(size):
        when = T0 + timedelta(minutes=7 * i + rng.randint(-60, 60))  # out of order too
        feed = f"outlet{rng.randrange(12)}"
        roll = rng.random()
        if roll < 0.45 or not texts:
            text = reports[i].text
        elif roll < 0.7:  # a copy of an earlier text, changed the way outlets do
            paras = rng.choice(texts).split("\n\n")
            if rng.random() < 0.5:
                paras = paras[: rng.randint(1, len(paras))]
            if rng.random() < 0.3:
                paras = ["(Adds comment from the ministry)", *paras]
            if rng.random() < 0.4:
                paras = [*paras, rng.choice(footers)]
            text = "\n\n".join(paras)
        elif roll < 0.85:
            row = rng.choice(pairs)
            text = str(row[rng.choice(("a", "b"))])
        else:
            feed, it = rng.choice(farm)
            text = it.text
        texts.append(text)
        article_id = ids[i]
        if out and rng.random() < 0.03:
            article_id = rng.choice(out)[0]  # the same id again: replaces it
        out.append((article_id, article(text, feed=feed, key=f"{i}", published=when)))
    return out


SETTINGS = {
    # small tables, so that a few thousand articles reach every cap: full posting
    # lists (skipped anchors), the candidate cap, learned boilerplate, the window
    "small": DedupSettings(
        window=timedelta(days=1),
        max_postings=8,
        max_candidates=24,
        boilerplate=BoilerplateSettings(horizon=300, max_learned=400),
    ),
    "defaults": DedupSettings(window=timedelta(days=30)),
}


def _run(index: Any, stream: list[tuple[int, Article]], check: bool) -> list[Any]:
    out = []
    for article_id, a in stream:
        if check:
            out.append(index.check(a))
        index.add(article_id, a)
    return out


@pytest.mark.parametrize(("size", "name"), [(300, "small"), (1500, "small"), (2500, "defaults")])
def test_packed_index_decides_as_the_index_of_dicts(size: int, name: str) -> None:
    settings = SETTINGS[name]
    old_settings = before.DedupSettings(
        **{f: getattr(settings, f) for f in settings.__dataclass_fields__ if f != "boilerplate"},
        boilerplate=before.BoilerplateSettings(**vars_of(settings.boilerplate)),
    )
    stream = mixed_stream(size, seed=size)
    fill, probes = stream[: size // 2], stream[size // 2 :]
    packed, dicts = DedupIndex(settings), before.DedupIndex(old_settings)
    # the fill half without checks (the start-up replay), the rest checked as live
    assert _run(packed, fill, check=False) == _run(dicts, fill, check=False)
    assert packed.stats() == dicts.stats()
    ours, theirs = _run(packed, probes, check=True), _run(dicts, probes, check=True)
    assert [_fields(d) for d in ours] == [_fields(d) for d in theirs]
    assert packed.stats() == dicts.stats()
    assert packed.boilerplate.learned == dicts.boilerplate.learned
    # the stream exercises the decisions: copies, rejections, explanations
    assert sum(d.kind == "near" for d in ours) >= len(probes) // 20
    assert sum(bool(d.distinctive_text) for d in ours) >= 1
    if size >= 1500:
        assert sum(d.not_copy_of is not None for d in ours) >= 1
    if name == "small":
        assert packed.stats()["articles"] < size * 0.9  # the window evicted


def vars_of(settings: Any) -> dict[str, Any]:
    return {f: getattr(settings, f) for f in settings.__dataclass_fields__}


def _fields(d: Any) -> tuple[Any, ...]:
    return tuple(getattr(d, f) for f in d.__dataclass_fields__)


def test_farms_and_labelled_pairs_are_decided_as_before() -> None:
    import json

    t = datetime(2025, 3, 3, 14, tzinfo=UTC)
    for groups in (
        press_releases(t),
        stock_farm(t, feeds=24, stories=40),
        headline_farm(t, feeds=12),
    ):
        stream = farm_stream(groups)
        ours = _run(DedupIndex(), stream, check=True)
        assert ours == _run(before.DedupIndex(), stream, check=True)
    with PAIRS.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            a = article(str(row["a"]), feed="a", key="1", published=T0)
            b = article(str(row["b"]), feed="b", key="2", published=T0)
            packed, dicts = DedupIndex(), before.DedupIndex()
            packed.add(1, a)
            dicts.add(1, a)
            assert packed.check(b) == dicts.check(b)


def test_word_map_is_a_dict() -> None:
    rng = random.Random(5)
    table, plain = _WordMap(bits=2), {}
    # keys crowding a few cells (the same low bits), the extremes, negative ids
    keys = [0, 1, 2**64 - 1, 2**63, *(k << 40 for k in range(50)), *rng.sample(range(10**6), 300)]
    for _ in range(20_000):
        key = rng.choice(keys)
        op = rng.random()
        if op < 0.5:
            value = rng.randrange(-(2**31) + 1, 2**31)  # int32 slots; -2**31 marks free
            table.set(key, value)
            plain[key] = value
        elif op < 0.8:
            assert table.pop(key) == plain.pop(key, None)
        else:
            assert table.get(key) == plain.get(key)
        assert table.count == len(plain)
    assert sorted(table.items()) == sorted(plain.items())
    assert all(table.get(k) == plain.get(k) for k in keys)


def test_postings_as_arrays_are_the_lists_they_replaced() -> None:
    # The candidates' postings and weights are gathered as array buffers (issue 17);
    # article by article, while posting lists grow to the cap and shrink as the window
    # evicts, they are the lists the loop built, value for value and in order (the
    # order fixes how the weights are summed, and so the candidates' ranking).
    index = DedupIndex(SETTINGS["small"])
    multi = 0
    for article_id, a in mixed_stream(1500, seed=41):
        t = index._prepare(a)
        if t.sketch is not None:
            _, found = index._anchor_walk(t.sketch, index.settings.probe_anchors)
            postings, weights = index._postings(found)
            want_p: list[int] = []
            want_w: list[float] = []
            for ids in found:
                if ids >= 0:
                    want_p.append(ids)
                    want_w.append(1.0)
                elif ids != _EMPTY:
                    posting = index._multi.get(-1 - ids).tolist()
                    want_p.extend(posting)
                    want_w.extend([1.0 / len(posting)] * len(posting))
                    multi += 1
            assert (postings.tolist(), weights.tolist()) == (want_p, want_w)
            most = index.settings.max_candidates
            assert _best_candidates(postings, weights, most, index._id) == _best_candidates(
                want_p, want_w, most, index._id
            )
        index.check(a)
        index.add(article_id, a)
    assert multi >= 1000  # anchors shared by several articles


def test_pooled_posting_lists_are_lists() -> None:
    # The shared anchors' slot lists live in pools of rows (issue 17); under random
    # appends and removals (lists growing through every row width and back to one
    # slot) each keeps exactly the slots, in the order, of a plain list.
    rng = random.Random(9)
    pool, plain = _Postings(), {}
    for _ in range(20_000):
        op = rng.random()
        if op < 0.15 or not plain:
            a, b = rng.sample(range(10**6), 2)
            plain[pool.new(a, b)] = [a, b]
        elif op < 0.6:
            i = rng.choice(list(plain))
            if len(plain[i]) < 100:
                slot = rng.choice([s for s in range(10**6, 10**6 + 200) if s not in plain[i]])
                pool.append(i, slot)
                plain[i].append(slot)
        else:
            i = rng.choice(list(plain))
            slot = rng.choice(plain[i])
            plain[i].remove(slot)
            last = pool.remove(i, slot)
            if len(plain[i]) == 1:
                assert last == plain.pop(i)[0]
            else:
                assert last is None
        assert pool.lists() == len(plain)
        assert pool.postings() == sum(len(v) for v in plain.values())
    assert all(pool.get(i).tolist() == v for i, v in plain.items())
    for copied in (pool, copy.deepcopy(pool), pickle.loads(pickle.dumps(pool))):
        for i, v in plain.items():
            out = array("i", [-5])
            assert copied.extend(i, out) == len(v)
            assert out.tolist() == [-5, *v]
    assert max(len(v) for v in plain.values()) > 16  # wide rows were reached


def test_an_indexed_article_costs_its_sketch_and_lead_and_little_more() -> None:
    # issue 17: besides the 64-bit sketch (512 B) and lead (256 B) the decisions compare,
    # an article's slot, table cells, postings, paragraphs and expiry key are ~0.4-0.6
    # KB (the tables are powers of two: sparser just after they grew, as here); the url
    # and content hash strings (~350 B) and an array per shared anchor are gone
    index = DedupIndex(SETTINGS["defaults"])
    stream = mixed_stream(2000, seed=7)
    for article_id, a in stream:
        index.add(article_id, a)
    parts = index.memory()
    assert set(parts) >= {"slots", "tables", "postings", "paragraphs", "expiry", "boilerplate"}
    assert index.nbytes() == sum(parts.values())
    window = index.nbytes() - parts["boilerplate"]
    assert 768 < window / len(index) < 1500


def test_slot_map_is_a_dict() -> None:
    # The id, url and content hash tables hold slots only and read each key back from
    # the slot's row (issue 17). Under random sets and pops, with keys crowding a few
    # cells, the extremes and negative ids, and rows reused only once their slot is
    # popped (``DedupIndex``'s rule), it answers as a dict of the keys.
    rng = random.Random(11)
    table, plain = _SlotMap(bits=2), {}
    keys = np.zeros(400, dtype=np.int64)  # a slot's key, as ``_id`` holds ids
    free = list(range(400))
    pool = [0, 1, -1, 2**63 - 1, -(2**63), *(k << 40 for k in range(50))]
    pool += rng.sample(range(10**6), 300)
    for _ in range(20_000):
        key = rng.choice(pool)
        op = rng.random()
        if op < 0.5 and key not in plain and free:
            slot = free.pop(rng.randrange(len(free)))
            keys[slot] = key  # the row first, then the table
            table.set(key, slot, keys)
            plain[key] = slot
        elif op < 0.8:
            slot = table.pop(key, keys)
            assert slot == plain.pop(key, None)
            if slot is not None:
                keys[slot] = rng.choice(pool)  # the row is reused for something else
                free.append(slot)
        else:
            assert table.get(key, keys) == plain.get(key)
        assert table.count == len(plain)
    assert sorted(table.items(keys)) == sorted(plain.items())
    assert all(table.get(k, keys) == plain.get(k) for k in pool)
    unsigned = np.zeros(4, dtype=np.uint64)  # url and content hash digests
    urls = _SlotMap()
    for slot, key in enumerate([1, 2**64 - 1, 2**63, 12345]):
        unsigned[slot] = key
        urls.set(key, slot, unsigned)
    assert [urls.get(k, unsigned) for k in (1, 2**64 - 1, 2**63, 12345, 7)] == [0, 1, 2, 3, None]


def test_expiry_heap_pops_as_heapq() -> None:
    # The expiry keys are two arrays (issue 17); pushed and popped at random, with
    # equal publication times and slots, they leave in the order ``heapq`` gave the
    # keys published × 2**32 + slot.
    rng = random.Random(13)
    heap, plain = _Expiry(), []
    for _ in range(20_000):
        if rng.random() < 0.55 or not plain:
            published = rng.choice([rng.randrange(2**52), rng.randrange(40), 1_700_000_000_000_000])
            slot = rng.randrange(2**31) if rng.random() < 0.2 else rng.randrange(30)
            heap.push(published, slot)
            heapq.heappush(plain, (published << 32) + slot)
        else:
            assert heap.oldest() == plain[0] >> 32
            assert heap.pop() == divmod(heapq.heappop(plain), 1 << 32)
        assert len(heap) == len(plain)
    while plain:
        assert heap.pop() == divmod(heapq.heappop(plain), 1 << 32)


def test_paragraph_pool_keeps_each_slots_hashes() -> None:
    # Every slot's paragraph hashes in one pool, compacted as the window evicts (issue
    # 17): after every addition each indexed article's are the ones it was added with.
    index = DedupIndex(replace(SETTINGS["small"], window=timedelta(hours=2)))
    expected: dict[int, list[int]] = {}
    compacted = 0
    for n, (article_id, a) in enumerate(mixed_stream(1200, seed=3)):
        expected[article_id] = index._prepare(a).para_hashes
        before_pool = len(index._para_pool)
        index.add(article_id, a)
        compacted += len(index._para_pool) < before_pool
        if n % 50 == 0 or compacted == 1:
            for aid, slot in index._slot_of.items(index._id):
                at, size = int(index._para_at[slot]), int(index._para_len[slot])
                assert index._para_pool[at : at + size].tolist() == expected[aid]
    assert compacted >= 2
    assert len(index._para_pool) < sum(len(expected[a]) for a in expected) // 2
