"""The process-wide caches of the text helpers are bounded (issue 17: a long-running
daemon keeps them for good) and answer exactly what the uncached functions do."""

from __future__ import annotations

import hashlib
import random
import string

import numpy as np

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


def _reference_shingles(tokens: list[str], size: int) -> list[int]:
    """What ``shingle_hashes`` computed before its memo and buffer (an lru_cache of
    ints and ``np.fromiter``): the value of every sketch, which must not change."""
    w = np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little")
            for t in tokens
        ),
        dtype=np.uint64,
        count=len(tokens),
    )
    size = max(1, min(size, len(w)))
    n = len(w) - size + 1
    h = w[:n].copy()
    for j in range(1, size):
        h = h * np.uint64(0x9E3779B97F4A7C15) + w[j : j + n]
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return [int(x) for x in h]


def test_the_word_hash_and_paragraph_caches_are_bounded() -> None:
    assert text.WORD_HASHES_MAX == 1 << 15
    assert text.paragraph_key.cache_info().maxsize == 1024
    words = _words(2000, seed=2)
    before = text.shingle_hashes(words, 4).tolist()
    assert before == _reference_shingles(words, 4)
    text._WORD_HASHES.clear()
    # Recomputed from nothing (and through a full memo, cleared on the way): the same.
    for w in _words((1 << 15) + 100, seed=3):
        text._word_hash(w)
        assert len(text._WORD_HASHES) <= text.WORD_HASHES_MAX
    assert text.shingle_hashes(words, 4).tolist() == before


def test_shingle_hashes_are_the_reference_values_on_any_words() -> None:
    rng = random.Random(5)
    alphabet = string.ascii_letters + string.digits + "_éßøłЖжй中文ڪ"
    for _ in range(300):
        n = rng.randint(1, 40)
        tokens = ["".join(rng.choices(alphabet, k=rng.randint(1, 8))) for _ in range(n)]
        for size in (1, 2, 4, 5):
            assert text.shingle_hashes(tokens, size).tolist() == _reference_shingles(tokens, size)
    assert text.shingle_hashes([], 4).tolist() == []
