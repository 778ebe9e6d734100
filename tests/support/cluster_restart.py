"""A clusterer rebuilt from what the consumer stored, for the restart tests."""

from __future__ import annotations

from collections.abc import Sequence

from aggregator.models import Article, ClusterDecision
from aggregator.process.clustering import Clusterer, ClusterSettings


def restarted(
    settings: ClusterSettings,
    articles: Sequence[Article],
    live: Sequence[ClusterDecision],
    cut: int,
) -> Clusterer:
    """A clusterer rebuilt as the consumer rebuilds it from what it stored up to ``cut``:
    every merge, then every article under its event's id then (merges rewrite it)."""
    merges = [(old, d.cluster_id) for d in live[:cut] for old in d.merged]
    into = dict(merges)

    def stored(cid: int) -> int:
        while cid in into:
            cid = into[cid]
        return cid

    known = [d.cluster_id for d in live[:cut]] + [cid for pair in merges for cid in pair]
    clusterer = Clusterer(settings, next_cluster_id=max(known) + 1)
    for old, new in merges:
        clusterer.restore_merge(old, new)
    for i in range(cut):
        clusterer.restore(i + 1, articles[i], stored(live[i].cluster_id))
    return clusterer


def assert_resumed_alike(
    settings: ClusterSettings,
    articles: Sequence[Article],
    live: Sequence[ClusterDecision],
    cut: int,
    context: object = None,
) -> None:
    """A clusterer restarted at ``cut`` puts every later article in the event the
    uninterrupted one did, new or not, with the same merges (scores may differ in the
    last bit: the replay sums the centroids in another order)."""
    resumed = restarted(settings, articles, live, cut)
    for i in range(cut, len(articles)):
        again = resumed.assign(i + 1, articles[i])
        assert (again.cluster_id, again.is_new, again.merged) == (
            live[i].cluster_id,
            live[i].is_new,
            live[i].merged,
        ), (context, cut, i, live[i].signals, again.signals)
