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
  ("game thrones", "mt gox") can add phrase evidence (off by default: no gain on
  DEV). The body is read up to its lead (``max_text_chars``). Words from the URL
  slug are a weak extra field; the site's host name is not used, so one outlet's
  articles are not glued together.
* Weights are sublinear TF times an IDF learned online from the articles seen so
  far (only the past), slowly forgotten (``idf_halflife_docs``). A document's
  vector is frozen with the IDF of its arrival time, so replaying the same stream
  rebuilds the same state (up to floating-point summation order after merges).
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
  (events are bursty) unless the report clearly continues it, by meaning and words
  (``revive_quiet``), and clusters whose last update is older than ``window`` are
  evicted, so the cost per article depends on the active state, not the archive.
"""

from aggregator.process.clustering.engine import Clusterer, ClusterStats
from aggregator.process.clustering.features import featurize
from aggregator.process.clustering.settings import ClusterSettings

__all__ = ["ClusterSettings", "ClusterStats", "Clusterer", "featurize"]
