"""Imported once by the forkserver, before it forks any parse worker.

Every worker then starts with the stages already imported (lxml, feedparser,
trafilatura, numpy …): the pages of those modules are inherited and shared
copy-on-write instead of being imported again, and paid again, in each worker.
"""

from __future__ import annotations

import aggregator.poll.poller  # noqa: F401  (what the workers run: process_body and the stages)
