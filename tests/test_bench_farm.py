"""The benchmark's feed farm serves feeds our parser reads, with working validators."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from aggregator.poll.parse import parse_feed
from tests.support.farm import load_farm

farm = load_farm()
SETTINGS = farm.FarmSettings(feeds=20, items=4, seed=7)


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with farm.FarmServer(SETTINGS) as running:
        yield running


def test_generation_is_deterministic_and_bodies_are_2_to_6_kb() -> None:
    first = list(farm.build_farm(SETTINGS))
    again = list(farm.build_farm(SETTINGS))
    assert [f.body for f in first] == [f.body for f in again]
    other_seed = list(farm.build_farm(farm.FarmSettings(feeds=20, items=4, seed=8)))
    assert first[0].body != other_seed[0].body
    # Feed k is the same whatever the size of the farm.
    bigger = list(farm.build_farm(farm.FarmSettings(feeds=25, items=4, seed=7)))
    assert bigger[3].body == first[3].body
    now = datetime.now(UTC)
    for f in first:
        parsed = parse_feed(f.body, url="http://127.0.0.1/x", headers={}, fetched_at=now)
        assert len(parsed.entries) == SETTINGS.items
        for entry in parsed.entries:
            html = entry.content_html or entry.summary_html
            assert 2000 <= len(html.encode()) <= 6000 + 1000, len(html)
    assert gzip.decompress(first[0].gzipped) == first[0].body


def test_index_lists_rss_and_atom_with_validators_on_most(server: Any) -> None:
    index = httpx.get(server.base_url + "/_index").json()
    assert len(index) == SETTINGS.feeds
    assert {row["kind"] for row in index} == {"rss", "atom"}
    with_validators = [row for row in index if row["etag"] or row["last_modified"]]
    assert len(with_validators) >= SETTINGS.feeds // 2
    assert len(with_validators) < SETTINGS.feeds  # some send none at all


def test_served_feeds_parse_and_honour_validators(server: Any) -> None:
    base = server.base_url
    index = httpx.get(base + "/_index").json()
    httpx.post(base + "/_reset")
    now = datetime.now(UTC)
    with httpx.Client(headers={"Accept-Encoding": "gzip"}) as client:
        for row in index:
            url = base + row["path"]
            resp = client.get(url)
            assert resp.status_code == 200
            assert resp.headers["content-encoding"] == "gzip"
            parsed = parse_feed(resp.content, url=url, headers=dict(resp.headers), fetched_at=now)
            assert parsed.kind.startswith(row["kind"])
            assert len(parsed.entries) == row["entries"] == SETTINGS.items
            assert all(e.title and e.link for e in parsed.entries)
            assert ("etag" in resp.headers) == row["etag"]
            assert ("last-modified" in resp.headers) == row["last_modified"]

            conditional = {}
            if row["etag"]:
                conditional["If-None-Match"] = resp.headers["etag"]
            if row["last_modified"]:
                conditional["If-Modified-Since"] = resp.headers["last-modified"]
            again = client.get(url, headers=conditional)
            assert again.status_code == (304 if conditional else 200)
            if row["etag"]:
                stale = client.get(url, headers={"If-None-Match": '"not-it"'})
                assert stale.status_code == 200
    stats = httpx.get(base + "/_stats").json()
    validator_feeds = sum(1 for r in index if r["etag"] or r["last_modified"])
    assert stats["not_modified"] == validator_feeds
    # Counted server-side: the first GET of each validator feed was unconditional.
    assert stats["conditional"] == stats["on_validator_feeds"] - validator_feeds


def test_parse_latency() -> None:
    assert farm.parse_latency("0.1-0.3") == (0.1, 0.3)
    assert farm.parse_latency("0") == (0.0, 0.0)
    with pytest.raises(ValueError, match="bad latency"):
        farm.parse_latency("0.3-0.1")


def test_unknown_feed_is_404(server: Any) -> None:
    assert httpx.get(server.base_url + "/feed/99999.rss").status_code == 404
