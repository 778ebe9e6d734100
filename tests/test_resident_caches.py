"""What the daemon's caches keep once a poll is over (issue 17): only what the work at
hand comes back for, each answering as before."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aggregator.compose import load_config
from aggregator.daemon import Daemon
from aggregator.poll import normalize
from aggregator.store import Store
from aggregator.text import paragraph_key
from tests.factories import article
from tests.test_consumer import ingest


def test_a_titles_outlet_keys_are_kept_for_the_feeds_at_work_not_for_every_feed() -> None:
    # Each feed's list is its own (the settings' outlets and the feed's name); its
    # entries come one after another, so a few lists are all a parse thread reuses.
    normalize._outlet_keys.cache_clear()
    for i in range(100):
        outlets = (*normalize.DEFAULT_OUTLETS, f"Feed {i}")
        for title in (f"Story {i} - Feed {i}", f"Feed {i}: Story {i}", f"Story {i} | BBC News"):
            assert normalize.clean_title(title, outlets=outlets) == f"Story {i}"
    assert normalize._outlet_keys.cache_info().currsize <= 16


def _filled() -> None:
    entry_title = "Troops arrive in Kursk - Feed A"
    normalize.clean_title(entry_title, outlets=(*normalize.DEFAULT_OUTLETS, "Feed A"))
    paragraph_key("North Korean troops arrived in the Kursk region on Monday.")
    assert normalize._outlet_keys.cache_info().currsize > 0
    assert paragraph_key.cache_info().currsize > 0


def test_forget_texts_empties_the_caches_holding_the_last_entries_texts() -> None:
    _filled()
    normalize.forget_texts()
    assert normalize._outlet_keys.cache_info().currsize == 0
    assert paragraph_key.cache_info().currsize == 0
    # and they answer as before
    assert paragraph_key("A  Day, in KURSK.") == paragraph_key("a day in kursk")


def test_the_daemon_forgets_them_when_a_burst_ends_not_during_it(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text("settings:\n  http: {enabled: false}\n")
    daemon = Daemon(load_config(config, env={"AGGREGATOR_DATABASE_URL": "sqlite://"}))

    async def release(*, burst_ended: bool) -> None:
        with ThreadPoolExecutor(1) as writer:
            daemon.writer = writer  # type: ignore[assignment]
            daemon._heap_dirty = True
            daemon._released_at = 0.0  # a trim is due either way
            await daemon._release_memory(burst_ended=burst_ended)

    _filled()
    asyncio.run(release(burst_ended=False))
    assert paragraph_key.cache_info().currsize > 0
    asyncio.run(release(burst_ended=True))
    assert normalize._outlet_keys.cache_info().currsize == 0
    assert paragraph_key.cache_info().currsize == 0


def test_articles_read_for_the_consumer_share_one_copy_of_their_feed_and_language(
    store: Store,
) -> None:
    # The clusterer keeps each event's outlets and languages: every event of one
    # article held its own copies of the strings the driver made for its row.
    ingest(
        store, [("Feed A", article(f"Story {i}", guid=f"g{i}", feed="Feed A")) for i in range(3)]
    )
    first, *rest = store.unprocessed_articles(10)
    assert len(rest) == 2
    for other in rest:
        assert other.article.feed == first.article.feed == "Feed A"
        assert other.article.feed is first.article.feed
        assert other.article.language == first.article.language == "en"
        assert other.article.language is first.article.language
