"""Made-up semantic vectors for the clusterer's meaning rules: each event a direction
(one axis, or a mix of a few), each report that direction plus noise of its own."""

from __future__ import annotations

import numpy as np

from aggregator import semantic


def axis(i: int) -> np.ndarray:
    v = np.zeros(semantic.DIM, dtype=np.float32)
    v[i] = 1.0
    return v


def report_vector(way: np.ndarray, own: int, noise: float) -> bytes:
    """A report of the event whose direction is ``way``: plus ``noise`` along axis
    ``own`` (its own), as a unit vector stored the way the embed stage stores it."""
    v = way + noise * axis(own)
    return (v / np.linalg.norm(v)).astype(np.float16).tobytes()
