"""aggregator.memory: glibc's arena cap and trim, called by the daemon (issue 17)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from aggregator.daemon import release_due
from aggregator.memory import release_free_memory

GLIBC = platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="glibc's allocator calls; elsewhere they do nothing")
def test_on_glibc_the_heap_freed_after_a_burst_goes_back_to_the_system() -> None:
    # In a fresh interpreter: a burst of small allocations grows the heap, freeing
    # them leaves the pages with the process, the trim hands them back.
    script = (
        "from aggregator.memory import limit_arenas, release_free_memory\n"
        "assert limit_arenas()\n"
        "def rss():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmRSS:'):\n"
        "            return int(line.split()[1])\n"
        "burst = [bytes(600) for _ in range(200_000)]\n"
        "del burst\n"
        "before = rss()\n"
        "assert release_free_memory()\n"
        "print(before - rss())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    released_kib = int(out.stdout)
    assert released_kib > 50_000  # most of the ~120 MB burst


def test_without_glibc_or_with_it_the_calls_never_raise() -> None:
    assert release_free_memory() in (True, False)


def test_the_daemon_releases_at_a_bursts_end_and_during_a_long_one_every_interval() -> None:
    def due(dirty: bool = True, ended: bool = False, since: float = 1.0) -> bool:
        return release_due(dirty=dirty, burst_ended=ended, since_last=since, every=30.0)

    # Nothing went through the heap since the last release: no trim, however long ago
    # (an idle daemon does not walk its heap every 30 s).
    assert not due(dirty=False, ended=True, since=3600.0)
    assert due(ended=True, since=0.0)  # the burst ended: at once, before idling
    # A backlog the consumer works through for minutes: the parsing's freed memory
    # goes back within the interval, not when the backlog is done.
    assert not due(since=29.9)
    assert due(since=30.0)
