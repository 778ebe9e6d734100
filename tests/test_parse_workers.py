"""How many parse processes the daemon starts: ``settings.poll.parse_workers``."""

from __future__ import annotations

import pytest

from aggregator import compose
from aggregator.compose import load_config
from aggregator.errors import ConfigError
from aggregator.workers import AUTO_WORKERS_MIN_FEEDS, parse_workers_for


@pytest.mark.parametrize(
    ("cores", "feeds", "expected"),
    [
        (1, 5000, 0),  # a process per core would only take turns with the daemon
        (2, 500, 0),  # a small server: parsing in the daemon's threads
        (2, 5000, 0),
        (4, 10, 0),  # few feeds: not worth 60-70 MiB a process
        (4, AUTO_WORKERS_MIN_FEEDS - 1, 0),
        (4, AUTO_WORKERS_MIN_FEEDS, 3),  # a core left for the event loop and writer
        (16, 20000, 4),  # at most four
    ],
)
def test_auto_chooses_from_the_cores_and_the_feeds(cores: int, feeds: int, expected: int) -> None:
    assert parse_workers_for("auto", cores=cores, feeds=feeds) == expected


def test_a_number_is_taken_as_it_is() -> None:
    assert parse_workers_for(2, cores=1, feeds=1) == 2
    assert parse_workers_for(0, cores=64, feeds=100_000) == 0


def test_the_default_is_auto_and_numbers_are_still_accepted() -> None:
    loaded = load_config(None, text="feeds: []\n", env={})
    assert loaded.config.settings.poll.parse_workers == "auto"
    assert compose.parse_workers(loaded) == 0  # no feeds
    loaded = load_config(None, text="settings: {poll: {parse_workers: 3}}\nfeeds: []\n", env={})
    assert compose.parse_workers(loaded) == 3


@pytest.mark.parametrize("value", ["many", -1, 65])
def test_anything_else_is_a_configuration_error(value: object) -> None:
    with pytest.raises(ConfigError, match="parse_workers"):
        load_config(
            None, text=f"settings: {{poll: {{parse_workers: {value}}}}}\nfeeds: []\n", env={}
        )


def test_no_workers_means_a_pool_of_parse_threads_no_larger_than_the_cores() -> None:
    # Not the event loop's default pool (cores + 4 threads): each thread parsing holds
    # its feed's parse in memory, and on the GIL more threads than cores add no speed.
    from concurrent.futures import ThreadPoolExecutor

    from aggregator.workers import MAX_PARSE_THREADS, cpu_executor

    pool = cpu_executor(0)
    try:
        assert isinstance(pool, ThreadPoolExecutor)
        assert 1 <= pool._max_workers <= MAX_PARSE_THREADS
        assert pool.submit(sum, [1, 2]).result(timeout=30) == 3
    finally:
        pool.shutdown(wait=True)
