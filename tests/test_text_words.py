"""One split of an article's text serves dedup and the topic matcher
(``text.text_words``, ``match.document_of``): exactly what each computed on its own."""

from __future__ import annotations

import random

from aggregator.process.match import document_of
from aggregator.query import document_from_article
from aggregator.text import text_words, words
from tests.factories import article

# Latin-1 and beyond, punctuation the keys treat apart, "_" (a word character to
# dedup, a separator to the matcher), spaces of every kind, and blank lines.
PIECES = [
    "Lava", "flows", "toward", "Grindavík", "STRAẞE", "ﬁnal", "naïve", "Ж", "войска",
    "中文", "x_y", "_", "3.5", "U.S.", "don't", "—", "…", "“quoted”", "½", "²", "µ",
    "\u00a0", "\u2009", "\t", " ", "\n", "\n\n", "\n\n\n", " \n\n ", "e\u0301", "A\u030a",
]  # fmt: skip


def random_text(rng: random.Random, ascii_only: bool = False) -> str:
    pool = [p for p in PIECES if p.isascii()] if ascii_only else PIECES
    return "".join(
        rng.choice(pool) + rng.choice(["", " ", "  "]) for _ in range(rng.randint(0, 60))
    )


def test_text_words_are_each_paragraphs_words() -> None:
    rng = random.Random(11)
    for i in range(2000):
        text = random_text(rng, ascii_only=i % 3 == 0)
        split = text_words(text)
        paragraphs = [p for p in text.split("\n\n") if p.strip()]
        assert list(split.paragraphs) == paragraphs
        assert list(split.keys) == [" ".join(words(p)) for p in paragraphs]
        assert split.words == words(text)
        starts, n = [], 0
        for p in paragraphs:
            starts.append(n)
            n += len(words(p))
        assert list(split.starts) == starts


def test_the_matcher_document_from_the_split_is_the_one_from_the_text() -> None:
    rng = random.Random(12)
    for i in range(2000):
        text = random_text(rng, ascii_only=i % 2 == 0)
        art = article("A title_with words", text=text, summary="the summary, if no text")
        mine, reference = document_of(art, text_words(art.text)), document_from_article(art)
        assert mine.text.tokens == reference.text.tokens
        assert mine.text.vocab == reference.text.vocab
        assert mine.title.tokens == reference.title.tokens
        assert mine.outlet.tokens == reference.outlet.tokens
        assert mine.words == reference.words
        assert mine.language == reference.language
