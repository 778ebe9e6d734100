"""The clusterer's byte-table fast paths give exactly what the patterns give.

``features._words`` stands for ``_WORD.findall`` and ``features._name_tokens`` for
``_NAME.finditer``; both read text that fits cp1252 through byte tables. Checked on
random texts over an alphabet full of their edge cases (joiners side by side and at
the ends, underscores, curly quotes, text outside cp1252), on the shipped ECB+ and UCI
DEV texts, and through ``featurize``/``entities`` against the pattern-based reading.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.process.clustering import ClusterSettings, features
from aggregator.process.clustering.features import entities, featurize, title_words
from tests.factories import bare_article

DATA = Path(__file__).resolve().parent.parent / "benchmarks" / "data" / "clustering"
# Word characters, every joiner, an underscore, sentence ends, cp1252's curly quotes,
# dashes and letters outside Latin-1 (Š, œ), and characters outside cp1252.
ALPHABET = "aZ9_ .'’&,\n\t\"“”-–…éÉßŠœ€×Я한ǅ"


def _texts() -> list[str]:
    out = []
    for name in ("ecbplus-dev.jsonl", "uci-dev.jsonl"):
        with (DATA / name).open(encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                out += [row.get("title", ""), row.get("text", ""), row.get("url", "")]
    return out


def _random_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(ALPHABET, k=rng.randint(0, 24))) for _ in range(n)]


def _pattern_names(text: str) -> list[tuple[int, str]]:
    return [(m.start(), m.group()) for m in features._NAME.finditer(text)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_words_and_names_equal_the_patterns_on_random_text(seed: int) -> None:
    for text in _random_texts(20_000, seed):
        assert features._words(text) == features._WORD.findall(text), repr(text)
        assert features._name_tokens(text) == _pattern_names(text), repr(text)


def test_words_and_names_equal_the_patterns_on_real_text() -> None:
    texts = _texts()
    fast = 0
    for text in texts:
        for cut in (text, text[:1000], text[:3000]):
            assert features._words(cut) == features._WORD.findall(cut)
            assert features._name_tokens(cut) == _pattern_names(cut)
            fast += features._cp1252(cut) is not None
    # Most news text fits cp1252 (so the tables, not the patterns, read it).
    assert fast > 0.9 * 3 * len(texts)


def test_every_cp1252_character_round_trips() -> None:
    """The tables assume one byte a character, giving the same character back."""
    for code in range(0x3000):
        encoded = features._cp1252(chr(code))
        if encoded is not None:
            data, codec = encoded
            assert len(data) == 1
            assert data.decode(codec) == chr(code)


def test_joiners_side_by_side_and_at_the_ends() -> None:
    # The pattern splits "a..b" in two and drops joiners at a token's ends.
    for text in ("a..b", "U.S.", ".a'", "'quoted' AT&T don’t", "a.’b", "x & y", "1.5.", "..."):
        assert features._words(text) == features._WORD.findall(text)
    assert features._words("U.S. & AT&T don’t.") == ["U.S", "AT&T", "don’t"]


def _with_patterns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(features, "_words", features._WORD.findall)
    monkeypatch.setattr(features, "_name_tokens", _pattern_names)


def test_features_equal_the_pattern_based_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = ClusterSettings()
    rows = []
    with (DATA / "ecbplus-dev.jsonl").open(encoding="utf-8") as f:
        rows += [json.loads(line) for line in f]
    with (DATA / "uci-dev.jsonl").open(encoding="utf-8") as f:
        rows += [json.loads(line) for line in f][:2000]
    when = datetime(2026, 1, 1, tzinfo=UTC)
    articles = [
        bare_article(
            r["title"],
            text=r.get("text", ""),
            feed="f",
            url=r.get("url"),
            published=when,
            content_hash="h",
        )
        for r in rows
    ]
    fast = [(featurize(a, settings), entities(a, settings), title_words(a.title)) for a in articles]
    with monkeypatch.context() as m:
        _with_patterns(m)
        slow = [
            (featurize(a, settings), entities(a, settings), title_words(a.title)) for a in articles
        ]
    for (f1, e1, t1), (f2, e2, t2) in zip(fast, slow, strict=True):
        # The same terms in the same order with the same floats.
        assert list(f1.items()) == list(f2.items())
        assert list(e1.items()) == list(e2.items())
        assert t1 == t2
