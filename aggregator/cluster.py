"""The clustering stage (see ``aggregator.clustering`` for how it works).

Kept as the stage's entry point named in the design's module table; the code lives
in the ``aggregator.clustering`` package (features, settings, engine).
"""

from aggregator.clustering import Clusterer, ClusterInfo, ClusterSettings, ClusterStats, featurize

__all__ = ["ClusterInfo", "ClusterSettings", "ClusterStats", "Clusterer", "featurize"]
