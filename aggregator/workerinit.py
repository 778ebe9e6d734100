"""Imported once by the forkserver, before it forks any parse worker.

Each worker used to load py3langid's model (~100 MiB: a 9.8 M-entry automaton and a
100,000 × 142 score table) for itself. Loaded here, in the forkserver, the model's
buffers are inherited by every worker and shared copy-on-write: they are only read,
so they stay shared, and N workers cost one model instead of N.
"""

from __future__ import annotations

import aggregator.pipeline  # noqa: F401  (what the workers run: process_body and the stages)
from aggregator.normalize import load_language_model

load_language_model()
