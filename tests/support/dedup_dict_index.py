"""REFERENCE ONLY: ``aggregator/process/dedup.py`` as it was before the index was packed
(issue 17, commit ca73877): each article a record of bytes and a Sketch, each anchor a
dict entry. ``tests/test_dedup_packed.py`` checks that the packed index decides
exactly as this one; nothing else imports it. Only what the packing changed is kept
here (the index, its record and the candidate scoring); the settings, sketches, the
boilerplate learner and the text preparation are the module's own, unchanged by it.

Why the index works as it does (bottom-k sketches, anchors, the boilerplate learner) is
in ``aggregator/process/dedup.py``'s own docstring, not repeated here.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from aggregator.models import Article, DedupDecision
from aggregator.process.dedup import (  # noqa: F401 (the reference names them too)
    _NOTHING,
    EXPLAIN_CANDIDATES,
    GATHER_FROM,
    VECTOR_FROM,
    Boilerplate,
    BoilerplateSettings,
    DedupSettings,
    Sketch,
    _keep_newest,
    _Lookup,
    _Outlet,
    _Probe,
    _Text,
    containment,
    containment_samples,
    similarity,
    sketch,
)
from aggregator.text import shingle_hashes, words


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
    count = len(sketches)
    mine = probe.array
    m = len(mine)
    hashes = [sk.hashes for sk in sketches]
    lengths = np.array([len(h) for h in hashes], dtype=np.int64)
    sizes = np.array([sk.size for sk in sketches], dtype=np.int64)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    if not m or not count or not int(ends[-1]):
        return np.zeros(count, dtype=np.float64), np.zeros(count, dtype=np.int64)
    values = np.concatenate(hashes)
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


def _best_candidates(postings: list[int], weights: list[float], most: int) -> list[int]:
    """The ``most`` ids with the largest summed weight, ties to the oldest (smallest).

    Each candidate's evidence is the shared anchors, each weighted by its rarity: a
    hash only two articles have says more about copying than one sixty articles have.
    The order is the same on every run. From ``GATHER_FROM`` postings on (a large
    window: up to ``probe_anchors`` × ``max_postings``) the sums and the sort are
    numpy's; ``bincount`` adds each id's weights in the order given, as the dict does,
    so the sums, and the order, are the same to the last bit.
    """
    if len(postings) < GATHER_FROM:
        shared: dict[int, float] = {}
        for cid, weight in zip(postings, weights, strict=True):
            shared[cid] = shared.get(cid, 0.0) + weight
        # sorted(...)[:most], documented so, without sorting the long tail
        return heapq.nsmallest(most, shared, key=lambda cid: (-shared[cid], cid))
    ids, where = np.unique(np.array(postings, dtype=np.int64), return_inverse=True)
    sums = np.bincount(where, weights=np.array(weights, dtype=np.float64))
    order = np.lexsort((ids, -sums))[:most]  # the last key sorts first
    best: list[int] = ids[order].tolist()
    return best


@dataclass(slots=True)
class _Entry:
    article_id: int
    original: int  # the first-seen article this one copies (itself when original)
    published: datetime
    url: str | None
    content_hash: str
    feed: str
    sketch: Sketch | None
    anchors: bytes  # the indexed hashes as packed uint64: 128 B instead of ~700 B of ints
    lead: bytes  # the lead's hashes, packed uint64
    paragraphs: bytes  # paragraph hashes, packed uint64 (what a non-copy shared verbatim)


class DedupIndex:
    """Which earlier article (within the window) is this one a copy of?

    ``check`` is pure with respect to the index; ``add`` records an article. The
    pipeline calls ``check`` then ``add`` for every article, duplicates included
    (a later copy may be closer to a copy than to the original), and a duplicate
    always points at the *first-seen* original, never at another copy.
    Deterministic: the same sequence of calls gives the same decisions.
    """

    def __init__(self, settings: DedupSettings | None = None) -> None:
        self.settings = settings or DedupSettings()
        self.boilerplate = Boilerplate(self.settings.boilerplate)
        self._entries: dict[int, _Entry] = {}
        self._by_url: dict[str, int] = {}
        self._by_hash: dict[str, int] = {}
        # anchor hash → article ids; most anchors belong to one article, so a bare
        # int is stored until a second article shares it (saves a list per anchor).
        self._by_anchor: dict[int, int | list[int]] = {}
        self._expiry: list[tuple[datetime, int]] = []  # heap of (published, article id)
        self._newest: datetime | None = None
        self._last: tuple[Article, _Text, DedupDecision] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def stats(self) -> dict[str, int]:
        """Sizes of the index's tables, for metrics and for the window's memory bound."""
        return {
            "articles": len(self._entries),
            "urls": len(self._by_url),
            "hashes": len(self._by_hash),
            "anchors": len(self._by_anchor),
            "postings": sum(
                1 if isinstance(ids, int) else len(ids) for ids in self._by_anchor.values()
            ),
            "expiry_heap": len(self._expiry),
            **{f"boilerplate_{k}": v for k, v in self.boilerplate.stats().items()},
        }

    # ------------------------------------------------------------ public API

    def check(self, article: Article) -> DedupDecision:
        """Is ``article`` a copy of one already added? Never modifies the index."""
        t = self._prepare(article)
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
        replaced = article_id in self._entries
        if replaced:
            self._remove(article_id)
        original = article_id
        if decision.duplicate_of is not None and decision.duplicate_of in self._entries:
            original = self._entries[decision.duplicate_of].original
        elif decision.duplicate_of is not None:
            original = decision.duplicate_of
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
        entry = _Entry(
            article_id=article_id,
            original=original,
            published=article.published,
            url=article.canonical_url,
            content_hash=article.content_hash,
            feed=article.feed,
            sketch=sk,
            anchors=np.array(anchors, dtype=np.uint64).tobytes(),
            lead=np.array(t.lead, dtype=np.uint64).tobytes(),
            paragraphs=np.array(t.para_hashes, dtype=np.uint64).tobytes(),
        )
        self._entries[article_id] = entry
        if entry.url:
            self._by_url.setdefault(entry.url, article_id)
        self._by_hash.setdefault(entry.content_hash, article_id)
        for anchor in anchors:
            ids = self._by_anchor.get(anchor)
            if ids is None:
                self._by_anchor[anchor] = article_id
            elif isinstance(ids, int):
                self._by_anchor[anchor] = [ids, article_id]
            else:
                ids.append(article_id)
        heapq.heappush(self._expiry, (article.published, article_id))
        if self._newest is None or article.published > self._newest:
            self._newest = article.published
        # Learn after deciding: the decision only used what earlier articles taught.
        self.boilerplate.observe(article.feed, t.observed, original)
        self._evict()

    # ------------------------------------------------------------ internals

    def _prepare(self, article: Article) -> _Text:
        s = self.settings
        paragraphs = [p for p in article.text.split("\n\n") if p.strip()]
        ws_list: list[str] = []
        para_hashes: list[int] = []
        para_starts: list[int] = []
        for p in paragraphs:
            pw = words(p)
            para_starts.append(len(ws_list))
            ws_list.extend(pw)
            # blake2b, not hash(): stable across processes, like the shingles
            digest = hashlib.blake2b(" ".join(pw).encode(), digest_size=8).digest()
            para_hashes.append(int.from_bytes(digest, "little"))
        ws = tuple(ws_list)
        raw = shingle_hashes(ws, s.shingle_size)
        uniq_arr = np.unique(raw)  # sorted, distinct
        uniq: list[int] = uniq_arr.tolist()
        learned, own = self.boilerplate.learned, self.boilerplate.outlet(article.feed)
        k = s.sketch_size
        ignored_small: list[int] = []
        if learned or own:
            # Only the smallest hashes are read: walk up until k distinctive ones are
            # kept; the share set aside on the way estimates it for the whole text.
            kept: list[int] = []
            walked = 0
            for h in uniq:
                walked += 1
                if h in learned or h in own:
                    if len(kept) < k:
                        ignored_small.append(h)
                    continue
                kept.append(h)
                if len(kept) == k:
                    break
            size = len(kept) if walked == len(uniq) else len(uniq) * len(kept) // walked
            hashes = np.array(kept, dtype=np.uint64)
        else:
            size = len(uniq)
            hashes = uniq_arr[:k].copy()
        sk = Sketch(hashes=hashes, size=size) if size >= s.min_shingles else None
        want = min(s.lead_shingles, max(s.min_lead, size // 3))
        lead: list[int] = []
        seen: set[int] = set()
        for h in raw[: 4 * s.lead_shingles].tolist():
            if h in seen or h in learned or h in own:
                continue
            seen.add(h)
            lead.append(h)
            if len(lead) == want:
                break
        return _Text(
            words=ws,
            shingles=raw,
            uniq=uniq_arr,  # the shared _Text holds the array (it lists what it reads)
            sketch=sk,
            lead=lead,
            ignored_small=ignored_small,
            observed=uniq_arr[: s.boilerplate.observe].copy(),
            feed=article.feed,
            paragraphs=paragraphs,
            para_hashes=para_hashes,
            para_starts=para_starts,
        )

    def _anchors(self, sk: Sketch, count: int = 0) -> tuple[int, ...]:
        """The smallest hashes of ``sk`` that are not stock phrases right now.

        A hash whose posting list is full is skipped, and the next one taken, so
        an article is not left without anchors because its smallest shingles are
        "did not immediately respond" and "a request for comment". This depends on
        the index's state, so replaying the same articles in the same order gives
        the same anchors (and decisions).
        """
        out: list[int] = []
        limit = self.settings.max_postings
        count = count or self.settings.anchors
        for value in sk.hashes.tolist():
            ids = self._by_anchor.get(value)
            if isinstance(ids, list) and len(ids) >= limit:
                continue
            out.append(value)
            if len(out) == count:
                break
        return tuple(out)

    def _original(self, article_id: int) -> int:
        return self._entries[article_id].original

    def _decide(self, article: Article, t: _Text) -> DedupDecision:
        if article.canonical_url and article.canonical_url in self._by_url:
            return DedupDecision(self._original(self._by_url[article.canonical_url]), "url", 1.0)
        if article.content_hash in self._by_hash:
            return DedupDecision(self._original(self._by_hash[article.content_hash]), "exact", 1.0)
        sk = t.sketch
        if sk is None:
            return DedupDecision(None)
        s = self.settings
        # Its boilerplate is looked up too: an older article may be indexed under a
        # shingle learned as boilerplate since (found so, it is still judged on its
        # distinctive text alone).
        postings: list[int] = []
        weights: list[float] = []
        t.probed = self._anchors(sk, s.probe_anchors)
        for h in (*t.probed, *t.ignored_small[: s.anchors]):
            ids = self._by_anchor.get(h)
            if ids is None:
                continue
            if isinstance(ids, int):
                postings.append(ids)
                weights.append(1.0)
            else:
                postings.extend(ids)
                weights.extend([1.0 / len(ids)] * len(ids))
        candidates = _best_candidates(postings, weights, s.max_candidates)
        best: tuple[float, int] | None = None
        rejected: tuple[float, int, str, int] | None = None  # score, original, why, id
        probe = _Probe(sk)
        learned = self.boilerplate.learned
        own = self.boilerplate.outlet(article.feed)
        ignored = set(t.ignored_small)
        entries = self._entries
        ranked = [(rank, cid, entries[cid]) for rank, cid in enumerate(candidates)]
        # the rank counts sketchless ones too (a short text: only exact copies)
        ranked = [r for r in ranked if r[2].sketch is not None]
        sketches = [r[2].sketch for r in ranked if r[2].sketch is not None]
        if len(sketches) >= VECTOR_FROM:
            score_arr, sample_arr = _containment_arrays(probe, sketches)
            bars = np.where(
                sample_arr >= s.min_samples, s.min_containment, s.few_samples_containment
            )
            ranks = np.array([r[0] for r in ranked], dtype=np.int64)
            # The rest are neither a copy, nor a near miss, nor asked to explain (the
            # test below, skipped in Python): most candidates.
            read = np.flatnonzero((score_arr >= bars / 2) | (ranks < EXPLAIN_CANDIDATES))
            scores = list(zip(score_arr[read].tolist(), sample_arr[read].tolist(), strict=True))
            index = read.tolist()
            ranked = [ranked[i] for i in index]
            sketches = [sketches[i] for i in index]
        else:
            scores = [
                probe.containment(o.hashes.tolist(), o.size, len(o.hashes) == o.size)
                for o in sketches
            ]
        for (rank, cid, entry), other, (score, samples) in zip(
            ranked, sketches, scores, strict=True
        ):
            bar = s.min_containment if samples >= s.min_samples else s.few_samples_containment
            if score < bar / 2 and rank >= EXPLAIN_CANDIDATES:
                # neither a copy, nor a near miss, nor asked to explain: most candidates
                continue
            values: list[int] = other.hashes.tolist()
            complete = len(values) == other.size
            theirs = self.boilerplate.outlet(entry.feed) if entry.feed != article.feed else own
            if score < bar and score >= bar / 2 and (learned or own or theirs):
                # The other text was sketched before some of its boilerplate was
                # learned: that text, absent here, only lowers the estimate. Left
                # out, the comparison is on distinctive text alone (a wire copy
                # under another outlet's footer). Only near misses pay for this.
                kept = [v for v in values if not (v in learned or v in own or v in theirs)]
                if len(kept) < len(values):
                    size = max(len(kept), other.size * len(kept) // len(values))
                    values = kept
                    score, samples = probe.containment(values, size, complete, theirs)
                    bar = (
                        s.min_containment if samples >= s.min_samples else s.few_samples_containment
                    )
            original = self._original(cid)
            if score >= bar:
                if not self._leads_meet(t, entry, values, complete, theirs):
                    if rejected is None or score > rejected[0]:
                        rejected = (score, original, "lead", cid)
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
                both = len(ignored.intersection(other.hashes.tolist()))
                whole = (score * samples + both) / (samples + both)
                if both >= 4 and whole >= bar and (rejected is None or whole > rejected[0]):
                    rejected = (whole, original, "boilerplate", cid)
        if best is None:
            if rejected is None:
                return DedupDecision(None, distinctive_text=self._distinctive(t, None))
            return DedupDecision(
                None,
                boilerplate=self._phrases(t),
                not_copy_of=rejected[1],
                not_copy_reason=rejected[2],
                distinctive_text=self._distinctive(t, self._entries[rejected[3]]),
            )
        return DedupDecision(
            best[1],
            "near",
            round(best[0], 4),
            boilerplate=self._phrases(t),
            distinctive_text=self._distinctive(t, None),
        )

    def _distinctive(self, t: _Text, shared_with: _Entry | None) -> str | None:
        """The text without its boilerplate paragraphs, for the clusterer; None if same.

        A paragraph goes when most of its shingles are learned boilerplate (a footer,
        "About X", a stock closing line), or when it is found verbatim in the article
        this one shares text with but does not copy (the press-release pair: their
        shared paragraphs are exactly what is not the story). Never the whole text.
        """
        learned, own = self.boilerplate.learned, self.boilerplate.outlet(t.feed)
        shared: set[int] = set()
        if shared_with is not None:
            shared = set(np.frombuffer(shared_with.paragraphs, dtype=np.uint64).tolist())
        if not (learned or own or shared) or len(t.paragraphs) < 2:
            return None
        shingles = t.shingles.tolist()
        ends = [*t.para_starts[1:], len(t.words)]
        keep: list[str] = []
        for text, h, start, end in zip(
            t.paragraphs, t.para_hashes, t.para_starts, ends, strict=True
        ):
            if h in shared:
                continue
            # every other shingle: overlapping shingles tell the same story, at half cost
            mine = shingles[start : max(start + 1, end - self.settings.shingle_size + 1) : 2]
            if (learned or own) and mine:
                boiler = sum(1 for x in mine if x in learned or x in own)
                if boiler * 5 >= len(mine) * 3:  # three fifths or more
                    continue
            keep.append(text)
        if not keep or len(keep) == len(t.paragraphs):
            return None
        return "\n\n".join(keep)

    def _leads_meet(
        self, t: _Text, entry: _Entry, values: list[int], complete: bool, ignore: _Lookup
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
            for h in np.frombuffer(entry.lead, dtype=np.uint64).tolist()
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
        learned, own = self.boilerplate.learned, self.boilerplate.outlet(t.feed)
        if not (learned or own):
            return ()
        flags = [h in learned or h in own for h in t.shingles.tolist()]
        if not any(flags):
            return ()
        size = min(self.settings.shingle_size, len(t.words))
        out: list[str] = []
        for i, j in _covered_runs(flags, len(t.words), size):
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
        horizon = self._newest - self.settings.window
        while self._expiry and self._expiry[0][0] < horizon:
            published, article_id = heapq.heappop(self._expiry)
            entry = self._entries.get(article_id)
            if entry is not None and entry.published == published:
                self._remove(article_id)

    def _remove(self, article_id: int) -> None:
        entry = self._entries.pop(article_id)
        if entry.url and self._by_url.get(entry.url) == article_id:
            del self._by_url[entry.url]
        if self._by_hash.get(entry.content_hash) == article_id:
            del self._by_hash[entry.content_hash]
        for anchor in np.frombuffer(entry.anchors, dtype=np.uint64).tolist():
            ids = self._by_anchor.get(anchor)
            if ids == article_id:
                del self._by_anchor[anchor]
            elif isinstance(ids, list):
                ids.remove(article_id)
                if len(ids) == 1:
                    self._by_anchor[anchor] = ids[0]


def _covered_runs(flags: Sequence[bool], words: int, size: int) -> list[tuple[int, int]]:
    """The runs [start, end) of words covered by a flagged shingle, in text order.

    Shingle i covers words i .. i + size - 1. In numpy: an explanation is asked for
    more often the more the index has learned, and a loop per word made it so.
    """
    if not words:
        return []
    # fromiter: ``np.array`` of a list of bools inspects every item first (~4x the
    # time on an article's ~670 shingles; ``_phrases`` runs for every explanation)
    count = np.zeros(len(flags) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(flags, dtype=np.int64, count=len(flags)), out=count[1:])
    last = len(flags) - 1
    j = np.arange(words)
    lo = np.maximum(0, j - size + 1)
    hi = np.minimum(j, last)
    inside = lo <= hi
    lo = np.minimum(lo, last + 1)
    covered = inside & (count[np.maximum(hi, lo - 1) + 1] - count[lo] > 0)
    edges = np.diff(np.concatenate(([0], covered.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1).tolist()
    ends = np.flatnonzero(edges == -1).tolist()
    return list(zip(starts, ends, strict=True))
