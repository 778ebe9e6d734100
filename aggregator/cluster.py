"""Online event clustering: one cluster per real-world event.

Each article is assigned when it arrives, seeing only what came before it, to the
most similar *active* event cluster or to a new one. The decision is a pure
function of the article and of the state built from earlier articles, so the same
input in the same order always gives the same clusters, and ``restore`` rebuilds
that state from stored assignments without deciding anything.

Representation (lexical, so one core clusters thousands of full-text articles a
second):

* Terms are lower-cased word unigrams with light suffix stemming, minus stop
  words; entity-like terms (acronyms, numbers, mixed case such as ``iPhone``,
  capitalised words inside a sentence-case title) get extra weight, because
  events are named by who, where and how many. Adjacent content-word pairs
  ("game thrones", "mt gox") add phrase evidence that a bag of words lacks. Words
  from the URL slug are a weak extra field; the site's own host name is not used,
  so one outlet's articles are not glued together.
* Weights are sublinear TF times an IDF learned online from the articles seen so
  far (only the past). A document's vector is frozen with the IDF of its arrival
  time, so replaying the same stream rebuilds the same state exactly.
* A cluster is the running sum of its members' unit vectors (its centroid up to
  scale); similarity is the cosine between the new article and that sum.
* The join threshold depends on the cluster's size: an article compared with a
  single other headline needs more overlap than one compared with the centroid of
  many, whose averaged vector is smoother (and whose cosine with any single member
  is lower).
* Merges: after an article joins cluster A, every other candidate cluster B that the
  article also matches, and whose centroid is close to A's, is folded into the
  larger of the two. The old id stays resolvable (``resolve``).
* Time: a cluster silent for longer than ``max_silence`` takes no new article
  (events are bursty), and clusters whose last update is older than ``window`` are
  evicted, so the cost per article depends on the active state, not the archive.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from aggregator.models import Article, ClusterDecision

__all__ = [
    "ClusterInfo",
    "ClusterSettings",
    "Clusterer",
    "featurize",
]


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    """How articles are grouped into events. Defaults were tuned on the UCI DEV set.

    Attributes:
        threshold: cosine a cluster of many articles needs to take a new one.
        singleton_threshold: cosine a cluster of one article needs; thresholds for
            sizes in between fall from this towards ``threshold`` as 1/sqrt(size).
        merge_threshold: cosine between two cluster centroids above which an article
            that matches both merges them.
        entity_boost: weight multiplier for entity-like terms (acronyms, numbers,
            mixed case, capitalised words inside a sentence-case title).
        bigram_weight: weight of an adjacent content-word pair relative to a word.
        url_weight: weight of the URL slug field relative to the title.
        text_weight: weight of the body text field relative to the title.
        max_text_chars: how much of the body is read (the lead carries the event;
            the rest costs time and adds off-topic words).
        max_terms: terms kept per article vector (the strongest by weight).
        max_cluster_terms: terms kept per cluster centroid (memory and speed bound).
        max_silence: a cluster silent for longer than this takes no new article.
        window: clusters not updated for this long are evicted from memory.
        idf_prior_docs: pseudo-documents in which every unseen term is assumed
            absent, so the first articles do not see every word as equally rare.
    """

    threshold: float = 0.08
    singleton_threshold: float = 0.20
    merge_threshold: float = 0.35
    entity_boost: float = 1.5
    bigram_weight: float = 0.0
    url_weight: float = 0.5
    text_weight: float = 0.5
    max_text_chars: int = 1500
    max_terms: int = 48
    max_cluster_terms: int = 256
    max_silence: timedelta = timedelta(hours=48)
    window: timedelta = timedelta(hours=72)
    idf_prior_docs: int = 20

    def __post_init__(self) -> None:
        if self.window < self.max_silence:
            raise ValueError("window must be at least max_silence")
        if not 0.0 < self.threshold <= 1.0 or not 0.0 < self.singleton_threshold <= 1.0:
            raise ValueError("thresholds must be in (0, 1]")


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    """A cluster as storage and display need it."""

    cluster_id: int
    headline: str
    first_seen: datetime
    last_updated: datetime
    article_count: int
    outlet_count: int
    top_terms: tuple[str, ...]
    status: str  # "active" (still takes articles) or "dormant" (silent too long)


# --- features -----------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+(?:['’.&][^\W_]+)*")
_STOP_WORDS = """a about above after again against all also am an and any are as at be because
    been before being below between both but by can could did do does doing down during
    each few for from further had has have having he her here hers him his how i if in
    into is it its itself just me more most my no nor not now of off on once only or
    other our ours out over own same she should so some such than that the their theirs
    them then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours
    says said say may might must shall get gets got new news via vs report reports
    update updated updates watch video photos photo live today week day first one two
    just still back here now year years"""
_STOP = frozenset(_STOP_WORDS.split())
# URL path words that name site sections or page types, not events.
_URL_NOISE_WORDS = """html htm php aspx asp shtml cms story stories article articles news index
    www com net org blog blogs post posts view content detail page id category
    section tag tags feed rss amp print"""
_URL_NOISE = frozenset(_URL_NOISE_WORDS.split())


def _stem(word: str) -> str:
    """Light English suffix stripping: possessives, plurals, -ing/-ed, final -e.

    Deliberately weak (no Porter): headlines are short and full of names, and
    aggressive stemming conflates them. The final ``e`` goes so that "release",
    "released", "releases" and "releasing" meet at one stem.
    """
    if word.endswith(("'s", "’s")):
        word = word[:-2]
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and not word.endswith(("aies", "eies")):
        word = word[:-3] + "y"
    elif word.endswith("s") and not word.endswith(("ss", "us", "is", "aes", "ees", "oes")):
        word = word[:-1]  # "releases" -> "release"; the final "e" goes below
    if word.endswith("ing") and len(word) > 5:
        word = word[:-3]
    elif word.endswith("ed") and len(word) > 4 and not word.endswith("eed"):
        word = word[:-2]
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


def _is_entity(token: str, sentence_case: bool) -> bool:
    """Acronyms, numbers and mixed case always; capitals only in sentence case."""
    if token.isdigit() or any(ch.isdigit() for ch in token):
        return True
    if len(token) >= 2 and token.isupper():
        return True
    if token[0].islower() and any(ch.isupper() for ch in token[1:]):
        return True  # iPhone, eBay
    return sentence_case and token[0].isupper()


def _field_terms(
    text: str, settings: ClusterSettings, weight: float, out: dict[str, float]
) -> None:
    """Add weighted unigram and bigram counts of one text field to ``out``."""
    tokens = _WORD.findall(text)
    if not tokens:
        return
    caps = sum(1 for t in tokens if t[0].isupper())
    # In Title Case every word is capitalised and capitals say nothing; in sentence
    # case a capital after the first word marks a name.
    sentence_case = caps * 2 <= len(tokens)
    prev: str | None = None
    for i, token in enumerate(tokens):
        lower = token.lower().replace("’", "'")
        if lower in _STOP or (len(lower) < 2 and not lower.isdigit()):
            prev = None
            continue
        term = _stem(lower.replace(".", "").replace("'", ""))
        if not term or term in _STOP:
            prev = None
            continue
        w = weight
        if _is_entity(token, sentence_case and i > 0):
            w *= settings.entity_boost
        out[term] = out.get(term, 0.0) + w
        if prev is not None and settings.bigram_weight > 0.0:
            pair = prev + " " + term
            out[pair] = out.get(pair, 0.0) + weight * settings.bigram_weight
        prev = term


def _url_words(url: str) -> str:
    """The words of a URL's path (its slug), without host, ids and page types."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return ""
    words = re.split(r"[^A-Za-z]+", path)
    return " ".join(w for w in words if len(w) >= 3 and w.lower() not in _URL_NOISE)


def featurize(article: Article, settings: ClusterSettings) -> dict[str, float]:
    """Raw weighted term counts of an article (title, lead of the text, URL slug)."""
    counts: dict[str, float] = {}
    _field_terms(article.title, settings, 1.0, counts)
    body = article.fulltext or article.text
    if body and settings.text_weight > 0.0:
        _field_terms(body[: settings.max_text_chars], settings, settings.text_weight, counts)
    url = article.canonical_url or article.url
    if url and settings.url_weight > 0.0:
        # The slug is written like a headline but lower-cased: no entity signal.
        _field_terms(_url_words(url).lower(), settings, settings.url_weight, counts)
    return counts


# --- state --------------------------------------------------------------------


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
    members: list[int] = field(default_factory=list)

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
        self._postings: dict[str, dict[int, None]] = {}  # term -> clusters (ordered set)
        self._df: dict[str, int] = {}
        self._docs = 0
        self._article_cluster: dict[int, int] = {}
        self._merged_into: dict[int, int] = {}
        self._now: datetime | None = None

    # -- public API ------------------------------------------------------------

    def assign(
        self, article_id: int, article: Article, *, duplicate_of: int | None = None
    ) -> ClusterDecision:
        """Put the article in a cluster and say which, how sure, and why."""
        self._advance(article.published)
        vector = self._vectorize(article)
        if duplicate_of is not None and duplicate_of in self._article_cluster:
            target = self._clusters.get(self.resolve(self._article_cluster[duplicate_of]))
            if target is not None:
                score, terms = self._explain(vector, target)
                self._add(target, article_id, article, vector, score)
                return ClusterDecision(target.cluster_id, False, score, terms)

        scores = self._score(vector, article.published)
        best: _Cluster | None = None
        best_score = 0.0
        for cid, sim in scores.items():
            cluster = self._clusters[cid]
            if sim >= self._threshold(cluster.article_count) and (best is None or sim > best_score):
                best, best_score = cluster, sim
        if best is None:
            cluster = self._new_cluster(article)
            self._add(cluster, article_id, article, vector, 0.0)
            return ClusterDecision(cluster.cluster_id, True, 0.0, ())

        _, terms = self._explain(vector, best)
        self._add(best, article_id, article, vector, best_score)
        merged = self._merge_bridged(best, scores)
        survivor = self.resolve(best.cluster_id)
        return ClusterDecision(survivor, False, best_score, terms, merged)

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
        self._add(cluster, article_id, article, vector, self._cosine(vector, cluster))

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

    def info(self, cluster_id: int) -> ClusterInfo:
        """Describe a cluster held in memory (KeyError once it left the window)."""
        cluster = self._clusters[self.resolve(cluster_id)]
        top = sorted(cluster.centroid.items(), key=lambda kv: (-kv[1], kv[0]))
        terms = tuple(t for t, _ in top if " " not in t)[:8]
        active = self._now is None or self._now - cluster.last_updated <= self._s.max_silence
        return ClusterInfo(
            cluster_id=cluster.cluster_id,
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
        return len(self._clusters)

    # -- internals -------------------------------------------------------------

    def _threshold(self, size: int) -> float:
        s = self._s
        return s.threshold + (s.singleton_threshold - s.threshold) / math.sqrt(max(size, 1))

    def _advance(self, published: datetime) -> None:
        """Move the clock (the latest publication time seen) and evict old clusters."""
        if self._now is not None and published <= self._now:
            return
        self._now = published
        horizon = published - self._s.window
        stale = [c for c in self._clusters.values() if c.last_updated < horizon]
        for cluster in stale:
            self._evict(cluster)

    def _evict(self, cluster: _Cluster) -> None:
        for term in cluster.centroid:
            posting = self._postings.get(term)
            if posting is not None:
                posting.pop(cluster.cluster_id, None)
                if not posting:
                    del self._postings[term]
        for article_id in cluster.members:
            self._article_cluster.pop(article_id, None)
        del self._clusters[cluster.cluster_id]

    def _vectorize(self, article: Article) -> dict[str, float]:
        """Unit TF-IDF vector with the IDF of now; updates document frequencies."""
        counts = featurize(article, self._s)
        n = self._docs + self._s.idf_prior_docs
        df = self._df
        weights: dict[str, float] = {}
        for term, tf in counts.items():
            idf = math.log((n + 1.0) / (df.get(term, 0) + 1.0)) + 1.0
            weights[term] = (1.0 + math.log(tf) if tf > 1.0 else tf) * idf
        for term in counts:
            df[term] = df.get(term, 0) + 1
        self._docs += 1
        if len(weights) > self._s.max_terms:
            kept = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[: self._s.max_terms]
            weights = dict(kept)
        norm = math.sqrt(sum(w * w for w in weights.values()))
        if norm == 0.0:
            return {}
        return {t: w / norm for t, w in weights.items()}

    def _score(self, vector: dict[str, float], published: datetime) -> dict[int, float]:
        """Cosine of the vector with every active cluster sharing a term."""
        dots: dict[int, float] = {}
        for term, w in vector.items():
            posting = self._postings.get(term)
            if posting is None:
                continue
            for cid in posting:
                dots[cid] = dots.get(cid, 0.0) + w * self._clusters[cid].centroid[term]
        out: dict[int, float] = {}
        for cid, dot in dots.items():
            cluster = self._clusters[cid]
            if published - cluster.last_updated > self._s.max_silence:
                continue
            out[cid] = dot / cluster.norm if cluster.norm_sq > 0.0 else 0.0
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
        parts = [(w * c[t], t) for t, w in vector.items() if t in c]
        parts.sort(key=lambda p: (-p[0], p[1]))
        score = sum(p for p, _ in parts) / cluster.norm if cluster.norm_sq > 0.0 else 0.0
        return score, tuple(t for _, t in parts[:6])

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
        score: float,
    ) -> None:
        c = cluster.centroid
        dot = 0.0
        for term, w in vector.items():
            old = c.get(term)
            if old is None:
                c[term] = w
                self._postings.setdefault(term, {})[cluster.cluster_id] = None
            else:
                dot += old * w
                c[term] = old + w
        # |c + v|^2 = |c|^2 + 2 c.v + |v|^2, and |v| = 1 (or 0 for an empty vector).
        cluster.norm_sq += 2.0 * dot + (1.0 if vector else 0.0)
        if len(c) > 2 * self._s.max_cluster_terms:
            self._prune(cluster)
        cluster.article_count += 1
        cluster.outlets.add(article.feed)
        cluster.members.append(article_id)
        self._article_cluster[article_id] = cluster.cluster_id
        cluster.first_seen = min(cluster.first_seen, article.published)
        cluster.last_updated = max(cluster.last_updated, article.published)
        # The member closest to the centroid when it joined names the event.
        if score > cluster.headline_score:
            cluster.headline, cluster.headline_score = article.title, score

    def _prune(self, cluster: _Cluster) -> None:
        """Keep the strongest terms of a centroid; exact norm recomputed."""
        ranked = sorted(cluster.centroid.items(), key=lambda kv: (-kv[1], kv[0]))
        keep = dict(ranked[: self._s.max_cluster_terms])
        for term, _ in ranked[self._s.max_cluster_terms :]:
            posting = self._postings[term]
            posting.pop(cluster.cluster_id, None)
            if not posting:
                del self._postings[term]
        cluster.centroid = keep
        cluster.norm_sq = sum(w * w for w in keep.values())

    def _merge_bridged(self, joined: _Cluster, scores: dict[int, float]) -> tuple[int, ...]:
        """Fold clusters that this article also matches and that resemble ``joined``."""
        merged: list[int] = []
        survivor = joined
        for cid, sim in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0])):
            other = self._clusters.get(cid)
            if other is None or other is survivor:
                continue
            if sim < self._threshold(other.article_count):
                continue
            if _centroid_cosine(survivor, other) < self._s.merge_threshold:
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
        return tuple(merged)

    def _fold(self, small: _Cluster, *, into: _Cluster) -> None:
        c = into.centroid
        dot = sum(w * c.get(t, 0.0) for t, w in small.centroid.items())
        for term, w in small.centroid.items():
            posting = self._postings[term]
            posting.pop(small.cluster_id, None)
            if term in c:
                c[term] += w
            else:
                c[term] = w
                posting[into.cluster_id] = None
        into.norm_sq += 2.0 * dot + small.norm_sq
        if len(c) > 2 * self._s.max_cluster_terms:
            self._prune(into)
        into.article_count += small.article_count
        into.outlets |= small.outlets
        into.members.extend(small.members)
        for article_id in small.members:
            self._article_cluster[article_id] = into.cluster_id
        into.first_seen = min(into.first_seen, small.first_seen)
        into.last_updated = max(into.last_updated, small.last_updated)
        if small.headline_score > into.headline_score:
            into.headline, into.headline_score = small.headline, small.headline_score
        del self._clusters[small.cluster_id]
        self._merged_into[small.cluster_id] = into.cluster_id


def _centroid_cosine(a: _Cluster, b: _Cluster) -> float:
    if a.norm_sq <= 0.0 or b.norm_sq <= 0.0:
        return 0.0
    small, large = (a, b) if len(a.centroid) <= len(b.centroid) else (b, a)
    lc = large.centroid
    dot = sum(w * lc.get(t, 0.0) for t, w in small.centroid.items())
    return dot / (a.norm * b.norm)
