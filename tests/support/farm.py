"""The benchmark's feed farm (`benchmarks/farm.py`), for tests that check a path on it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import ModuleType

from aggregator.models import ParsedEntry
from aggregator.poll.body import ProcessCall
from aggregator.poll.normalize import NormalizeSettings
from aggregator.poll.parse import parse_feed
from tests.support.benchmarks import load_benchmark


def load_farm() -> ModuleType:
    return load_benchmark("farm", "bench_farm")


FIXTURE_FEEDS = sorted(
    p
    for p in (Path(__file__).resolve().parents[1] / "data" / "feeds").iterdir()
    if not p.name.endswith(".expected.json")
)


def farm_entries(
    fetched_at: datetime, *, feeds: int = 12, items: int = 10, seed: int = 5
) -> Iterator[ParsedEntry]:
    """Every entry of a small farm, parsed as a poll would: the inputs on which a faster
    path of normalize is shown to give what the old one gave."""
    farm = load_farm()
    for feed in farm.build_farm(farm.FarmSettings(feeds=feeds, items=items, seed=seed)):
        parsed = parse_feed(
            feed.body, url="https://farm.example/f", headers={}, fetched_at=fetched_at
        )
        yield from parsed.entries


def farm_calls(
    fetched_at: datetime, *, feeds: int = 24, items: int = 8, seed: int = 3
) -> list[ProcessCall]:
    """A small farm's feeds as the poller hands them to a parse executor (one
    ``ProcessCall`` a feed, its body as fetched): the burst worker's tests' inputs."""
    farm = load_farm()
    return [
        ProcessCall(
            body=feed.body,
            url=f"https://farm.example/{i}",
            headers={"content-type": "application/xml"},
            fetched_at=fetched_at,
            feed_name=f"farm {i}",
            settings=NormalizeSettings(),
        )
        for i, feed in enumerate(
            farm.build_farm(farm.FarmSettings(feeds=feeds, items=items, seed=seed))
        )
    ]


def fixture_feed_entries(path: Path, fetched_at: datetime) -> list[ParsedEntry]:
    """The entries of one of the test fixtures' feeds; none for a fixture that is not a feed."""
    try:
        parsed = parse_feed(
            path.read_bytes(),
            url="https://feeds.example/feed.xml",
            headers={"content-type": "application/xml"},
            fetched_at=fetched_at,
        )
    except Exception:  # a fixture that is not a feed: nothing to normalize
        return []
    return list(parsed.entries)
