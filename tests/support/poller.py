"""A Poller wired to real parts for tests: a real Fetcher (loopback allowed), the store
handed in, one writer thread, parsing in the calling thread."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from aggregator.compose import user_agent
from aggregator.models import FetchSettings
from aggregator.poll.fetch import Fetcher
from aggregator.poll.poller import PipelineSettings, Poller
from aggregator.store import Store


@asynccontextmanager
async def local_poller(
    store: Store, settings: PipelineSettings | None = None
) -> AsyncIterator[Poller]:
    fetch = FetchSettings(
        user_agent=user_agent(), allow_private_networks=True, per_host_min_gap=0.0
    )
    writer = ThreadPoolExecutor(1)
    try:
        async with Fetcher(fetch) as fetcher:
            yield Poller(
                store,
                fetcher,
                settings or PipelineSettings(owner="test"),
                cpu=None,
                writer=writer,
                rng=random.Random(7),
            )
    finally:
        writer.shutdown()
