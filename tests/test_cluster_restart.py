"""A restarted consumer decides as the uninterrupted one would: the start-up replay
(``Clusterer.restore_merge`` then ``restore`` of every stored article, in the order
they were decided) rebuilds the events the live clusterer holds, merges included.

The replay cannot tell a merged event's reports apart (the store moves them to the
survivor), so the live merge has to count the two events' founding reports as the
replay does (``engine._join_cores``); before, a lone report rejoined by meaning or an
event merged through a bridging report left the restarted consumer with another core
size and typical fit than the live one, and later decisions differed.

Full-text reports from the ECB+ DEV file (names, fit and merges at work) with
vectors built here, not by the model (``tests/support/kindred_reports.py``): the
vector joins, proposes and rejoins as it does on real reports. The merges the stream
makes bridge two events of one kind, which the meaning refuses (``bridge_meaning``):
the restart is checked with that rule (the refusals carried across) and without it
(the merges carried across).
"""

from __future__ import annotations

import pytest

from aggregator.models import Article
from aggregator.process.clustering import Clusterer, ClusterSettings
from tests.support.cluster_restart import assert_resumed_alike
from tests.support.kindred_reports import reports


def _stream(seed: int) -> list[Article]:
    return [article for _, article in reports(seed)]


@pytest.mark.parametrize("bridge_meaning", [True, False])
@pytest.mark.parametrize("seed", [0, 1])
def test_a_restart_anywhere_decides_as_the_uninterrupted_clusterer(
    seed: int, bridge_meaning: bool
) -> None:
    settings = ClusterSettings(bridge_meaning=bridge_meaning)
    articles = _stream(seed)
    straight = Clusterer(settings)
    live = [straight.assign(i + 1, a) for i, a in enumerate(articles)]
    # Merges (or merges the meaning refused) to carry across the restart.
    assert any(d.merged or any(s.startswith("not merged") for s in d.signals) for d in live)
    for cut in range(20, len(articles), 20):
        assert_resumed_alike(settings, articles, live, cut, seed)
