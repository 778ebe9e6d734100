"""clustering: the window's remembered articles, packed (issue 17), behave as the dict did.

``_Remembered`` replaced a dict of article id → ``published << 64 | cluster id``, in
arrival order, cut from the front while the oldest arrived entry is older than the
horizon; setting an article again changed its value and kept its place. A dict model
gets the same operations and must hold the same entries in the same order.
"""

from __future__ import annotations

import random

import pytest

from aggregator.process.clustering.engine import _PLACES, _Remembered


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_remembered_articles_behave_as_the_dict(seed: int) -> None:
    rng = random.Random(seed)
    packed, model = _Remembered(), dict[int, tuple[int, int]]()
    clock = 0
    for step in range(6_000):
        op = rng.random()
        if op < 0.75:
            article_id = rng.randrange(1, 3_000) if rng.random() < 0.2 else 10_000 + step
            # published mostly rises, sometimes late (an old date arrives after newer)
            published = clock + rng.randrange(-50, 100)
            cluster_id = rng.choice([rng.randrange(1, 40), 2**40 + rng.randrange(9)])
            packed.remember(article_id, published, cluster_id)
            model[article_id] = (published, cluster_id)
        elif op < 0.97:
            probe = (
                rng.randrange(1, 3_000) if rng.random() < 0.5 else 10_000 + rng.randrange(step + 1)
            )
            want = model.get(probe)
            assert packed.cluster(probe) == (None if want is None else want[1])
        else:
            clock += rng.randrange(0, 400)
            packed.forget_before(clock)
            while model:
                first = next(iter(model))
                if model[first][0] >= clock:
                    break
                del model[first]
        assert len(packed) == len(model)
        if step % 500 == 0:
            assert packed.items() == list(model.items())
    assert packed.items() == list(model.items())


def test_places_wrap_around() -> None:
    # the table keeps places modulo 2**31: a window that has moved past it still finds
    # every article
    packed = _Remembered()
    packed._base = _PLACES - 3
    for i in range(10):
        packed.remember(i + 1, i, 100 + i)
    packed.forget_before(6)
    assert [packed.cluster(i + 1) for i in range(10)] == [None] * 6 + [106, 107, 108, 109]
    packed.remember(11, 20, 111)
    assert packed.cluster(11) == 111
    assert packed.items()[0] == (7, (6, 106))


def test_remembered_articles_are_machine_words() -> None:
    packed = _Remembered()
    for i in range(25_000):  # the window after a first poll of 500 feeds
        packed.remember(1_000_000 + i, 1_700_000_000_000_000 + i, 2**33 + i // 20)
    # the dict was ~115 B an article (an int key, a 4-digit int value, entry, index)
    assert packed.nbytes() < 25_000 * 60
