"""Tokenization shared by documents and queries: what "the same word" means."""

from __future__ import annotations

import re
import unicodedata
from functools import cache

# ---------------------------------------------------------------------------
# Tokenization (shared by documents and queries)
# ---------------------------------------------------------------------------

# Accents = combining marks from the "diacritical marks" blocks, plus variation
# selectors (emoji presentation, not letters). Marks of other scripts (Devanagari vowel
# signs, Arabic harakat...) are part of the word and kept.
_ACCENTS = re.compile(
    "[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe00-\ufe0f\ufe20-\ufe2f]"
)

# Letters of their own in Cyrillic alphabets, written with a breve or diaeresis but not
# accented forms of another letter: "й" is not "и" ("войска" and "воиска" are different
# words), and neither search engine folds them (SQLite's unicode61 folds only Latin
# diacritics, PostgreSQL's unaccent leaves these alone), so a query folded to "и" found
# nothing on either. They are set aside (private-use stand-ins) across the decomposition;
# ё is still folded to е, as Russian writers mostly do and as unaccent does. Plain
# str.replace: a translate table or a mark-keeping regex made Russian text 3x slower.
_OWN_LETTERS = tuple((ch, chr(0xE000 + i)) for i, ch in enumerate("йЙїЇўЎ"))

_ASCII_WORD = re.compile(r"[a-z0-9]+")


@cache
def _word_pattern() -> re.Pattern[str]:
    # Python's \w excludes combining marks, which would cut Indic words in pieces, so
    # the BMP's marks are added to the class. One flat class keeps the regex engine on
    # its fast path (an alternation, or astral ranges, make it 3-6x slower); marks of
    # the astral plane (historic scripts) therefore split words. Built once, lazily.
    ranges: list[str] = []
    start: int | None = None
    for code in range(0x10001):
        is_mark = code < 0x10000 and unicodedata.category(chr(code)).startswith("M")
        if is_mark and start is None:
            start = code
        elif not is_mark and start is not None:
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(code - 1))}")
            start = None
    return re.compile("[\\w" + "".join(ranges) + "]+")


def fold(text: str) -> str:
    """Case-, accent- and compatibility-fold ``text`` (no splitting)."""
    if not text.isascii():
        # NFC first: a "й" typed as "и" + combining breve is the letter too.
        text = unicodedata.normalize("NFC", text)
        for letter, stand_in in _OWN_LETTERS:
            text = text.replace(letter, stand_in)
        text = unicodedata.normalize("NFKD", text)
        text = unicodedata.normalize("NFC", _ACCENTS.sub("", text))
        for letter, stand_in in _OWN_LETTERS:
            text = text.replace(stand_in, letter)
    return text.casefold()


# Most news text is ASCII plus a few Latin-1/Latin Extended-A letters (é, ß, ł) and
# typographic punctuation (curly quotes, dashes, no-break space). Replacing just those
# characters by their folded form (or a space, for punctuation) gives the same tokens
# as the full Unicode path and lets the text take the ~4x faster ASCII path.
_COMMON = re.compile("[\u00a0-\u017f\u2000-\u206f]")


@cache
def _common_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for code in [*range(0xA0, 0x180), *range(0x2000, 0x2070)]:
        ch = chr(code)
        folded = fold(ch)
        words = _word_pattern().findall(folded)
        table[ch] = folded if words == [folded] else " " if not words else ch
    return table


def _common_sub(match: re.Match[str]) -> str:
    return _common_table()[match.group()]


def tokenize(text: str) -> list[str]:
    """Split ``text`` into the normalized words that queries and documents compare."""
    if not text.isascii():
        plain = _COMMON.sub(_common_sub, text)
        if not plain.isascii():
            return _tokenize_unicode(text)
        text = plain
    return _ASCII_WORD.findall(text.lower())


def _tokenize_unicode(text: str) -> list[str]:
    """The general path: what :func:`tokenize` must equal on any text."""
    # \w includes "_", which we treat as a separator like every other punctuation.
    return _word_pattern().findall(fold(text).replace("_", " "))
