"""Exact and near-duplicate detection over a sliding time window.

Exact: the same canonical URL, or the same ``content_hash`` (title + text reduced
to words). Near: word shingles of the text, summarised by a *bottom-k* MinHash
sketch (the ``sketch_size`` smallest 64-bit shingle hashes, one hash function).

Why bottom-k rather than k-permutation MinHash + banded LSH (datasketch) or
SimHash: syndicated copies are often *trimmed* or gain an intro/outro, so the
question is "is most of the shorter text inside the longer one" (containment),
not "are the two sets alike" (Jaccard). A bottom-k sketch estimates both from one
sorted array, and its first ``anchors`` values double as the LSH keys: two texts
meet in the index when one's smallest hashes include one of the other's. When a
copy B is wholly inside A, the smallest hash of A that B contains is B's smallest,
so B is found unless none of A's ``anchors`` smallest lie in B: with 16 anchors a
lead that is a quarter of its article is missed with probability 0.75¹⁶ ≈ 1 %;
for a pair with Jaccard 0.3 it is 0.7¹⁶ ≈ 0.3 %. Only 16 index entries per
article are kept, so memory and eviction stay cheap.

Measured on the labelled set (``benchmarks/bench_normalize.py`` prints all three):
this index scores precision 1.000 / recall 1.000; datasketch's 128-permutation
MinHash at its best Jaccard threshold (0.20) 0.993 / 0.933, and its signature
costs ~4x our sketch; SimHash-64 at its best Hamming threshold 0.910 / 0.886, as
trimmed copies and other reports of the same event overlap in Hamming distance.

Everything the index holds is derived from ``Article.canonical_url``,
``Article.content_hash``, ``Article.text`` and ``Article.published``, so it is
rebuilt at start-up by calling ``add(article_id, article)`` for the stored
articles of the last ``window`` (by ``published``), in the order they were first
stored (article id): the same order gives the same links. ``check`` is only
needed for new articles; ``add`` alone works out which original an article copies.
``Article.fingerprint`` is not used here (no stage computes one yet: it was a SimHash
that nothing read, dropped from the hot path).

Boilerplate never makes a copy. Two different press releases of one company share
the "About Acme" and forward-looking-statements paragraphs; a farm of feeds ends every
item with "according to people familiar with the matter" and "Further details were
not immediately available". Counted as shared text, these made copies of unrelated
stories. Two defences, both explainable:

- ``Boilerplate`` learns online which shingles recur across *different stories*:
  across outlets (a shingle in ``min_stories`` articles that are not copies of one
  another) and within one outlet (in ``outlet_min_items`` of its recent items: its
  footer). Copies of one story count once (they share an original), so a wire story
  re-run by thirty outlets never becomes boilerplate. Learned shingles are left out
  of new sketches, of the containment of every comparison and of the leads below.
- The lead rule: a copy carries the story, and news puts the story first. Besides the
  containment bar, one text's lead (its first distinctive shingles) must be found in
  the other. Two texts that share only an ending (footers, disclaimers) or a few stock
  clauses are not copies, even before anything is learned: the press-release pair is
  two articles, too few to learn from.

The learner's state is bounded (two generations of ``horizon`` articles of candidate
counts, ``outlet_items`` recent items per outlet, at most ``max_learned`` learned
shingles) and derived from the same article fields, so the start-up replay rebuilds it.

Memory (issue 17): the window's articles are packed. Each indexed article is a *slot*,
a row of fixed-width numpy arrays (its sketch and lead, its anchors as places in its
sketch row, one int per scalar field, the 64-bit digests of its url and content hash)
reused once it leaves the window; the anchor, article id, url and content hash → slot
tables are open-addressing arrays of machine words (``_WordMap``), and the slot lists
of anchors several articles share are rows of int32 pools (``_Postings``). Before, an
article was a record of ~20 Python objects and each of its 16 anchors a dict entry
with two Python ints; then the url and content hash were strings kept in dicts and
each shared anchor an ``array``. What is left is mostly the sketch (512 B) and the
lead (256 B): 64-bit values the decisions compare exactly (``DedupIndex.memory``
itemises the rest). ``tests/test_dedup_packed.py`` holds the packed index's decisions
against the old index's (kept in ``tests/support/dedup_dict_index.py``).
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import numpy as np
import numpy.typing as npt

from aggregator.errors import ConfigError
from aggregator.models import Article, DedupDecision
from aggregator.text import TextWords, shingle_hashes, text_words, words

__all__ = [
    "Boilerplate",
    "BoilerplateSettings",
    "DedupIndex",
    "DedupSettings",
    "Sketch",
    "containment",
    "containment_samples",
    "similarity",
    "sketch",
]


@dataclass(frozen=True, slots=True)
class BoilerplateSettings:
    """How boilerplate is learned (see the module doc); memory is bounded by these.

    - ``horizon``: candidate counts live for two generations of this many articles;
      boilerplate recurs often, so a recent horizon sees it, and a shingle seen once
      is forgotten instead of being held for the whole window.
    - ``min_stories``: a shingle in this many articles of *different* stories (not
      copies of one another), across any outlets, is boilerplate. 4 and not 2 or 3: a
      quote or background paragraph reused by two or three reports is still content.
    - ``outlet_items`` / ``outlet_min_items``: an outlet's own footer is learned from
      its last ``outlet_items`` items, once in ``outlet_min_items`` different stories;
      a small outlet posts too rarely for the shared horizon to see it recur.
    - ``observe``: the smallest hashes of each article that are counted. Comparisons
      only read sketch hashes (the smallest), so counting more costs without use.
    - ``max_learned``: learned shingles kept; the least recently seen go first.
    - ``max_outlet_learned``: the same per outlet. Only an item's smallest hashes are
      observed, so a footer yields a few dozen; 256 leaves room and bounds the worst
      case (every outlet full) to ~2,048 × 256 entries.
    - ``max_outlets``: outlets remembered; the least recently active go first.
    - ``learn``: off, nothing is learned (the benchmarks' baseline; the lead rule,
      a setting of the index, stays as set).
    """

    horizon: int = 2000
    min_stories: int = 4
    outlet_items: int = 8
    outlet_min_items: int = 3
    observe: int = 96
    max_learned: int = 50_000
    max_outlet_learned: int = 256
    max_outlets: int = 2_048
    learn: bool = True


@dataclass(frozen=True, slots=True)
class DedupSettings:
    """Thresholds and window of duplicate detection (defaults measured, see module doc).

    - ``window``: articles published longer than this before the newest one seen are
      forgotten; a wire story is re-run within hours, rarely after days.
    - ``shingle_size``: words per shingle; 4 tolerates single-word edits (each one
      spoils only four shingles) while rarely matching stock phrases.
    - ``sketch_size``: bottom-k sketch length; the similarity estimate's standard
      error is about √(J(1-J)/k), ±0.06 at k = 64.
    - ``anchors``: how many of the smallest hashes are indexed per article (recall
      of the candidate search against memory; 8 missed 4 % of the labelled copies).
    - ``max_postings``: a hash shared by this many articles is a stock phrase
      ("did not immediately respond"), not evidence of copying: it is passed over
      and the next smallest hash anchors the article instead. This and
      ``max_candidates`` bound the work per article, so the cost stays flat however
      large the window grows.
    - ``max_candidates``: at most this many candidates are compared, those sharing
      the most (rarity-weighted) anchors first.
    - ``min_shingles``: texts with fewer shingles (a one-line summary) are only
      checked for exact duplicates; near matching on them is noise.
    - ``min_containment``: share of the shorter text's shingles found in the longer
      one, at or above which two texts are near-duplicates. On the labelled set
      (``tests/data/dedup``) copies score ≥ 0.70 and different reports of the same
      event ≤ 0.55. A short text wholly quoted inside a longer one counts as a copy.
    - ``min_samples`` / ``few_samples_containment``: a short text against a long one
      is judged on few hashes (the long sketch covers little of the hash range), so
      such an estimate (under ``min_samples`` hashes) must reach the stricter bar.
      With 20,000 generated articles in the index this removed every false link
      (7/10 stock phrases of a short lead "found" in an unrelated long report).
    - ``probe_anchors``: how many of a new text's smallest hashes are looked up
      (more than the ``anchors`` an article is indexed under): an older article's
      anchors were chosen before some of its shingles were learned as boilerplate,
      which a new text then skips, so the lookup reaches further to still meet them.
    - ``lead_shingles`` / ``min_lead`` / ``lead_share``: a text's lead is its first
      distinctive shingles, a third of them but between ``min_lead`` and
      ``lead_shingles``; a copy needs ``lead_share`` of one text's lead found in the
      other (an outlet's intro line or a new "UPDATE" paragraph leaves the other
      text's lead intact).
    - ``boilerplate``: how shared-but-not-distinctive shingles are learned.
    """

    window: timedelta = timedelta(days=3)
    shingle_size: int = 4
    sketch_size: int = 64
    anchors: int = 16
    max_postings: int = 64
    max_candidates: int = 96
    min_shingles: int = 12
    min_containment: float = 0.65
    min_samples: int = 24
    few_samples_containment: float = 0.9
    probe_anchors: int = 32
    lead_shingles: int = 32
    min_lead: int = 8
    lead_share: float = 0.5
    boilerplate: BoilerplateSettings = field(default_factory=BoilerplateSettings)

    def __post_init__(self) -> None:
        problems = []
        if self.window <= timedelta(0):
            problems.append("dedup.window: must be a positive duration")
        if not 2 <= self.shingle_size <= 10:
            problems.append("dedup.shingle_size: must be from 2 to 10 words")
        for name in ("min_containment", "few_samples_containment"):
            if not 0.0 < getattr(self, name) <= 1.0:
                problems.append(f"dedup.{name}: must be in (0, 1]")
        sizes = ("sketch_size", "anchors", "max_postings", "max_candidates", "min_shingles")
        if min(getattr(self, name) for name in sizes) < 1:
            problems.append(f"dedup: {', '.join(sizes)} must be >= 1")
        if problems:
            raise ConfigError(problems)


@dataclass(frozen=True, slots=True)
class Sketch:
    """The near-duplicate summary of one text: sorted bottom-k hashes + set size."""

    hashes: npt.NDArray[np.uint64]
    size: int  # number of distinct shingles


def sketch(text: str, settings: DedupSettings) -> Sketch:
    """Bottom-k sketch of ``text``'s word shingles (deterministic across processes)."""
    h = sorted_distinct(shingle_hashes(words(text), settings.shingle_size))
    return Sketch(hashes=h[: settings.sketch_size].copy(), size=len(h))


def sorted_distinct(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """``np.unique(values)`` of a 1-d array: its distinct values, sorted.

    A sort and one comparison of neighbours: numpy 2's ``unique`` hashes the values
    first, and on an article's few hundred shingles that cost ~10x the sort (it was a
    tenth of the consumer's dedup check).
    """
    out = np.sort(values)
    if len(out) > 1:
        keep = np.empty(len(out), dtype=np.bool_)
        keep[0] = True
        np.not_equal(out[1:], out[:-1], out=keep[1:])
        out = out[keep]
    return out


def similarity(a: Sketch, b: Sketch, k: int) -> tuple[float, float]:
    """Estimated (Jaccard, containment of the smaller text in the larger) of two texts.

    Jaccard: of the k smallest hashes of the union, the share present in both.
    Containment: a bottom-k sketch holds *every* shingle hash of its text up to its
    largest value, so the smaller text's sketch values at or below the larger
    one's maximum can be looked up exactly; the share found is the estimate.
    (Deriving containment from Jaccard and the set sizes is noisy when the
    sizes differ a lot, which is exactly the trimmed-copy case.)
    """
    if not a.size or not b.size or not len(a.hashes) or not len(b.hashes):
        return 0.0, 0.0
    union = np.union1d(a.hashes, b.hashes)[:k]
    shared = np.intersect1d(a.hashes, b.hashes, assume_unique=True)
    jaccard = int(np.isin(union, shared, assume_unique=True).sum()) / len(union)
    return jaccard, containment(a, b)


def containment(a: Sketch, b: Sketch) -> float:
    """Estimated share of the smaller text's shingles found in the larger one."""
    return containment_samples(a, b)[0]


def containment_samples(a: Sketch, b: Sketch) -> tuple[float, int]:
    """``containment`` and the number of hashes the estimate rests on."""
    # Called up to max_candidates times per article: ndarray methods, not the np.*
    # wrappers, and no temporaries beyond the two needed.
    if a.size <= b.size:
        small, large, large_size = a.hashes, b.hashes, b.size
    else:
        small, large, large_size = b.hashes, a.hashes, a.size
    n = len(large)
    if not n or not len(small):
        return 0.0, 0
    if n < large_size:
        # beyond the large sketch's maximum it says nothing: probe only below it
        small = small[: small.searchsorted(large[n - 1], "right")]
        if not len(small):
            return 0.0, 0
    pos = large.searchsorted(small)
    pos[pos == n] = n - 1
    return int((large[pos] == small).sum()) / len(small), len(small)


class _Probe:
    """``containment`` against many candidates, with the probe's side prepared once.

    Plain Python sets and lists of 64 ints beat numpy here: per call, numpy's
    overhead is larger than the work. Gives exactly ``containment``'s result when
    nothing is ignored; ``ignore`` (boilerplate of the other text's outlet) and the
    other side's already filtered ``values`` keep both samples to distinctive text.
    """

    __slots__ = ("array", "complete", "hashes", "maximum", "set", "size")

    def __init__(self, sk: Sketch) -> None:
        self.array = sk.hashes
        self.hashes: list[int] = sk.hashes.tolist()
        self.set = set(self.hashes)
        self.size = sk.size
        self.complete = len(self.hashes) == sk.size
        self.maximum = self.hashes[-1] if self.hashes else -1

    def containment(
        self,
        values: list[int],
        other_size: int,
        other_complete: bool,
        ignore: _Lookup = frozenset(),
    ) -> tuple[float, int]:
        mine_list = self.hashes
        mine = self.set
        if ignore:
            mine_list = [h for h in mine_list if h not in ignore]
            mine = set(mine_list)
        if not values or not mine_list:
            return 0.0, 0
        if self.size <= other_size:  # the probe is the smaller text
            if not other_complete:
                limit = values[-1]
                probe = [h for h in mine_list if h <= limit]
            else:
                probe = mine_list
            if not probe:
                return 0.0, 0
            found = set(values)
            return sum(1 for h in probe if h in found) / len(probe), len(probe)
        if not self.complete:
            limit = self.maximum
            values = [h for h in values if h <= limit]
        if not values:
            return 0.0, 0
        return sum(1 for h in values if h in mine) / len(values), len(values)


def _containments(probe: _Probe, sketches: list[Sketch]) -> list[tuple[float, int]]:
    """``probe.containment`` against every one of ``sketches``, in one pass of numpy.

    Exactly the same (score, samples) as the per-candidate call with nothing
    ignored (``tests/test_dedup.py`` compares them): both sides are sorted and
    distinct, so the shared count is the same whichever side is filtered to the
    other's range, and the division is the same two ints, correctly rounded by both.
    Why: the candidates grow from a few dozen at 1,000 indexed articles to
    ``max_candidates`` at 10,000 and beyond, and a Python loop per candidate made that
    growth the per-article cost's.
    """
    scores, samples = _containment_arrays(probe, sketches)
    return list(zip(scores.tolist(), samples.tolist(), strict=True))


def _containment_arrays(
    probe: _Probe, sketches: list[Sketch]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """``_containments`` as two arrays: the scores and the samples they rest on."""
    lengths = np.array([len(sk.hashes) for sk in sketches], dtype=np.int64)
    sizes = np.array([sk.size for sk in sketches], dtype=np.int64)
    if not sketches:
        return np.zeros(0, dtype=np.float64), np.zeros(0, dtype=np.int64)
    return _containment_core(probe, lengths, sizes, np.concatenate([sk.hashes for sk in sketches]))


def _containment_core(
    probe: _Probe,
    lengths: npt.NDArray[np.int64],
    sizes: npt.NDArray[np.int64],
    values: npt.NDArray[np.uint64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """``_containment_arrays`` of sketches given as their hashes one after the other
    (``values``), how many each has (``lengths``) and their texts' ``sizes``."""
    count = len(lengths)
    mine = probe.array
    m = len(mine)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    if not m or not count or not int(ends[-1]):
        return np.zeros(count, dtype=np.float64), np.zeros(count, dtype=np.int64)
    pos = mine.searchsorted(values)
    pos[pos == m] = m - 1
    # running counts: a segment's count is a difference of two, empty segments too
    found = np.concatenate(([0], np.cumsum(mine[pos] == values)))
    shared = found[ends] - found[starts]
    if probe.complete:
        larger = lengths
    else:  # only the candidates' hashes within the probe's range
        below = np.concatenate(([0], np.cumsum(values <= mine[m - 1])))
        larger = below[ends] - below[starts]
    # the probe is the smaller text: all of it against a complete candidate, else
    # its hashes at or below the candidate's largest
    last = values[np.maximum(ends - 1, 0)]
    smaller = np.where(lengths == sizes, m, mine.searchsorted(last, "right"))
    samples = np.where(lengths == 0, 0, np.where(probe.size <= sizes, smaller, larger))
    scores = np.zeros(count, dtype=np.float64)
    np.divide(shared, samples, out=scores, where=samples > 0)
    return scores, samples.astype(np.int64)


def _best_candidates(
    postings: Sequence[int],
    weights: Sequence[float],
    most: int,
    tie: npt.NDArray[np.int64] | None = None,
) -> list[int]:
    """The ``most`` postings with the largest summed weight, ties to the oldest.

    Each candidate's evidence is the shared anchors, each weighted by its rarity: a
    hash only two articles have says more about copying than one sixty articles have.
    The oldest is the smallest posting, or, when the postings are slots of the
    index, the smallest article id (``tie[slot]``). The order is the same on every
    run. From ``GATHER_FROM`` postings on (a large window: up to ``probe_anchors`` ×
    ``max_postings``) the sums and the sort are numpy's; ``bincount`` adds each
    posting's weights in the order given, as the dict does, so the sums, and the
    order, are the same to the last bit.
    """
    if len(postings) < GATHER_FROM:
        shared: dict[int, float] = {}
        for cid, weight in zip(postings, weights, strict=True):
            shared[cid] = shared.get(cid, 0.0) + weight
        if tie is None:
            oldest = {cid: cid for cid in shared}
        else:
            keys = tie[np.fromiter(shared, dtype=np.int64, count=len(shared))].tolist()
            oldest = dict(zip(shared, keys, strict=True))
        # sorted(...)[:most], documented so, without sorting the long tail
        return heapq.nsmallest(most, shared, key=lambda cid: (-shared[cid], oldest[cid]))
    ids, where = np.unique(np.array(postings, dtype=np.int64), return_inverse=True)
    sums = np.bincount(where, weights=np.array(weights, dtype=np.float64))
    if len(ids) > most:
        # Only those summing at least the ``most``-th largest sum can be among the
        # best (every other one has ``most`` ahead of it), so only theirs are sorted
        # and only their ages read: ``tie`` is read at random, and at 100,000
        # indexed ~550 candidates a probe missed the caches (issue 17).
        keep = np.flatnonzero(sums >= np.partition(sums, len(sums) - most)[len(sums) - most])
        ids, sums = ids[keep], sums[keep]
    order = np.lexsort((ids if tie is None else tie[ids], -sums))[:most]  # last key first
    best: list[int] = ids[order].tolist()
    return best


def _merged_runs(flagged: Sequence[int], words: int, size: int) -> Iterator[tuple[int, int]]:
    """The runs [start, end) of words covered by a flagged shingle, in text order,
    from the flagged shingles' places (ascending), one run at a time: the union of
    [i, i + size) over them, cut at ``words``, touching runs joined.

    A few Python steps per flagged shingle (the numpy version it replaced,
    ``tests/support/dedup_dict_index._covered_runs``, cost a dozen numpy calls an
    explanation), and it stops where the caller has read enough.
    """
    start = end = -1
    for i in flagged:
        if i >= words:
            break
        if i <= end:
            end = max(end, min(i + size, words))
            continue
        if end > start:
            yield start, end
        start, end = i, min(i + size, words)
    if end > start:
        yield start, end


# A set of hashes to test membership in: learned boilerplate is a dict (hash → when
# last seen), an empty one a frozenset.
_Lookup = frozenset[int] | set[int] | dict[int, int]
# Only the candidates with the most evidence are asked "a copy but for boilerplate?":
# that answer only explains, and asking every candidate costs as much as the decision.
EXPLAIN_CANDIDATES = 8
# From this many candidates on, their containments are computed in one numpy pass
# (``_containments``); below it numpy's fixed cost per call is more than the loop's.
VECTOR_FROM = 8
GATHER_FROM = 64  # postings; see ``_best_candidates``
_NOTHING: frozenset[int] = frozenset()
# keys learned since ``Boilerplate.mask`` sorted them, searched apart up to this many
# (then merged in: one copy of the sorted keys, not a sort)
_FRESH_MOST = 64


def _found(table: npt.NDArray[np.uint64], values: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
    """Whether each of ``values`` is in ``table`` (sorted, not empty)."""
    # a value above the largest is compared with the largest (clip): not equal
    found: npt.NDArray[np.bool_] = table.take(table.searchsorted(values), mode="clip") == values
    return found


class _Outlet:
    """One outlet's recent items and the shingles learned as its own boilerplate.

    The last items' observed hashes (each sorted, distinct) are one array, oldest
    first, cut by ``lens``: a deque of (story, array) pairs cost ~200 B an item
    besides the hashes (issue 17), and the count concatenates them anyway.
    """

    __slots__ = ("active", "hashes", "learned", "lens", "stories")

    def __init__(self) -> None:
        self.hashes: npt.NDArray[np.uint64] = np.empty(0, dtype=np.uint64)
        self.lens = array("i")  # hashes of each item, oldest first
        self.stories = array("q")  # the story of each item
        self.learned: dict[int, int] = {}  # hash → serial of the last sighting
        self.active = 0


class _Candidates:
    """One generation of the learner's candidate counts, packed (issue 17).

    hash → (stories seen, last story, the story before) was a dict entry, a Python
    int key and a tuple (~160 B a candidate, up to 2 × ``horizon`` × ``observe`` of
    them); here a ``_WordMap`` cell finds it. Most candidates are seen once and never
    again (a generation forgets them): such a *singleton* (one story, none before) is
    its cell alone, whose value is ``-1 - i`` for the ``i``-th story of the generation
    in ``stories`` (one per observed article, at most ``horizon`` of them). The others
    have a row of three ``array``s, found by a value ``>= 0``. Rows are only appended:
    one a hash leaves for the learned set stays unused until the generation is
    dropped, so they are bounded by the generation's observations. A row was ~24 B a
    candidate beside its cell (12 B at a load of at most 0.6).
    """

    __slots__ = ("before", "count", "last", "map", "stories")

    def __init__(self, bits: int = 8) -> None:
        self.map = _WordMap(bits)
        self.count = array("i")  # stories seen: below ``min_stories``
        self.last = array("q")  # story ids (article ids); -1: none
        self.before = array("q")
        self.stories = array("q")  # the singletons' stories, by ``-1 - value``

    def entry(self, value: int) -> tuple[int, int, int]:
        """(stories seen, last story, the story before) of a cell's ``value``."""
        if value >= 0:
            return self.count[value], self.last[value], self.before[value]
        return 1, self.stories[-1 - value], -1

    def entries(self) -> dict[int, tuple[int, int, int]]:
        """Every candidate (for tests and checks), in the table's order."""
        return {h: self.entry(v) for h, v in self.map.items()}

    def nbytes(self) -> int:
        rows = (self.count, self.last, self.before, self.stories)
        return self.map.nbytes() + sum(a.buffer_info()[1] * a.itemsize for a in rows)


class Boilerplate:
    """Which shingles recur across different stories: online, bounded, deterministic.

    ``observe`` is called once per added article with its observed hashes and its
    story (the first-seen original it copies, else itself). Copies of one story never
    raise a count, so syndicated text is not mistaken for boilerplate; text shared by
    ``min_stories`` different stories is. ``lookup`` answers for an outlet.
    """

    def __init__(self, settings: BoilerplateSettings | None = None) -> None:
        self.settings = settings or BoilerplateSettings()
        self._serial = 0
        # hash → (stories seen, last story, the story before): candidates only
        self._new = _Candidates()
        self._old = _Candidates()
        self.learned: dict[int, int] = {}  # across outlets: hash → last sighting
        self._outlets: dict[str, _Outlet] = {}
        # ``learned``'s keys sorted (None: to build), and the keys learned since, for
        # ``mask`` (not pickled: rebuilt on first use)
        self._sorted: npt.NDArray[np.uint64] | None = None
        self._fresh: list[int] = []
        self._fresh_sorted: npt.NDArray[np.uint64] | None = None
        self._own_sorted: dict[str, npt.NDArray[np.uint64]] = {}  # outlet → its keys

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        for name in ("_sorted", "_fresh", "_fresh_sorted", "_own_sorted"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._sorted = None
        self._fresh = []
        self._fresh_sorted = None
        self._own_sorted = {}

    def stats(self) -> dict[str, int]:
        return {
            "candidates": self._new.map.count + self._old.map.count,
            "learned": len(self.learned),
            "outlets": len(self._outlets),
            "outlet_learned": sum(len(o.learned) for o in self._outlets.values()),
        }

    def nbytes(self) -> int:
        """Bytes held (``sys.getsizeof``, each object once): the candidates' tables,
        the learned shingles, the outlets' recent items and learned shingles, and the
        learned keys kept sorted for ``mask``."""
        total = self._new.nbytes() + self._old.nbytes()
        total += _dict_bytes(self.learned) + sys.getsizeof(self._outlets)
        for name, o in self._outlets.items():
            total += sys.getsizeof(name) + sys.getsizeof(o) + _dict_bytes(o.learned)
            total += sys.getsizeof(o.hashes) + sys.getsizeof(o.lens) + sys.getsizeof(o.stories)
        sorted_keys = [self._sorted, self._fresh_sorted, *self._own_sorted.values()]
        total += sum(sys.getsizeof(a) for a in sorted_keys if a is not None)
        total += _list_bytes(self._fresh) + sys.getsizeof(self._own_sorted)
        return total

    def outlet(self, feed: str) -> _Lookup:
        """The shingles learned as ``feed``'s own boilerplate (empty when none)."""
        o = self._outlets.get(feed)
        return o.learned if o is not None and o.learned else _NOTHING

    def mask(self, values: npt.NDArray[np.uint64], feed: str) -> npt.NDArray[np.bool_]:
        """``[h in learned or h in outlet(feed) for h in values]``, as an array.

        Exact: binary searches in the learned keys kept sorted (those learned since in
        a small array of their own, merged in from time to time) and in the outlet's.
        Why (issue 17): a decision asks this of every shingle of the text (what
        ``_distinctive`` and ``_phrases`` set aside, the sketch's walk, the lead), and
        one at a time in dicts of up to 50,000 scattered ints each test missed the
        caches (~100 ns a shingle at 100,000 indexed, more the more is learned).
        """
        out = np.zeros(len(values), dtype=np.bool_)
        learned = self.learned
        if learned and len(values):
            base = self._sorted
            if base is None or len(base) + len(self._fresh) != len(learned):
                # first use, after a cut (``_keep_newest``) or a change made elsewhere
                base = np.sort(np.fromiter(learned, dtype=np.uint64, count=len(learned)))
                self._sorted, self._fresh, self._fresh_sorted = base, [], None
            elif len(self._fresh) > _FRESH_MOST:
                fresh = np.sort(np.array(self._fresh, dtype=np.uint64))
                base = self._sorted = np.insert(base, base.searchsorted(fresh), fresh)
                self._fresh, self._fresh_sorted = [], None
            out = _found(base, values)
            if self._fresh:
                if self._fresh_sorted is None:
                    self._fresh_sorted = np.sort(np.array(self._fresh, dtype=np.uint64))
                out |= _found(self._fresh_sorted, values)
        own = self.outlet(feed)
        if own and len(values):
            keys = self._own_sorted.get(feed)
            if keys is None or len(keys) != len(own):
                keys = np.sort(np.fromiter(own, dtype=np.uint64, count=len(own)))
                self._own_sorted[feed] = keys
            out |= _found(keys, values)
        return out

    def observe(self, feed: str, hashes: npt.NDArray[np.uint64], story: int) -> None:
        """Count ``hashes`` (sorted, distinct) of one article of ``story`` from ``feed``."""
        s = self.settings
        if not s.learn:
            return
        self._serial += 1
        serial = self._serial
        if serial % s.horizon == 0:
            # what was not seen again for a generation is dropped: bounded memory;
            # the new table starts sized for as many as the last one held (at most
            # one regrowth, and never left at the size of a larger past generation)
            bits = max(8, (self._new.map.count * 5 // 3).bit_length())
            self._old, self._new = self._new, _Candidates(bits)
        learned, new, old = self.learned, self._new, self._old
        ncount, nlast, nbefore = new.count, new.last, new.before
        ocount, olast, obefore = old.count, old.last, old.before
        nstories, ostories = new.stories, old.stories
        # bound once: a method looked up per hash was a tenth of the loop
        nget, nset, npop = new.map.get, new.map.set, new.map.pop
        oget, opop = old.map.get, old.map.pop
        need = s.min_stories
        fresh = self._fresh
        if self._sorted is None:
            fresh.clear()  # ``mask`` builds the sorted keys from ``learned`` anyway
        fresh_before = len(fresh)
        single = 0  # the value of a singleton of ``story`` (0: none yet)
        for h in hashes.tolist():
            if h in learned:
                learned[h] = serial
                continue
            row = nget(h)
            if row is not None:
                if row >= 0:
                    count, last, before = ncount[row], nlast[row], nbefore[row]
                else:
                    count, last, before = 1, nstories[-1 - row], -1
            else:
                orow = oget(h)  # mostly absent: a get is cheaper than a pop that misses
                if orow is None:
                    if not single:
                        nstories.append(story)
                        single = -len(nstories)
                    nset(h, single)
                    continue
                opop(h)
                if orow >= 0:
                    count, last, before = ocount[orow], olast[orow], obefore[orow]
                else:
                    count, last, before = 1, ostories[-1 - orow], -1
            if story in (last, before):
                if row is None:  # moved up a generation as it was
                    if count == 1 and before == -1 and last == story:  # a singleton
                        if not single:
                            nstories.append(story)
                            single = -len(nstories)
                        nset(h, single)
                    else:
                        nset(h, len(ncount))
                        ncount.append(count)
                        nlast.append(last)
                        nbefore.append(before)
                continue
            if count + 1 >= need:
                learned[h] = serial
                fresh.append(h)
                if row is not None:
                    npop(h)  # a row it had stays unused until the generation ends
            elif row is None or row < 0:  # a new row (replacing a singleton's value)
                nset(h, len(ncount))
                ncount.append(count + 1)
                nlast.append(story)
                nbefore.append(last)
            else:
                ncount[row] = count + 1
                nlast[row] = story
                nbefore[row] = last
        if len(fresh) != fresh_before:
            self._fresh_sorted = None
        if len(learned) > s.max_learned * 11 // 10:
            _keep_newest(learned, s.max_learned)
            self._sorted, self._fresh, self._fresh_sorted = None, [], None
        self._observe_outlet(feed, hashes, story, serial)

    def _observe_outlet(
        self, feed: str, hashes: npt.NDArray[np.uint64], story: int, serial: int
    ) -> None:
        s = self.settings
        o = self._outlets.get(feed)
        if o is None:
            o = self._outlets[feed] = _Outlet()
            if len(self._outlets) > s.max_outlets * 11 // 10:
                for name in sorted(self._outlets, key=lambda f: self._outlets[f].active)[
                    : len(self._outlets) - s.max_outlets
                ]:
                    del self._outlets[name]
                    self._own_sorted.pop(name, None)
        o.active = serial
        if len(hashes):
            stories = {story}
            others = []
            end = len(o.hashes)
            for other, size in zip(reversed(o.stories), reversed(o.lens), strict=True):
                start = end - size
                if other not in stories:  # a copy of a story already counted counts once
                    stories.add(other)
                    others.append(o.hashes[start:end])
                end = start
            if len(stories) >= s.outlet_min_items:
                # one sorted pool of the other stories' hashes (each distinct within
                # its item): how many items hold a hash is the width of its run
                pool = np.sort(o.hashes if len(others) == len(o.lens) else np.concatenate(others))
                counts = 1 + (
                    pool.searchsorted(hashes, "right") - pool.searchsorted(hashes, "left")
                )
                known = len(o.learned)
                for h in hashes[counts >= s.outlet_min_items].tolist():
                    o.learned[h] = serial
                if len(o.learned) != known:  # new keys (a cut below only follows these)
                    self._own_sorted.pop(feed, None)
                if len(o.learned) > s.max_outlet_learned * 11 // 10:
                    _keep_newest(o.learned, s.max_outlet_learned)
        if s.outlet_items > 0:
            drop = max(0, len(o.lens) + 1 - s.outlet_items)  # the oldest items leave
            cut = sum(o.lens[:drop])
            del o.lens[:drop]
            del o.stories[:drop]
            o.hashes = np.concatenate((o.hashes[cut:], hashes))  # a copy: owns its data
            o.lens.append(len(hashes))
            o.stories.append(story)


def _list_bytes(items: list[int] | list[str]) -> int:
    """A list and the objects it holds (small ints are shared: counted anyway)."""
    return sys.getsizeof(items) + sum(sys.getsizeof(x) for x in items)


def _dict_bytes(table: dict[int, int]) -> int:
    return sys.getsizeof(table) + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in table.items())


def _keep_newest(table: dict[int, int], keep: int) -> None:
    """Drop the least recently seen entries of ``table`` down to ``keep``."""
    for h, _ in sorted(table.items(), key=lambda kv: kv[1])[: len(table) - keep]:
        del table[h]


@dataclass(slots=True)
class _Text:
    """One article's text prepared for a decision (and for ``add`` after ``check``)."""

    words: tuple[str, ...]
    shingles: npt.NDArray[np.uint64]  # in text order
    uniq: npt.NDArray[np.uint64]  # sorted, distinct: every shingle, boilerplate included
    sketch: Sketch | None  # bottom-k of the distinctive shingles; None for a short text
    lead: list[int]  # the first distinctive shingles, distinct, in text order
    ignored_small: list[int]  # boilerplate among the smallest hashes: what it shared
    observed: npt.NDArray[np.uint64]  # what the learner counts
    feed: str
    paragraphs: Sequence[str]  # the text's paragraphs, as given
    para_hashes: list[int]  # each paragraph's words, hashed (verbatim reuse)
    para_starts: Sequence[int]  # index of each paragraph's first word in ``words``
    url_key: int = 0  # ``_key`` of the canonical url; 0: none
    hash_key: int = 0  # ``_key`` of the content hash
    # each shingle (text order): learned boilerplate when prepared; None: none learned
    boiler: npt.NDArray[np.bool_] | None = None
    _all: set[int] | None = None
    # the anchors the decision looked up (``probe_anchors`` of them), in that state
    probed: tuple[int, ...] | None = None

    def all(self) -> set[int]:
        """Every shingle hash of the text (built on first use: most checks never ask)."""
        if self._all is None:
            self._all = set(self.uniq.tolist())
        return self._all


# The packed index (issue 17): per article, fixed-width rows of numpy arrays (sketch,
# lead, anchors) and one int per field, found by a slot number; the hash → slot tables
# are open-addressing arrays of machine words. Before, every article was a record of
# bytes objects and a Sketch, and every anchor a dict entry with two Python ints
# (about 3 KB an article with the learner at 10,000); see ``stats`` and
# ``benchmarks/bench_dedup.py`` for the bytes an article takes now.
_EMPTY = -(2**31)  # a free cell of a _WordMap (no value is this: values are slots)
_M64 = 2**64 - 1
_FIB = 0x9E3779B97F4A7C15  # Fibonacci hashing: article ids are sequential


class _WordMap:
    """uint64 key → int32 value, linear probing in two ``array``s (12 B a cell).

    A dict costs a Python int for the key and one for the value plus its own entry
    (~100 B); these arrays hold machine words. Deletion shifts the run back, so no
    tombstones pile up as the window slides. ``array`` rather than numpy: one lookup
    at a time from Python, where indexing an ``array`` is several times cheaper.
    """

    __slots__ = ("_keys", "_mask", "_shift", "_vals", "count")

    def __init__(self, bits: int = 8) -> None:
        self._alloc(bits)
        self.count = 0

    def _alloc(self, bits: int) -> None:
        cells = 1 << bits
        self._keys = array("Q", bytes(8 * cells))
        self._vals = array("i", [_EMPTY]) * cells
        self._mask = cells - 1
        self._shift = 64 - bits

    def _find(self, key: int) -> int:
        """The cell holding ``key``, else the free cell that ends its run."""
        keys, vals, mask = self._keys, self._vals, self._mask
        i = ((key * _FIB) & _M64) >> self._shift
        while vals[i] != _EMPTY and keys[i] != key:
            i = (i + 1) & mask
        return i

    def get(self, key: int) -> int | None:
        key &= _M64
        keys, vals, mask = self._keys, self._vals, self._mask
        i = ((key * _FIB) & _M64) >> self._shift
        while True:  # _find, inlined: the index asks several times per article
            v = vals[i]
            if v == _EMPTY:
                return None
            if keys[i] == key:
                return v
            i = (i + 1) & mask

    def set(self, key: int, value: int) -> None:
        key &= _M64
        i = self._find(key)
        if self._vals[i] == _EMPTY:
            self.count += 1
            if self.count * 5 > len(self._vals) * 3:  # load 0.6: runs stay short
                self._grow()
                i = self._find(key)
        self._keys[i] = key
        self._vals[i] = value

    def replace(self, key: int, value: int) -> bool:
        """Set the value of ``key`` if present (never grows the table)."""
        i = self._find(key & _M64)
        if self._vals[i] == _EMPTY:
            return False
        self._vals[i] = value
        return True

    def _grow(self) -> None:
        keys, vals = self._keys, self._vals
        self._alloc(64 - self._shift + 1)
        for k, v in zip(keys, vals, strict=True):
            if v != _EMPTY:
                i = self._find(k)
                self._keys[i] = k
                self._vals[i] = v

    def pop(self, key: int) -> int | None:
        key &= _M64
        keys, vals, mask, shift = self._keys, self._vals, self._mask, self._shift
        i = self._find(key)
        value = vals[i]
        if value == _EMPTY:
            return None
        self.count -= 1
        j = i
        while True:  # backward shift: move up what would not be found across the gap
            j = (j + 1) & mask
            if vals[j] == _EMPTY:
                break
            home = ((keys[j] * _FIB) & _M64) >> shift
            if (i < j and i < home <= j) or (i > j and (home > i or home <= j)):
                continue  # its home lies between the gap and it: it stays
            keys[i] = keys[j]
            vals[i] = vals[j]
            i = j
        vals[i] = _EMPTY
        return value

    def items(self) -> list[tuple[int, int]]:
        return [(k, v) for k, v in zip(self._keys, self._vals, strict=True) if v != _EMPTY]

    def nbytes(self) -> int:
        return self._keys.buffer_info()[1] * 8 + self._vals.buffer_info()[1] * 4


class _Keys(Protocol):
    """Where a ``_SlotMap`` reads a slot's key: ``item(slot)`` (a numpy row array)."""

    def item(self, slot: int, /) -> int: ...


class _SlotMap:
    """uint64 key → slot, where the slot's own row holds the key: 4 B a cell (issue 17).

    The article id, url and content hash tables map a key the slot's row already keeps
    (``_id``, ``_url``, ``_hash``), so a cell holds the slot alone and a lookup compares
    the key read back from that row (``keys``, passed with every call: the row arrays
    are replaced when they grow). As exact as a key kept in the cell (``_WordMap``, 12 B
    a cell): the same linear probing, load and backward-shift deletion. Sound while the
    caller keeps two rules, which ``DedupIndex`` does: a slot's key is written in its
    row before the slot is set here, and the slot is popped before its row is reused.
    """

    __slots__ = ("_mask", "_shift", "_vals", "count")

    def __init__(self, bits: int = 8) -> None:
        self._alloc(bits)
        self.count = 0

    def _alloc(self, bits: int) -> None:
        cells = 1 << bits
        self._vals = array("i", [_EMPTY]) * cells
        self._mask = cells - 1
        self._shift = 64 - bits

    def _find(self, key: int, keys: _Keys) -> int:
        """The cell holding ``key`` (unsigned), else the free cell that ends its run."""
        vals, mask = self._vals, self._mask
        i = ((key * _FIB) & _M64) >> self._shift
        while (v := vals[i]) != _EMPTY and keys.item(v) & _M64 != key:
            i = (i + 1) & mask
        return i

    def get(self, key: int, keys: _Keys) -> int | None:
        v = self._vals[self._find(key & _M64, keys)]
        return None if v == _EMPTY else v

    def set(self, key: int, slot: int, keys: _Keys) -> None:
        """Map ``key`` to ``slot``, whose row in ``keys`` already holds ``key``."""
        key &= _M64
        i = self._find(key, keys)
        if self._vals[i] == _EMPTY:
            self.count += 1
            if self.count * 5 > len(self._vals) * 3:  # load 0.6, as ``_WordMap``
                self._grow(keys)
                i = self._find(key, keys)
        self._vals[i] = slot

    def _grow(self, keys: _Keys) -> None:
        old = self._vals
        self._alloc(64 - self._shift + 1)
        vals, mask, shift = self._vals, self._mask, self._shift
        for v in old:
            if v != _EMPTY:
                i = (((keys.item(v) & _M64) * _FIB) & _M64) >> shift
                while vals[i] != _EMPTY:
                    i = (i + 1) & mask
                vals[i] = v

    def pop(self, key: int, keys: _Keys) -> int | None:
        vals, mask, shift = self._vals, self._mask, self._shift
        i = self._find(key & _M64, keys)
        value = vals[i]
        if value == _EMPTY:
            return None
        self.count -= 1
        j = i
        while True:  # backward shift, as ``_WordMap.pop``
            j = (j + 1) & mask
            if (v := vals[j]) == _EMPTY:
                break
            home = (((keys.item(v) & _M64) * _FIB) & _M64) >> shift
            if (i < j and i < home <= j) or (i > j and (home > i or home <= j)):
                continue
            vals[i] = v
            i = j
        vals[i] = _EMPTY
        return value

    def items(self, keys: _Keys) -> list[tuple[int, int]]:
        """(key, slot) of every entry, keys as stored in ``keys``, in the table's order."""
        return [(keys.item(v), v) for v in self._vals if v != _EMPTY]

    def nbytes(self) -> int:
        return self._vals.buffer_info()[1] * 4


class _Expiry:
    """The expiry heap: (published µs, slot) pairs, smallest first, in two ``array``s.

    ``heapq`` over a list held a Python int per key (published × 2**32 + slot, 83
    bits: 48 B with its pointer and slack ~56 B an article); here a key is 12 B of
    machine words (issue 17). The same order (published, then slot), so the same keys
    leave in the same order; a key is popped as ``heapq`` pops, one sift down.
    """

    __slots__ = ("pub", "slot")

    def __init__(self) -> None:
        self.pub = array("q")
        self.slot = array("i")

    def __len__(self) -> int:
        return len(self.pub)

    def push(self, published: int, slot: int) -> None:
        pubs, slots = self.pub, self.slot
        pubs.append(published)
        slots.append(slot)
        i = len(pubs) - 1
        while i:  # sift up: the window's articles mostly come newest last, one step
            parent = (i - 1) >> 1
            p = pubs[parent]
            if p < published or (p == published and slots[parent] <= slot):
                break
            pubs[i] = p
            slots[i] = slots[parent]
            i = parent
        pubs[i] = published
        slots[i] = slot

    def oldest(self) -> int:
        """The smallest published (the heap is not empty)."""
        return self.pub[0]

    def pop(self) -> tuple[int, int]:
        pubs, slots = self.pub, self.slot
        top = (pubs[0], slots[0])
        published, slot = pubs.pop(), slots.pop()
        n = len(pubs)
        if n:
            i = 0
            while (c := 2 * i + 1) < n:  # sift the last key down from the root
                r = c + 1
                if r < n and (pubs[r] < pubs[c] or (pubs[r] == pubs[c] and slots[r] < slots[c])):
                    c = r
                p = pubs[c]
                if p > published or (p == published and slots[c] >= slot):
                    break
                pubs[i] = p
                slots[i] = slots[c]
                i = c
            pubs[i] = published
            slots[i] = slot
        return top

    def nbytes(self) -> int:
        return self.pub.buffer_info()[1] * 8 + self.slot.buffer_info()[1] * 4


def _key(text: str) -> int:
    """A 64-bit digest of ``text`` (never 0): what the index keeps of a url or content hash.

    The exact-duplicate tables compare digests, not strings: a Python string and its
    dict entry were ~250 B an article, twice. Two different strings share a digest
    with odds ~2⁻⁶⁴ per pair: with 100,000 indexed articles and as many checked a
    day, ~10⁻⁹ a day that a url or text is taken for one it is not (the shingle
    hashes the near-duplicate test compares are 64-bit too).
    """
    digest = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
    return digest or 1


class _Postings:
    """The slot lists of the anchors that several articles share, packed.

    A list is a row of an int32 pool; the pools hold rows of 2, 4, 8, … slots (a list
    moves to the next when full), so a list costs 4 B a slot and a few of bookkeeping,
    where an ``array`` each was ~100 B (its header and its own buffer). Lists are
    numbered (``by_anchor`` holds -1 - number); a list keeps its order: slots are
    appended at the end and a removal closes the gap, as ``array.remove`` did.
    """

    __slots__ = ("_cls", "_free", "_free_rows", "_len", "_pools", "_row", "_rows_used", "_views")

    def __init__(self) -> None:
        self._pools: list[npt.NDArray[np.int32]] = []  # class c: rows of 2 << c slots
        # each pool's bytes, for ``extend``: slicing a memoryview is several times
        # cheaper than a numpy slice and its ``tobytes``
        self._views: list[memoryview] = []
        self._rows_used: list[int] = []
        self._free_rows: list[array[int]] = []
        self._cls = array("i")  # per list: its class, its row, its length
        self._row = array("i")
        self._len = array("i")
        self._free = array("i")  # list numbers to reuse

    def __getstate__(self) -> dict[str, object]:
        # a memoryview is neither pickled nor copied: rebuilt from the pools
        return {name: getattr(self, name) for name in self.__slots__ if name != "_views"}

    def __setstate__(self, state: dict[str, object]) -> None:
        for name, value in state.items():
            setattr(self, name, value)
        self._views = [
            pool.data.cast("B") if len(pool) else memoryview(b"") for pool in self._pools
        ]

    def _take_row(self, c: int) -> int:
        while len(self._pools) <= c:
            self._pools.append(np.zeros((0, 2 << len(self._pools)), dtype=np.int32))
            self._views.append(memoryview(b""))
            self._rows_used.append(0)
            self._free_rows.append(array("i"))
        if self._free_rows[c]:
            return self._free_rows[c].pop()
        row = self._rows_used[c]
        pool = self._pools[c]
        if row == len(pool):  # a quarter more: spare rows are memory
            grown = np.zeros((row + max(16, row // 4), pool.shape[1]), dtype=np.int32)
            grown[:row] = pool
            self._pools[c] = grown
            self._views[c] = grown.data.cast("B")
        self._rows_used[c] = row + 1
        return row

    def new(self, first: int, second: int) -> int:
        """A new list of two slots; its number."""
        row = self._take_row(0)
        self._pools[0][row, :2] = (first, second)
        if self._free:
            i = self._free.pop()
            self._cls[i], self._row[i], self._len[i] = 0, row, 2
        else:
            i = len(self._len)
            self._cls.append(0)
            self._row.append(row)
            self._len.append(2)
        return i

    def get(self, i: int) -> npt.NDArray[np.int32]:
        """List ``i``'s slots, in order (a view: read it before changing the list)."""
        return self._pools[self._cls[i]][self._row[i], : self._len[i]]

    def extend(self, i: int, out: array[int]) -> int:
        """Append list ``i``'s slots to ``out``; their number."""
        c, n = self._cls[i], self._len[i]
        start = self._row[i] * (8 << c)  # bytes: rows of 2 << c int32
        out.frombytes(self._views[c][start : start + 4 * n])
        return n

    def append(self, i: int, slot: int) -> None:
        c, row, n = self._cls[i], self._row[i], self._len[i]
        pool = self._pools[c]
        if n == pool.shape[1]:
            new_row = self._take_row(c + 1)
            self._pools[c + 1][new_row, :n] = self._pools[c][row, :n]
            self._free_rows[c].append(row)
            c, row = c + 1, new_row
            self._cls[i], self._row[i] = c, row
        self._pools[c][row, n] = slot
        self._len[i] = n + 1

    def remove(self, i: int, slot: int) -> int | None:
        """Take ``slot`` out of list ``i``; when one slot is left, the list is freed
        and that slot returned."""
        c, row, n = self._cls[i], self._row[i], self._len[i]
        cells = self._pools[c][row]
        k = cells[:n].tolist().index(slot)
        cells[k : n - 1] = cells[k + 1 : n].copy()
        n -= 1
        if n > 1:
            self._len[i] = n
            return None
        self._free_rows[c].append(row)
        self._len[i] = 0
        self._free.append(i)
        return int(cells[0])

    def lists(self) -> int:
        return len(self._len) - len(self._free)

    def postings(self) -> int:
        return sum(self._len)

    def nbytes(self) -> int:
        arrays = (self._cls, self._row, self._len, self._free, *self._free_rows)
        return sum(p.nbytes for p in self._pools) + sum(
            a.buffer_info()[1] * a.itemsize for a in arrays
        )


def _microseconds(when: datetime) -> int:
    """``when`` as an int that orders and subtracts as the datetimes do."""
    epoch = _EPOCH if when.tzinfo is not None else _EPOCH_NAIVE
    return (when - epoch) // _MICROSECOND


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


class DedupIndex:
    """Which earlier article (within the window) is this one a copy of?

    ``check`` is pure with respect to the index; ``add`` records an article. The
    pipeline calls ``check`` then ``add`` for every article, duplicates included
    (a later copy may be closer to a copy than to the original), and a duplicate
    always points at the *first-seen* original, never at another copy.
    Deterministic: the same sequence of calls gives the same decisions.

    Each indexed article has a *slot*: a row of the arrays below, reused after it
    leaves the window. Postings hold slots; ties between candidates still go to the
    oldest article id, as before.
    """

    def __init__(self, settings: DedupSettings | None = None) -> None:
        s = self.settings = settings or DedupSettings()
        self.boilerplate = Boilerplate(s.boilerplate)
        # article id → slot; url / content hash, as a 64-bit digest (``_key``) → the slot
        # of the first indexed article that has it. Each key is in the slot's row
        # (``_id``, ``_url``, ``_hash``): the tables hold slots alone (``_SlotMap``).
        self._slot_of = _SlotMap()
        self._by_url = _SlotMap()
        self._by_hash = _SlotMap()
        # anchor hash → its one slot (>= 0), or -1 - i: the slots of list i of ``_multi``
        # (most anchors belong to one article: no list for those)
        self._by_anchor = _WordMap()
        self._multi = _Postings()
        # expiry heap: (published µs, slot); a key whose slot has moved on to another
        # article, or whose article was re-added, is skipped when popped
        self._expiry = _Expiry()
        self._newest: int | None = None  # µs
        self._feeds: dict[str, int] = {}
        self._feed_names: list[str] = []
        self._free: list[int] = []
        self._used = 0  # slots ever handed out (the rest of the arrays is spare)
        cap = 64
        self._id = np.zeros(cap, dtype=np.int64)
        self._orig = np.zeros(cap, dtype=np.int64)  # the first-seen original's id
        self._pub = np.zeros(cap, dtype=np.int64)  # published, µs
        self._feed = np.zeros(cap, dtype=np.int32)
        self._sk = np.zeros((cap, s.sketch_size), dtype=np.uint64)
        self._sk_len = np.zeros(cap, dtype=np.int16)  # -1: no sketch (a short text)
        self._sk_size = np.zeros(cap, dtype=np.int32)
        self._lead = np.zeros((cap, s.lead_shingles), dtype=np.uint64)
        self._lead_len = np.zeros(cap, dtype=np.int16)
        # the anchors are sketch values: kept as their places in the slot's sketch row
        self._anch = np.zeros(
            (cap, s.anchors), dtype=np.uint8 if s.sketch_size <= 256 else np.int32
        )
        self._anch_len = np.zeros(cap, dtype=np.int16)
        # per slot: the url's digest (0: none) and the content hash's, paragraph hashes
        self._url = np.zeros(cap, dtype=np.uint64)
        self._hash = np.zeros(cap, dtype=np.uint64)
        # each slot's paragraph hashes: ``_para_len[slot]`` of them from ``_para_at[slot]``
        # in one pool (a bytes object a slot was ~100 B with 12 paragraphs, this ~60);
        # what removed slots left is dropped when it is an eighth of the pool
        self._para_pool = array("I")
        self._para_at = np.zeros(cap, dtype=np.int64)
        self._para_len = np.zeros(cap, dtype=np.int32)
        self._para_dead = 0
        self._last: tuple[Article, _Text, DedupDecision] | None = None

    def __len__(self) -> int:
        return self._slot_of.count

    def stats(self) -> dict[str, int]:
        """Sizes of the index's tables, for metrics and for the window's memory bound."""
        multi = self._multi
        return {
            "articles": self._slot_of.count,
            "urls": self._by_url.count,
            "hashes": self._by_hash.count,
            "anchors": self._by_anchor.count,
            "postings": self._by_anchor.count - multi.lists() + multi.postings(),
            "expiry_heap": len(self._expiry),
            **{f"boilerplate_{k}": v for k, v in self.boilerplate.stats().items()},
        }

    def nbytes(self) -> int:
        """Bytes the index holds, everything counted (``memory`` itemises them)."""
        return sum(self.memory().values())

    def memory(self) -> dict[str, int]:
        """Bytes held, by part: the slot rows (spare rows included), the hash tables,
        the shared posting lists, the paragraph hashes, the expiry heap, the outlets'
        names and the boilerplate learner. Python objects count ``sys.getsizeof``
        (each once), so this is what the process holds for the index, bar allocator
        slack."""
        arrays: list[npt.NDArray[np.generic]] = [self._id, self._orig, self._pub, self._feed]
        arrays += [self._sk, self._sk_len, self._sk_size, self._lead, self._lead_len]
        arrays += [self._anch, self._anch_len, self._url, self._hash]
        tables = (self._slot_of, self._by_url, self._by_hash, self._by_anchor)
        pool = self._para_pool
        return {
            "slots": sum(a.nbytes for a in arrays),
            "tables": sum(t.nbytes() for t in tables),
            "postings": self._multi.nbytes(),
            "paragraphs": pool.buffer_info()[1] * pool.itemsize
            + self._para_at.nbytes
            + self._para_len.nbytes,
            "expiry": self._expiry.nbytes() + _list_bytes(self._free),
            "feeds": sys.getsizeof(self._feeds)
            + _list_bytes(self._feed_names)
            + sum(sys.getsizeof(name) for name in self._feed_names),
            "boilerplate": self.boilerplate.nbytes(),
        }

    # ------------------------------------------------------------ public API

    def check(self, article: Article, split: TextWords | None = None) -> DedupDecision:
        """Is ``article`` a copy of one already added? Never modifies the index.

        ``split``: ``text_words(article.text)``, when the caller has it already."""
        t = self._prepare(article, split)
        decision = self._decide(article, t)
        self._last = (article, t, decision)
        return decision

    def add(self, article_id: int, article: Article) -> None:
        """Record ``article`` (stored as ``article_id``); evict what left the window.

        Adding an id twice replaces the earlier entry.
        """
        if self._last is not None and self._last[0] is article:
            _, t, decision = self._last
        else:
            t = self._prepare(article)
            decision = self._decide(article, t)
        self._last = None
        replaced = self._slot_of.get(article_id, self._id) is not None
        if replaced:
            self._remove(article_id)
        original = article_id
        if decision.duplicate_of is not None:
            dup = self._slot_of.get(decision.duplicate_of, self._id)
            original = decision.duplicate_of if dup is None else int(self._orig[dup])
        sk = t.sketch
        s = self.settings
        if sk is None:
            anchors: tuple[int, ...] = ()
        elif t.probed is not None and not replaced and s.anchors <= s.probe_anchors:
            # The decision walked the same hashes past the same postings (nothing was
            # added or removed since): its first ``anchors`` are what a walk gives.
            anchors = t.probed[: s.anchors]
        else:
            anchors = self._anchors(sk)
        slot = self._take_slot()
        published = _microseconds(article.published)
        self._id[slot] = article_id
        self._orig[slot] = original
        self._pub[slot] = published
        code = self._feeds.get(article.feed)
        if code is None:
            code = self._feeds[article.feed] = len(self._feed_names)
            self._feed_names.append(article.feed)
        self._feed[slot] = code
        if sk is None:
            self._sk_len[slot] = -1
        else:
            n = len(sk.hashes)
            self._sk[slot, :n] = sk.hashes
            self._sk_len[slot] = n
            self._sk_size[slot] = sk.size
        self._lead[slot, : len(t.lead)] = t.lead
        self._lead_len[slot] = len(t.lead)
        if sk is not None and anchors:
            self._anch[slot, : len(anchors)] = sk.hashes.searchsorted(
                np.array(anchors, dtype=np.uint64)
            )
        self._anch_len[slot] = len(anchors)
        self._para_at[slot] = len(self._para_pool)
        self._para_len[slot] = len(t.para_hashes)
        self._para_pool.fromlist(t.para_hashes)
        # the keys in the row first: the tables read them back (``_SlotMap``)
        self._slot_of.set(article_id, slot, self._id)
        self._url[slot] = t.url_key
        if t.url_key and self._by_url.get(t.url_key, self._url) is None:
            self._by_url.set(t.url_key, slot, self._url)
        self._hash[slot] = t.hash_key
        if self._by_hash.get(t.hash_key, self._hash) is None:
            self._by_hash.set(t.hash_key, slot, self._hash)
        by_anchor, multi = self._by_anchor, self._multi
        for anchor in anchors:
            ids = by_anchor.get(anchor)
            if ids is None:
                by_anchor.set(anchor, slot)
            elif ids >= 0:
                by_anchor.replace(anchor, -1 - multi.new(ids, slot))
            else:
                multi.append(-1 - ids, slot)
        self._expiry.push(published, slot)
        if self._newest is None or published > self._newest:
            self._newest = published
        # Learn after deciding: the decision only used what earlier articles taught.
        self.boilerplate.observe(article.feed, t.observed, original)
        self._evict()

    # ------------------------------------------------------------ internals

    def _take_slot(self) -> int:
        if self._free:
            return self._free.pop()
        slot = self._used
        self._used += 1
        cap = len(self._id)
        if slot == cap:
            # an eighth more, not double: the spare rows are allocated memory (~0.9 KB
            # a row), and a copy per growth is cheap next to the articles it holds
            more = max(64, cap // 8)
            for name in ("_id", "_orig", "_pub", "_feed", "_sk", "_sk_len", "_sk_size"):
                self._grow(name, cap + more)
            for name in ("_lead", "_lead_len", "_anch", "_anch_len", "_url", "_hash"):
                self._grow(name, cap + more)
            self._grow("_para_at", cap + more)
            self._grow("_para_len", cap + more)
        return slot

    def _grow(self, name: str, size: int) -> None:
        old = getattr(self, name)
        new = np.zeros((size, *old.shape[1:]), dtype=old.dtype)
        new[: len(old)] = old
        setattr(self, name, new)

    def _prepare(self, article: Article, split: TextWords | None = None) -> _Text:
        s = self.settings
        # ``split``: the consumer's one split of this text, shared with the matcher
        tw = text_words(article.text) if split is None else split
        ws = tw.words
        # blake2b of each paragraph's words joined by spaces (its key), not hash():
        # stable across processes, like the shingles. 32 bits: only compared with the
        # paragraphs of the one article a text is explained not to copy
        # (``_distinctive``); ~15 × 15 pairs there, so a false match (a paragraph
        # dropped from the distinctive text) has odds ~5·10⁻⁸ per explained non-copy,
        # and the index keeps 4 B a paragraph, not 8.
        para_hashes = [
            int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "little")
            for key in tw.keys
        ]
        raw = shingle_hashes(ws, s.shingle_size)
        uniq = sorted_distinct(raw)
        k = s.sketch_size
        ignored_small: list[int] = []
        boiler: npt.NDArray[np.bool_] | None = None
        lead_from = raw[: 4 * s.lead_shingles].tolist()
        lead_boiler: Iterable[bool] = itertools.repeat(False)
        if self.boilerplate.learned or self.boilerplate.outlet(article.feed):
            # Every distinct shingle tested at once (``Boilerplate.mask``); each
            # shingle in text order then reads its answer. Only the smallest are the
            # sketch: up to k distinctive ones; the share set aside on the way
            # estimates it for the whole text.
            set_aside = self.boilerplate.mask(uniq, article.feed)
            boiler = set_aside[uniq.searchsorted(raw)]
            lead_boiler = boiler[: len(lead_from)].tolist()
            keep = np.flatnonzero(~set_aside)
            walked = int(keep[k - 1]) + 1 if len(keep) >= k else len(uniq)
            hashes = uniq[keep[:k]]
            ignored_small = uniq[:walked][set_aside[:walked]].tolist()
            size = len(hashes) if walked == len(uniq) else len(uniq) * len(hashes) // walked
        else:
            size = len(uniq)
            hashes = uniq[:k].copy()
        sk = Sketch(hashes=hashes, size=size) if size >= s.min_shingles else None
        want = min(s.lead_shingles, max(s.min_lead, size // 3))
        lead: list[int] = []
        seen: set[int] = set()
        for h, set_apart in zip(lead_from, lead_boiler, strict=False):
            if h in seen or set_apart:
                continue
            seen.add(h)
            lead.append(h)
            if len(lead) == want:
                break
        return _Text(
            words=ws,
            shingles=raw,
            uniq=uniq,
            sketch=sk,
            boiler=boiler,
            lead=lead,
            ignored_small=ignored_small,
            observed=uniq[: s.boilerplate.observe].copy(),
            feed=article.feed,
            paragraphs=tw.paragraphs,
            para_hashes=para_hashes,
            para_starts=tw.starts,
            url_key=_key(article.canonical_url) if article.canonical_url else 0,
            hash_key=_key(article.content_hash),
        )

    def _anchors(self, sk: Sketch, count: int = 0) -> tuple[int, ...]:
        """The smallest hashes of ``sk`` that are not stock phrases right now.

        A hash whose posting list is full is skipped, and the next one taken, so
        an article is not left without anchors because its smallest shingles are
        "did not immediately respond" and "a request for comment". This depends on
        the index's state, so replaying the same articles in the same order gives
        the same anchors (and decisions).
        """
        return self._anchor_walk(sk, count)[0]

    def _anchor_walk(self, sk: Sketch, count: int = 0) -> tuple[tuple[int, ...], list[int]]:
        """``_anchors``, and what ``_by_anchor`` holds for each (``_EMPTY``: none)."""
        out: list[int] = []
        found: list[int] = []
        limit = self.settings.max_postings
        count = count or self.settings.anchors
        lengths = self._multi._len
        table = self._by_anchor
        # _WordMap.get inlined: this runs for every article, 32 hashes or more
        keys, vals, mask, shift = table._keys, table._vals, table._mask, table._shift
        for value in sk.hashes.tolist():
            i = ((value * _FIB) & _M64) >> shift
            while True:
                ids = vals[i]
                if ids == _EMPTY or keys[i] == value:
                    break
                i = (i + 1) & mask
            if ids < 0 and ids != _EMPTY and lengths[-1 - ids] >= limit:
                continue
            out.append(value)
            found.append(ids)
            if len(out) == count:
                break
        return tuple(out), found

    def _postings(self, found: Sequence[int]) -> tuple[array[int], array[float]]:
        """The slots of what ``_by_anchor`` holds (``found``), each with its weight
        (1 / the list's length).

        Machine-word ``array``s, not lists: the postings grow with the window (~70 an
        article at 1,000 indexed, ~600 at 100,000), and copied as buffers they cost
        no Python int each, here nor when ``_best_candidates`` hands them to numpy.
        The weights are spread from the lists' lengths in one numpy call, not an
        ``array`` built per list (the same doubles: 1 / n is correctly rounded in both).
        """
        postings = array("i")
        lengths = array("i")
        multi = self._multi
        for ids in found:
            if ids == _EMPTY:
                continue
            if ids >= 0:
                postings.append(ids)
                lengths.append(1)
            else:
                lengths.append(multi.extend(-1 - ids, postings))
        if not lengths:
            return postings, array("d")
        n = np.frombuffer(lengths, dtype=np.int32)
        return postings, array("d", np.repeat(1.0 / n, n).tobytes())

    def _decide(self, article: Article, t: _Text) -> DedupDecision:
        if t.url_key and (slot := self._by_url.get(t.url_key, self._url)) is not None:
            return DedupDecision(int(self._orig[slot]), "url", 1.0)
        if (slot := self._by_hash.get(t.hash_key, self._hash)) is not None:
            return DedupDecision(int(self._orig[slot]), "exact", 1.0)
        sk = t.sketch
        if sk is None:
            return DedupDecision(None)
        s = self.settings
        # Its boilerplate is looked up too: an older article may be indexed under a
        # shingle learned as boilerplate since (found so, it is still judged on its
        # distinctive text alone).
        t.probed, found = self._anchor_walk(sk, s.probe_anchors)
        get = self._by_anchor.get
        for h in t.ignored_small[: s.anchors]:
            ids = get(h)
            found.append(_EMPTY if ids is None else ids)
        postings, weights = self._postings(found)
        slots = _best_candidates(postings, weights, s.max_candidates, self._id)
        best: tuple[float, int] | None = None
        rejected: tuple[float, int, str, int] | None = None  # score, original, why, slot
        probe = _Probe(sk)
        learned = self.boilerplate.learned
        own = self.boilerplate.outlet(article.feed)
        ignored = set(t.ignored_small)
        # the rank counts sketchless ones too (a short text: only exact copies)
        cand = np.array(slots, dtype=np.int64)
        lengths = self._sk_len[cand].astype(np.int64)
        has = np.flatnonzero(lengths >= 0)
        cand, lengths, ranks = cand[has], lengths[has], has
        sizes = self._sk_size[cand].astype(np.int64)
        if len(cand) >= VECTOR_FROM:
            rows = self._sk[cand]
            width = rows.shape[1]
            if int(lengths.min()) == width:
                # every sketch full (the usual text, of ``sketch_size`` distinctive
                # shingles or more): the rows are already the values one after the
                # other; masking them took ~4x the gather itself, more the more
                # candidates (issue 17)
                packed = rows.reshape(-1)
            else:
                packed = rows[np.arange(width) < lengths[:, None]]  # row by row
            score_arr, sample_arr = _containment_core(probe, lengths, sizes, packed)
            bars = np.where(
                sample_arr >= s.min_samples, s.min_containment, s.few_samples_containment
            )
            # The rest are neither a copy, nor a near miss, nor asked to explain (the
            # test below, skipped in Python): most candidates.
            read = np.flatnonzero((score_arr >= bars / 2) | (ranks < EXPLAIN_CANDIDATES))
            scores = list(zip(score_arr[read].tolist(), sample_arr[read].tolist(), strict=True))
            cand, lengths, ranks, sizes = cand[read], lengths[read], ranks[read], sizes[read]
            hashes = [row[:n] for row, n in zip(rows[read], lengths.tolist(), strict=True)]
        else:
            hashes = [self._sk[c, :n] for c, n in zip(cand.tolist(), lengths.tolist(), strict=True)]
            scores = [
                probe.containment(h.tolist(), size, len(h) == size)
                for h, size in zip(hashes, sizes.tolist(), strict=True)
            ]
        mine = self._feeds.get(article.feed, -1)
        for rank, slot, feed, other, other_size, (score, samples) in zip(
            ranks.tolist(),
            cand.tolist(),
            self._feed[cand].tolist(),
            hashes,
            sizes.tolist(),
            scores,
            strict=True,
        ):
            bar = s.min_containment if samples >= s.min_samples else s.few_samples_containment
            if score < bar / 2 and rank >= EXPLAIN_CANDIDATES:
                # neither a copy, nor a near miss, nor asked to explain: most candidates
                continue
            values: list[int] = other.tolist()
            complete = len(values) == other_size
            theirs = self.boilerplate.outlet(self._feed_names[feed]) if feed != mine else own
            if score < bar and score >= bar / 2 and (learned or own or theirs):
                # The other text was sketched before some of its boilerplate was
                # learned: that text, absent here, only lowers the estimate. Left
                # out, the comparison is on distinctive text alone (a wire copy
                # under another outlet's footer). Only near misses pay for this.
                kept = [v for v in values if not (v in learned or v in own or v in theirs)]
                if len(kept) < len(values):
                    size = max(len(kept), other_size * len(kept) // len(values))
                    values = kept
                    score, samples = probe.containment(values, size, complete, theirs)
                    bar = (
                        s.min_containment if samples >= s.min_samples else s.few_samples_containment
                    )
            original = int(self._orig[slot])
            if score >= bar:
                if not self._leads_meet(t, slot, values, complete, theirs):
                    if rejected is None or score > rejected[0]:
                        rejected = (score, original, "lead", slot)
                    continue
                if best is None or score > best[0]:
                    best = (score, original)
            elif (
                rank < EXPLAIN_CANDIDATES
                and len(t.ignored_small) >= 4
                and samples
                and (score * samples + len(t.ignored_small))
                >= bar * (samples + len(t.ignored_small))
            ):
                # Would it have been a copy had the boilerplate counted as shared text?
                # (the test above is the most it could be: every ignored hash shared)
                both = len(ignored.intersection(other.tolist()))
                whole = (score * samples + both) / (samples + both)
                if both >= 4 and whole >= bar and (rejected is None or whole > rejected[0]):
                    rejected = (whole, original, "boilerplate", slot)
        if best is None:
            if rejected is None:
                return DedupDecision(None, distinctive_text=self._distinctive(t, None))
            return DedupDecision(
                None,
                boilerplate=self._phrases(t),
                not_copy_of=rejected[1],
                not_copy_reason=rejected[2],
                distinctive_text=self._distinctive(t, rejected[3]),
            )
        return DedupDecision(
            best[1],
            "near",
            round(best[0], 4),
            boilerplate=self._phrases(t),
            distinctive_text=self._distinctive(t, None),
        )

    def _distinctive(self, t: _Text, shared_with: int | None) -> str | None:
        """The text without its boilerplate paragraphs, for the clusterer; None if same.

        A paragraph goes when most of its shingles are learned boilerplate (a footer,
        "About X", a stock closing line), or when it is found verbatim in the article
        this one shares text with but does not copy (the press-release pair: their
        shared paragraphs are exactly what is not the story; ``shared_with`` is its
        slot). Never the whole text.
        """
        shared: set[int] = set()
        if shared_with is not None:
            start = int(self._para_at[shared_with])
            shared = set(self._para_pool[start : start + int(self._para_len[shared_with])])
        if (t.boiler is None and not shared) or len(t.paragraphs) < 2:
            return None
        # bools, summed by slices in C (the answers of ``_prepare``'s one test)
        flags: list[bool] = [] if t.boiler is None else t.boiler.tolist()
        ends = [*t.para_starts[1:], len(t.words)]
        keep: list[str] = []
        for text, h, start, end in zip(
            t.paragraphs, t.para_hashes, t.para_starts, ends, strict=True
        ):
            if h in shared:
                continue
            # every other shingle: overlapping shingles tell the same story, at half cost
            mine = flags[start : max(start + 1, end - self.settings.shingle_size + 1) : 2]
            if mine and sum(mine) * 5 >= len(mine) * 3:  # three fifths or more boilerplate
                continue
            keep.append(text)
        if not keep or len(keep) == len(t.paragraphs):
            return None
        return "\n\n".join(keep)

    def _leads_meet(
        self, t: _Text, slot: int, values: list[int], complete: bool, ignore: _Lookup
    ) -> bool:
        """Is one text's lead found in the other? (the lead rule, module doc)

        The older text's lead is looked up exactly in every distinctive shingle of
        the new one; the new lead is looked up in the older text's sketch, which
        holds every one of its hashes up to its largest, so only lead hashes in that
        range are evidence (at least three of them).
        """
        share = self.settings.lead_share
        learned = self.boilerplate.learned
        own = self.boilerplate.outlet(t.feed)
        theirs = [
            h
            for h in self._lead[slot, : self._lead_len[slot]].tolist()
            if not (h in learned or h in ignore or h in own)
        ]
        mine_all = t.all()
        if theirs and sum(1 for h in theirs if h in mine_all) >= share * len(theirs):
            return True
        if not values:
            return False
        limit = values[-1]
        mine = [h for h in t.lead if h not in ignore and (complete or h <= limit)]
        if len(mine) < 3:
            return False
        found = set(values)
        return sum(1 for h in mine if h in found) >= share * len(mine)

    def _phrases(self, t: _Text, most: int = 4, longest: int = 12) -> tuple[str, ...]:
        """The runs of words covered by boilerplate shingles, for the explanation."""
        if t.boiler is None:
            return ()
        size = min(self.settings.shingle_size, len(t.words))
        out: list[str] = []
        # runs in text order, read only until ``most`` phrases are found
        for i, j in _merged_runs(np.flatnonzero(t.boiler).tolist(), len(t.words), size):
            run = t.words[i:j]
            text = " ".join(run[:longest]) + (" …" if len(run) > longest else "")
            if text not in out:
                out.append(text)
                if len(out) == most:
                    break
        return tuple(out)

    def _evict(self) -> None:
        if self._newest is None:
            return
        horizon = self._newest - self.settings.window // _MICROSECOND
        expiry = self._expiry
        while len(expiry) and expiry.oldest() < horizon:
            published, slot = expiry.pop()
            article_id = int(self._id[slot])
            # the slot still holds the article this key was pushed for (or one
            # published at the same time, which leaves now too)
            if (
                self._slot_of.get(article_id, self._id) == slot
                and int(self._pub[slot]) == published
            ):
                self._remove(article_id)

    def _remove(self, article_id: int) -> None:
        slot = self._slot_of.pop(article_id, self._id)
        assert slot is not None
        url, content_hash = int(self._url[slot]), int(self._hash[slot])
        if url and self._by_url.get(url, self._url) == slot:
            self._by_url.pop(url, self._url)
        if self._by_hash.get(content_hash, self._hash) == slot:
            self._by_hash.pop(content_hash, self._hash)
        by_anchor, multi = self._by_anchor, self._multi
        for anchor in self._sk[slot, self._anch[slot, : self._anch_len[slot]]].tolist():
            ids = by_anchor.get(anchor)
            if ids == slot:
                by_anchor.pop(anchor)
            elif ids is not None and ids < 0:
                last = multi.remove(-1 - ids, slot)
                if last is not None:
                    by_anchor.replace(anchor, last)
        self._para_dead += int(self._para_len[slot])
        self._para_len[slot] = 0
        if self._para_dead > 4096 and self._para_dead * 8 > len(self._para_pool):
            self._compact_paragraphs()
        self._free.append(slot)

    def _compact_paragraphs(self) -> None:
        """Drop what removed slots left in the paragraph pool (slots keep their order)."""
        used = self._used
        live = np.flatnonzero(self._para_len[:used] > 0)
        lens = self._para_len[live].astype(np.int64)
        at = np.cumsum(lens) - lens
        pool = np.frombuffer(self._para_pool, dtype=np.uint32)
        take = np.repeat(self._para_at[live] - at, lens) + np.arange(int(lens.sum()))
        kept = pool[take].tobytes()
        del pool  # the view pins the old pool's buffer
        self._para_pool = array("I", kept)
        self._para_at[live] = at
        self._para_dead = 0
