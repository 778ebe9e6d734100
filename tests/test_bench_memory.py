"""bench_memory's split of a process's memory, and its PSS as on a quiet machine."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.support.benchmarks import load_benchmark

bench = load_benchmark("bench_memory")

# A Python holding 20 MiB of its own heap, then sleeping: what the daemon is, small.
HOLDER = "import time; x = bytearray(20 << 20); x[::4096] = b'x' * 5120; print(1, flush=True)"
HOLDER += "; time.sleep(60)"


def _start() -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "1"
    return proc


@pytest.fixture
def two() -> Iterator[tuple[int, int]]:
    first, second = _start(), _start()
    try:
        yield first.pid, second.pid
    finally:
        for proc in (first, second):
            proc.kill()
            proc.wait()
            assert proc.stdout is not None
            proc.stdout.close()


def test_a_sample_splits_the_heap_from_the_files_pages(two: tuple[int, int]) -> None:
    s = bench.sample(two[0])
    assert s.anon >= 20  # MiB: the bytearray, counted whole
    assert 0 < s.file_pss <= s.file_rss  # libpython's pages, shared with the other
    assert abs(s.anon + s.file_rss - s.rss) < 0.01


def test_the_quiet_pss_divides_pages_among_the_named_processes_only(
    two: tuple[int, int],
) -> None:
    subject, sharer = two
    alone = bench.quiet_pss(subject, [])
    if alone is None:
        pytest.skip("page frames are readable by root only")
    time.sleep(0.1)
    rss = bench.sample(subject).rss
    beside = bench.quiet_pss(subject, [sharer])
    assert beside is not None
    # Alone, every resident page counts whole: its RSS (both read a moment apart).
    assert abs(alone - rss) < 1.0
    # Beside another Python, the interpreter's pages both map count half each; the
    # heap does not (a frame is never another process's anonymous page).
    assert beside < alone - 1.0
    assert beside > bench.sample(subject).anon - 1.0
