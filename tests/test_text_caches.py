"""The process-wide caches of the text helpers are bounded (issue 17: a long-running
daemon keeps them for good) and answer exactly what the uncached functions do."""

from __future__ import annotations

import random
import string

from aggregator import text
from aggregator.process.clustering import features


def _words(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(string.ascii_letters, k=rng.randint(2, 12))) for _ in range(n)]


def test_the_token_memo_stays_under_its_bound_and_answers_as_the_function() -> None:
    tokens = _words(features._TOKEN_MEMO_MAX + 500, seed=1)
    for token in tokens:
        assert features._token(token) == features._token_info(token)
        assert len(features._TOKEN_MEMO) <= features._TOKEN_MEMO_MAX
    assert features._TOKEN_MEMO_MAX <= 1 << 16


def test_the_word_hash_and_paragraph_caches_are_bounded() -> None:
    assert text._word_hash.cache_info().maxsize == 1 << 15
    assert text.paragraph_key.cache_info().maxsize == 1024
    words = _words(2000, seed=2)
    before = text.shingle_hashes(words, 4).tolist()
    text._word_hash.cache_clear()
    # Recomputed from nothing (and through a full cache): the same hashes.
    _ = [text._word_hash(w) for w in _words((1 << 15) + 100, seed=3)]
    assert text._word_hash.cache_info().currsize <= 1 << 15
    assert text.shingle_hashes(words, 4).tolist() == before
