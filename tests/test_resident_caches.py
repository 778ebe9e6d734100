"""What the daemon's caches keep once a poll is over (issue 17): only what the work at
hand comes back for, each answering as before."""

from __future__ import annotations

from aggregator.poll import normalize


def test_a_titles_outlet_keys_are_kept_for_the_feeds_at_work_not_for_every_feed() -> None:
    # Each feed's list is its own (the settings' outlets and the feed's name); its
    # entries come one after another, so a few lists are all a parse thread reuses.
    normalize._outlet_keys.cache_clear()
    for i in range(100):
        outlets = (*normalize.DEFAULT_OUTLETS, f"Feed {i}")
        for title in (f"Story {i} - Feed {i}", f"Feed {i}: Story {i}", f"Story {i} | BBC News"):
            assert normalize.clean_title(title, outlets=outlets) == f"Story {i}"
    assert normalize._outlet_keys.cache_info().currsize <= 16
