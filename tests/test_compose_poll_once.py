"""`aggregator poll --once` when one feed's poll fails unexpectedly."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from aggregator.compose import load_config, poll_once
from aggregator.errors import AggregatorError
from aggregator.poll.poller import Poller, PollSummary
from aggregator.store import FeedState, Store
from aggregator.store.schema import articles
from tests.support.httpserver import LocalServer

RSS = (
    '<rss version="2.0"><channel><title>{name}</title><item><title>{name}: troops reach '
    "Kursk</title><link>https://example.org/{name}</link><guid>{name}-1</guid></item>"
    "</channel></rss>"
)


async def test_one_crashing_poll_leaves_the_others_stored_and_processed(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_poll = Poller.poll

    async def poll(self: Poller, feed: FeedState) -> PollSummary:
        if feed.name == "bad":  # stands for a bug one feed's content trips
            raise RuntimeError("a bug")
        return await real_poll(self, feed)

    monkeypatch.setattr(Poller, "poll", poll)
    with LocalServer() as server:
        for name in ("good", "bad"):
            server.static(
                f"/{name}", RSS.format(name=name).encode(), content_type="application/rss+xml"
            )
        config = tmp_path / "feeds.yaml"
        config.write_text(
            f"settings:\n  database_url: {database_url}\n"
            "  poll: {allow_private_networks: true, parse_workers: 0}\n"
            f"feeds:\n  - {{name: good, url: '{server.url('/good')}'}}\n"
            f"  - {{name: bad, url: '{server.url('/bad')}'}}\n"
        )
        with pytest.raises(AggregatorError, match=r"1 poll.* failed unexpectedly: 'bad'"):
            await poll_once(load_config(config), names=["good", "bad"])
    store = Store.open(database_url)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(select(articles.c.guid, articles.c.processed_at)).all()
    finally:
        store.close()
    assert [r.guid for r in rows] == ["good-1"]
    assert rows[0].processed_at is not None  # the consumer ran for what was stored
