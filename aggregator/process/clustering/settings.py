"""Clustering settings: built from the configuration, passed in, never read globally."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from aggregator.errors import ConfigError


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
        candidate_terms: an article's strongest terms whose postings give the
            candidate clusters (speed bound; the cosine still uses every term).
        max_silence: a cluster silent for longer than this takes no new article.
        window: clusters not updated for this long are evicted from memory.
        idf_prior_docs: pseudo-documents in which every unseen term is assumed
            absent, so the first articles do not see every word as equally rare.
        idf_halflife_docs: document frequencies are halved each time this many more
            articles have been seen, so IDF follows recent news and its memory stays
            bounded (rare terms that stop appearing are forgotten).
    """

    threshold: float = 0.08
    singleton_threshold: float = 0.20
    merge_threshold: float = 0.35
    entity_boost: float = 1.5
    bigram_weight: float = 0.0
    url_weight: float = 0.5
    text_weight: float = 0.5
    max_text_chars: int = 1000
    max_terms: int = 32
    max_cluster_terms: int = 64
    candidate_terms: int = 12
    max_silence: timedelta = timedelta(hours=48)
    window: timedelta = timedelta(hours=72)
    idf_prior_docs: int = 20
    idf_halflife_docs: int = 100_000

    def __post_init__(self) -> None:
        problems = []
        if self.window < self.max_silence:
            problems.append("clustering.window: must be at least max_silence")
        for name in ("threshold", "singleton_threshold", "merge_threshold"):
            if not 0.0 < getattr(self, name) <= 1.0:
                problems.append(f"clustering.{name}: must be in (0, 1]")
        for name in ("entity_boost", "bigram_weight", "url_weight", "text_weight"):
            if getattr(self, name) < 0:
                problems.append(f"clustering.{name}: must not be negative")
        if self.max_text_chars < 0:
            problems.append("clustering.max_text_chars: must not be negative")
        if min(self.max_terms, self.max_cluster_terms, self.candidate_terms) < 1:
            problems.append(
                "clustering: max_terms, max_cluster_terms, candidate_terms must be >= 1"
            )
        if self.idf_halflife_docs < 1:
            problems.append("clustering.idf_halflife_docs: must be >= 1")
        if problems:
            raise ConfigError(problems)
